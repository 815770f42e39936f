//! Reading the inbox and answering from it (issue 11): one id for a
//! consent request, the grant's conditions carried with a forward, replies
//! and conversations, unread messages, local time, "did you mean", and the
//! commands the tool suggests, each run exactly as printed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use liaison_client::client::Faults;
use liaison_protocol::consent::{ConsentDecision, ConsentScope};
use liaison_protocol::handling::Handling;
use liaison_protocol::message::Content;
use liaison_protocol::{DirectoryId, Signed};
use liaison_tests::{DevNet, Person, assert_success, inproc, output_text, run_as_printed};

/// The first `liaison …` command in `text` that contains `needle`: between
/// backquotes, or running to the end of its line.
fn printed_command(text: &str, needle: &str) -> String {
    for part in text.split('`') {
        if part.starts_with("liaison ") && part.contains(needle) && !part.contains('\n') {
            return part.to_owned();
        }
    }
    for line in text.lines() {
        if let Some(at) = line.find("liaison --home")
            && line[at..].contains(needle)
        {
            return line[at..].trim().to_owned();
        }
    }
    panic!("no command with {needle:?} in:\n{text}")
}

fn sent_id(out: &std::process::Output) -> String {
    assert_success(out, "send");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Alice (TH) sends Bob (PH PNP) a RED message; Bob syncs and reads it.
fn red_message_read_by_bob(alice: &Person, bob: &Person, text: &str) -> String {
    let id = sent_id(&alice.run(&["send", "--to", "ph.pnp.bob", text]));
    assert_success(&bob.run(&["sync"]), "bob sync");
    assert_success(&bob.run(&["read", &id, "--accept"]), "read --accept");
    id
}

/// A forward outside the handling's scope is refused with a consent
/// request command that works as printed; the originator's inbox shows the
/// request under one id, with the command that grants it, which works as
/// printed too; the forward then goes through.
#[test]
fn a_consent_is_asked_and_granted_with_the_commands_as_printed() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let carol = net.enrol("carol", "ph.nbi.carol", "PH", "NBI");
    let id = red_message_read_by_bob(&alice, &bob, "boat leaves at 0400");

    let out = bob.run(&["forward", &id, "--to", "ph.nbi.carol"]);
    assert!(!out.status.success());
    let said = output_text(&out);
    let ask = printed_command(&said, "consent request");
    assert!(
        ask.contains("--home") && ask.contains("--reason \"...\""),
        "{ask}"
    );
    // As printed, it fails only because the reason is still to be written.
    let out = run_as_printed(&ask);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let said = output_text(&out);
    assert!(
        said.contains("`...` stands for text you write yourself"),
        "{said}"
    );
    let ask = ask.replace(
        "--reason \"...\"",
        "--reason \"the NBI boarding team needs it\"",
    );
    let out = run_as_printed(&ask);
    assert_success(&out, &ask);

    // Alice sees the request in her inbox, under the id she answers with.
    assert_success(&alice.run(&["sync"]), "alice sync");
    let inbox = alice.inbox();
    let request = inbox
        .iter()
        .find(|m| m["kind"] == "consent-request")
        .unwrap_or_else(|| panic!("{inbox:?}"));
    assert_eq!(request["awaiting_decision"], true);
    let request_id = request["id"].as_str().unwrap().to_owned();
    let out = alice.run(&["inbox", "--unread"]);
    assert_success(&out, "inbox --unread");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(shown.contains(&request_id), "{shown}");
    let grant = printed_command(&shown, "consent grant");
    assert!(grant.contains(&request_id), "{grant}");
    // `consent list` names the request by the same id.
    let out = alice.run(&["consent", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("request {request_id} ")),
        "{}",
        output_text(&out)
    );
    // The refusal printed beside it fails only for the reason to write.
    let refuse = printed_command(&shown, "consent refuse");
    let out = run_as_printed(&refuse);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("`...` stands for text you write yourself"),
        "{}",
        output_text(&out)
    );
    let out = run_as_printed(&grant);
    assert_success(&out, &grant);
    // A decision is final: granting or refusing again is refused.
    for again in [
        grant.clone(),
        refuse.replace("\"...\"", "\"changed my mind\""),
    ] {
        let out = run_as_printed(&again);
        assert!(!out.status.success(), "{again}");
        assert!(
            output_text(&out).contains("you already granted this request on"),
            "{}",
            output_text(&out)
        );
    }
    // Answered: no longer unread, and the hint is gone.
    let out = alice.run(&["inbox", "--unread"]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!shown.contains(&request_id), "{shown}");
    assert!(!alice.inbox().iter().any(|m| m["awaiting_decision"] == true));

    assert_success(&bob.run(&["sync"]), "bob sync");
    let out = bob.run(&["forward", &id, "--to", "ph.nbi.carol"]);
    assert_success(&out, "forward after the grant");
    let out = carol.run(&["sync"]);
    assert_success(&out, "carol sync");
    let inbox = carol.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["original_from"], "th.dsi.alice");
}

