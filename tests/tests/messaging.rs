//! End-to-end messaging through a real relay process, driven by the real
//! command-line tools (the README's command contract).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use liaison_tests::{DevNet, assert_success, dir_contains};

#[test]
fn offline_delivery_verified_and_relay_holds_only_ciphertext() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");

    // Bob has never connected: the message waits in the relay's queue.
    let secret = "Rescue team at pier 7, 0400 local; victim count 12";
    let out = alice.run(&["send", "--to", "ph.pnp.bob", secret]);
    assert_success(&out, "liaison send");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(
        id.len(),
        32,
        "send prints the 128-bit message id in hex: {id:?}"
    );

    // The relay's data directory never sees the plaintext.
    assert_eq!(dir_contains(&net.relay_data(), secret.as_bytes()), None);
    assert_eq!(dir_contains(&net.relay_data(), b"pier 7"), None);

    let out = bob.run(&["sync", "--json"]);
    assert_success(&out, "liaison sync --json");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["received"][0]["withheld"], true, "{report}");
    let inbox = bob.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let m = &inbox[0];
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["from"], "th.dsi.alice");
    assert_eq!(m["verified"], true);
    assert_eq!(m["handling"]["tlp"], "RED", "handling defaults to RED");
    assert!(m["sent_at"].as_str().unwrap().ends_with('Z'));
    // The handling gate holds for machine-readable output too: until Bob
    // acknowledges the handling, no output carries the text, and the
    // handling is there in plain words.
    assert_eq!(m["text"], serde_json::Value::Null);
    assert_eq!(m["withheld"], true);
    assert!(
        m["handling"]["explained"]
            .as_array()
            .is_some_and(|lines| !lines.is_empty()),
        "{m}"
    );
    for args in [
        &["sync", "--json"][..],
        &["inbox", "--json"],
        &["inbox"],
        &["read", &id, "--json"],
        &["read", &id],
    ] {
        let out = bob.run(args);
        assert_success(&out, &args.join(" "));
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(!shown.contains(secret), "{args:?} showed the text: {shown}");
    }
    // Acknowledging releases it, to every output.
    let out = bob.run(&["read", &id, "--accept", "--json"]);
    assert_success(&out, "read --accept");
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["message"]["text"], secret);
    assert_eq!(read["message"]["withheld"], false);
    let m = &bob.inbox()[0];
    assert_eq!(m["text"], secret);
    assert_eq!(m["withheld"], false);

    // A second sync finds nothing new and does not duplicate.
    assert_success(&bob.run(&["sync"]), "second sync");
    assert_eq!(bob.inbox().len(), 1);

    // Homes are encrypted at rest too.
    assert_eq!(dir_contains(&bob.home, secret.as_bytes()), None);
    assert_eq!(dir_contains(&alice.home, secret.as_bytes()), None);

    // Replies work over the established sessions, with chosen handling.
    let out = bob.run(&[
        "send",
        "--to",
        "th.dsi.alice",
        "--handling",
        "AMBER+STRICT",
        "Received, standing by",
    ]);
    assert_success(&out, "reply");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let inbox = alice.inbox();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["from"], "ph.pnp.bob");
    assert_eq!(inbox[0]["handling"]["tlp"], "AMBER+STRICT");
    assert_eq!(inbox[0]["verified"], true);
}

#[test]
fn live_delivery_to_a_connected_client() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");

    let mut listener = bob
        .command(&["listen", "--json", "--count", "1", "--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the listener is subscribed.
    let stderr = listener.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening for messages") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("listener subscribed");

    let out = alice.run(&["send", "--to", "ph.pnp.bob", "live one"]);
    assert_success(&out, "send");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let out = listener.wait_with_output().unwrap();
    assert_success(&out, "listen");
    let line = String::from_utf8(out.stdout).unwrap();
    let m: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["verified"], true);
    // Pushed live, it is still withheld until the handling is acknowledged.
    assert_eq!(m["text"], serde_json::Value::Null);
    assert_eq!(m["withheld"], true);
    assert!(!line.contains("live one"), "{line}");
    // It was stored and acknowledged: a later sync brings nothing new.
    let out = bob.run(&["sync", "--json"]);
    assert_success(&out, "sync");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["received"].as_array().unwrap().len(), 0);
    assert_eq!(bob.inbox().len(), 1);
    let out = bob.run(&["read", &id, "--accept", "--json"]);
    assert_success(&out, "read --accept");
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["message"]["text"], "live one");
}

