//! The agent (`liaison --home H agent`): the command line goes through it
//! while it runs, it survives relay restarts, and its socket is private and
//! robust against bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use liaison_protocol::DirectoryId;
use liaison_protocol::handling::Handling;
use liaison_tests::inproc;
use liaison_tests::{DevNet, PASSPHRASE, Person, assert_success, output_text, wait_until};
use serde_json::{Value, json};

/// A generous bound for anything that involves the agent noticing a relay
/// restart (its heartbeat runs every 15 s) and reconnecting.
const RECONNECT: Duration = Duration::from_secs(120);

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn agent_status(p: &Person) -> Value {
    let out = p.run(&["agent", "status", "--json"]);
    assert_success(&out, "liaison agent status --json");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A raw connection to an agent's socket, speaking the framing by hand.
struct Raw(UnixStream);

impl Raw {
    fn connect(home: &Path) -> Raw {
        let s = UnixStream::connect(home.join("agent.sock")).expect("connect to the agent");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Raw(s)
    }

    fn send_bytes(&mut self, b: &[u8]) {
        self.0.write_all(b).unwrap();
    }

    fn send(&mut self, v: &Value) {
        let body = serde_json::to_vec(v).unwrap();
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.send_bytes(&frame);
    }

    /// The next frame, or `None` when the agent closed the connection.
    fn read(&mut self) -> Option<Value> {
        let mut h = [0u8; 4];
        match self.0.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(e) => panic!("reading from the agent: {e}"),
        }
        let mut body = vec![0u8; u32::from_be_bytes(h) as usize];
        self.0.read_exact(&mut body).unwrap();
        Some(serde_json::from_slice(&body).expect("the agent sends JSON"))
    }

    fn call(&mut self, v: Value) -> Value {
        self.send(&v);
        self.read().expect("a reply")["response"].clone()
    }

    fn hello(&mut self) -> Value {
        let r = self.call(json!({"op": "hello", "version": 2, "client": "agent test"}));
        assert_eq!(r["type"], "hello", "{r}");
        r
    }
}

