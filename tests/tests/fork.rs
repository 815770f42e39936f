//! A relay that shows two clients different histories (a test hook of
//! builds with the `test-hooks` feature serves one device a forked
//! checkpoint, signed with the real log key) is caught: by the device shown
//! the fork as soon as the directory log entries do not hash to the forked
//! directory checkpoint, or when the clients exchange a message and the
//! checkpoints carried inside signed payloads do not reconcile with the
//! recipient's view. The signed checkpoints are kept as evidence.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use liaison_client::Client;
use liaison_protocol::DirectoryId;
use liaison_protocol::handling::Handling;
use liaison_tests::{DevNet, Person, inproc};

/// Connect, send, sync; return every fork report seen on the way.
async fn exchange(from: &mut Client, to: &str, text: &str) -> Vec<String> {
    let mut seen = Vec::new();
    match from.connect().await {
        Ok(()) => {
            if let Err(e) = from
                .send(
                    &[DirectoryId::parse(to).unwrap()],
                    text,
                    Handling::default(),
                )
                .await
            {
                seen.push(format!("{e:#}"));
            }
        }
        Err(e) => seen.push(format!("{e:#}")),
    }
    from.disconnect().await;
    seen
}

async fn receive(c: &mut Client) -> Vec<String> {
    let mut seen = Vec::new();
    match c.connect().await {
        Ok(()) => match c.sync().await {
            Ok(report) => seen.extend(report.forks),
            Err(e) => seen.push(format!("{e:#}")),
        },
        Err(e) => seen.push(format!("{e:#}")),
    }
    c.disconnect().await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_detect_a_relay_that_forks_its_log() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;

    // The relay turns malicious towards Bob's device only.
    let bob_device = bob.device_key().to_hex();
    net.kill();
    net.restart_with(&[("LIAISON_RELAY_TEST_FORK_DEVICE", &bob_device)]);

    // Both connect and each accepts what it is shown (first contact).
    let mut reports = exchange(&mut alice, "ph.pnp.bob", "first").await;
    assert!(reports.is_empty(), "alice saw the true log: {reports:?}");
    reports.extend(receive(&mut bob).await);
    reports.extend(exchange(&mut bob, "th.dsi.alice", "reply").await);
    reports.extend(receive(&mut alice).await);

    let detections: Vec<&String> = reports
        .iter()
        .filter(|r| r.contains("RELAY LOG INCONSISTENCY"))
        .collect();
    assert!(
        !detections.is_empty(),
        "nobody detected the fork: {reports:?}"
    );

    // Evidence, kept on disk: both signed checkpoints when the clients'
    // exchanged checkpoints do not reconcile; or, when Bob is caught at
    // once because the directory log entries do not hash to the forked
    // checkpoint he was served, that signed checkpoint, which Alice's
    // checkpoint of the same log contradicts.
    let mut evidence = Vec::new();
    for home in ["alice", "bob"] {
        let dir = net.dir.path().join("homes").join(home).join("evidence");
        if let Ok(rd) = std::fs::read_dir(&dir) {
            evidence.extend(rd.flatten().map(|e| e.path()));
        }
    }
    let name = |p: &std::path::Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let (a, b) = match evidence.iter().find(|p| name(p).ends_with(".a.note")) {
        Some(a) => (
            a.clone(),
            std::path::PathBuf::from(a.to_string_lossy().replace(".a.note", ".b.note")),
        ),
        None => {
            let served = evidence
                .iter()
                .find(|p| name(p).starts_with("directory-entries-") && name(p).ends_with(".note"))
                .unwrap_or_else(|| panic!("evidence files: {evidence:?}"));
            let alices = net.dir.path().join("alice-directory.note");
            let note = alice
                .checkpoint(liaison_protocol::frames::LogId::Directory)
                .unwrap()
                .unwrap();
            std::fs::write(&alices, note).unwrap();
            (served.clone(), alices)
        }
    };
    let a = &a;
    let (ta, tb) = (
        std::fs::read_to_string(a).unwrap(),
        std::fs::read_to_string(&b).unwrap(),
    );
    assert_ne!(ta, tb);
    assert!(ta.contains("\n\n\u{2014} liaison-dev/") && tb.contains("\n\n\u{2014} liaison-dev/"));

    // An auditor handed both checkpoints sees the inconsistency offline or
    // with a proof from the relay.
    let log = if a
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("directory")
    {
        "directory_log_key"
    } else {
        "event_log_key"
    };
    let bundle = std::fs::read_to_string(net.bundle()).unwrap();
    let vkey = bundle
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{log} = ")))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    let out = std::process::Command::new(liaison_tests::bin_dir().join("liaison-audit"))
        .arg("compare")
        .arg(a)
        .arg(&b)
        .args(["--log-key", &vkey, "--bundle"])
        .arg(net.bundle())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "liaison-audit compare accepted a fork: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.to_lowercase().contains("inconsisten") || report.to_lowercase().contains("fork"),
        "{report}"
    );

    // The relay stops forking. Bob holds the checkpoint of the history only
    // he was shown, so the true one does not extend it: every command that
    // connects fails with the inconsistency and exit code 4, whether the
    // home is opened by the command or by an agent.
    drop((alice, bob));
    net.kill();
    net.restart_with(&[]);
    let bob = Person {
        home: net.dir.path().join("homes").join("bob"),
    };
    let fails_as_inconsistent = |how: &str| {
        let out = bob.run(&["sync"]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(4), "{how}: {stderr}");
        assert!(
            stderr.contains("RELAY LOG INCONSISTENCY"),
            "{how}: {stderr}"
        );
        stderr
    };
    let alone = fails_as_inconsistent("without an agent");
    assert!(!alone.contains("agent"), "{alone}");
    let _agent = bob.start_agent(true);
    let through_agent = fails_as_inconsistent("through the agent");
    assert!(
        through_agent.contains("the agent no longer reconnects to this relay by itself"),
        "{through_agent}"
    );
}
