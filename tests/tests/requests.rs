//! Structured requests end to end, in process against a real relay, on the
//! requester's virtual clock (no sleeping): an urgent request to the Thai
//! duty desk that its first holder on call does not acknowledge within the
//! hour is escalated to the next holder; she acknowledges and answers with
//! a file; the requester sends the outcome; every step is signed, held by
//! both sides as the same lifecycle, and in the relay's event log under a
//! verified checkpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use liaison_client::Client;
use liaison_client::client::now;
use liaison_client::core::clock::{Clock, ManualClock};
use liaison_client::core::request::Status;
use liaison_protocol::handling::Handling;
use liaison_protocol::request::{Priority, RequestAction, RequestOpen, RequestType};
use liaison_protocol::{DirectoryId, Timestamp};
use liaison_tests::{DevNet, admin_command, assert_success, inproc};

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

const HOUR_MS: u64 = 3_600_000;

async fn sync(c: &mut Client) -> liaison_client::client::SyncReport {
    c.connect().await.unwrap();
    let r = c.sync().await.unwrap();
    c.disconnect().await;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_request_not_acknowledged_in_time_escalates_and_its_answer_and_outcome_arrive() {
    let net = DevNet::start();
    let mut alice = inproc::enrol(&net, "alice", "ph.pnp.alice", "PNP")
        .await
        .unwrap();
    let mut somchai = inproc::enrol(&net, "somchai", "th.dsi.somchai", "DSI")
        .await
        .unwrap();
    let mut niran = inproc::enrol(&net, "niran", "th.dsi.niran", "DSI")
        .await
        .unwrap();
    let mut dan = inproc::enrol(&net, "dan", "th.dsi.dan", "DSI")
        .await
        .unwrap();
    // The Thai duty desk: Somchai first on call, then Niran.
    let out = admin_command()
        .args(["role", "set", "--authority"])
        .arg(net.authority("TH"))
        .arg("--bundle")
        .arg(net.bundle())
        .args([
            "--role",
            "th.dsi.duty",
            "--name",
            "Duty desk",
            "--holders",
            "th.dsi.somchai,th.dsi.niran",
        ])
        .output()
        .unwrap();
    assert_success(&out, "role set");
    let clock = ManualClock::new(now());
    alice.set_clock(Arc::new(clock.clone()));

    // A request with a required field missing is refused before it leaves.
    alice.connect().await.unwrap();
    let open = |fields: Vec<(&str, &str)>| RequestOpen {
        kind: RequestType::LocatePerson,
        priority: Priority::Urgent,
        due: Timestamp(clock.now().0 + 24 * HOUR_MS),
        acknowledge_within_secs: Priority::Urgent.acknowledge_within_secs(),
        to: id("th.dsi.duty"),
        fields: fields
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
        nonce: [0; 16],
    };
    let amber = Handling::parse_text("AMBER").unwrap();
    let refused = alice
        .request_new(
            open(vec![("last-known-location", "Pier 7")]),
            "",
            amber.clone(),
            None,
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("a locate-person request needs the field name"),
        "{refused}"
    );
    let sent = alice
        .request_new(
            open(vec![
                ("name", "Maria Santos"),
                ("last-known-location", "Pier 7"),
            ]),
            "She called her sister from a number in Bangkok.",
            amber,
            None,
            &[],
        )
        .await
        .unwrap();
    alice.disconnect().await;
    assert_eq!(sent.to, id("th.dsi.somchai"), "the first holder on call");
    let req = sent.request;

    // Somchai holds it but does not acknowledge; Niran has nothing yet.
    sync(&mut somchai).await;
    assert_eq!(somchai.request(req).unwrap().status, Status::Open);
    sync(&mut niran).await;
    assert!(niran.request(req).is_err());

    // Within the hour nothing happens; after it, Alice's client alerts and
    // sends the request on to Niran.
    clock.advance(HOUR_MS - 60_000);
    sync(&mut alice).await;
    assert_eq!(
        alice.request(req).unwrap().addressees,
        vec![id("th.dsi.duty")]
    );
    clock.advance(2 * 60_000);
    sync(&mut alice).await;
    let warnings = alice.take_warnings();
    assert!(
        warnings.iter().any(|w| w.contains(
            "ALERT: your urgent locate-person request to th.dsi.duty was not acknowledged in time; it was sent on to th.dsi.niran"
        )),
        "{warnings:?}"
    );
    let held = alice.request(req).unwrap();
    assert_eq!(held.addressees, vec![id("th.dsi.duty"), id("th.dsi.niran")]);
    // Only Alice's clock moved on; the relay's did not. Her client goes
    // back to the system's clock, the relay's, so that it judges the
    // relay's event log (whose checkpoints bear the relay's time) by the
    // same clock from now on.
    alice.set_clock(Arc::new(liaison_client::client::SystemClock));

    // Niran learns the request from the escalation, acknowledges it and
    // answers with a file.
    sync(&mut niran).await;
    let theirs = niran.request(req).unwrap();
    assert_eq!(theirs.open.field("name"), Some("Maria Santos"));
    assert_eq!(theirs.requester, id("ph.pnp.alice"));
    niran.connect().await.unwrap();
    // She acts on it only once she has acknowledged the handling of the
    // message that brought it (and so seen it).
    let early = niran
        .request_step(req, RequestAction::Acknowledge, "On it.", &[])
        .await
        .unwrap_err();
    assert!(
        early.to_string().contains("acknowledge the handling of"),
        "{early}"
    );
    niran.read(theirs.steps[0].message, true).await.unwrap();
    niran
        .request_step(req, RequestAction::Acknowledge, "On it.", &[])
        .await
        .unwrap();
    // A second acknowledgement is refused before it leaves.
    let again = niran
        .request_step(req, RequestAction::Acknowledge, "", &[])
        .await
        .unwrap_err();
    assert!(
        again
            .to_string()
            .contains("cannot take the step acknowledge"),
        "{again}"
    );
    let photo = net.dir.path().join("shelter.jpg");
    std::fs::write(&photo, vec![0xd8; 300_000]).unwrap();
    let answer = niran
        .request_step(
            req,
            RequestAction::Answer { partial: false },
            "Found at the Baan Kred shelter, safe.",
            std::slice::from_ref(&photo),
        )
        .await
        .unwrap();
    niran.disconnect().await;

    // Dan neither holds the role nor was asked: his client has nothing to
    // answer.
    dan.connect().await.unwrap();
    assert!(
        dan.request_step(req, RequestAction::Answer { partial: false }, "x", &[])
            .await
            .is_err()
    );
    dan.disconnect().await;

    // Alice sees the acknowledgement and the answer, then sends the outcome.
    sync(&mut alice).await;
    let held = alice.request(req).unwrap();
    assert_eq!(held.status, Status::Answered);
    let steps: Vec<&str> = held.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(steps, ["open", "escalate", "acknowledge", "answer"]);
    let got = alice.message(answer).unwrap().unwrap();
    assert!(got.verified, "{:?}", got.error);
    alice.connect().await.unwrap();
    alice
        .request_step(
            req,
            RequestAction::Outcome,
            "She is back home in Cebu.",
            &[],
        )
        .await
        .unwrap();
    alice.disconnect().await;
    sync(&mut niran).await;
    let theirs = niran.request(req).unwrap();
    assert!(theirs.outcome, "{theirs:?}");
    // She learned it from the escalation: the opening went to Somchai.
    let steps: Vec<&str> = theirs.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(steps, ["escalate", "acknowledge", "answer", "outcome"]);
    // Somchai, first on call, holds the same lifecycle: every step goes to
    // the requester and every addressee.
    sync(&mut somchai).await;
    let his = somchai.request(req).unwrap();
    let steps: Vec<&str> = his.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(
        steps,
        ["open", "escalate", "acknowledge", "answer", "outcome"]
    );
    assert!(his.outcome);

    // Every step is in the relay's event log under a verified checkpoint,
    // on both sides (the relay signs its event log's checkpoints on its own
    // schedule: sync again until they cover the last steps).
    let all_logged = |c: &Client| {
        c.request(req)
            .unwrap()
            .steps
            .iter()
            .map(|s| {
                (
                    s.action.clone(),
                    c.message(s.message).unwrap().unwrap().logged,
                )
            })
            .collect::<Vec<_>>()
    };
    for _ in 0..40 {
        sync(&mut alice).await;
        sync(&mut niran).await;
        if [&alice, &niran]
            .iter()
            .all(|c| all_logged(c).iter().all(|(_, l)| *l))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    for (who, c) in [("alice", &alice), ("niran", &niran)] {
        for (step, logged) in all_logged(c) {
            assert!(logged, "{who}'s {step} step is not in the event log");
        }
    }
}

fn json_of(out: &std::process::Output, what: &str) -> serde_json::Value {
    assert_success(out, what);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The same lifecycle through the `liaison` command line (and the agent
/// API it speaks): bad requests are refused with what to do; the fields of
/// a request stay hidden until its handling is acknowledged, with a
/// command that works as printed; acknowledge, answer with a file,
/// outcome; a step out of turn is refused.
#[test]
fn the_command_line_sends_answers_and_closes_a_request() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "ph.pnp.alice", "PH", "PNP");
    let bob = net.enrol("bob", "th.dsi.bob", "TH", "DSI");
    assert_success(&alice.run(&["sync"]), "alice sync");

    let out = alice.run(&["request", "new", "--type", "wiretap", "--to", "th.dsi.bob"]);
    assert!(!out.status.success());
    let said = liaison_tests::output_text(&out);
    assert!(
        said.contains("there is no request type \"wiretap\""),
        "{said}"
    );
    assert!(said.contains("locate-person"), "{said}");
    let out = alice.run(&[
        "request",
        "new",
        "--type",
        "locate-person",
        "--to",
        "th.dsi.bob",
    ]);
    assert!(!out.status.success());
    let said = liaison_tests::output_text(&out);
    assert!(
        said.contains(
            "a locate-person request needs the field name (give it with --field name=...)"
        ),
        "{said}"
    );
    let out = alice.run(&[
        "request",
        "new",
        "--type",
        "locate-person",
        "--to",
        "th.dsi.bob",
        "--field",
        "shoe-size=42",
        "--field",
        "name=Maria",
    ]);
    let said = liaison_tests::output_text(&out);
    assert!(
        said.contains("has no field \"shoe-size\"; its fields are name (required), date-of-birth"),
        "{said}"
    );
    let out = alice.run(&[
        "request",
        "new",
        "--type",
        "feedback",
        "--to",
        "ph.pnp.alice",
        "--field",
        "about=x",
    ]);
    let said = liaison_tests::output_text(&out);
    assert!(
        !out.status.success() && said.contains("a request goes to someone else"),
        "{said}"
    );
    let out = alice.run(&[
        "request",
        "new",
        "--type",
        "feedback",
        "--to",
        "th.dsi.bob",
        "--due",
        "2020-01-01",
        "--field",
        "about=x",
    ]);
    let said = liaison_tests::output_text(&out);
    assert!(
        !out.status.success() && said.contains("which is already past"),
        "{said}"
    );
    let types = alice.run(&["request", "types"]);
    assert_success(&types, "request types");
    assert!(
        String::from_utf8_lossy(&types.stdout)
            .contains("verify-identity: name (required), document-type (required)")
    );

    let sent = json_of(
        &alice.run(&[
            "--json",
            "request",
            "new",
            "--type",
            "locate-person",
            "--to",
            "th.dsi.bob",
            "--priority",
            "urgent",
            "--field",
            "name=Maria Santos",
            "--field",
            "last-known-location=Pier 7",
            "She called her sister from Bangkok.",
        ]),
        "request new",
    );
    let req = sent["request"].as_str().unwrap().to_owned();
    assert_eq!(sent["to"], "th.dsi.bob");

    // Bob's list shows it, its fields withheld until he acknowledges the
    // handling; the command the text says works as printed.
    assert_success(&bob.run(&["sync"]), "bob sync");
    let list = json_of(&bob.run(&["--json", "request", "list"]), "request list");
    assert_eq!(list[0]["request"], req.as_str());
    assert_eq!(list[0]["withheld"], true, "{list}");
    assert_eq!(list[0]["fields"], serde_json::json!([]), "{list}");
    assert_eq!(list[0]["mine"], false);
    let show = bob.run(&["request", "show", &req]);
    assert_success(&show, "request show");
    let shown = String::from_utf8_lossy(&show.stdout).into_owned();
    assert!(!shown.contains("Maria"), "{shown}");
    let read = shown
        .lines()
        .find_map(|l| l.split('`').nth(1))
        .unwrap_or_else(|| panic!("a command to read it: {shown}"))
        .to_owned();
    assert_success(&liaison_tests::run_as_printed(&read), &read);
    let list = json_of(&bob.run(&["--json", "request", "list"]), "request list");
    assert_eq!(
        list[0]["fields"][0],
        serde_json::json!(["name", "Maria Santos"])
    );

    // Acknowledge, answer with a file.
    assert_success(&bob.run(&["request", "ack", &req, "On it."]), "request ack");
    let file = net.dir.path().join("shelter-list.txt");
    std::fs::write(&file, "Baan Kred shelter, room 4").unwrap();
    assert_success(
        &bob.run(&[
            "request",
            "answer",
            &req,
            "--attach",
            file.to_str().unwrap(),
            "Found, safe, at the shelter.",
        ]),
        "request answer",
    );
    let out = bob.run(&["request", "decline", &req, "--reason", "too late"]);
    assert!(!out.status.success());
    assert!(
        liaison_tests::output_text(&out).contains("cannot take the step decline"),
        "{}",
        liaison_tests::output_text(&out)
    );

    // Alice sees it answered and sends the outcome; Bob gets it.
    assert_success(&alice.run(&["sync"]), "alice sync");
    let list = json_of(&alice.run(&["--json", "request", "list"]), "alice's list");
    assert_eq!(list[0]["status"], "answered", "{list}");
    assert_eq!(list[0]["mine"], true);
    assert_success(
        &alice.run(&["request", "outcome", &req, "She is back home in Cebu."]),
        "request outcome",
    );
    assert_success(&bob.run(&["sync"]), "bob sync");
    let shown = json_of(
        &bob.run(&["--json", "request", "show", &req]),
        "request show",
    );
    assert_eq!(shown["outcome"], true, "{shown}");
    let steps: Vec<&str> = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["open", "acknowledge", "answer", "outcome"]);
}

/// The judicial export of an answered request with its file (issue 13,
/// acceptance 4): the requester exports the answer for her case (the
/// request's handling permits judicial use, and the answer takes the
/// request's handling), saves the file, and `liaison-audit verify-message`
/// verifies the bundle and the file against the SHA-256 the answerer
/// signed; a file with one byte changed fails.
#[test]
fn the_answer_to_a_request_exports_as_evidence_with_its_file() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "ph.pnp.alice", "PH", "PNP");
    let bob = net.enrol("bob", "th.dsi.bob", "TH", "DSI");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let sent = json_of(
        &alice.run(&[
            "--json",
            "request",
            "new",
            "--type",
            "verify-identity",
            "--to",
            "th.dsi.bob",
            "--priority",
            "high",
            "--handling",
            "AMBER judicial=permitted purpose=prosecution",
            "--field",
            "name=Maria Santos",
            "--field",
            "document-type=passport",
            "--field",
            "document-number=P1234567",
        ]),
        "request new",
    );
    let req = sent["request"].as_str().unwrap().to_owned();
    assert_success(&bob.run(&["sync"]), "bob sync");
    let shown = json_of(
        &bob.run(&["--json", "request", "show", &req]),
        "request show",
    );
    assert_success(
        &bob.run(&["read", shown["message"].as_str().unwrap(), "--accept"]),
        "read --accept",
    );
    let scan = net.dir.path().join("passport-record.pdf");
    let plain: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(&scan, &plain).unwrap();
    let answer = json_of(
        &bob.run(&[
            "--json",
            "request",
            "answer",
            &req,
            "--attach",
            scan.to_str().unwrap(),
            "The passport is genuine; the immigration record is attached.",
        ]),
        "request answer",
    );
    let answer_id = answer["id"].as_str().unwrap().to_owned();

    assert_success(&alice.run(&["sync"]), "alice sync");
    assert_success(
        &alice.run(&["read", &answer_id, "--accept"]),
        "alice reads the answer",
    );
    let saved = net.dir.path().join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    assert_success(
        &alice.run(&[
            "attachment",
            "save",
            &answer_id,
            "--out",
            saved.to_str().unwrap(),
        ]),
        "attachment save",
    );
    let file = saved.join("passport-record.pdf");
    assert_eq!(std::fs::read(&file).unwrap(), plain);
    let evidence = net.dir.path().join("evidence.txt");
    assert_success(
        &alice.run(&[
            "export",
            &answer_id,
            "--case",
            "PH-PNP-2026-77",
            "--out",
            evidence.to_str().unwrap(),
        ]),
        "export",
    );
    let verify = |attachment: &std::path::Path| {
        std::process::Command::new(liaison_tests::bin("liaison-audit"))
            .arg("verify-message")
            .arg(&evidence)
            .arg("--bundle")
            .arg(net.bundle())
            .arg("--attachment")
            .arg(attachment)
            .output()
            .unwrap()
    };
    let good = verify(&file);
    let said = liaison_tests::output_text(&good);
    assert_eq!(good.status.code(), Some(0), "{said}");
    assert!(said.contains("passport-record.pdf"), "{said}");
    assert!(said.contains("matches"), "{said}");
    let mut altered = plain;
    altered[100_000] ^= 1;
    let forged = net.dir.path().join("forged.pdf");
    std::fs::write(&forged, &altered).unwrap();
    let bad = verify(&forged);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        liaison_tests::output_text(&bad)
    );
}