/// The conditions of the originator's grant travel with the forward, and
/// the recipient is shown them; the grant is given with the id the inbox
/// shows for the request.
#[test]
fn grant_conditions_reach_the_recipient_of_the_forward() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let carol = net.enrol("carol", "ph.nbi.carol", "PH", "NBI");
    let id = red_message_read_by_bob(&alice, &bob, "boat leaves at 0400");
    assert_success(
        &bob.run(&[
            "consent",
            "request",
            &id,
            "--scope",
            "forward:ph.nbi.carol",
            "--reason",
            "NBI runs the boarding",
        ]),
        "consent request",
    );
    assert_success(&alice.run(&["sync"]), "alice sync");
    let request = alice
        .inbox()
        .into_iter()
        .find(|m| m["kind"] == "consent-request")
        .unwrap();
    let conditions = "share only with the boarding team";
    assert_success(
        &alice.run(&[
            "consent",
            "grant",
            request["id"].as_str().unwrap(),
            "--conditions",
            conditions,
            "--valid-until",
            "2030-06-15T12:00:00Z",
        ]),
        "consent grant with the inbox id",
    );
    assert_success(&bob.run(&["sync"]), "bob sync");
    // Both sides' consent lists say until when the grant holds.
    for who in [&alice, &bob] {
        let out = who.run(&["consent", "list"]);
        assert_success(&out, "consent list");
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(listed.contains("decision: granted on 20"), "{listed}");
        assert!(listed.contains(", valid until 2030-06-15"), "{listed}");
        let out = who.run(&["consent", "list", "--json"]);
        assert_success(&out, "consent list --json");
        let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(listed[0]["valid_until"], "2030-06-15T12:00:00Z", "{listed}");
        assert!(!listed.to_string().contains("LAPSED"));
    }
    // Five years on, the list says the grant has lapsed.
    let out = alice
        .command(&["consent", "list"])
        .env(
            liaison_tests::CLOCK_OFFSET_ENV,
            (5 * 365 * 86_400_000u64).to_string(),
        )
        .output()
        .unwrap();
    assert_success(&out, "consent list five years on");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(LAPSED: it no longer allows anything)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_success(
        &bob.run(&["forward", &id, "--to", "ph.nbi.carol"]),
        "forward",
    );
    assert_success(&carol.run(&["sync"]), "carol sync");
    let inbox = carol.inbox();
    let fwd = &inbox[0];
    assert_eq!(fwd["forwarded_with_consent"][0]["by"], "th.dsi.alice");
    assert_eq!(fwd["forwarded_with_consent"][0]["conditions"], conditions);
    let out = carol.run(&["inbox"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("conditions: \"{conditions}\"")),
        "{}",
        output_text(&out)
    );
    let fid = fwd["id"].as_str().unwrap();
    let out = carol.run(&["read", fid]);
    assert_success(&out, "read");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains("with the consent of th.dsi.alice") && shown.contains(conditions),
        "{shown}"
    );
}

