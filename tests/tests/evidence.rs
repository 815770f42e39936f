//! Judicial export end to end against a real relay process: a message whose
//! handling needs consent is refused until the originator grants it; the
//! exported bundle verifies offline with the real `liaison-audit
//! verify-message` (exit 0) and any changed byte makes it fail (exit 1); a
//! message whose handling permits judicial use exports without consent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use liaison_client::Client;
use liaison_client::evidence;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::consent::ConsentScope;
use liaison_protocol::evidence::{EvidenceBundle, JudicialBasis, Pins, verify_evidence};
use liaison_protocol::handling::Handling;
use liaison_protocol::{DirectoryId, MessageId, Wire};
use liaison_tests::{DevNet, TempDir, bin_dir, inproc};

const CASE: &str = "PH-DOJ-2026-0117";

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

fn h(text: &str) -> Handling {
    Handling::parse_text(text).unwrap()
}

fn audit_bin() -> PathBuf {
    let p = bin_dir().join("liaison-audit");
    assert!(
        p.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins)",
        p.display()
    );
    p
}

fn verify_message(file: &Path, args: &[&str]) -> Output {
    Command::new(audit_bin())
        .arg("verify-message")
        .arg(file)
        .args(args)
        .env("LIAISON_LOG", "warn")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    liaison_tests::output_text(out)
}

async fn send(c: &mut Client, to: &str, body: &str, handling: Handling) -> MessageId {
    c.connect().await.unwrap();
    let m = c.send(&[id(to)], body, handling).await.unwrap();
    c.disconnect().await;
    m
}

/// Sync and acknowledge the handling of every new message (which sends the
/// delivery and acknowledgement receipts).
async fn sync_accept(c: &mut Client) {
    c.connect().await.unwrap();
    let report = c.sync().await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    for m in &report.received {
        if m.kind.as_str() == "text" {
            c.read(m.id, true).await.unwrap();
        }
    }
    c.disconnect().await;
}

async fn sync(c: &mut Client) {
    c.connect().await.unwrap();
    c.sync().await.unwrap();
    c.disconnect().await;
}

async fn export(c: &mut Client, m: MessageId, case: &str) -> anyhow::Result<EvidenceBundle> {
    c.connect().await?;
    let r = evidence::export(c, m, case).await;
    c.disconnect().await;
    Ok(r?)
}