/// A received request whose opening is destroyed when its retention ends
/// loses its fields with it: they never show, before or after (found by
/// review: they used to appear once the message was destroyed).
#[test]
fn a_requests_fields_go_when_retention_destroys_its_opening() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "ph.pnp.alice", "PH", "PNP");
    let bob = net.enrol("bob", "th.dsi.bob", "TH", "DSI");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let in_five_days = Timestamp(now().0 + 5 * 24 * HOUR_MS).to_rfc3339();
    let handling = format!("RED retain={}", &in_five_days[..10]);
    let sent = json_of(
        &alice.run(&[
            "--json",
            "request",
            "new",
            "--type",
            "locate-person",
            "--to",
            "th.dsi.bob",
            "--handling",
            &handling,
            "--field",
            "name=SECRET-VICTIM-NAME",
        ]),
        "request new",
    );
    let req = sent["request"].as_str().unwrap().to_owned();
    assert_success(&bob.run(&["sync"]), "bob sync");
    let shown = json_of(
        &bob.run(&["--json", "request", "show", &req]),
        "request show",
    );
    assert_eq!(shown["withheld"], true, "{shown}");
    assert_eq!(shown["fields"], serde_json::json!([]), "{shown}");
    // Ten days later, without Bob ever acknowledging it.
    let later = (10 * 24 * HOUR_MS).to_string();
    let run_later = |args: &[&str]| {
        bob.command(args)
            .env("LIAISON_TEST_CLOCK_OFFSET_MS", &later)
            .output()
            .unwrap()
    };
    assert_success(&run_later(&["sync"]), "bob sync, ten days later");
    let shown = json_of(
        &run_later(&["--json", "request", "show", &req]),
        "request show",
    );
    assert_eq!(shown["fields"], serde_json::json!([]), "{shown}");
    let text = run_later(&["request", "show", &req]);
    assert!(!String::from_utf8_lossy(&text.stdout).contains("SECRET"));
}