/// A forwarder that removes the originator's grant (and so its
/// conditions), or alters the grant, is detected: the recipient's client
/// rejects the forward and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_stripped_of_its_grant_or_with_an_altered_grant_is_rejected() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let mut carol = inproc::enrol(&net, "carol", "ph.nbi.carol", "NBI")
        .await
        .unwrap();
    let to = |s: &str| DirectoryId::parse(s).unwrap();
    alice.connect().await.unwrap();
    let m = alice
        .send(&[to("ph.pnp.bob")], "pier 7", Handling::default())
        .await
        .unwrap();
    alice.disconnect().await;
    bob.connect().await.unwrap();
    bob.sync().await.unwrap();
    bob.read(m, true).await.unwrap();
    let scope = ConsentScope::Forward {
        recipients: vec![to("ph.nbi.carol")],
    };
    let request = bob.request_consent(m, scope, "boarding").await.unwrap();
    bob.disconnect().await;
    alice.connect().await.unwrap();
    alice.sync().await.unwrap();
    alice
        .decide_consent(request, true, "boarding team only", None)
        .await
        .unwrap();
    alice.disconnect().await;
    bob.connect().await.unwrap();
    bob.sync().await.unwrap();
    let grant = bob.consent_decisions(m).unwrap().remove(0);
    let original = bob.message(m).unwrap().unwrap().signed_payload;
    // Stripped: a plain forward, as an older or dishonest client sends.
    let stripped = Faults {
        content: Some(Content::Forward {
            original: original.clone(),
        }),
        ..Faults::default()
    };
    bob.send_with_faults(
        &[to("ph.nbi.carol")],
        "",
        Handling::default(),
        None,
        stripped,
    )
    .await
    .unwrap();
    // Altered: the conditions rewritten under Alice's signature.
    let mut d = grant.decode_unverified().unwrap();
    d.conditions = "no conditions".into();
    let altered = Signed::<ConsentDecision>::from_parts(
        liaison_protocol::codec::encode_body(&d),
        *grant.signer(),
        *grant.signature(),
    );
    let altered = Faults {
        content: Some(Content::ForwardWithConsent {
            original,
            grants: vec![altered],
        }),
        ..Faults::default()
    };
    bob.send_with_faults(
        &[to("ph.nbi.carol")],
        "",
        Handling::default(),
        None,
        altered,
    )
    .await
    .unwrap();
    // The honest forward carries the grant.
    bob.forward(m, &[to("ph.nbi.carol")], None, "")
        .await
        .unwrap();
    bob.disconnect().await;

    carol.connect().await.unwrap();
    let report = carol.sync().await.unwrap();
    carol.disconnect().await;
    let reasons: Vec<&String> = report.rejected.iter().map(|(_, r)| r).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("removed the originator's consent")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("consent grant that does not verify")),
        "{reasons:?}"
    );
    assert_eq!(report.received.len(), 1);
    let kept = &report.received[0];
    let grants = liaison_client::core::open::carried_grants(kept);
    assert_eq!(grants[0].conditions, "boarding team only");
}

/// `reply` answers the sender in the same conversation with the same
/// handling, shows the conversation, refuses to loosen the handling; the
/// inbox groups by conversation, `--unread` lists only what is not read,
/// and text output shows local time (UTC in `--json`).
#[test]
fn replies_conversations_unread_and_local_time() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let first = sent_id(&alice.run(&[
        "send",
        "--to",
        "ph.pnp.bob",
        "--handling",
        "AMBER+STRICT purpose=rescue",
        "first",
    ]));
    let second = sent_id(&alice.run(&["send", "--to", "ph.pnp.bob", "second"]));
    assert_success(&bob.run(&["sync"]), "bob sync");
    let inbox = bob.inbox();
    let conversation = inbox.iter().find(|m| m["id"] == first.as_str()).unwrap()["conversation"]
        .as_str()
        .unwrap()
        .to_owned();

    // Unread: both, then only the one not read.
    let unread =
        |p: &Person| String::from_utf8_lossy(&p.run(&["inbox", "--unread"]).stdout).into_owned();
    let shown = unread(&bob);
    assert!(shown.contains(&first) && shown.contains(&second), "{shown}");
    assert_success(&bob.run(&["read", &first, "--accept"]), "read");
    let shown = unread(&bob);
    assert!(
        !shown.contains(&first) && shown.contains(&second),
        "{shown}"
    );

    // Text shows local time; JSON keeps UTC.
    let out = bob
        .command(&["inbox"])
        .env("TZ", "Asia/Bangkok")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(shown.contains("+07:00]"), "{shown}");
    assert!(!shown.contains("Z] "), "{shown}");
    assert!(inbox[0]["sent_at"].as_str().unwrap().ends_with('Z'));
    // Grouped by conversation, each named with its id.
    assert!(
        shown.contains(&format!("=== conversation {conversation} (1 message(s)")),
        "{shown}"
    );
    assert_eq!(shown.matches("=== conversation ").count(), 2, "{shown}");

    // A looser handling is refused; the default keeps the original's.
    let out = bob.run(&["reply", &first, "--handling", "CLEAR", "no"]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("may only keep or tighten"),
        "{}",
        output_text(&out)
    );
    let out = bob.run(&["reply", &first, "on our way"]);
    assert_success(&out, "reply");
    let reply = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(reply.len(), 32, "{reply}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "sent to th.dsi.alice in conversation {conversation}"
        )),
        "{}",
        output_text(&out)
    );
    assert_success(&alice.run(&["sync"]), "alice sync");
    let got = alice.inbox();
    let r = got.iter().find(|m| m["id"] == reply.as_str()).unwrap();
    assert_eq!(r["conversation"], conversation.as_str());
    assert_eq!(
        r["handling"]["text"],
        inbox.iter().find(|m| m["id"] == first.as_str()).unwrap()["handling"]["text"]
    );
    // The read view names the conversation too.
    let out = alice.run(&["read", &reply]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("in conversation {conversation}")),
        "{}",
        output_text(&out)
    );
}