fn bundle_of(net: &DevNet) -> Bundle {
    Bundle::from_toml(&std::fs::read_to_string(net.bundle()).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judicial_export_is_refused_without_consent_and_verifies_after_a_grant() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let m = send(
        &mut alice,
        "ph.pnp.bob",
        "The recruiter uses the number +63 900 000 0000.",
        h("AMBER+STRICT judicial=with-consent purpose=investigation"),
    )
    .await;
    sync_accept(&mut bob).await;

    // Refused, naming the rule and the command that asks for consent.
    let err = export(&mut bob, m, CASE).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("judicial=with-consent"), "{msg}");
    assert!(
        msg.contains(&format!(
            "liaison consent request {} --scope judicial:{CASE}",
            m.to_hex()
        )),
        "{msg}"
    );
    assert!(msg.contains("th.dsi.alice"), "{msg}");

    // Bob asks, Alice grants for this case.
    bob.connect().await.unwrap();
    bob.request_consent(
        m,
        ConsentScope::JudicialUse {
            case_reference: CASE.to_owned(),
        },
        "Evidence for the prosecution of the recruiters",
    )
    .await
    .unwrap();
    bob.disconnect().await;
    alice.connect().await.unwrap();
    alice.sync().await.unwrap();
    let request = alice
        .consents()
        .unwrap()
        .into_iter()
        .find(|c| c.message_id == m && !c.we_asked)
        .expect("alice received the consent request");
    alice
        .decide_consent(request.request_id, true, "Only for this trial.", None)
        .await
        .unwrap();
    alice.disconnect().await;
    sync(&mut bob).await;

    // A grant covers its own case only.
    let err = export(&mut bob, m, "ANOTHER-CASE").await.unwrap_err();
    assert!(
        format!("{err:#}").contains("judicial:ANOTHER-CASE"),
        "{err:#}"
    );

    // No case named, no export: a grant counts only for the case it names.
    let err = export(&mut bob, m, " ").await.unwrap_err();
    assert!(format!("{err:#}").contains("say which case"), "{err:#}");
    // For the grant's own case, the evidence goes out and names the case.
    let bundle = export(&mut bob, m, CASE).await.unwrap();
    let pins = Pins::from_bundle(&bundle_of(&net)).unwrap();
    let report = verify_evidence(&bundle, &pins, liaison_client::client::now()).unwrap();
    assert_eq!(report.case_reference.as_deref(), Some(CASE));
    assert_eq!(report.exporter.id, id("ph.pnp.bob"));
    assert_eq!(report.exporter_role, "recipient");
    assert!(matches!(
        &report.judicial_basis,
        JudicialBasis::Consent { decision, .. } if decision.decided_by == id("th.dsi.alice")
    ));
    let kinds: Vec<&str> = report.events.iter().map(|e| e.record.kind.name()).collect();
    for k in ["accepted", "delivered", "acknowledged", "declared"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    // The grant's declared entry is in the bundle and points at the grant.
    assert!(
        report
            .events
            .iter()
            .any(|e| e.matches.is_some_and(|(w, _)| w == "consent")),
        "{:?}",
        report.events
    );
    assert!(report.receipts.len() >= 2, "{:?}", report.receipts);

    // The real auditor tool, offline, pinning the bundle's keys.
    let dir = TempDir::new("evidence");
    let file = dir.path().join("evidence.bin");
    std::fs::write(&file, bundle.encode()).unwrap();
    let bundle_path = net.bundle();
    let pin = ["--bundle", bundle_path.to_str().unwrap()];
    let out = verify_message(&file, &pin);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("VERIFIED") && t.contains(&m.to_hex()), "{t}");
    assert!(t.contains("granted by th.dsi.alice"), "{t}");
    assert!(
        !t.contains("+63 900"),
        "no content without --show-content: {t}"
    );
    let out = verify_message(
        &file,
        &["--bundle", bundle_path.to_str().unwrap(), "--show-content"],
    );
    assert!(text(&out).contains("+63 900"), "{}", text(&out));

    // JSON, with the keys given one by one instead of the bundle.
    let b = bundle_of(&net);
    let out = verify_message(
        &file,
        &[
            "--root-key",
            &b.root_key,
            "--log-key",
            &b.directory_log_key,
            "--log-key",
            &b.event_log_key,
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["verified"], true);
    assert_eq!(j["message_id"], m.to_hex());
    assert_eq!(j["originator"]["id"], "th.dsi.alice");
    assert_eq!(j["case_reference"], CASE);

    // The armoured text form verifies too.
    let armoured = dir.path().join("evidence.txt");
    std::fs::write(&armoured, bundle.to_text()).unwrap();
    let out = verify_message(&armoured, &pin);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Any changed byte: exit 1 with the reason.
    let bytes = bundle.encode();
    for i in [
        0,
        1,
        40,
        bytes.len() / 3,
        bytes.len() / 2,
        bytes.len() - 70,
        bytes.len() - 1,
    ] {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        let bad = dir.path().join(format!("tampered-{i}.bin"));
        std::fs::write(&bad, &t).unwrap();
        let out = verify_message(&bad, &pin);
        assert_eq!(out.status.code(), Some(1), "byte {i}: {}", text(&out));
        assert!(text(&out).contains("VERIFICATION FAILED"), "{}", text(&out));
    }
    // Wrong pins: exit 1 (the bundle is not from this network).
    let out = verify_message(
        &file,
        &[
            "--root-key",
            &"ab".repeat(32),
            "--log-key",
            &b.directory_log_key,
            "--log-key",
            &b.event_log_key,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // No pins at all: a usage error (exit 2), nothing decided.
    let out = verify_message(&file, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judicial_use_permitted_exports_without_consent() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let m = send(
        &mut alice,
        "ph.pnp.bob",
        "Statement of the rescued witness, for use in court.",
        h("AMBER judicial=permitted purpose=prosecution"),
    )
    .await;
    let prohibited = send(&mut alice, "ph.pnp.bob", "Source reporting.", h("RED")).await;
    sync_accept(&mut bob).await;

    let bundle = export(&mut bob, m, CASE).await.unwrap();
    let dir = TempDir::new("evidence");
    let file = dir.path().join("evidence.bin");
    std::fs::write(&file, bundle.encode()).unwrap();
    let bundle_path = net.bundle();
    let out = verify_message(&file, &["--bundle", bundle_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("permitted by the originator's handling"),
        "{}",
        text(&out)
    );

    // The default handling prohibits judicial use.
    let err = export(&mut bob, prohibited, CASE).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("judicial=prohibited"),
        "{err:#}"
    );

    // The originator may export its own message, with the receipts it got.
    sync(&mut alice).await;
    let own = export(&mut alice, m, CASE).await.unwrap();
    let pins = Pins::from_bundle(&bundle_of(&net)).unwrap();
    let report = verify_evidence(&own, &pins, liaison_client::client::now()).unwrap();
    assert_eq!(report.exporter_role, "originator");
    assert!(
        report.receipts.iter().any(|r| r.by == id("ph.pnp.bob")),
        "{:?}",
        report.receipts
    );
}

/// Handling applies to attachments (issue 13, acceptance 4): the judicial
/// export of a message with a file carries the file's signed reference, and
/// `liaison-audit verify-message --attachment FILE` checks the file saved
/// by the recipient against the size and SHA-256 the originator signed
/// (exit 0); a copy with one byte changed fails (exit 1). The file's key is
/// never printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_attachment_verifies_and_an_altered_file_fails() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let dir = TempDir::new("evidence");
    let plain: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let src = dir.path().join("passport.pdf");
    std::fs::write(&src, &plain).unwrap();
    alice.connect().await.unwrap();
    let m = alice
        .send_with_attachments(
            &[id("ph.pnp.bob")],
            "Scan of the suspect's passport, for use in court.",
            h("AMBER judicial=permitted purpose=prosecution"),
            None,
            std::slice::from_ref(&src),
            &mut |_, _, _| {},
        )
        .await
        .unwrap();
    alice.disconnect().await;
    sync_accept(&mut bob).await;
    bob.connect().await.unwrap();
    let out = dir.path().join("saved");
    std::fs::create_dir_all(&out).unwrap();
    let saved = bob
        .save_attachments(m, &out, &mut |_, _, _| {})
        .await
        .unwrap();
    bob.disconnect().await;
    let key = bob.attachments_of(m).unwrap()[0].key;

    let bundle = export(&mut bob, m, CASE).await.unwrap();
    let file = dir.path().join("evidence.bin");
    std::fs::write(&file, bundle.encode()).unwrap();
    let bundle_path = net.bundle();
    let b = bundle_path.to_str().unwrap();

    let plain_report = verify_message(&file, &["--bundle", b]);
    assert_eq!(
        plain_report.status.code(),
        Some(0),
        "{}",
        text(&plain_report)
    );
    assert!(
        text(&plain_report).contains("passport.pdf (application/pdf, 300000 bytes, SHA-256 ")
            && text(&plain_report).contains("file not checked"),
        "{}",
        text(&plain_report)
    );

    let good = verify_message(
        &file,
        &["--bundle", b, "--attachment", saved[0].to_str().unwrap()],
    );
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    assert!(
        text(&good).contains(&format!("the file {} matches", saved[0].display())),
        "{}",
        text(&good)
    );
    let json = verify_message(
        &file,
        &[
            "--bundle",
            b,
            "--json",
            "--attachment",
            saved[0].to_str().unwrap(),
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["attachments"][0]["name"], "passport.pdf");
    assert_eq!(v["attachments"][0]["file"], saved[0].display().to_string());

    let mut altered = plain.clone();
    altered[150_000] ^= 1;
    let forged = dir.path().join("altered.pdf");
    std::fs::write(&forged, &altered).unwrap();
    let bad = verify_message(
        &file,
        &["--bundle", b, "--attachment", forged.to_str().unwrap()],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        text(&bad).contains("is not an attachment the originator signed")
            && text(&bad).contains("VERIFICATION FAILED"),
        "{}",
        text(&bad)
    );

    for out in [&plain_report, &good, &json, &bad] {
        let said = text(out);
        assert!(!said.contains(&hex::encode(key)), "the key is never shown");
    }
}