/// An urgent request to one officer (no role, no duty desk in their
/// agency) that nobody acknowledges: the requester's client alerts that
/// nobody is left to escalate it to, once per acknowledgement window
/// rather than at every sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nobody_left_to_escalate_to_the_alert_comes_once_per_window() {
    let net = DevNet::start();
    let mut alice = inproc::enrol(&net, "alice", "ph.pnp.alice", "PNP")
        .await
        .unwrap();
    let _somchai = inproc::enrol(&net, "somchai", "th.dsi.somchai", "DSI")
        .await
        .unwrap();
    let clock = ManualClock::new(now());
    alice.set_clock(Arc::new(clock.clone()));
    sync(&mut alice).await;
    alice.connect().await.unwrap();
    alice
        .request_new(
            RequestOpen {
                kind: RequestType::LocatePerson,
                priority: Priority::Urgent,
                due: Timestamp(clock.now().0 + 24 * HOUR_MS),
                acknowledge_within_secs: Priority::Urgent.acknowledge_within_secs(),
                to: id("th.dsi.somchai"),
                fields: vec![("name".to_owned(), "Maria Santos".to_owned())],
                nonce: [0; 16],
            },
            "",
            Handling::parse_text("AMBER").unwrap(),
            None,
            &[],
        )
        .await
        .unwrap();
    alice.disconnect().await;
    let alerts = |c: &mut Client| {
        c.take_warnings()
            .into_iter()
            .filter(|w| w.contains("nobody is left to escalate it to"))
            .count()
    };
    clock.advance(HOUR_MS + 60_000);
    sync(&mut alice).await;
    assert_eq!(alerts(&mut alice), 1);
    sync(&mut alice).await;
    assert_eq!(alerts(&mut alice), 0, "not again at the next sync");
    clock.advance(HOUR_MS);
    sync(&mut alice).await;
    assert_eq!(alerts(&mut alice), 1, "again an hour later");
}