/// A mistyped id gets the closest known ids, and the corrected command
/// runs as printed.
#[test]
fn a_mistyped_id_gets_a_did_you_mean_that_runs_as_printed() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&alice.run(&["sync"]), "sync");
    let out = alice.run(&["send", "--to", "PH.PNP.BBO", "hello there"]);
    assert!(!out.status.success());
    let said = output_text(&out);
    assert!(said.contains("Did you mean ph.pnp.bob?"), "{said}");
    let fixed = printed_command(&said, "send");
    assert!(fixed.contains("--to ph.pnp.bob"), "{fixed}");
    let out = run_as_printed(&fixed);
    assert_success(&out, &fixed);
    assert_success(&bob.run(&["sync"]), "bob sync");
    assert_eq!(bob.inbox().len(), 1);

    let out = alice.run(&["contacts", "show", "ph.pnp.bop"]);
    assert!(!out.status.success());
    let said = output_text(&out);
    assert!(said.contains("Did you mean ph.pnp.bob?"), "{said}");
    let fixed = printed_command(&said, "contacts show");
    let out = run_as_printed(&fixed);
    assert_success(&out, &fixed);
}

/// Commands the client library suggests in an error name the home, so
/// they work when pasted.
#[test]
fn a_library_error_names_the_home_in_its_command() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let id = sent_id(&alice.run(&["send", "--to", "ph.pnp.bob", "unread yet"]));
    assert_success(&bob.run(&["sync"]), "sync");
    let out = bob.run(&["forward", &id, "--to", "th.dsi.alice"]);
    assert!(!out.status.success());
    let said = output_text(&out);
    let cmd = printed_command(&said, "--accept");
    assert!(cmd.contains("--home"), "{cmd}");
    let out = run_as_printed(&cmd);
    assert_success(&out, &cmd);
    assert!(String::from_utf8_lossy(&out.stdout).contains("unread yet"));
}

