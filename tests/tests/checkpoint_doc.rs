//! The relay's checkpoints are C2SP signed notes that verify with the
//! verifier key published in the enrolment bundle, and the sample shown in
//! the README is a genuine signed checkpoint of a development relay.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::{LogId, Request, Response};
use liaison_protocol::log::{Checkpoint, NoteVerifier, open_note};
use liaison_tests::{DevNet, inproc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_checkpoints_are_c2sp_signed_notes_under_the_bundle_keys() {
    let net = DevNet::start();
    let _alice = inproc::enrol(&net, "alice", "th.dsi.alice", "DSI")
        .await
        .unwrap();
    let bundle = Bundle::from_toml(&std::fs::read_to_string(net.bundle()).unwrap()).unwrap();
    for (log, vkey) in [
        (LogId::Directory, &bundle.directory_log_key),
        (LogId::Events, &bundle.event_log_key),
    ] {
        let note = match inproc::request(
            &net,
            &Request::GetCheckpoint {
                log,
                min_cosignatures: 0,
            },
        )
        .await
        .unwrap()
        {
            Response::Checkpoint { note } => note,
            other => panic!("{other:?}"),
        };
        println!("{} log verifier key: {vkey}\n{note}", log.name());
        let verifier = NoteVerifier::from_vkey(vkey).unwrap();
        let opened = open_note(note.as_bytes(), std::slice::from_ref(&verifier)).unwrap();
        let cp = Checkpoint::from_text(opened.text()).unwrap();
        assert_eq!(
            cp.origin(),
            verifier.name(),
            "the log key's name is the origin"
        );
        assert_eq!(cp.origin(), format!("liaison-dev/{}", log.name()));
        // Any other key fails.
        let other = NoteVerifier::from_vkey(if log == LogId::Directory {
            &bundle.event_log_key
        } else {
            &bundle.directory_log_key
        })
        .unwrap();
        assert!(open_note(note.as_bytes(), &[other]).is_err());
    }
}

/// The README's sample checkpoint verifies with the README's sample key.
#[test]
fn readme_sample_checkpoint_verifies() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let block = |tag: &str| -> String {
        let start = readme
            .find(&format!("<!-- {tag} -->"))
            .unwrap_or_else(|| panic!("README lacks {tag}"));
        let rest = &readme[start..];
        let open = rest.find("```text\n").unwrap() + "```text\n".len();
        let close = rest[open..].find("```").unwrap();
        rest[open..open + close].to_owned()
    };
    let vkey = block("sample-verifier-key").trim().to_owned();
    let note = block("sample-checkpoint");
    let verifier = NoteVerifier::from_vkey(&vkey).unwrap();
    let opened = open_note(note.as_bytes(), &[verifier]).unwrap();
    let cp = Checkpoint::from_text(opened.text()).unwrap();
    assert_eq!(cp.origin(), "liaison-dev/events");
    // A one-character change breaks it.
    let tampered = note.replacen("liaison-dev/events\n", "liaison-dev/event5\n", 1);
    assert!(
        open_note(
            tampered.as_bytes(),
            &[NoteVerifier::from_vkey(&vkey).unwrap()]
        )
        .is_err()
    );
}