#[test]
fn unknown_recipient_and_unenrolled_device_are_refused() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");

    let out = alice.run(&["send", "--to", "ph.pnp.nobody", "hello?"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown recipient ph.pnp.nobody"), "{err}");

    // Carol made keys but no authority enrolled her: the relay refuses her device.
    let carol = net.person("carol");
    let out = carol.run(&[
        "init",
        "--bundle",
        net.bundle().to_str().unwrap(),
        "--id",
        "th.dsi.carol",
        "--name",
        "Carol",
        "--country",
        "TH",
        "--agency",
        "DSI",
    ]);
    assert_success(&out, "init");
    let out = carol.run(&["sync"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused this device"), "{err}");
}

#[test]
fn wrong_passphrase_is_a_clear_error() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let out = alice
        .command(&["inbox"])
        .env("LIAISON_PASSPHRASE", "not it")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
}

#[test]
fn contacts_verify_marks_only_matching_safety_numbers() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&alice.run(&["sync"]), "alice sync");
    assert_success(&bob.run(&["sync"]), "bob sync");

    // Bob reads his safety number out; Alice compares.
    let out = bob.run(&["safety-number", "th.dsi.alice", "--json"]);
    assert_success(&out, "safety-number");
    let theirs = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["safety_number"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong: String = theirs
        .chars()
        .map(|c| if c == '1' { '7' } else { c })
        .collect();
    let wrong = if wrong == theirs {
        theirs.replacen('0', "9", 1)
    } else {
        wrong
    };

    let out = alice.run(&[
        "contacts",
        "verify",
        "ph.pnp.bob",
        "--safety-number",
        &wrong,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("differ"));
    let verified = |p: &liaison_tests::Person| {
        let out = p.run(&["contacts", "--json"]);
        assert_success(&out, "contacts --json");
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
            .unwrap()
            .into_iter()
            .find(|c| c["id"] == "ph.pnp.bob")
            .map(|c| c["verified_in_person"] == true)
            .unwrap()
    };
    assert!(!verified(&alice));
    assert_success(
        &alice.run(&[
            "contacts",
            "verify",
            "ph.pnp.bob",
            "--safety-number",
            &theirs,
        ]),
        "contacts verify",
    );
    assert!(verified(&alice));
    // Filters find Bob by country, agency and language, and not otherwise.
    let out = alice.run(&["contacts", "--json", "--country", "PH", "--agency", "pnp"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    let out = alice.run(&["contacts", "--json", "--country", "VN"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rows.is_empty());
}

/// Receipts are owed from the moment they are due and kept in the home until
/// the relay accepts them: a rate limit on the recipient's sends (or a
/// dropped link) delays them, never loses them.
#[test]
fn receipts_refused_by_a_rate_limit_are_kept_and_sent_later() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let ids: Vec<String> = (0..5)
        .map(|i| {
            let out = alice.run(&["send", "--to", "ph.pnp.bob", &format!("report {i}")]);
            assert_success(&out, "send");
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        })
        .collect();

    // Bob may send one message a minute: his delivery receipts (one message
    // per receipt to a one-device sender) mostly cannot go.
    net.set_config("limits", "sends_per_minute", "1");
    net.set_config("limits", "send_burst", "1");
    net.terminate();
    net.restart();
    let out = bob.run(&["sync"]);
    assert_success(&out, "sync under the limit");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("kept and go at the next sync"), "{said}");

    // Limits lifted: the next sync sends what was owed, once.
    net.set_config("limits", "sends_per_minute", "0");
    net.set_config("limits", "send_burst", "0");
    net.terminate();
    net.restart();
    assert_success(&bob.run(&["sync"]), "sync after the limit");
    assert_success(&alice.run(&["sync"]), "alice collects the receipts");
    for id in &ids {
        let out = alice.run(&["receipts", id, "--json"]);
        assert_success(&out, "receipts");
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            rows[0]["delivered_at"].is_string(),
            "no delivery receipt for {id}: {rows}"
        );
    }
}

/// The sender's `created_at` is only its claim: the recipient also sees when
/// the relay accepted the message, and a large difference is pointed out (a
/// sender whose clock is wrong, or who dates a message as it pleases).
#[test]
fn a_sender_clock_far_from_the_relays_is_pointed_out() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let out = alice
        .command(&["send", "--to", "ph.pnp.bob", "post-dated"])
        .env(liaison_tests::CLOCK_OFFSET_ENV, "7200000")
        .output()
        .unwrap();
    assert_success(&out, "send with a clock two hours fast");
    // Ids are taken whatever their case.
    assert_success(
        &alice.run(&["send", "--to", "PH.PNP.BOB", "on time"]),
        "send",
    );
    assert_success(&bob.run(&["sync"]), "sync");
    let inbox = bob.inbox();
    let skew = |text_id: usize| inbox[text_id]["clock_skew_secs"].clone();
    let skews: Vec<serde_json::Value> = (0..inbox.len()).map(skew).collect();
    assert_eq!(skews.iter().filter(|s| s.is_null()).count(), 1, "{inbox:?}");
    let far = skews
        .iter()
        .find_map(|s| s.as_u64())
        .expect("one is far off");
    assert!((7100..7300).contains(&far), "{far}");
    let out = bob.run(&["inbox"]);
    assert_success(&out, "inbox");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("note: the sender's clock says") && shown.contains("120 minutes apart"),
        "{shown}"
    );
}