/// A home made with `liaison init` (no enrolment: enough for the socket and
/// locking tests, which never need the relay to know it).
fn home_only(net: &DevNet, name: &str, id: &str, country: &str) -> Person {
    net.init(name, id, country, "X")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_goes_through_the_agent_which_survives_relay_restarts() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let mut carol = inproc::enrol(&net, "carol", "th.dsi.carol", "DSI")
        .await
        .expect("enrol carol");

    let mut agent = bob.start_agent(true);
    let mut listener = bob.listen();

    // Another process sends; `listen` (through the agent) shows it, and
    // `inbox` and `read --accept` work from more processes meanwhile.
    let out = alice.run(&["send", "--to", "ph.pnp.bob", "Pier 7 at 0400"]);
    assert_success(&out, "alice send");
    let first = stdout(&out);
    let m = listener.wait_for(&first, Duration::from_secs(60));
    assert_eq!(m["from"], "th.dsi.alice");
    assert_eq!(m["verified"], true);
    let inbox = bob.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["id"], first.as_str());
    // Through the agent too, nothing shows the text before acceptance.
    assert_eq!(m["withheld"], true, "{m}");
    assert_eq!(m["text"], Value::Null, "{m}");
    assert_eq!(inbox[0]["text"], Value::Null, "{inbox:?}");
    let out = bob.run(&["read", &first]);
    assert_success(&out, "read without --accept");
    assert!(
        !stdout(&out).contains("Pier 7"),
        "content shown before acceptance"
    );
    let out = bob.run(&["read", &first, "--accept", "--json"]);
    assert_success(&out, "read --accept through the agent");
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["message"]["text"], "Pier 7 at 0400");
    assert!(read["message"]["acknowledged_at"].is_string(), "{read}");
    // The agent's own focal point sends and syncs through it too.
    let out = bob.run(&["send", "--to", "th.dsi.alice", "Received, standing by"]);
    assert_success(&out, "bob send through the agent");
    let reply = stdout(&out);
    let out = bob.run(&["sync", "--json"]);
    assert_success(&out, "bob sync through the agent");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rejected"], json!([]), "{report}");
    // The signed acknowledgement and the reply reached the sender.
    assert_success(&alice.run(&["sync"]), "alice sync");
    assert!(alice.inbox().iter().any(|m| m["id"] == reply.as_str()));
    let out = alice.run(&["receipts", &first, "--json"]);
    assert_success(&out, "alice receipts");
    let receipts: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(receipts[0]["acknowledged_at"].is_string(), "{receipts}");

    // Carol (in process) talks to Bob once, so she holds a session.
    carol.connect().await.expect("carol connects");
    let warmup = carol
        .send(
            &[DirectoryId::parse("ph.pnp.bob").unwrap()],
            "warm-up",
            Handling::default(),
        )
        .await
        .expect("carol warm-up send")
        .to_hex();
    listener.wait_for(&warmup, Duration::from_secs(60));

    // The relay dies without a goodbye.
    net.kill();
    carol.set_request_timeout(Duration::from_secs(2));
    let queued = carol
        .send(
            &[DirectoryId::parse("ph.pnp.bob").unwrap()],
            "queued while the relay was down",
            Handling::default(),
        )
        .await
        .expect_err("no relay to accept it");
    assert!(
        format!("{queued:#}").contains("kept in the outbox"),
        "{queued:#}"
    );
    assert_eq!(carol.outbox_len().unwrap(), 1);
    // The agent notices, keeps running and keeps serving the home.
    wait_until("the agent to report the link down", RECONNECT, || {
        agent_status(&bob)["link"] == "down"
    });
    assert!(agent.is_running(), "the agent exited when the relay died");
    assert_eq!(bob.inbox().len(), 2);

    // Same port, same store.
    net.restart();
    carol.connect().await.expect("carol reconnects");
    let report = carol.sync().await.expect("carol sync");
    assert_eq!(report.flushed, 1, "carol's outbox was flushed");
    assert_eq!(carol.outbox_len().unwrap(), 0);
    carol.disconnect().await;
    let queued_id = carol
        .messages()
        .unwrap()
        .into_iter()
        .find(|m| m.text == "queued while the relay was down")
        .expect("carol's copy")
        .id
        .to_hex();
    let out = alice.run(&["send", "--to", "ph.pnp.bob", "after the restart"]);
    assert_success(&out, "alice send after the restart");
    let after = stdout(&out);

    // Both arrive once the agent has reconnected, and `listen` reports them.
    let m = listener.wait_for(&queued_id, RECONNECT);
    assert_eq!(m["from"], "th.dsi.carol");
    let m = listener.wait_for(&after, RECONNECT);
    assert_eq!(m["from"], "th.dsi.alice");
    assert!(listener.is_running());
    assert!(
        listener
            .stderr()
            .iter()
            .any(|l| l.contains("lost its connection to the relay")),
        "{:?}",
        listener.stderr()
    );
    wait_until("the agent to report the link up", RECONNECT, || {
        agent_status(&bob)["link"] == "up"
    });
    assert!(agent.is_running());
    let ids: Vec<String> = bob
        .inbox()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    for id in [&first, &warmup, &queued_id, &after] {
        assert!(ids.contains(id), "{id} missing from {ids:?}");
    }

    // The output is the same with and without the agent.
    let commands: &[&[&str]] = &[
        &["inbox"],
        &["inbox", "--json"],
        &["sent", "--json"],
        &["whoami", "--json"],
        &["whoami"],
        &["roles", "--json"],
        &["read", &first],
        &["safety-number", "th.dsi.alice"],
    ];
    let through_agent: Vec<String> = commands
        .iter()
        .map(|c| {
            let out = bob.run(c);
            assert_success(&out, &format!("{c:?} through the agent"));
            output_text(&out)
        })
        .collect();
    let out = bob.run(&["agent", "stop"]);
    assert_success(&out, "liaison agent stop");
    assert!(
        agent
            .wait_exit(Duration::from_secs(30))
            .is_some_and(|s| s.success())
    );
    assert!(!bob.home.join("agent.sock").exists(), "socket left behind");
    for (c, expected) in commands.iter().zip(&through_agent) {
        let out = bob.run(c);
        assert_success(&out, &format!("{c:?} without an agent"));
        assert_eq!(&output_text(&out), expected, "{c:?} differs");
    }
}

