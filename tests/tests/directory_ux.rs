//! The directory as its users see it, through the real binaries: an
//! authority re-enrolling an id (a version the id has, an identity
//! replaced only when confirmed, and the owner's client raising the alert),
//! views that show a change just published without a sync first (roles,
//! devices, contacts, with revoked contacts marked), and a revoked officer
//! told plainly what happened, while a message they sent before the
//! revocation is judged by the record in force when the relay accepted it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::{Output, Stdio};

use liaison_client::{Client, Received};
use liaison_protocol::frames::{Request, Response};
use liaison_tests::{DevNet, PASSPHRASE, Person, admin_command, assert_success, run_as_printed};
use serde_json::Value;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn admin(args: &[&str]) -> Output {
    admin_command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit 1, `needle` in the error, and the hint line.
fn refused(out: &Output, needle: &str) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "expected exit 1: {err}");
    assert!(err.contains(needle), "{needle:?} not in: {err}");
    err.lines()
        .find_map(|l| l.strip_prefix("hint: "))
        .unwrap_or_else(|| panic!("no hint in: {err}"))
        .to_owned()
}

/// The `liaison-admin …` command a hint gives to paste.
fn suggested(hint: &str) -> String {
    let start = hint
        .find("liaison-admin ")
        .unwrap_or_else(|| panic!("no command in the hint: {hint}"));
    let rest = &hint[start..];
    rest.split("; ").next().unwrap().to_owned()
}

fn enrol(net: &DevNet, person: &Person, extra: &[&str]) -> Output {
    let authority = net.authority("TH");
    let bundle = net.bundle();
    let request = person.home.join("enrolment.request");
    let mut args = vec![
        "enrol",
        "--authority",
        p(&authority),
        "--bundle",
        p(&bundle),
    ];
    args.extend_from_slice(extra);
    args.push(p(&request));
    admin(&args)
}

