//! Case conversations end to end, through the `liaison` and
//! `liaison-admin` binaries against a real relay: a case of five members in
//! three countries (TH, PH and VN, certified by the root in this test), one
//! of them a role, exchanges messages and a 20 MB attachment; a member
//! added later gets nothing sent before; a removed member gets nothing
//! further and its client refuses to post; a post into the case by someone
//! who is not a member is flagged by the members' clients; the relay's data
//! never holds the file's plaintext.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::{Output, Stdio};

use liaison_tests::{DevNet, Person, admin_command, assert_success, dir_contains, output_text};
use serde_json::Value;

fn admin(args: &[&str]) -> Output {
    admin_command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The root certifies a Vietnamese authority, which publishes its
/// certificate, as `liaison-admin` does it.
fn certify_vn(net: &DevNet) {
    let d = net.dir.path();
    let key = net.authority("VN");
    let out = admin(&[
        "authority",
        "keygen",
        "--country",
        "VN",
        "--name",
        "Bộ Công an",
        "--out",
        p(&key),
    ]);
    assert_success(&out, "authority keygen");
    let request = d.join("authorities").join("VN.key.request");
    let cert = d.join("VN.cert");
    let out = admin(&[
        "root",
        "certify",
        "--root",
        p(&d.join("root.key")),
        "--request",
        p(&request),
        "--valid-days",
        "365",
        "--out",
        p(&cert),
    ]);
    assert_success(&out, "root certify");
    let bundle = net.bundle();
    let out = admin(&[
        "authority",
        "install",
        "--key",
        p(&key),
        "--cert",
        p(&cert),
        "--bundle",
        p(&bundle),
    ]);
    assert_success(&out, "authority install");
    let out = admin(&["publish", "--bundle", p(&bundle), p(&cert)]);
    assert_success(&out, "publish the VN certificate");
}

fn json(person: &Person, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = person.run(&all);
    assert_success(&out, &format!("liaison {}", args.join(" ")));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "liaison {} printed no JSON ({e}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn sync(person: &Person) {
    let out = person.run(&["sync"]);
    assert_success(&out, "liaison sync");
}

/// The texts of the verified messages in `person`'s inbox in conversation
/// `case` (withheld ones as "withheld"), and whether each names the case.
fn case_messages(person: &Person, case: &str) -> Vec<(String, Value)> {
    person
        .inbox()
        .into_iter()
        .filter(|m| m["conversation"] == case)
        .map(|m| {
            let text = match (&m["text"], m["withheld"].as_bool()) {
                (Value::String(t), _) => t.clone(),
                (_, Some(true)) => "withheld".to_owned(),
                _ => String::new(),
            };
            (text, m)
        })
        .collect()
}

/// `len` bytes that repeat nowhere.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn a_case_of_five_members_in_three_countries_with_a_role_exchanges_messages_and_a_file() {
    let net = DevNet::start();
    certify_vn(&net);
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let dan = net.enrol("dan", "th.dsi.dan", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let maria = net.enrol("maria", "ph.pnp.maria", "PH", "PNP");
    let van = net.enrol("van", "vn.mps.van", "VN", "MPS");
    let carol = net.enrol("carol", "th.dsi.carol", "TH", "DSI");
    let out = admin(&[
        "role",
        "set",
        "--authority",
        p(&net.authority("TH")),
        "--bundle",
        p(&net.bundle()),
        "--role",
        "th.dsi.tip-duty",
        "--name",
        "DSI trafficking duty desk",
        "--description",
        "24/7",
        "--holders",
        "th.dsi.dan",
    ]);
    assert_success(&out, "role set");
    for person in [&alice, &dan, &bob, &maria, &van, &carol] {
        sync(person);
    }

    // Alice opens the case: five members in TH, PH and VN, one a role.
    let opened = json(
        &alice,
        &[
            "case",
            "new",
            "--title",
            "Pier 7 boat",
            "--ref",
            "TH-2026-114",
            "--handling",
            "AMBER",
            "--member",
            "th.dsi.tip-duty",
            "--member",
            "ph.pnp.bob",
            "--member",
            "ph.pnp.maria",
            "--member",
            "vn.mps.van",
        ],
    );
    let case = opened["case"].as_str().unwrap().to_owned();
    assert_eq!(case.len(), 32, "{opened}");

    // A 20 MB scan, and a message, into the case.
    let plain = noise(20 * 1024 * 1024 + 777);
    let files = net.dir.path().join("alice-files");
    std::fs::create_dir_all(&files).unwrap();
    let scan = files.join("passport-scan.pdf");
    std::fs::write(&scan, &plain).unwrap();
    let sent = json(
        &alice,
        &[
            "send",
            "--case",
            &case,
            "--attach",
            p(&scan),
            "the scanned passport of the skipper",
        ],
    );
    let first = sent["id"].as_str().unwrap().to_owned();
    assert_eq!(sent["conversation"], case.as_str());

    // Every member, the role's holder included, holds the case and the
    // message, which names the case.
    for member in [&dan, &bob, &maria, &van] {
        sync(member);
        let shown = json(member, &["case", "show", &case]);
        assert_eq!(shown["title"], "Pier 7 boat");
        assert_eq!(shown["reference"], "TH-2026-114");
        assert_eq!(shown["owner"], "th.dsi.alice");
        assert_eq!(shown["members"].as_array().unwrap().len(), 5, "{shown}");
        assert_eq!(shown["handling"]["tlp"], "AMBER");
        let msgs = case_messages(member, &case);
        let m = msgs
            .iter()
            .find(|(_, m)| m["id"] == first.as_str())
            .unwrap_or_else(|| panic!("{msgs:?}"));
        assert_eq!(m.1["verified"], true);
        assert_eq!(m.1["case"], "Pier 7 boat");
        assert_eq!(m.1["handling"]["tlp"], "AMBER", "the case's handling");
        let out = member.run(&["inbox"]);
        assert!(
            output_text(&out).contains("=== case \"Pier 7 boat\""),
            "{}",
            output_text(&out)
        );
    }

    // Van (VN) acknowledges the handling and saves the file, byte for byte.
    let out = van.run(&["read", &first, "--accept"]);
    assert_success(&out, "read --accept");
    assert!(output_text(&out).contains("the scanned passport of the skipper"));
    let saved = net.dir.path().join("van-files");
    std::fs::create_dir_all(&saved).unwrap();
    let out = van.run(&["attachment", "save", &first, "--out", p(&saved)]);
    assert_success(&out, "attachment save");
    assert!(std::fs::read(saved.join("passport-scan.pdf")).unwrap() == plain);

    // Bob (PH) answers in the case: every other member gets it, verified.
    let reply = json(&bob, &["send", "--case", &case, "boat seen at Pier 7"]);
    let reply = reply["id"].as_str().unwrap().to_owned();
    for member in [&alice, &dan, &maria, &van] {
        sync(member);
        let msgs = case_messages(member, &case);
        let m = msgs
            .iter()
            .find(|(_, m)| m["id"] == reply.as_str())
            .unwrap_or_else(|| panic!("{msgs:?}"));
        assert_eq!(m.1["verified"], true, "{}", m.1);
        assert_eq!(m.1["from"], "ph.pnp.bob");
    }

    // Carol joins later: she holds the case from that change and nothing
    // sent before it.
    let added = json(&alice, &["case", "add", &case, "th.dsi.carol"]);
    assert_eq!(added["case"], case.as_str());
    sync(&carol);
    let shown = json(&carol, &["case", "show", &case]);
    assert_eq!(shown["held_since_change"], 1, "{shown}");
    assert_eq!(shown["members"].as_array().unwrap().len(), 6);
    let ids: Vec<String> = case_messages(&carol, &case)
        .iter()
        .map(|(_, m)| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!ids.contains(&first) && !ids.contains(&reply), "{ids:?}");

    // Bob is removed: he is told, then receives nothing further, and his
    // client will not post to the case.
    json(&alice, &["case", "remove", &case, "ph.pnp.bob"]);
    sync(&bob);
    let shown = json(&bob, &["case", "show", &case]);
    assert_eq!(shown["removed"], true, "{shown}");
    let after = json(&alice, &["send", "--case", &case, "meeting at 0900"]);
    let after = after["id"].as_str().unwrap().to_owned();
    sync(&bob);
    assert!(
        !bob.inbox().iter().any(|m| m["id"] == after.as_str()),
        "a removed member gets nothing further"
    );
    for member in [&carol, &dan, &maria, &van] {
        sync(member);
        assert!(
            member.inbox().iter().any(|m| m["id"] == after.as_str()),
            "every member still gets it"
        );
    }
    let out = bob.run(&["send", "--case", &case, "still here"]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("you are not a member of case \"Pier 7 boat\""),
        "{}",
        output_text(&out)
    );

    // Bob posts into the case's conversation anyway, as a plain message to
    // two members: their clients flag it.
    let out = bob.run(&[
        "send",
        "--to",
        "th.dsi.carol",
        "--to",
        "vn.mps.van",
        "--conversation",
        &case,
        "ignore the last message",
    ]);
    assert_success(&out, "a plain send into the case's conversation");
    for member in [&carol, &van] {
        sync(member);
        let flagged = member
            .inbox()
            .into_iter()
            .find(|m| {
                m["from"] == "ph.pnp.bob"
                    && m["conversation"] == case.as_str()
                    && m["verified"] == false
            })
            .unwrap_or_else(|| panic!("the post is flagged"));
        let why = flagged["error"].as_str().unwrap();
        assert!(
            why.contains("ph.pnp.bob is not a member of case \"Pier 7 boat\""),
            "{why}"
        );
        assert_eq!(flagged["text"], Value::Null);
    }

    // The owner sees the whole history.
    let listed = json(&alice, &["case", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let history = &listed[0]["history"];
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["open", "add", "remove"]);

    // The relay never held a plaintext run of the file.
    for at in [0, plain.len() / 2, plain.len() - 64] {
        assert_eq!(
            dir_contains(&net.relay_data(), &plain[at..at + 64]),
            None,
            "plaintext at offset {at} in the relay's data"
        );
    }
}

/// The command between backquotes in `out`'s output that starts with
/// `start`.
fn printed(out: &Output, start: &str) -> String {
    let said = output_text(out);
    said.split('`')
        .find(|part| part.starts_with(start))
        .unwrap_or_else(|| panic!("no `{start}…` in:\n{said}"))
        .to_owned()
}

/// What the case commands suggest runs as printed; a member who is not the
/// owner is told who can change the case.
#[test]
fn the_case_commands_hints_run_as_printed() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    sync(&alice);
    sync(&bob);
    let home = net.dir.path();

    let out = alice.run(&["case", "list"]);
    assert_success(&out, "case list");
    assert!(output_text(&out).contains("No cases."));

    let out = alice.run(&[
        "case",
        "new",
        "--title",
        "Pier 7 boat",
        "--member",
        "ph.pnp.bob",
    ]);
    assert_success(&out, "case new");
    let case = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let write = printed(&out, "liaison --home ");
    assert!(write.contains(&format!("send --case {case} ")), "{write}");
    let sent = liaison_tests::run_as_printed_in(home, &write);
    assert_success(&sent, &write);

    // A case id mistyped, or not held: the listing command, as printed.
    for args in [
        vec!["send", "--case", "12ab", "x"],
        vec!["case", "show", "0123456789abcdef0123456789abcdef"],
    ] {
        let out = alice.run(&args);
        assert!(!out.status.success(), "{args:?}");
        let list = printed(&out, "liaison --home ");
        assert!(list.ends_with("case list"), "{list}");
        assert_success(&liaison_tests::run_as_printed_in(home, &list), &list);
    }

    // Bob is a member, not the owner.
    sync(&bob);
    let out = bob.run(&["case", "add", &case, "th.dsi.alice"]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains(
            "only the owner of case \"Pier 7 boat\", th.dsi.alice, can add or remove its members"
        ),
        "{}",
        output_text(&out)
    );
    let out = bob.run(&["case", "show", &case]);
    assert_success(&out, "case show");
    let write = printed(&out, "liaison --home ");
    assert_success(&liaison_tests::run_as_printed_in(home, &write), &write);
    sync(&alice);
    assert!(
        alice.inbox().iter().any(|m| m["from"] == "ph.pnp.bob"
            && m["conversation"] == case.as_str()
            && m["verified"] == true),
        "bob's message, sent as printed, reaches alice in the case"
    );
}

/// Replies quote what they answer (issue 13): `liaison reply` and `send
/// --case C --reply-to M` carry the beginning of the answered text, shown
/// as a quote; a member added to the case after the answered message gets
/// the reply without the quote (the words were never sent to them).
#[test]
fn replies_quote_the_message_they_answer_but_never_to_who_did_not_get_it() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let carol = net.enrol("carol", "ph.pnp.carol", "PH", "PNP");
    sync(&alice);
    let case = json(
        &alice,
        &[
            "case",
            "new",
            "--title",
            "Pier 7",
            "--handling",
            "AMBER",
            "--member",
            "ph.pnp.bob",
        ],
    )["case"]
        .as_str()
        .unwrap()
        .to_owned();
    sync(&bob);
    let sent = json(
        &bob,
        &["send", "--case", &case, "The boat leaves Pier 7 at dawn."],
    );
    let first = sent["id"].as_str().unwrap().to_owned();
    sync(&alice);
    assert_success(&alice.run(&["read", &first, "--accept"]), "alice reads");

    // A reply in the case quotes the message, for Bob who sent it.
    json(
        &alice,
        &[
            "send",
            "--case",
            &case,
            "--reply-to",
            &first,
            "Understood, we will be there.",
        ],
    );
    sync(&bob);
    let got = case_messages(&bob, &case);
    let reply = got
        .iter()
        .find(|(_, m)| m["from"] == "th.dsi.alice" && m["kind"] == "text")
        .unwrap();
    assert_success(
        &bob.run(&["read", reply.1["id"].as_str().unwrap(), "--accept"]),
        "bob reads",
    );
    let read = json(&bob, &["read", reply.1["id"].as_str().unwrap()]);
    assert_eq!(
        read["message"]["text"],
        "> The boat leaves Pier 7 at dawn.\n\nUnderstood, we will be there.",
        "{read}"
    );

    // Carol joins later: a reply to the same message reaches her without
    // the words she was never sent.
    json(&alice, &["case", "add", &case, "ph.pnp.carol"]);
    json(
        &alice,
        &[
            "send",
            "--case",
            &case,
            "--reply-to",
            &first,
            "Carol, see the plan below.",
        ],
    );
    sync(&carol);
    let hers = case_messages(&carol, &case);
    let (_, m) = hers.iter().find(|(_, m)| m["kind"] == "text").unwrap();
    let id = m["id"].as_str().unwrap().to_owned();
    assert_success(&carol.run(&["read", &id, "--accept"]), "carol reads");
    let read = json(&carol, &["read", &id]);
    assert_eq!(
        read["message"]["text"], "Carol, see the plan below.",
        "{read}"
    );

    // `liaison reply` quotes too.
    let out = bob.run(&["reply", reply.1["id"].as_str().unwrap(), "See you there."]);
    assert_success(&out, "bob reply");
    sync(&alice);
    let back = alice
        .inbox()
        .into_iter()
        .find(|m| m["from"] == "ph.pnp.bob" && m["id"] != first.as_str())
        .unwrap();
    let id = back["id"].as_str().unwrap().to_owned();
    let read = json(&alice, &["read", &id, "--accept"]);
    assert_eq!(
        read["message"]["text"],
        "> > The boat leaves Pier 7 at dawn.\n> \n> Understood, we will be there.\n\nSee you there.",
        "{read}"
    );
}