#[test]
fn one_agent_per_home_private_socket_and_hostile_frames() {
    let net = DevNet::start();
    let bob = home_only(&net, "bob", "ph.pnp.bob", "PH");
    let mut agent = bob.start_agent(false);

    // The socket is owner-only; nothing is left of how it was made.
    let sock = bob.home.join("agent.sock");
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(&bob.home)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".agent-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A second agent for the same home is refused, and the first is intact.
    let out = bob.run(&["agent"]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("an agent is already running for the home"),
        "{}",
        output_text(&out)
    );
    assert!(agent.is_running());

    let mut raw = Raw::connect(&bob.home);
    // Anything before hello is refused; so is another API version.
    let r = raw.call(json!({"op": "status"}));
    assert_eq!(r["code"], "hello-first", "{r}");
    let r = raw.call(json!({"op": "hello", "version": 999, "client": "future"}));
    assert_eq!(r["code"], "version", "{r}");
    raw.hello();
    // Garbage inside a well-formed frame: an error, and the connection
    // still works.
    raw.send_bytes(&[0, 0, 0, 10]);
    raw.send_bytes(b"not json!!");
    let r = raw.read().unwrap()["response"].clone();
    assert_eq!(r["code"], "bad-request", "{r}");
    let r = raw.call(json!({"op": "launch-missiles"}));
    assert_eq!(r["code"], "bad-request", "{r}");
    assert!(r["message"].as_str().unwrap().contains("unknown variant"));
    let r = raw.call(json!({"op": "read", "id": "not hex"}));
    assert_eq!(r["code"], "bad-request", "{r}");
    let r = raw.call(json!({"op": "status"}));
    assert_eq!(r["type"], "status", "{r}");
    // An oversize frame: an error, then the agent closes this connection.
    raw.send_bytes(&[0xff, 0xff, 0xff, 0xff]);
    let r = raw.read().unwrap()["response"].clone();
    assert_eq!(r["code"], "frame-too-large", "{r}");
    assert!(raw.read().is_none(), "the connection stays open");
    // A frame cut short, then gone.
    let mut cut = Raw::connect(&bob.home);
    cut.send_bytes(&[0, 0, 1, 0, b'{']);
    drop(cut);
    // Still serving.
    assert!(agent.is_running());
    assert_eq!(agent_status(&bob)["locked"], true);

    // Even if the home and socket were opened up, another user is refused
    // by the agent itself (peer credentials). Needs root to act as another
    // user.
    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        use std::os::unix::process::CommandExt;
        std::fs::set_permissions(&bob.home, std::fs::Permissions::from_mode(0o711)).unwrap();
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
        let out = std::process::Command::new(liaison_tests::bin("liaison"))
            .arg("--home")
            .arg(&bob.home)
            .args(["agent", "status"])
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        std::fs::set_permissions(&bob.home, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!out.status.success());
        assert!(
            output_text(&out).contains("serves only the user who owns its home"),
            "{}",
            output_text(&out)
        );
        assert!(agent.is_running());
    }

    // Killed without cleaning up, it leaves a stale socket; a new agent
    // replaces it.
    agent.kill();
    assert!(sock.exists());
    let mut again = bob.start_agent(false);
    assert!(again.is_running());
    Raw::connect(&bob.home).hello();
}

