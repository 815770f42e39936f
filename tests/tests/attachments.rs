//! Attachments end to end against a real relay process: a file sealed on
//! the sender's device arrives byte-identical, only after the recipient
//! acknowledged the handling; the relay never holds a plaintext byte; a
//! relay that alters a chunk gets the file refused with nothing written;
//! a file over the relay's limit is refused before any chunk is sent, the
//! limit stated.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use liaison_client::Client;
use liaison_client::error::{ClientError, HandlingError};
use liaison_protocol::attachment::{CHUNK_SIZE, TAG_SIZE};
use liaison_protocol::handling::Handling;
use liaison_protocol::{DirectoryId, MessageId};
use liaison_tests::{
    DevNet, Person, assert_success, dir_contains, http_get, inproc, metric_value, wait_until,
};

/// `len` bytes that compress to nothing and repeat nowhere.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn bob_id() -> DirectoryId {
    DirectoryId::parse("ph.pnp.bob").unwrap()
}

async fn send_file(alice: &mut Client, path: &Path) -> Result<MessageId, ClientError> {
    alice
        .send_with_attachments(
            &[bob_id()],
            "the scanned passport",
            Handling::default(),
            None,
            &[path.to_path_buf()],
            &mut |_, _, _| {},
        )
        .await
}

async fn receive(bob: &mut Client, id: MessageId) {
    let report = bob.sync().await.unwrap();
    assert!(
        report.received.iter().any(|m| m.id == id),
        "bob receives the message: {report:?}"
    );
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mb_file_arrives_byte_identical_after_the_handling_is_acknowledged() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    alice.connect().await.unwrap();
    bob.connect().await.unwrap();

    let plain = noise(20 * 1024 * 1024 + 12_345);
    let src = write_file(&net.dir.path().join("alice-files"), "passport.pdf", &plain);
    let id = send_file(&mut alice, &src).await.unwrap();
    receive(&mut bob, id).await;

    let refs = bob.attachments_of(id).unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].name, "passport.pdf");
    assert_eq!(refs[0].media_type, "application/pdf");
    assert_eq!(refs[0].size, plain.len() as u64);

    // Not before the handling is acknowledged: nothing is fetched or written.
    let out = net.dir.path().join("bob-files");
    std::fs::create_dir_all(&out).unwrap();
    let early = bob.save_attachments(id, &out, &mut |_, _, _| {}).await;
    assert!(
        matches!(
            early,
            Err(ClientError::Handling(HandlingError::NotAcknowledged(m))) if m == id
        ),
        "{early:?}"
    );
    assert!(files_in(&out).is_empty());

    bob.read(id, true).await.unwrap();
    let mut last = (0, 0);
    let saved = bob
        .save_attachments(id, &out, &mut |_, done, total| last = (done, total))
        .await
        .unwrap();
    assert_eq!(saved, vec![out.join("passport.pdf")]);
    assert_eq!(last, (plain.len() as u64, plain.len() as u64));
    assert!(std::fs::read(&saved[0]).unwrap() == plain, "byte-identical");
    assert_eq!(files_in(&out), vec!["passport.pdf".to_owned()]);

    // Saving again does not overwrite what is there.
    let again = bob.save_attachments(id, &out, &mut |_, _, _| {}).await;
    assert!(
        matches!(again, Err(ClientError::AttachmentExists { .. })),
        "{again:?}"
    );

    // The relay's data directory never holds a plaintext run of the file.
    for at in [0, plain.len() / 2, plain.len() - 64] {
        assert_eq!(
            dir_contains(&net.relay_data(), &plain[at..at + 64]),
            None,
            "plaintext at offset {at} found in the relay's data"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_chunk_is_refused_and_nothing_is_written() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    alice.connect().await.unwrap();

    let plain = noise(1024 * 1024);
    let src = write_file(&net.dir.path().join("alice-files"), "photo.jpg", &plain);
    let id = send_file(&mut alice, &src).await.unwrap();

    // The relay now flips a byte of the second chunk whenever it serves it.
    net.terminate();
    net.restart_with(&[("LIAISON_RELAY_TEST_FLIP_BLOB_CHUNK", "1")]);
    bob.connect().await.unwrap();
    receive(&mut bob, id).await;
    bob.read(id, true).await.unwrap();
    let out = net.dir.path().join("bob-files");
    std::fs::create_dir_all(&out).unwrap();
    let refused = bob.save_attachments(id, &out, &mut |_, _, _| {}).await;
    let Err(ClientError::AttachmentRejected {
        id: m,
        name,
        source,
    }) = refused
    else {
        panic!("the altered chunk is caught: {refused:?}");
    };
    assert_eq!((m, name.as_str()), (id, "photo.jpg"));
    assert_eq!(
        source,
        liaison_protocol::attachment::AttachmentError::ChunkRejected { index: 1 }
    );
    assert!(files_in(&out).is_empty(), "{:?}", files_in(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_limit_is_refused_before_upload_with_the_limit_stated() {
    let mut net = DevNet::start();
    net.set_config("limits", "max_attachment_bytes", "1000000");
    net.terminate();
    net.restart();
    let (mut alice, _bob) = inproc::alice_and_bob(&net).await;
    alice.connect().await.unwrap();

    let src = write_file(
        &net.dir.path().join("alice-files"),
        "video.mp4",
        &noise(1_000_001),
    );
    let e = send_file(&mut alice, &src).await.unwrap_err();
    let refusal = e.refusal().expect("the relay refuses it");
    assert_eq!(
        refusal.code,
        liaison_protocol::frames::ErrorCode::BlobTooLarge
    );
    assert!(
        refusal.message.contains("1000001 bytes")
            && refusal.message.contains("at most 1000000 bytes"),
        "{}",
        refusal.message
    );
    // No message went out either.
    assert!(alice.outbox_len().unwrap_or(0) == 0);
}

#[test]
fn the_command_line_sends_an_attachment_and_saves_it_after_the_handling_is_acknowledged() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");

    let plain = noise(700_000);
    let src = write_file(&net.dir.path().join("alice-files"), "victims.csv", &plain);
    let out = alice.run(&[
        "send",
        "--to",
        "ph.pnp.bob",
        "--attach",
        src.to_str().unwrap(),
        "the list",
    ]);
    assert_success(&out, "liaison send --attach");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(id.len(), 32, "{id:?}");

    assert_success(&bob.run(&["sync"]), "liaison sync");
    let dir = net.dir.path().join("bob-files");
    std::fs::create_dir_all(&dir).unwrap();
    let early = bob.run(&["attachment", "save", &id, "--out", dir.to_str().unwrap()]);
    assert!(!early.status.success());
    let said = liaison_tests::output_text(&early);
    assert!(said.contains("--accept"), "{said}");
    assert!(files_in(&dir).is_empty());

    assert_success(
        &bob.run(&["read", &id, "--accept"]),
        "liaison read --accept",
    );
    // The inbox names the file, with the command that saves it.
    let inbox = bob.run(&["inbox"]);
    assert_success(&inbox, "liaison inbox");
    let said = liaison_tests::output_text(&inbox);
    assert!(
        said.contains("files: victims.csv (700000 bytes); save them here with `liaison --home")
            && said.contains(&format!("attachment save {id}`")),
        "{said}"
    );
    let saved = bob.run(&[
        "--json",
        "attachment",
        "save",
        &id,
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_success(&saved, "liaison attachment save");
    let v: serde_json::Value = serde_json::from_slice(&saved.stdout).unwrap();
    assert_eq!(v["message"], id.as_str());
    let file = dir.join("victims.csv");
    assert_eq!(v["files"][0], file.display().to_string());
    assert!(std::fs::read(&file).unwrap() == plain, "byte-identical");
}

/// A text over a body's 64 KiB (Thai, so the cut must fall between
/// characters) goes whole as `message.txt`: the recipient reads its
/// beginning with a note, and saves the whole text once the handling is
/// acknowledged; one over 512 KiB is refused before anything is sent.
#[test]
fn a_long_text_goes_whole_as_an_attached_file() {
    use std::io::Write;
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let line = "ผู้เสียหายสามคนอยู่ที่ท่าเรือเจ็ด พบตัวเมื่อเช้านี้ ";
    let text = line.repeat(200_000 / line.len() + 1);
    assert!(text.len() > 200_000);
    let send = |text: &str| {
        let mut child = alice
            .command(&["send", "--to", "ph.pnp.bob", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let too_long = "x".repeat(600_000);
    let out = send(&too_long);
    assert!(!out.status.success());
    let said = liaison_tests::output_text(&out);
    assert!(
        said.contains("over the limit of 524288 bytes") && said.contains("nothing was sent"),
        "{said}"
    );
    let out = send(&text);
    assert_success(&out, "liaison send - (long)");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    assert_success(&bob.run(&["sync"]), "liaison sync");
    let out = bob.run(&["--json", "read", &id, "--accept"]);
    assert_success(&out, "liaison read --accept");
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let body = read["message"]["text"].as_str().unwrap();
    assert!(body.len() <= 64 * 1024, "{}", body.len());
    assert!(text.starts_with(body.split("\n\n[...").next().unwrap()));
    assert!(
        body.ends_with(&format!(
            "the whole text ({} bytes) is the attached file message.txt.]",
            text.len()
        )),
        "{}",
        &body[body.len() - 200..]
    );
    assert_eq!(read["message"]["attachments"][0]["name"], "message.txt");
    let dir = net.dir.path().join("bob-long");
    std::fs::create_dir_all(&dir).unwrap();
    let out = bob.run(&["attachment", "save", &id, "--out", dir.to_str().unwrap()]);
    assert_success(&out, "liaison attachment save");
    assert_eq!(
        std::fs::read_to_string(dir.join("message.txt")).unwrap(),
        text
    );
    // The copy written to send it is gone from Alice's home.
    let left: Vec<_> = std::fs::read_dir(alice.home.join("uploads"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // One a killed program left behind goes the next time the home opens.
    let stale = alice.home.join("uploads").join("0badc0de");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("scan.pdf"), b"plaintext left by a crash").unwrap();
    assert_success(&alice.run(&["whoami"]), "whoami");
    assert!(!alice.home.join("uploads").exists());
}

/// A message with an attachment interrupted on its way (the relay holds
/// the message and never answers; Ctrl-C) is kept with the grant that lets
/// its recipients fetch the file: once the relay accepts it at the next
/// sync, the grant follows and the recipient saves the file.
#[test]
fn an_interrupted_send_with_an_attachment_still_lets_the_recipient_fetch_it() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let marker = net.restart_holding_sends_of(&alice);
    let plain = noise(300_000);
    let src = write_file(&net.dir.path().join("alice-files"), "passport.jpg", &plain);
    let out = alice.interrupted_when_held(
        &[
            "send",
            "--to",
            "ph.pnp.bob",
            "--attach",
            src.to_str().unwrap(),
            "scan of the passport",
        ],
        &marker,
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        liaison_tests::output_text(&out)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    net.kill();
    net.restart();
    assert_success(&alice.run(&["sync"]), "alice sync sends it and the grant");
    assert_success(&bob.run(&["sync"]), "bob sync");
    assert_success(&bob.run(&["read", &id, "--accept"]), "read --accept");
    let dir = net.dir.path().join("bob-files");
    std::fs::create_dir_all(&dir).unwrap();
    let saved = bob.run(&["attachment", "save", &id, "--out", dir.to_str().unwrap()]);
    assert_success(&saved, "attachment save");
    assert_eq!(std::fs::read(dir.join("passport.jpg")).unwrap(), plain);
}

/// The relay's attachment chunk counters since it started, from its
/// metrics endpoint: (received from uploaders, served to devices).
fn chunk_counters(net: &DevNet) -> (u64, u64) {
    let addr = net.metrics.as_deref().expect("a dev relay serves metrics");
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    let value = |metric| metric_value(&body, metric, &[]).expect(metric) as u64;
    (
        value("liaison_attachment_chunks_received_total"),
        value("liaison_attachment_chunks_served_total"),
    )
}

/// Restart the relay holding, without an answer, the first upload of
/// chunk `chunk` and the first fetch from chunk `fetch` on (whichever are
/// given); returns the file it creates when it holds one.
fn restart_holding_blobs(net: &mut DevNet, chunk: Option<u64>, fetch: Option<u64>) -> PathBuf {
    let marker = net.dir.path().join("held-blob");
    let (chunk, fetch) = (chunk.map(|c| c.to_string()), fetch.map(|f| f.to_string()));
    let mut env = vec![(
        "LIAISON_RELAY_TEST_HOLD_BLOB_MARKER",
        marker.to_str().unwrap(),
    )];
    if let Some(c) = &chunk {
        env.push(("LIAISON_RELAY_TEST_HOLD_BLOB_CHUNK", c));
    }
    if let Some(f) = &fetch {
        env.push(("LIAISON_RELAY_TEST_HOLD_BLOB_FETCH", f));
    }
    net.kill();
    net.restart_with(&env);
    marker
}

/// Run `liaison ARGS` until the relay holds its transfer (`marker`), run
/// `while_held`, then kill the program (SIGKILL: no clean-up of any kind).
fn killed_when_held(person: &Person, args: &[&str], marker: &Path, while_held: impl FnOnce()) {
    let mut child = person
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        "the relay holds the transfer",
        Duration::from_secs(60),
        || marker.exists() || child.try_wait().unwrap().is_some(),
    );
    assert!(
        marker.exists(),
        "liaison {args:?} ended before the relay held it"
    );
    while_held();
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(marker).unwrap();
}

/// Wait until the relay confirmed `n` chunks (an upload sends several
/// chunks before the first is confirmed: those before a held one are still
/// arriving when the relay holds it).
fn wait_for_confirmed(net: &DevNet, n: u64) {
    wait_until(
        "the relay to confirm the chunks before the held one",
        Duration::from_secs(60),
        || chunk_counters(net).0 == n,
    );
}

/// Wait until the save into `dir` kept `n` verified chunks (a save asks
/// for the next batch before it writes the one it has: the held fetch
/// comes before the chunks before it are written). Each chunk's tag is
/// written after it.
fn wait_for_kept(dir: &Path, n: u64) {
    wait_until(
        "the save to keep the chunks before the held fetch",
        Duration::from_secs(60),
        || {
            files_in(dir).iter().any(|name| {
                name.ends_with(".tags")
                    && std::fs::metadata(dir.join(name)).map_or(0, |m| m.len())
                        == n * TAG_SIZE as u64
            })
        },
    );
}

/// A relay that takes only the next chunk of an upload (as the release
/// before group commits did) refuses the chunks a client sends ahead; the
/// client goes on one chunk at a time from what it confirmed, and the file
/// arrives byte-identical.
#[test]
fn a_relay_that_takes_one_chunk_at_a_time_still_gets_the_whole_file() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&alice.run(&["sync"]), "alice sync");
    net.kill();
    net.restart_with(&[("LIAISON_RELAY_TEST_ONE_CHUNK_AT_A_TIME", "1")]);
    let (plain, src) = eleven_chunk_file(&net);
    let out = alice.run(&[
        "send",
        "--to",
        "ph.pnp.bob",
        "--attach",
        src.to_str().unwrap(),
        "photos of the location",
    ]);
    assert_success(&out, "liaison send --attach");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    // Every chunk was stored (a chunk ahead stored before the client went
    // one at a time, then sent again, counts again).
    assert!(chunk_counters(&net).0 >= CHUNKS);

    assert_success(&bob.run(&["sync"]), "bob sync");
    assert_success(&bob.run(&["read", &id, "--accept"]), "read --accept");
    let dir = net.dir.path().join("bob-files");
    std::fs::create_dir_all(&dir).unwrap();
    let save = ["attachment", "save", &id, "--out", dir.to_str().unwrap()];
    assert_success(&bob.run(&save), "attachment save");
    assert!(
        std::fs::read(dir.join("photos.zip")).unwrap() == plain,
        "byte-identical"
    );
}

/// Eleven chunks: ten whole ones and a short last one.
const CHUNKS: u64 = 11;

fn eleven_chunk_file(net: &DevNet) -> (Vec<u8>, PathBuf) {
    let plain = noise(10 * CHUNK_SIZE + 5_000);
    let src = write_file(&net.dir.path().join("alice-files"), "photos.zip", &plain);
    (plain, src)
}

fn partial_files(dir: &Path) -> Vec<(String, u64)> {
    files_in(dir)
        .into_iter()
        .filter(|n| n.starts_with(".photos.zip.") && n.ends_with(".partial"))
        .map(|n| {
            let len = std::fs::metadata(dir.join(&n)).unwrap().len();
            (n, len)
        })
        .collect()
}

/// Acceptance 2 of issue 13, the link cut: the sending program is killed
/// while the relay holds chunk 4, and the receiving one while the relay
/// holds the fetch from chunk 6; each command run again completes the file
/// byte-identical from where the relay (upload) or the partial file
/// (download) left off. The relay's counters show every chunk crossed
/// once (the held requests were never answered, so never counted).
#[test]
fn an_upload_and_a_download_killed_mid_file_resume_from_the_last_confirmed_chunk() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let marker = restart_holding_blobs(&mut net, Some(4), Some(6));
    let (plain, src) = eleven_chunk_file(&net);
    let send = [
        "send",
        "--to",
        "ph.pnp.bob",
        "--attach",
        src.to_str().unwrap(),
        "photos of the location",
    ];

    killed_when_held(&alice, &send, &marker, || wait_for_confirmed(&net, 4));
    assert_eq!(chunk_counters(&net), (4, 0), "chunks 0 to 3 stored, 4 held");
    let out = alice.run(&send);
    assert_success(&out, "liaison send --attach, run again");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(
        chunk_counters(&net),
        (CHUNKS, 0),
        "the upload resumed at chunk 4: each chunk received once"
    );

    assert_success(&bob.run(&["sync"]), "bob sync");
    assert_success(&bob.run(&["read", &id, "--accept"]), "read --accept");
    let dir = net.dir.path().join("bob-files");
    std::fs::create_dir_all(&dir).unwrap();
    let save = ["attachment", "save", &id, "--out", dir.to_str().unwrap()];
    killed_when_held(&bob, &save, &marker, || wait_for_kept(&dir, 6));
    // Fetched three by three: chunks 0 to 5 served, the fetch from 6 held.
    assert_eq!(chunk_counters(&net), (CHUNKS, 6));
    let partial = partial_files(&dir);
    assert_eq!(
        partial.iter().map(|(_, len)| *len).collect::<Vec<_>>(),
        vec![6 * CHUNK_SIZE as u64],
        "only the verified chunks are kept, under a temporary name: {:?}",
        files_in(&dir)
    );
    assert!(!dir.join("photos.zip").exists());

    assert_success(&bob.run(&save), "attachment save, run again");
    assert_eq!(
        chunk_counters(&net),
        (CHUNKS, CHUNKS),
        "the download resumed at chunk 6: each chunk served once"
    );
    assert!(
        std::fs::read(dir.join("photos.zip")).unwrap() == plain,
        "byte-identical"
    );
    assert_eq!(files_in(&dir), vec!["photos.zip".to_owned()]);
}

/// Acceptance 2 of issue 13, the relay restarted mid-file: the relay is
/// killed while it holds chunk 4 of an upload (and, later, the fetch from
/// chunk 6 of the download) and started again; the program run again
/// completes the file byte-identical. The counters restart with the relay,
/// so the chunks are summed over both of its runs: each chunk at most
/// twice (here once).
#[test]
fn an_upload_and_a_download_cut_by_a_relay_restart_resume_and_complete() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let marker = restart_holding_blobs(&mut net, Some(4), None);
    let (plain, src) = eleven_chunk_file(&net);
    let send = [
        "send",
        "--to",
        "ph.pnp.bob",
        "--attach",
        src.to_str().unwrap(),
        "photos of the location",
    ];

    let mut before = (0, 0);
    killed_when_held(&alice, &send, &marker, || {
        wait_for_confirmed(&net, 4);
        before = chunk_counters(&net);
        net.kill();
    });
    restart_holding_blobs(&mut net, None, Some(6));
    let out = alice.run(&send);
    assert_success(&out, "liaison send --attach, run again");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let after = chunk_counters(&net);
    assert_eq!((before.0, after.0), (4, CHUNKS - 4));
    assert!(before.0 + after.0 <= 2 * CHUNKS);

    assert_success(&bob.run(&["sync"]), "bob sync");
    assert_success(&bob.run(&["read", &id, "--accept"]), "read --accept");
    let dir = net.dir.path().join("bob-files");
    std::fs::create_dir_all(&dir).unwrap();
    let save = ["attachment", "save", &id, "--out", dir.to_str().unwrap()];
    let mut before = (0, 0);
    killed_when_held(&bob, &save, &marker, || {
        wait_for_kept(&dir, 6);
        before = chunk_counters(&net);
        net.kill();
    });
    net.restart();
    assert_success(&bob.run(&save), "attachment save, run again");
    let after = chunk_counters(&net);
    assert_eq!((before.1, after.1), (6, CHUNKS - 6));
    assert!(before.1 + after.1 <= 2 * CHUNKS);
    assert!(
        std::fs::read(dir.join("photos.zip")).unwrap() == plain,
        "byte-identical"
    );
    assert_eq!(files_in(&dir), vec!["photos.zip".to_owned()]);
}

/// The relay's quota per focal point (`limits.attachment_quota_bytes`,
/// sealed bytes): once it is full the next upload is refused before any
/// chunk with the retryable QuotaExceeded code and the numbers, no message
/// goes out, and every file accepted before is still fetched whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_quota_refuses_the_next_upload_and_loses_nothing_accepted() {
    let mut net = DevNet::start();
    net.set_config("limits", "max_attachment_bytes", "1000000");
    net.set_config("limits", "attachment_quota_bytes", "1500000");
    net.terminate();
    net.restart();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    alice.connect().await.unwrap();
    bob.connect().await.unwrap();

    // Each takes 600 000 bytes and 3 tags of 16 on the relay.
    let first = noise(600_000);
    let second: Vec<u8> = first.iter().map(|b| b ^ 0x5a).collect();
    let third: Vec<u8> = first.iter().rev().copied().collect();
    let files = net.dir.path().join("alice-files");
    let a = send_file(&mut alice, &write_file(&files, "first.pdf", &first))
        .await
        .unwrap();
    let b = send_file(&mut alice, &write_file(&files, "second.pdf", &second))
        .await
        .unwrap();
    let e = send_file(&mut alice, &write_file(&files, "third.pdf", &third))
        .await
        .unwrap_err();
    let refusal = e.refusal().expect("the relay refuses it");
    assert_eq!(
        refusal.code,
        liaison_protocol::frames::ErrorCode::QuotaExceeded
    );
    assert!(refusal.code.is_retryable());
    assert!(
        refusal.message.contains("attachment quota used up")
            && refusal.message.contains("1200096 of 1500000 bytes")
            && refusal.message.contains("needs 600048")
            && refusal.message.contains("nothing was uploaded")
            && refusal
                .message
                .contains("as the recipients of your earlier attachments fetch them"),
        "{}",
        refusal.message
    );
    assert_eq!(alice.outbox_len().unwrap_or(0), 0, "no message went out");

    let out = net.dir.path().join("bob-files");
    std::fs::create_dir_all(&out).unwrap();
    let report = bob.sync().await.unwrap();
    for (id, name, plain) in [(a, "first.pdf", &first), (b, "second.pdf", &second)] {
        assert!(report.received.iter().any(|m| m.id == id), "{report:?}");
        bob.read(id, true).await.unwrap();
        let saved = bob
            .save_attachments(id, &out, &mut |_, _, _| {})
            .await
            .unwrap();
        assert_eq!(saved, vec![out.join(name)]);
        assert!(std::fs::read(&saved[0]).unwrap() == *plain, "{name} whole");
    }

    // Bob's only device fetched every chunk of both: the relay deleted
    // them and gave their bytes back to alice's quota.
    let c = send_file(&mut alice, &write_file(&files, "third.pdf", &third))
        .await
        .expect("the quota is free again once the recipients fetched the files");
    let again = std::fs::create_dir_all(out.join("again")).map(|()| out.join("again"));
    let gone = bob
        .save_attachments(a, &again.unwrap(), &mut |_, _, _| {})
        .await
        .unwrap_err();
    assert_eq!(
        gone.refusal().map(|r| r.code),
        Some(liaison_protocol::frames::ErrorCode::NotFound),
        "{gone}"
    );
    let report = bob.sync().await.unwrap();
    assert!(report.received.iter().any(|m| m.id == c), "{report:?}");

    // The stopped relay's store checks out: the two deleted files left
    // nothing behind and the quota use is the third file's.
    net.terminate();
    let out = std::process::Command::new(liaison_tests::bin("liaison-relay"))
        .arg("check-store")
        .arg("--config")
        .arg(net.config())
        .output()
        .unwrap();
    assert_success(&out, "liaison-relay check-store");
    let said = liaison_tests::output_text(&out);
    assert!(
        said.contains("attachments: 1 held, 3 sealed chunks, 600048 bytes reserved"),
        "{said}"
    );
}

/// An attachment nobody fetched is deleted when the relay's retention for
/// attachments ends (`limits.attachment_retention_days`, counted from the
/// start of the upload; the relay's clock moved two days on), and its bytes
/// go back to the uploader's quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_nobody_fetched_is_deleted_when_its_retention_ends() {
    let mut net = DevNet::start();
    net.set_config("limits", "max_attachment_bytes", "1000000");
    net.set_config("limits", "attachment_quota_bytes", "1000000");
    net.set_config("limits", "attachment_retention_days", "1");
    net.terminate();
    net.restart();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    alice.connect().await.unwrap();
    bob.connect().await.unwrap();

    let plain = noise(600_000);
    let files = net.dir.path().join("alice-files");
    let id = send_file(&mut alice, &write_file(&files, "scan.pdf", &plain))
        .await
        .unwrap();
    receive(&mut bob, id).await;
    bob.read(id, true).await.unwrap();
    // The quota holds one such file at a time.
    let other: Vec<u8> = plain.iter().map(|b| b ^ 1).collect();
    let full = send_file(&mut alice, &write_file(&files, "other.pdf", &other))
        .await
        .unwrap_err();
    assert_eq!(
        full.refusal().map(|r| r.code),
        Some(liaison_protocol::frames::ErrorCode::QuotaExceeded)
    );

    // A day and a bit later (the relay sweeps at start and at each
    // directory refresh).
    net.terminate();
    net.restart_with_clock_offset(25 * 3600 * 1000, &[]);
    alice.connect().await.unwrap();
    bob.connect().await.unwrap();
    let out = net.dir.path().join("bob-files");
    std::fs::create_dir_all(&out).unwrap();
    let gone = bob
        .save_attachments(id, &out, &mut |_, _, _| {})
        .await
        .unwrap_err();
    assert_eq!(
        gone.refusal().map(|r| r.code),
        Some(liaison_protocol::frames::ErrorCode::NotFound),
        "{gone}"
    );
    assert!(files_in(&out).is_empty(), "{:?}", files_in(&out));
    send_file(&mut alice, &write_file(&files, "other.pdf", &other))
        .await
        .expect("the quota is free again");
}

/// A partial file altered between two saves (one byte of kept chunk 1) is
/// never taken for the sender's: sealing chunk 1 again no longer gives the
/// tag the relay served for it, so the resumed save keeps chunk 0 only and
/// fetches again from chunk 1; the file is saved byte-identical.
#[test]
fn an_altered_partial_file_is_fetched_again_from_the_altered_chunk() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let marker = restart_holding_blobs(&mut net, None, Some(6));
    let (plain, src) = eleven_chunk_file(&net);
    let out = alice.run(&[
        "send",
        "--to",
        "ph.pnp.bob",
        "--attach",
        src.to_str().unwrap(),
        "photos of the location",
    ]);
    assert_success(&out, "liaison send --attach");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_success(&bob.run(&["sync"]), "bob sync");
    assert_success(&bob.run(&["read", &id, "--accept"]), "read --accept");
    let dir = net.dir.path().join("bob-files");
    std::fs::create_dir_all(&dir).unwrap();
    let save = ["attachment", "save", &id, "--out", dir.to_str().unwrap()];
    killed_when_held(&bob, &save, &marker, || {});

    let [(name, len)] = partial_files(&dir).try_into().unwrap();
    assert_eq!(len, 6 * CHUNK_SIZE as u64);
    let partial = dir.join(name);
    let mut kept = std::fs::read(&partial).unwrap();
    kept[CHUNK_SIZE + 17] ^= 1;
    std::fs::write(&partial, &kept).unwrap();

    assert_success(&bob.run(&save), "attachment save, run again");
    assert_eq!(
        chunk_counters(&net).1,
        6 + (CHUNKS - 1),
        "chunks 1 to 10 fetched again, chunk 0 kept"
    );
    assert!(
        std::fs::read(dir.join("photos.zip")).unwrap() == plain,
        "byte-identical"
    );
    assert_eq!(files_in(&dir), vec!["photos.zip".to_owned()]);
}