/// An export refused because judicial use is prohibited suggests the
/// consent request for that case: as printed it fails only because the
/// reason is still to be written; with a reason it asks the originator.
#[test]
fn the_judicial_refusal_suggests_a_consent_request_that_runs_as_printed() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let id = red_message_read_by_bob(&alice, &bob, "names of the recruiters");
    // The handling, in plain words, says how to ask for consent: that
    // command runs as printed.
    let out = bob.run(&["read", &id]);
    assert_success(&out, "read");
    let help = printed_command(&output_text(&out), "consent request --help");
    assert_success(&run_as_printed(&help), &help);
    let out_file = bob.home.join("evidence.txt");
    let out = bob.run(&[
        "export",
        &id,
        "--case",
        "PH-NBI-2026-114",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(!out_file.exists(), "nothing written when refused");
    let said = output_text(&out);
    let ask = printed_command(&said, "consent request");
    assert!(
        ask.contains("--home") && ask.contains("judicial:PH-NBI-2026-114"),
        "{ask}"
    );
    let out = run_as_printed(&ask);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("`...` stands for text you write yourself"),
        "{}",
        output_text(&out)
    );
    let ask = ask.replace(
        "--reason \"...\"",
        "--reason \"prosecution of the recruiters\"",
    );
    assert_success(&run_as_printed(&ask), &ask);
    assert_success(&alice.run(&["sync"]), "alice sync");
    let request = alice
        .inbox()
        .into_iter()
        .find(|m| m["kind"] == "consent-request" && m["awaiting_decision"] == true)
        .expect("the originator is asked");
    let request = request["id"].as_str().unwrap().to_owned();
    assert_success(&alice.run(&["consent", "grant", &request]), "consent grant");
    assert_success(&bob.run(&["sync"]), "bob sync");

    // With consent the export is written, and the offline check it
    // suggests fails as printed only for the dots standing for the
    // network's bundle; with the bundle it verifies.
    let out = bob.run(&[
        "export",
        &id,
        "--case",
        "PH-NBI-2026-114",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_success(&out, "export with consent");
    let said = output_text(&out);
    let verify = said
        .lines()
        .find_map(|l| l.find("liaison-audit verify-message ").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no verify command in:\n{said}"))
        .trim()
        .to_owned();
    assert!(verify.ends_with(" --bundle ..."), "{verify}");
    let out = run_as_printed(&verify);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("`...` stands for a file or directory"),
        "{}",
        output_text(&out)
    );
    let bundle = net.bundle();
    let verify = verify.replace(" --bundle ...", &format!(" --bundle {}", bundle.display()));
    assert_success(&run_as_printed(&verify), &verify);
}

/// A consent decision interrupted on its way (the relay holds it and never
/// answers; Ctrl-C) is final all the same: it is kept to go out, a second
/// decision is refused, and the requester receives exactly one.
#[test]
fn an_interrupted_consent_decision_is_final_and_arrives_once() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let _carol = net.enrol("carol", "ph.nbi.carol", "PH", "NBI");
    let id = red_message_read_by_bob(&alice, &bob, "boat leaves at 0400");
    let out = bob.run(&[
        "consent",
        "request",
        &id,
        "--scope",
        "forward:ph.nbi.carol",
        "--reason",
        "the NBI boarding team needs it",
    ]);
    assert_success(&out, "consent request");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let request = alice
        .inbox()
        .into_iter()
        .find(|m| m["kind"] == "consent-request")
        .expect("the request in Alice's inbox");
    let request_id = request["id"].as_str().unwrap().to_owned();

    let marker = net.restart_holding_sends_of(&alice);
    let _ = alice.interrupted_when_held(
        &[
            "consent",
            "grant",
            &request_id,
            "--conditions",
            "boarding team only",
        ],
        &marker,
    );

    net.kill();
    net.restart();
    // Refusing now is refused: the grant is kept to go out.
    let out = alice.run(&[
        "consent",
        "refuse",
        &request_id,
        "--reason",
        "changed my mind",
    ]);
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("you already granted this request on"),
        "{}",
        output_text(&out)
    );
    assert_success(&alice.run(&["sync"]), "alice sync sends the grant");
    assert_success(&bob.run(&["sync"]), "bob sync");
    let out = bob.run(&["consent", "list", "--json"]);
    assert_success(&out, "consent list");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let decisions: Vec<&serde_json::Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["decision"].is_string())
        .collect();
    assert_eq!(decisions.len(), 1, "{list}");
    assert!(
        decisions[0]["decision"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("grant"),
        "{list}"
    );
    // And the forward it allows goes through.
    assert_success(
        &bob.run(&["forward", &id, "--to", "ph.nbi.carol"]),
        "forward after the grant",
    );
}

/// A forward of a forward keeps the handling the earlier hop tightened:
/// Alice sends GREEN, Bob forwards it as AMBER, Carol forwards Bob's
/// forward on without naming a handling. It goes out as AMBER (not the
/// originator's GREEN), and Dave's client accepts it.
#[test]
fn a_forward_of_a_forward_keeps_the_tightened_handling() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let carol = net.enrol("carol", "ph.pnp.carol", "PH", "PNP");
    let dave = net.enrol("dave", "ph.pnp.dave", "PH", "PNP");
    let out = alice.run(&[
        "send",
        "--to",
        "ph.pnp.bob",
        "--handling",
        "GREEN onward=per-tlp judicial=permitted",
        "boat seen off Ranong",
    ]);
    let id = sent_id(&out);
    assert_success(&bob.run(&["sync"]), "bob sync");
    assert_success(&bob.run(&["read", &id, "--accept"]), "bob reads");
    let out = bob.run(&[
        "forward",
        &id,
        "--to",
        "ph.pnp.carol",
        "--handling",
        "AMBER onward=per-tlp judicial=permitted",
    ]);
    assert_success(&out, "bob forwards as AMBER");
    assert_success(&carol.run(&["sync"]), "carol sync");
    let fwd = carol.inbox()[0]["id"].as_str().unwrap().to_owned();
    assert_success(&carol.run(&["read", &fwd, "--accept"]), "carol reads");
    let out = carol.run(&["forward", &fwd, "--to", "ph.pnp.dave"]);
    assert_success(&out, "carol forwards on");
    let sent = carol.run(&["sent", "--json"]);
    let sent: serde_json::Value = serde_json::from_slice(&sent.stdout).unwrap();
    let last = sent.as_array().unwrap().last().unwrap();
    assert_eq!(last["handling"]["tlp"], "AMBER", "{last}");
    let out = dave.run(&["sync"]);
    assert_success(&out, "dave sync: nothing rejected");
    let inbox = dave.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["verified"], true, "{inbox:?}");
    assert_eq!(inbox[0]["original_from"], "th.dsi.alice");
}