#[test]
fn a_locked_agent_serves_only_hello_status_and_unlock() {
    let net = DevNet::start();
    let bob = home_only(&net, "bob", "ph.pnp.bob", "PH");
    let mut agent = bob.start_agent(false);

    let mut raw = Raw::connect(&bob.home);
    let hello = raw.hello();
    assert_eq!(hello["locked"], true);
    assert_eq!(hello["id"], Value::Null, "the id is sealed in the home");
    for op in [
        json!({"op": "whoami"}),
        json!({"op": "messages", "mailbox": "inbox"}),
        json!({"op": "sync"}),
        json!({"op": "send", "to": ["th.dsi.alice"], "text": "x", "handling": "RED"}),
        json!({"op": "read", "id": "00000000000000000000000000000000", "accept": true}),
    ] {
        let r = raw.call(op.clone());
        assert_eq!(r["code"], "locked", "{op}: {r}");
        assert!(r["message"].as_str().unwrap().contains("passphrase"), "{r}");
    }
    assert_eq!(
        raw.call(json!({"op": "status"}))["status"]["link"],
        "locked"
    );

    // A wrong passphrase is a clear error and leaves it locked.
    let r = raw.call(json!({"op": "unlock", "passphrase": "not the passphrase"}));
    assert_eq!(r["code"], "wrong-passphrase", "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("wrong passphrase"),
        "{r}"
    );
    let out = bob
        .command(&["whoami"])
        .env("LIAISON_PASSPHRASE", "still not it")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"),
        "{}",
        output_text(&out)
    );
    // Without a passphrase and without a terminal, the command says what
    // it needs.
    let out = bob
        .command(&["whoami"])
        .env_remove("LIAISON_PASSPHRASE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is locked and needs the passphrase"), "{err}");
    assert_eq!(agent_status(&bob)["locked"], true);

    // An agent started with a wrong LIAISON_PASSPHRASE exits, says why and
    // leaves no socket; this one is unaffected.
    let other = home_only(&net, "carol", "th.dsi.carol", "TH");
    let out = other
        .command(&["agent"])
        .env("LIAISON_PASSPHRASE", "not carol's")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("wrong passphrase"),
        "{}",
        output_text(&out)
    );
    assert!(!other.home.join("agent.sock").exists());

    // The normal passphrase path of any command unlocks it.
    let out = bob.run(&["whoami", "--json"]);
    assert_success(&out, "whoami unlocking the agent");
    let who: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(who["id"], "ph.pnp.bob");
    // From then on no passphrase is needed: the agent holds the home.
    let out = bob
        .command(&["whoami", "--json"])
        .env_remove("LIAISON_PASSPHRASE")
        .output()
        .unwrap();
    assert_success(&out, "whoami through the unlocked agent");
    let r = raw.call(json!({"op": "whoami"}));
    assert_eq!(r["type"], "whoami", "{r}");
    assert_eq!(r["whoami"]["id"], "ph.pnp.bob");
    let r = raw.call(json!({"op": "unlock", "passphrase": PASSPHRASE}));
    assert_eq!(r["code"], "already-unlocked", "{r}");
    // A home held by the agent cannot be opened behind its back.
    assert!(agent.is_running());
    let r = raw.call(json!({"op": "shutdown"}));
    assert_eq!(r["type"], "shutting-down", "{r}");
    let status = agent.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert!(!bob.home.join("agent.sock").exists());
}