fn json(person: &Person, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = person.run(&all);
    assert_success(&out, &format!("liaison {}", args.join(" ")));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn reenrolment_names_the_version_and_an_identity_replacement_needs_confirmation() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let old_identity = json(&alice, &["whoami"])["identity_fingerprint"]
        .as_str()
        .unwrap()
        .replace(' ', "");

    // The same request again: nothing to do, and no hint to run it again.
    let hint = refused(
        &enrol(&net, &alice, &[]),
        "th.dsi.alice is already enrolled with this request's identity and device (version 1)",
    );
    assert!(hint.contains("nothing to do"), "{hint}");

    // A request with a new identity for the same id (a lost device, or an
    // impostor): version 1 exists, and version 2 would replace the identity.
    let newcomer = net.init("alice-new", "th.dsi.alice", "TH", "DSI");
    let out = enrol(&net, &newcomer, &[]);
    let hint = refused(
        &out,
        "th.dsi.alice is already enrolled at version 1, so version 1 cannot be published",
    );
    assert!(
        !stderr(&out).contains("published meanwhile"),
        "{}",
        stderr(&out)
    );
    assert!(
        hint.contains(&format!("--version 2 --replace-identity {old_identity}")),
        "{hint}"
    );
    let out = enrol(&net, &newcomer, &["--version", "2"]);
    let hint = refused(&out, "would replace its identity");
    assert!(
        stderr(&out).contains("lose access to th.dsi.alice"),
        "{}",
        stderr(&out)
    );
    let command = suggested(&hint);
    // A wrong fingerprint is no confirmation.
    refused(
        &enrol(
            &net,
            &newcomer,
            &["--version", "2", "--replace-identity", "0123456789abcdef"],
        ),
        "is not the current identity's fingerprint",
    );
    // Nothing was published meanwhile: the owner still syncs.
    assert_success(&alice.run(&["sync"]), "alice sync before the replacement");

    // The command the hint gives works as printed.
    let out = run_as_printed(&command);
    assert_success(&out, &command);
    assert!(stdout(&out).contains("version 2"), "{}", stdout(&out));

    // The owner's client raises the own-record alert and says plainly that
    // this device is no longer in the record, instead of a bare 404.
    let out = alice.run(&["sync"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ALERT: your own directory record now names identity key"),
        "{err}"
    );
    assert!(
        err.contains("th.dsi.alice's record (version 2) now names another identity"),
        "{err}"
    );
    assert!(!err.contains("has your authority enrolled you"), "{err}");
    let me = json(&alice, &["whoami"]);
    assert_eq!(me["enrolled"], false, "{me}");
    assert_eq!(me["standing"], "replaced", "{me}");
    // The new holder of the id syncs.
    assert_success(&newcomer.run(&["sync"]), "the new holder's sync");
}

fn sync(person: &Person, who: &str) {
    assert_success(&person.run(&["sync"]), &format!("{who} sync"));
}

#[test]
fn roles_show_a_role_just_set() {
    let net = DevNet::start();
    let bundle = net.bundle();
    let th = net.authority("TH");
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    sync(&alice, "alice");

    // A role set by the authority shows in `roles` at once, without a sync.
    assert_success(
        &admin(&[
            "role",
            "set",
            "--authority",
            p(&th),
            "--bundle",
            p(&bundle),
            "--role",
            "th.dsi.duty",
            "--name",
            "Duty desk",
            "--holders",
            "th.dsi.alice",
        ]),
        "role set",
    );
    let roles = json(&alice, &["roles"]);
    assert_eq!(roles[0]["id"], "th.dsi.duty", "{roles}");

    // With the relay down, the views show the copy held and say so.
    let mut net = net;
    net.kill();
    let out = alice.run(&["roles"]);
    assert_success(&out, "roles with the relay down");
    assert!(stdout(&out).contains("th.dsi.duty"));
    assert!(
        stderr(&out).contains("this shows the directory from your last sync"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn device_list_shows_a_device_just_added() {
    let net = DevNet::start();
    let bundle = net.bundle();
    let b = p(&bundle);
    let th = net.authority("TH");
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    sync(&alice, "alice");

    let laptop = net.person("alice-laptop");
    let out = laptop.run(&["device", "request", "--bundle", b, "--id", "th.dsi.alice"]);
    assert_success(&out, "device request");
    let code = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("Confirmation code: "))
        .unwrap()
        .to_owned();
    // The approval command it prints, as printed, fails only for the dots
    // standing for the approving device's home; with that home, run where
    // it was printed, it writes the approval there.
    let approve = stdout(&out)
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("liaison --home ... device approve "))
        .unwrap_or_else(|| panic!("no approve command in: {}", stdout(&out)))
        .to_owned();
    assert!(approve.ends_with(&format!("--code {code}")), "{approve}");
    let refused = run_as_printed(&approve);
    assert_eq!(refused.status.code(), Some(2), "{approve}");
    assert!(
        stderr(&refused).contains("`...` stands for a file or directory"),
        "{}",
        stderr(&refused)
    );
    let approve = approve.replacen("...", &liaison_protocol::shell::quote_path(&alice.home), 1);
    assert_success(
        &liaison_tests::run_as_printed_in(net.dir.path(), &approve),
        &approve,
    );
    let approval = net.dir.path().join("device.approval");
    assert_success(
        &laptop.run(&["device", "link", p(&approval)]),
        "device link",
    );
    let linked = laptop.home.join("device.approval");
    assert_success(
        &admin(&[
            "add-device",
            "--authority",
            p(&th),
            "--bundle",
            b,
            p(&linked),
        ]),
        "add-device",
    );
    // Shown at once, without a sync.
    let devices = json(&alice, &["device", "list"]);
    assert_eq!(devices.as_array().unwrap().len(), 2, "{devices}");
}

#[test]
fn contacts_mark_a_contact_revoked_meanwhile_with_the_reason_and_date() {
    let net = DevNet::start();
    let th = net.authority("TH");
    let bundle = net.bundle();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let _carol = net.enrol("carol", "th.dsi.carol", "TH", "DSI");
    sync(&alice, "alice");
    assert_success(
        &admin(&[
            "revoke",
            "--authority",
            p(&th),
            "--bundle",
            p(&bundle),
            "--id",
            "th.dsi.carol",
            "--reason",
            "left the unit",
        ]),
        "revoke",
    );
    let out = alice.run(&["contacts"]);
    assert_success(&out, "contacts");
    let line = stdout(&out)
        .lines()
        .find(|l| l.starts_with("th.dsi.carol"))
        .unwrap()
        .to_owned();
    assert!(line.contains("[REVOKED 20"), "{line}");
    assert!(line.ends_with(": left the unit]"), "{line}");
    let contacts = json(&alice, &["contacts"]);
    let carol = contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "th.dsi.carol")
        .unwrap();
    assert_eq!(carol["status"], "revoked");
    assert_eq!(carol["revoked_reason"], "left the unit");
    assert!(carol["inactive_since"].as_str().unwrap().starts_with("20"));
    let out = alice.run(&["contacts", "show", "th.dsi.carol"]);
    assert_success(&out, "contacts show");
    assert!(
        stdout(&out).contains("NOT in force [REVOKED 20"),
        "{}",
        stdout(&out)
    );
}

/// Alice and Carol (TH), enrolled and synced; Carol sends Alice a message,
/// then her authority revokes her.
fn carol_sends_then_is_revoked(net: &DevNet) -> (Person, Person) {
    let th = net.authority("TH");
    let bundle = net.bundle();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let carol = net.enrol("carol", "th.dsi.carol", "TH", "DSI");
    sync(&alice, "alice");
    sync(&carol, "carol");
    assert_success(
        &carol.run(&["send", "--to", "th.dsi.alice", "sent before the revocation"]),
        "carol send",
    );
    assert_success(
        &admin(&[
            "revoke",
            "--authority",
            p(&th),
            "--bundle",
            p(&bundle),
            "--id",
            "th.dsi.carol",
            "--reason",
            "rotated to another unit",
        ]),
        "revoke",
    );
    (alice, carol)
}

#[test]
fn a_revoked_officer_is_told_when_and_why() {
    let net = DevNet::start();
    let (_alice, carol) = carol_sends_then_is_revoked(&net);
    for args in [
        &["sync"][..],
        &["send", "--to", "th.dsi.alice", "sent after the revocation"][..],
    ] {
        let out = carol.run(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(
                "this device was revoked: your authority revoked th.dsi.carol's record on 20"
            ),
            "{args:?}: {err}"
        );
        assert!(err.contains("\"rotated to another unit\""), "{err}");
        assert!(!err.contains("has your authority enrolled you"), "{err}");
    }
    // The time of the revocation in the error is local time.
    let out = carol
        .command(&["sync"])
        .env("TZ", "Asia/Bangkok")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(err.contains("+07:00"), "{err}");
    assert!(!err.contains("Z ("), "no UTC stamp left: {err}");
    let out = carol.run(&["whoami"]);
    assert_success(&out, "carol whoami");
    assert!(
        stdout(&out).contains("enrolled:             no: this device was revoked"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_message_sent_before_a_revocation_is_judged_by_the_record_then() {
    let net = DevNet::start();
    let (alice, _carol) = carol_sends_then_is_revoked(&net);

    // Attack: a relay re-stamps Carol's envelope as accepted after the
    // revocation (Carol's own clock inside the payload still says before).
    // Alice's client refuses it: only the relay's acceptance time counts.
    restamped_a_day_later_is_refused(&alice, &["after the revocation", "rotated to another unit"]);

    // The genuine envelope, accepted before the revocation, is verified by
    // the record in force then and shown with a note.
    sync(&alice, "alice");
    let inbox = alice.inbox();
    let genuine = inbox
        .iter()
        .find(|m| m["verified"] == true)
        .unwrap_or_else(|| panic!("no verified message: {inbox:?}"));
    assert_eq!(genuine["from"], "th.dsi.carol");
    let note = genuine["note"].as_str().unwrap();
    assert!(
        note.starts_with("sent before th.dsi.carol's device was revoked on 20"),
        "{note}"
    );
    assert!(note.ends_with("(rotated to another unit)"), "{note}");
    let out = alice.run(&["inbox"]);
    assert!(
        stdout(&out).contains("note: sent before th.dsi.carol's device was revoked on"),
        "{}",
        stdout(&out)
    );
}

/// The first backquoted `liaison …` command in `text` containing `needle`.
fn backquoted(text: &str, needle: &str) -> String {
    text.split('`')
        .find(|part| part.starts_with("liaison ") && part.contains(needle))
        .unwrap_or_else(|| panic!("no `liaison … {needle}` in: {text}"))
        .to_owned()
}

/// A contact's identity key changed: the warning's three commands run as
/// printed. `safety-number` shows the new number; `contacts verify` with
/// the dots fails only because the number is still to be written, and with
/// the number filled in marks the contact verified; sending is held until
/// then, and goes through after.
#[test]
fn the_key_change_warning_commands_run_as_printed() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "th.dsi.bob", "TH", "DSI");
    sync(&alice, "alice");
    sync(&bob, "bob");
    assert_success(
        &alice.run(&["send", "--to", "th.dsi.bob", "before the change"]),
        "send before the change",
    );
    let old_identity = json(&bob, &["whoami"])["identity_fingerprint"]
        .as_str()
        .unwrap()
        .replace(' ', "");

    // Bob reinstalls: a new identity for his id, confirmed by the authority.
    let bob2 = net.init("bob-new", "th.dsi.bob", "TH", "DSI");
    let out = enrol(
        &net,
        &bob2,
        &["--version", "2", "--replace-identity", &old_identity],
    );
    assert_success(&out, "enrol --replace-identity");
    sync(&bob2, "bob's new home");

    let out = alice.run(&["sync"]);
    let warned = stderr(&out);
    assert!(
        warned.contains("the identity key of th.dsi.bob has changed"),
        "{warned}"
    );
    let number = backquoted(&warned, "safety-number th.dsi.bob");
    let verify = backquoted(&warned, "contacts verify th.dsi.bob");
    let accept = backquoted(&warned, "contacts accept th.dsi.bob");
    for c in [&number, &verify, &accept] {
        assert!(c.contains("--home"), "{c}");
    }

    // Held until dealt with.
    let out = alice.run(&["send", "--to", "th.dsi.bob", "held?"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is held"), "{}", stderr(&out));

    let out = run_as_printed(&number);
    assert_success(&out, &number);
    let shown = stdout(&out);
    let ours = json(&bob2, &["safety-number", "th.dsi.alice"]);
    let theirs = ours["safety_number"]
        .as_str()
        .unwrap_or_else(|| panic!("{ours}"));
    assert!(shown.contains(theirs), "{shown} lacks {theirs}");

    // Accepting the change as printed releases sending.
    assert_success(&run_as_printed(&accept), &accept);
    assert_success(
        &alice.run(&["send", "--to", "th.dsi.bob", "after accepting"]),
        "send after accepting",
    );
    // Verifying in person as printed: the dots must be replaced first.
    let out = run_as_printed(&verify);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`...` stands for text you write yourself"),
        "{}",
        stderr(&out)
    );
    let verify = verify.replace("\"...\"", &format!("\"{theirs}\""));
    assert_success(&run_as_printed(&verify), &verify);
    let contacts = json(&alice, &["contacts"]);
    let bob_row = contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "th.dsi.bob")
        .unwrap();
    assert_eq!(bob_row["verified_in_person"], true, "{bob_row}");
}

/// Through an agent, a revoked officer's `send` is refused with the
/// revocation, not kept as if the relay were unreachable (it never would
/// go out).
#[test]
fn a_revoked_officers_send_through_an_agent_is_refused_not_queued() {
    let net = DevNet::start();
    let (_alice, carol) = carol_sends_then_is_revoked(&net);
    let mut agent = carol.start_agent(true);
    let out = carol.run(&["send", "--to", "th.dsi.alice", "after the revocation"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("this device was revoked"), "{err}");
    assert!(!err.contains("kept on this device"), "{err}");
    agent.kill();
}

/// Attack: a relay re-stamps the first envelope queued for `person` as
/// accepted a day later than it was. The client refuses it, saying each of
/// `why`: only the relay's acceptance time counts, whatever the sender's
/// clock inside the payload says.
fn restamped_a_day_later_is_refused(person: &Person, why: &[&str]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = Client::open(&person.home, PASSPHRASE).unwrap();
        client.connect().await.unwrap();
        let Response::Messages { items, .. } = client
            .conn_request(&Request::Fetch {
                after: 0,
                limit: 10,
            })
            .await
            .unwrap()
        else {
            panic!("no messages answer");
        };
        assert!(!items.is_empty(), "a message is queued");
        let mut restamped = items[0].clone();
        restamped.accepted_at += 86_400_000;
        match client.process(&restamped).unwrap() {
            Received::Rejected { reason, .. } => {
                for w in why {
                    assert!(reason.contains(w), "{w:?} not in: {reason}");
                }
            }
            other => panic!("a message re-stamped a day later was taken: {other:?}"),
        }
        client.disconnect().await;
    });
}

#[test]
fn a_message_sent_before_an_identity_replacement_is_judged_by_the_record_then() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    sync(&alice, "alice");
    sync(&bob, "bob");
    assert_success(
        &alice.run(&["send", "--to", "ph.pnp.bob", "sent before the replacement"]),
        "alice send",
    );
    // Bob wrote to Alice too; she reads it, which sends Bob her signed
    // receipts, also before the replacement.
    let out = bob.run(&["send", "--to", "th.dsi.alice", "from bob"]);
    assert_success(&out, "bob send");
    let from_bob = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    sync(&alice, "alice");
    assert_success(&alice.run(&["read", &from_bob, "--accept"]), "alice reads");
    let old_identity = json(&alice, &["whoami"])["identity_fingerprint"]
        .as_str()
        .unwrap()
        .replace(' ', "");
    let newcomer = net.init("alice-new", "th.dsi.alice", "TH", "DSI");
    assert_success(
        &enrol(
            &net,
            &newcomer,
            &["--version", "2", "--replace-identity", &old_identity],
        ),
        "enrol --replace-identity",
    );
    restamped_a_day_later_is_refused(
        &bob,
        &[
            "of an earlier identity of th.dsi.alice",
            "it is not accepted",
        ],
    );
    // The genuine envelope, accepted before the replacement, is verified by
    // the record in force then, and shown with a note.
    // (Bob's client warns that Alice's key changed, as for any change.)
    // Her receipts, signed by her earlier identity before the replacement,
    // are taken too: nothing is rejected.
    let out = bob.run(&["sync"]);
    assert_success(&out, "bob sync");
    assert!(stderr(&out).contains("th.dsi.alice"), "{}", stderr(&out));
    let receipts = bob.run(&["receipts", &from_bob, "--json"]);
    assert_success(&receipts, "bob receipts");
    assert!(
        stdout(&receipts).contains("th.dsi.alice"),
        "{}",
        stdout(&receipts)
    );
    let inbox = bob.inbox();
    let genuine = inbox
        .iter()
        .find(|m| m["from"] == "th.dsi.alice")
        .unwrap_or_else(|| panic!("Alice's message: {inbox:?}"));
    assert_eq!(genuine["verified"], true, "{genuine}");
    let note = genuine["note"].as_str().unwrap_or_default();
    assert!(
        note.starts_with("sent before th.dsi.alice's identity was replaced on 20"),
        "{genuine}"
    );
}
