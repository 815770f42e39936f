//! The auditor's tool against a real relay process: `liaison-audit export`
//! then `verify` on a relay that carried a few hundred messages; every kind
//! of tampering with the export is caught and named; per-event proofs and
//! checkpoint comparison; and a witness run as a separate process, which
//! cosigns, makes a quorum-requiring client work, and refuses a checkpoint
//! inconsistent with its state.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use liaison_audit as audit;
use liaison_client::Client;
use liaison_net::Link;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::{LogId, Request, Response};
use liaison_protocol::handling::Handling;
use liaison_protocol::log::{Checkpoint, LogPolicy, Note, NoteSigner, leaf_hash, node_hash};
use liaison_protocol::{DirectoryId, MessageId};
use liaison_tests::{DevNet, TempDir, bin_dir, inproc};

fn audit_bin() -> PathBuf {
    let p = bin_dir().join("liaison-audit");
    assert!(
        p.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins)",
        p.display()
    );
    p
}

/// Run `liaison-audit ARGS...`.
fn run_audit(args: &[&str]) -> Output {
    Command::new(audit_bin())
        .args(args)
        .env("LIAISON_LOG", "warn")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    liaison_tests::output_text(out)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn bundle_of(net: &DevNet) -> Bundle {
    Bundle::from_toml(&std::fs::read_to_string(net.bundle()).unwrap()).unwrap()
}

async fn relay(bundle: &Bundle) -> Link {
    Link::connect(&bundle.relay_addr, bundle.cert_pin().unwrap())
        .await
        .unwrap()
}

async fn checkpoint(conn: &Link, log: LogId, min: u8) -> Option<String> {
    audit::fetch_checkpoint(conn, log, min).await.unwrap()
}

/// Wait until each log's latest checkpoint covers every entry the relay
/// holds (the relay signs at most once a second while a log grows). The
/// auditor can read past the checkpoint, so this needs no timing guess.
async fn settle(net: &DevNet) -> [u64; 2] {
    let bundle = bundle_of(net);
    let conn = relay(&bundle).await;
    let key = audit::load_auditor_key(&net.dir.path().join("auditor.key")).unwrap();
    audit::authenticate_auditor(&conn, &key).await.unwrap();
    let mut sizes = [0u64; 2];
    for (slot, log) in LogId::ALL.into_iter().enumerate() {
        let policy = bundle.log_policy(log).unwrap();
        let mut settled = false;
        for _ in 0..300 {
            if let Some(note) = checkpoint(&conn, log, 0).await {
                let size = policy.open(note.as_bytes()).unwrap().checkpoint().size();
                let beyond = match conn
                    .call(&Request::GetEntries {
                        log,
                        start: size,
                        count: 1,
                    })
                    .await
                    .unwrap()
                {
                    Response::Entries { entries } => entries,
                    other => panic!("unexpected {other:?}"),
                };
                if beyond.is_empty() {
                    sizes[slot] = size;
                    settled = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            settled,
            "the relay never signed a checkpoint covering its {} log",
            log.name()
        );
    }
    conn.close().await;
    sizes
}

/// `a` sends `n` messages to `b`, then `b` syncs (delivered and
/// acknowledged events).
async fn exchange(a: &mut Client, b: &mut Client, to: &str, n: usize) -> Vec<MessageId> {
    a.connect().await.unwrap();
    let to = DirectoryId::parse(to).unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            a.send(
                std::slice::from_ref(&to),
                &format!("case update {i}"),
                Handling::default(),
            )
            .await
            .unwrap(),
        );
    }
    a.disconnect().await;
    b.connect().await.unwrap();
    let report = b.sync().await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    b.disconnect().await;
    ids
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Verify a copy of `export` after `tamper`; expect exit 1 and a report
/// containing every one of `expect`.
fn tampered(
    export: &Path,
    scratch: &Path,
    tag: &str,
    bundle: &Path,
    tamper: impl FnOnce(&Path),
    expect: &[&str],
) {
    let copy = scratch.join(tag);
    copy_dir(export, &copy);
    tamper(&copy);
    let out = run_audit(&["verify", s(&copy), "--bundle", s(bundle)]);
    let report = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{tag}: verify must fail:\n{report}"
    );
    for e in expect {
        assert!(
            report.contains(e),
            "{tag}: the report does not say {e:?}:\n{report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_verify_and_every_tampering_is_named() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let mut sent = exchange(&mut alice, &mut bob, "ph.pnp.bob", 150).await;
    sent.extend(exchange(&mut bob, &mut alice, "th.dsi.alice", 100).await);
    let [dir_size, events_size] = settle(&net).await;
    assert!(dir_size >= 4, "two authorities and two records: {dir_size}");
    assert!(
        events_size >= 3 * 250,
        "accepted, delivered, acknowledged: {events_size}"
    );

    let scratch = TempDir::new("audit");
    let export = scratch.path().join("export");
    let bundle = net.bundle();
    let key = net.dir.path().join("auditor.key");
    let out = run_audit(&[
        "export",
        "--bundle",
        s(&bundle),
        "--key",
        s(&key),
        "--out",
        s(&export),
    ]);
    assert_eq!(out.status.code(), Some(0), "export:\n{}", text(&out));
    assert_eq!(
        files(&export),
        ["README.txt", "directory", "events", "keys.txt"]
    );
    assert_eq!(
        files(&export.join("events").join("entries")).len() as u64,
        events_size
    );
    let keys = std::fs::read_to_string(export.join("keys.txt")).unwrap();
    let b = bundle_of(&net);
    assert!(
        keys.contains(&b.event_log_key) && keys.contains(&b.directory_log_key),
        "{keys}"
    );

    // The full offline check, as the export's report prints it.
    let said = text(&out);
    let verify = said
        .split('`')
        .find(|part| part.starts_with("liaison-audit verify "))
        .unwrap_or_else(|| panic!("no verify command in:\n{said}"));
    let out = liaison_tests::run_as_printed(verify);
    assert_eq!(out.status.code(), Some(0), "{verify}:\n{}", text(&out));
    assert!(text(&out).contains("VERIFIED"), "{}", text(&out));
    // Pinning the log keys alone works too.
    let out = run_audit(&[
        "verify",
        s(&export),
        "--log-key",
        &b.directory_log_key,
        "--log-key",
        &b.event_log_key,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "verify --log-key:\n{}",
        text(&out)
    );
    // Wrong keys: usage (nothing pinned for a log present) or failure.
    let out = run_audit(&["verify", s(&export), "--log-key", &b.event_log_key]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // More traffic, a second export into the same directory: the history of
    // checkpoints grows and the relay's consistency proof is kept.
    sent.extend(exchange(&mut alice, &mut bob, "ph.pnp.bob", 20).await);
    let [_, events_size2] = settle(&net).await;
    assert!(events_size2 > events_size);
    let out = run_audit(&[
        "export",
        "--bundle",
        s(&bundle),
        "--key",
        s(&key),
        "--out",
        s(&export),
    ]);
    assert_eq!(out.status.code(), Some(0), "second export:\n{}", text(&out));
    let cps = files(&export.join("events").join("checkpoints"));
    let mut want = vec![
        format!("{events_size}.note"),
        format!("{events_size2}.note"),
    ];
    want.sort();
    assert_eq!(cps, want);
    assert_eq!(
        files(&export.join("events").join("proofs")),
        [format!("{events_size}-{events_size2}.proof")]
    );
    let out = run_audit(&["verify", s(&export), "--bundle", s(&bundle)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "verify after two exports:\n{}",
        text(&out)
    );

    // Tampering, each on its own copy.
    let events = |d: &Path| d.join("events").join("entries");
    tampered(
        &export,
        scratch.path(),
        "flip-event",
        &bundle,
        |d| {
            let p = events(d).join("17.bin");
            let mut b = std::fs::read(&p).unwrap();
            b[10] ^= 0x01; // inside the salt: still decodes
            std::fs::write(&p, b).unwrap();
        },
        &[
            "events entry 17 is not the entry the log signed at index 17",
            "root mismatch",
        ],
    );
    tampered(
        &export,
        scratch.path(),
        "flip-record",
        &bundle,
        |d| {
            let p = events(d).join("42.bin");
            let mut b = std::fs::read(&p).unwrap();
            let last = b.len() - 1;
            b[last] ^= 0x01;
            std::fs::write(&p, b).unwrap();
        },
        &["events entry 42"],
    );
    tampered(
        &export,
        scratch.path(),
        "flip-directory",
        &bundle,
        |d| {
            let p = d.join("directory").join("entries").join("2.bin");
            let mut b = std::fs::read(&p).unwrap();
            let mid = b.len() / 2;
            b[mid] ^= 0x01;
            std::fs::write(&p, b).unwrap();
        },
        &["directory entry 2", "directory checkpoint"],
    );
    tampered(
        &export,
        scratch.path(),
        "delete",
        &bundle,
        |d| {
            std::fs::remove_file(events(d).join("100.bin")).unwrap();
        },
        &["events entry 100 is missing"],
    );
    tampered(
        &export,
        scratch.path(),
        "delete-range",
        &bundle,
        |d| {
            for i in 5..=9 {
                std::fs::remove_file(events(d).join(format!("{i}.bin"))).unwrap();
            }
        },
        &["events entries missing between 5 and 9"],
    );
    tampered(
        &export,
        scratch.path(),
        "swap",
        &bundle,
        |d| {
            let (a, b) = (events(d).join("30.bin"), events(d).join("31.bin"));
            let (x, y) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
            std::fs::write(&a, y).unwrap();
            std::fs::write(&b, x).unwrap();
        },
        &[
            "events entry 30 holds the entry the log signed at index 31: entries reordered",
            "sequence number 31 is not its position",
        ],
    );
    tampered(
        &export,
        scratch.path(),
        "swap-directory",
        &bundle,
        |d| {
            let e = d.join("directory").join("entries");
            let (a, b) = (e.join("0.bin"), e.join("1.bin"));
            let (x, y) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
            std::fs::write(&a, y).unwrap();
            std::fs::write(&b, x).unwrap();
        },
        &[
            "directory entry 0 holds the entry the log signed at index 1: entries reordered",
            "root mismatch",
        ],
    );
    tampered(
        &export,
        scratch.path(),
        "foreign-checkpoint",
        &bundle,
        |d| {
            let p = d
                .join("events")
                .join("checkpoints")
                .join(format!("{events_size}.note"));
            let note = Note::parse(&std::fs::read(&p).unwrap()).unwrap();
            let cp = Checkpoint::from_text(note.text()).unwrap();
            let impostor = NoteSigner::from_seed(cp.origin(), &[42; 32]).unwrap();
            let forged = cp.sign(&impostor).unwrap().encode().unwrap();
            std::fs::write(&p, forged).unwrap();
        },
        &[&format!(
            "checkpoint events/{events_size}.note: signature by unknown key"
        )],
    );
    tampered(
        &export,
        scratch.path(),
        "stray",
        &bundle,
        |d| {
            std::fs::write(events(d).join("notes.txt"), b"hello").unwrap();
        },
        &["events/entries/notes.txt: unexpected file"],
    );

    // Per-event proofs: fetch, verify offline, tamper.
    let proofs = scratch.path().join("proofs");
    let id = sent[3].to_hex();
    let out = run_audit(&[
        "proof",
        "--bundle",
        s(&bundle),
        "--key",
        s(&key),
        "--message",
        &id,
        "--out",
        s(&proofs),
    ]);
    assert_eq!(out.status.code(), Some(0), "proof:\n{}", text(&out));
    let written = files(&proofs);
    assert_eq!(
        written.len(),
        3,
        "accepted, delivered, acknowledged: {written:?}"
    );
    for f in &written {
        let out = run_audit(&[
            "verify-proof",
            s(&proofs.join(f)),
            "--log-key",
            &b.event_log_key,
            "--json",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "verify-proof {f}:\n{}",
            text(&out)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["message_id"], id.as_str());
        assert!(
            f.ends_with(&format!("-{}.tlog-proof", j["kind"].as_str().unwrap())),
            "{f} {j}"
        );
    }
    let accepted = written
        .iter()
        .find(|f| f.ends_with("-accepted.tlog-proof"))
        .unwrap();
    let out = run_audit(&[
        "verify-proof",
        s(&proofs.join(accepted)),
        "--bundle",
        s(&bundle),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("message {id} accepted from device")),
        "{}",
        text(&out)
    );
    // The extra line of another event: not the leaf at this index.
    let a = std::fs::read_to_string(proofs.join(accepted)).unwrap();
    let other = written.iter().find(|f| *f != accepted).unwrap();
    let o = std::fs::read_to_string(proofs.join(other)).unwrap();
    let extra = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("extra "))
            .unwrap()
            .to_owned()
    };
    let forged = scratch.path().join("forged.tlog-proof");
    std::fs::write(&forged, a.replacen(&extra(&a), &extra(&o), 1)).unwrap();
    let out = run_audit(&["verify-proof", s(&forged), "--bundle", s(&bundle)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("FAILED"), "{}", text(&out));
    // Pinned to another key.
    let impostor = NoteSigner::from_seed(&format!("{}/events", "liaison-dev"), &[7; 32]).unwrap();
    let out = run_audit(&[
        "verify-proof",
        s(&proofs.join(accepted)),
        "--log-key",
        &impostor.verifier().to_vkey(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // Comparing checkpoints: the two held ones are consistent (the relay
    // proves it); a same-size forgery signed with the log key is a fork.
    let cps_dir = export.join("events").join("checkpoints");
    let (old, new) = (
        cps_dir.join(format!("{events_size}.note")),
        cps_dir.join(format!("{events_size2}.note")),
    );
    let out = run_audit(&["compare", s(&old), s(&new), "--log-key", &b.event_log_key]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "sizes differ, no relay to ask: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("--export DIR"),
        "the usage error names the offline way: {}",
        text(&out)
    );
    let out = run_audit(&["compare", s(&old), s(&new), "--bundle", s(&bundle)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Offline: the export that holds both checkpoints proves them
    // consistent from its own entries, with no relay and no bundle.
    let out = run_audit(&[
        "compare",
        s(&old),
        s(&new),
        "--log-key",
        &b.event_log_key,
        "--export",
        s(&export),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("give both roots"), "{}", text(&out));
    let log_key = NoteSigner::from_skey(
        std::fs::read_to_string(net.relay_data().join("log-events.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let real =
        Checkpoint::from_text(Note::parse(&std::fs::read(&new).unwrap()).unwrap().text()).unwrap();
    let fork = Checkpoint::new(
        real.origin(),
        real.size(),
        node_hash(real.root(), &leaf_hash(b"fork")),
    )
    .unwrap();
    let fork_path = scratch.path().join("fork.note");
    std::fs::write(&fork_path, fork.sign(&log_key).unwrap().encode().unwrap()).unwrap();
    let out = run_audit(&[
        "compare",
        s(&new),
        s(&fork_path),
        "--log-key",
        &b.event_log_key,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("FORK"), "{}", text(&out));
    let smaller = Checkpoint::new(real.origin(), events_size, leaf_hash(b"other history")).unwrap();
    let smaller_path = scratch.path().join("smaller.note");
    std::fs::write(
        &smaller_path,
        smaller.sign(&log_key).unwrap().encode().unwrap(),
    )
    .unwrap();
    let out = run_audit(&["compare", s(&smaller_path), s(&new), "--bundle", s(&bundle)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("INCONSISTENT"), "{}", text(&out));
    // Offline too: the export's entries do not give the forged root.
    let out = run_audit(&[
        "compare",
        s(&smaller_path),
        s(&new),
        "--log-key",
        &b.event_log_key,
        "--export",
        s(&export),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("do not show that size"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains(s(&smaller_path)) && text(&out).contains(s(&new)),
        "{}",
        text(&out)
    );

    // A forged checkpoint planted in the export is a fork too.
    tampered(
        &export,
        scratch.path(),
        "fork-in-export",
        &bundle,
        |d| {
            std::fs::copy(
                &fork_path,
                d.join("events")
                    .join("checkpoints")
                    .join(format!("{events_size2}-1.note")),
            )
            .unwrap();
        },
        &["FORK in the events log"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_cosigns_enables_quorum_clients_and_refuses_inconsistency() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    exchange(&mut alice, &mut bob, "ph.pnp.bob", 3).await;

    // Carol's client requires one witness cosignature on every checkpoint.
    let original = std::fs::read_to_string(net.bundle()).unwrap();
    let quorum = original.replace("witness_quorum = \"0\"", "witness_quorum = \"1\"");
    assert_ne!(
        quorum, original,
        "the dev bundle sets witness_quorum = \"0\""
    );
    std::fs::write(net.bundle(), &quorum).unwrap();
    let mut carol = inproc::enrol(&net, "carol", "th.dsi.carol", "DSI")
        .await
        .unwrap();
    std::fs::write(net.bundle(), &original).unwrap();
    settle(&net).await;

    let err = carol.connect().await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("cosigned") || msg.contains("witness"), "{msg}");
    carol.disconnect().await;
    let bundle = bundle_of(&net);
    let conn = relay(&bundle).await;
    assert!(checkpoint(&conn, LogId::Directory, 1).await.is_none());

    // The witness, as a separate process.
    let state = TempDir::new("witness");
    let wkey = net.dir.path().join("witnesses").join("TH.key");
    let witness = |state: &Path| {
        run_audit(&[
            "witness",
            "--bundle",
            s(&net.bundle()),
            "--key",
            s(&wkey),
            "--state",
            s(state),
            "--once",
        ])
    };
    let out = witness(state.path());
    assert_eq!(out.status.code(), Some(0), "witness:\n{}", text(&out));
    // When it cosigned, in words a person reads (RFC 3339 UTC, not Unix
    // seconds).
    let said = text(&out);
    let when = said
        .lines()
        .find_map(|l| l.contains("cosigned size").then(|| l.rsplit(" at ").next()))
        .flatten()
        .unwrap_or_else(|| panic!("no cosigning line: {said}"));
    assert!(
        when.len() == 20 && when.ends_with('Z') && when.as_bytes()[10] == b'T',
        "{said}"
    );
    for log in LogId::ALL {
        let note = checkpoint(&conn, log, 1)
            .await
            .expect("a cosigned checkpoint");
        let policy = bundle.log_policy(log).unwrap();
        let strict =
            LogPolicy::with_witnesses(policy.log().clone(), policy.witnesses().to_vec(), 1)
                .unwrap();
        let cp = strict.open(note.as_bytes()).unwrap();
        assert_eq!(cp.cosignatures().len(), 1);
        assert_eq!(cp.cosignatures()[0].witness(), "witness.th.liaison-dev");
        let held = std::fs::read_to_string(audit::witness_state_path(state.path(), log)).unwrap();
        assert_eq!(
            strict.open(held.as_bytes()).unwrap().checkpoint(),
            cp.checkpoint()
        );
    }
    carol
        .connect()
        .await
        .expect("a cosigned checkpoint now exists");
    carol.disconnect().await;

    // The log grows; the next round proves consistency and cosigns again.
    exchange(&mut alice, &mut bob, "ph.pnp.bob", 2).await;
    let [_, events] = settle(&net).await;
    let out = witness(state.path());
    assert_eq!(out.status.code(), Some(0), "second round:\n{}", text(&out));
    let note = checkpoint(&conn, LogId::Events, 1).await.unwrap();
    assert_eq!(
        bundle
            .log_policy(LogId::Events)
            .unwrap()
            .open(note.as_bytes())
            .unwrap()
            .checkpoint()
            .size(),
        events
    );
    // Nothing new: nothing to do, still fine.
    let out = witness(state.path());
    assert_eq!(out.status.code(), Some(0), "idle round:\n{}", text(&out));

    // Forged state: checkpoints signed with the real log key over another
    // history. The witness must refuse, loudly, and keep the evidence.
    let log_key = NoteSigner::from_skey(
        std::fs::read_to_string(net.relay_data().join("log-directory.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let state_file = audit::witness_state_path(state.path(), LogId::Directory);
    let held = Checkpoint::from_text(
        Note::parse(std::fs::read_to_string(&state_file).unwrap().as_bytes())
            .unwrap()
            .text(),
    )
    .unwrap();
    let cases = [
        ("same size, other root", held.size(), "fork"),
        ("smaller, other root", held.size() - 1, "inconsistent"),
        ("larger than the log", held.size() + 5, "rollback"),
    ];
    for (what, size, expect) in cases {
        let forged = Checkpoint::new(
            held.origin(),
            size,
            node_hash(held.root(), &leaf_hash(what.as_bytes())),
        )
        .unwrap();
        let dir = TempDir::new("witness-forged");
        std::fs::write(
            audit::witness_state_path(dir.path(), LogId::Directory),
            forged.sign(&log_key).unwrap().encode().unwrap(),
        )
        .unwrap();
        let out = witness(dir.path());
        let report = text(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: the witness must refuse:\n{report}"
        );
        assert!(
            report.contains("REFUSED to cosign the directory log"),
            "{what}:\n{report}"
        );
        assert!(
            report.to_lowercase().contains(expect),
            "{what}: expected {expect:?}:\n{report}"
        );
        let evidence = files(&dir.path().join("evidence"));
        assert_eq!(evidence.len(), 3, "{what}: {evidence:?}");
        // The refused state is left as it was.
        let still =
            std::fs::read_to_string(audit::witness_state_path(dir.path(), LogId::Directory))
                .unwrap();
        assert!(still.starts_with(&forged.to_text()), "{what}");
    }
    // The relay never got a cosignature for the forged histories: what it
    // serves as cosigned is still the real log.
    let note = checkpoint(&conn, LogId::Directory, 1).await.unwrap();
    assert_eq!(
        bundle
            .log_policy(LogId::Directory)
            .unwrap()
            .open(note.as_bytes())
            .unwrap()
            .checkpoint(),
        &held
    );
    conn.close().await;

    // Commitments only for a non-auditor: export refuses with a usage error.
    let scratch = TempDir::new("audit-nonauditor");
    let stranger = scratch.path().join("stranger.key");
    std::fs::write(&stranger, "11".repeat(32)).unwrap();
    let out = run_audit(&[
        "export",
        "--bundle",
        s(&net.bundle()),
        "--key",
        s(&stranger),
        "--out",
        s(&scratch.path().join("x")),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("auditor"), "{}", text(&out));
}