/// The views the web app's pages are made of: the conversation list (who,
/// how many, how many unread), one conversation a page at a time with the
/// receipts of what was sent, one message, and the messages a role got.
/// Each is answered from the agent's in-memory copy of the home, which must
/// follow every change: a message arriving, a handling acknowledged, a
/// receipt coming back.
#[test]
fn conversation_views_follow_every_change_to_the_home() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let _alice_agent = alice.start_agent(true);
    let _bob_agent = bob.start_agent(true);
    let mut a = Raw::connect(&alice.home);
    a.hello();
    let mut b = Raw::connect(&bob.home);
    b.hello();

    let first =
        a.call(json!({"op": "send", "to": ["ph.pnp.bob"], "text": "one", "handling": "AMBER"}));
    assert_eq!(first["type"], "sent", "{first}");
    let conv = first["conversation"].as_str().unwrap().to_owned();
    for text in ["two", "three"] {
        let r = a.call(json!({"op": "send", "to": ["ph.pnp.bob"], "text": text,
            "handling": "RED", "conversation": conv}));
        assert_eq!(r["type"], "sent", "{r}");
    }
    // Another conversation, older than the newest message of the first.
    let other = a.call(
        json!({"op": "send", "to": ["ph.pnp.bob"], "text": "elsewhere", "handling": "GREEN"}),
    );
    let last = a.call(json!({"op": "send", "to": ["ph.pnp.bob"], "text": "four",
        "handling": "RED", "conversation": conv}));
    let last_id = last["id"].as_str().unwrap().to_owned();

    let mut list = Value::Null;
    wait_until(
        "bob's agent to hold five messages",
        Duration::from_secs(60),
        || {
            list = b.call(json!({"op": "conversations"}));
            let total: u64 = list["conversations"]
                .as_array()
                .map(|cs| cs.iter().map(|c| c["messages"].as_u64().unwrap()).sum())
                .unwrap_or(0);
            total == 5
        },
    );
    let cs = list["conversations"].as_array().unwrap();
    assert_eq!(cs.len(), 2, "{list}");
    assert_eq!(cs[0]["conversation"], conv.as_str(), "newest first: {list}");
    assert_eq!(cs[0]["with"], json!(["th.dsi.alice"]));
    assert_eq!(
        (cs[0]["messages"].as_u64(), cs[0]["unread"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(cs[0]["newest"], last_id.as_str());
    assert_eq!(cs[0]["newest_tlp"], "RED");
    assert_eq!(cs[1]["conversation"], other["conversation"]);
    assert_eq!(cs[1]["newest_tlp"], "GREEN");

    // A page of the two newest, oldest first, and what is left out.
    let page = b.call(json!({"op": "conversation", "conversation": conv, "limit": 2}));
    assert_eq!(page["type"], "conversation", "{page}");
    assert_eq!(page["earlier"], 2);
    let ms = page["messages"].as_array().unwrap();
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[1]["id"], last_id.as_str());
    assert_eq!(
        ms[0]["withheld"], true,
        "nothing is shown before the gate: {page}"
    );
    assert_eq!(ms[0]["text"], Value::Null);

    // Reading one through the gate: one fewer unread, at once.
    let r = b.call(json!({"op": "read", "id": last_id, "accept": true}));
    assert_eq!(r["message"]["text"], "four", "{r}");
    let list = b.call(json!({"op": "conversations"}));
    assert_eq!(list["conversations"][0]["unread"], 3, "{list}");
    let one = b.call(json!({"op": "message", "id": last_id}));
    assert_eq!(one["messages"][0]["text"], "four", "{one}");
    assert_eq!(one["messages"][0]["withheld"], false);

    // Alice's page carries Bob's receipts once they come back: delivered
    // for all four, acknowledged for the one he read.
    let mut page = Value::Null;
    wait_until(
        "alice to hold bob's acknowledgement",
        Duration::from_secs(60),
        || {
            page = a.call(json!({"op": "conversation", "conversation": conv}));
            let ms = page["messages"].as_array().cloned().unwrap_or_default();
            let acked = |m: &Value| m["receipts"][0]["acknowledged_at"].is_string();
            let delivered = |m: &Value| m["receipts"][0]["delivered_at"].is_string();
            ms.iter().filter(|m| acked(m)).count() == 1 && ms.iter().all(delivered)
        },
    );
    assert_eq!(page["earlier"], 0);
    for m in page["messages"].as_array().unwrap() {
        assert_eq!(m["receipts"].as_array().unwrap().len(), 1, "{m}");
        assert_eq!(m["receipts"][0]["recipient"], "ph.pnp.bob", "{m}");
        let acked = m["receipts"][0]["acknowledged_at"].is_string();
        assert_eq!(acked, m["id"] == last_id.as_str(), "{m}");
    }
    assert_eq!(page["conversation"]["unread"], 0, "nothing sent is unread");

    // Errors: an unknown conversation or message is `not-found`.
    let r =
        b.call(json!({"op": "conversation", "conversation": "00000000000000000000000000000000"}));
    assert_eq!(r["code"], "not-found", "{r}");
    let r = b.call(json!({"op": "message", "id": "00000000000000000000000000000000"}));
    assert_eq!(r["code"], "not-found", "{r}");
}

/// A role handed to someone else while the agent runs, connected: the
/// next view shows the new version (the agent fetches the relay's newest
/// directory checkpoint first), without a sync.
#[test]
fn a_running_agent_shows_a_roles_new_holder_at_once() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    net.enrol("niran", "th.dsi.niran", "TH", "DSI");
    let set_role = |holders: &str| {
        let out = liaison_tests::admin_command()
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
                holders,
            ])
            .output()
            .unwrap();
        assert_success(&out, "role set");
    };
    set_role("th.dsi.alice");
    let _agent = alice.start_agent(true);
    let holders = || -> Value {
        let out = alice.run(&["--json", "roles"]);
        assert_success(&out, "roles");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["holders"].clone()
    };
    wait_until(
        "the agent connected and showing the role",
        RECONNECT,
        || holders() == json!(["th.dsi.alice"]),
    );
    set_role("th.dsi.niran");
    assert_eq!(holders(), json!(["th.dsi.niran"]));
}