/// A reader that stops early (`liaison inbox | head -1`) ends the command
/// quietly with exit 0, not with a panic about the closed pipe.
#[test]
fn output_to_a_closed_pipe_exits_quietly() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    for i in 0..3 {
        assert_success(
            &alice.run(&["send", "--to", "ph.pnp.bob", &format!("report {i}")]),
            "send",
        );
    }
    assert_success(&bob.run(&["sync"]), "sync");
    for args in [&["inbox"][..], &["inbox", "--json"]] {
        let mut child = bob
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before the command (which first derives the
        // home's key) prints anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// The commands the inbox suggests work when pasted into a shell as
/// printed: the home is named in them.
#[test]
fn the_inbox_hint_runs_as_printed() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(
        &alice.run(&["send", "--to", "ph.pnp.bob", "pasted"]),
        "send",
    );
    assert_success(&bob.run(&["sync"]), "sync");
    let out = bob.run(&["inbox"]);
    assert_success(&out, "inbox");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let hint = shown
        .split('`')
        .find(|part| part.starts_with("liaison ") && part.ends_with("--accept"))
        .unwrap_or_else(|| panic!("no read --accept hint: {shown}"))
        .to_owned();
    assert!(hint.contains("--home"), "{hint}");
    let out = liaison_tests::run_as_printed(&hint);
    assert_success(&out, &hint);
    assert!(String::from_utf8_lossy(&out.stdout).contains("pasted"));
}

/// A home made with a bundle that pins another network root (a wrong or
/// altered bundle) reaches nobody; its sync says why and what to do,
/// instead of a silent "0 new messages".
#[test]
fn a_bundle_with_another_root_is_named() {
    let net = DevNet::start();
    let _alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let right = std::fs::read_to_string(net.bundle()).unwrap();
    let pinned = right
        .lines()
        .find_map(|l| l.strip_prefix("root_key = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap()
        .to_owned();
    let other = liaison_protocol::SecretKey::from_seed(&[9; 32])
        .public_key()
        .to_hex();
    let wrong = net.dir.path().join("wrong-bundle.toml");
    std::fs::write(&wrong, right.replace(&pinned, &other)).unwrap();
    let carol = net.person("carol");
    assert_success(
        &carol.run(&[
            "init",
            "--bundle",
            wrong.to_str().unwrap(),
            "--id",
            "th.dsi.carol",
            "--name",
            "Carol",
            "--country",
            "TH",
            "--agency",
            "DSI",
        ]),
        "init with the wrong bundle",
    );
    // Her authority, with the right bundle, enrols her.
    let out = liaison_tests::admin_command()
        .arg("enrol")
        .arg("--authority")
        .arg(net.authority("TH"))
        .arg("--bundle")
        .arg(net.bundle())
        .arg(carol.home.join("enrolment.request"))
        .output()
        .unwrap();
    assert_success(&out, "enrol");
    let out = carol.run(&["sync"]);
    let said = liaison_tests::output_text(&out);
    assert!(
        said.contains("chains to the network root pinned in your bundle"),
        "{said}"
    );
    assert!(
        said.contains("Ask your authority for the network's bundle"),
        "{said}"
    );
}

/// `contacts show` and `consent list` speak to a person (JSON only with
/// `--json`), and the consent list's answer command works when pasted.
#[test]
fn contacts_and_consents_are_shown_as_text() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let out = alice.run(&["send", "--to", "ph.pnp.bob", "for the file"]);
    assert_success(&out, "send");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_success(&bob.run(&["sync"]), "sync");

    let out = bob.run(&["contacts", "show", "th.dsi.alice"]);
    assert_success(&out, "contacts show");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!shown.trim_start().starts_with('{'), "{shown}");
    assert!(
        shown.contains("th.dsi.alice — ") && shown.contains("identity fingerprint:"),
        "{shown}"
    );
    let out = bob.run(&["contacts", "show", "th.dsi.alice", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["id"], "th.dsi.alice");

    let out = bob.run(&[
        "consent",
        "request",
        &id,
        "--scope",
        "judicial:CASE-7",
        "--reason",
        "the court asks",
    ]);
    assert_success(&out, "consent request");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let out = alice.run(&["consent", "list"]);
    assert_success(&out, "consent list");
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains("asked by ph.pnp.bob") && listed.contains("the court asks"),
        "{listed}"
    );
    let grant = listed
        .split('`')
        .find(|p| p.starts_with("liaison ") && p.contains("consent grant"))
        .unwrap_or_else(|| panic!("no grant command: {listed}"))
        .to_owned();
    let out = liaison_tests::run_as_printed(&grant);
    assert_success(&out, &grant);
    let out = alice.run(&["consent", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("decision: granted"));
}
