//! Key transparency enforced by clients (issue 10, item 1): a client uses a
//! directory record only if its verified directory log holds it as the
//! version in force. A relay that serves a correctly signed record it never
//! logged (a stolen or compelled authority key), or an older version than
//! its log's (a revocation or a device removal undone), is refused with the
//! reason and evidence, and the honest record is used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use liaison_client::Client;
use liaison_protocol::directory::{
    DeviceKeys, FocalPointRecord, RecordStatus, endorse_device, prove_device,
};
use liaison_protocol::frames::Response;
use liaison_protocol::handling::Handling;
use liaison_protocol::{DirectoryId, SecretKey, Signed};
use liaison_tests::{DevNet, inproc};

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

/// `rec` at its next version with a new identity key and one new device
/// (seeds `seed` and `seed + 1`), which proves possession.
fn with_new_keys(rec: &FocalPointRecord, seed: u8) -> (FocalPointRecord, SecretKey) {
    let identity = SecretKey::from_seed(&[seed; 32]);
    let device = SecretKey::from_seed(&[seed.wrapping_add(1); 32]);
    let keys = DeviceKeys {
        signing: device.public_key(),
        agreement: device.public_key().0,
    };
    let mut r = rec.clone();
    r.version += 1;
    r.identity_key = identity.public_key();
    r.devices = vec![keys];
    r.device_endorsements = vec![endorse_device(&identity, &r.id, &keys)];
    r.device_proofs = vec![Some(prove_device(
        &device,
        &r.id,
        &identity.public_key(),
        &keys,
    ))];
    (r, device)
}

/// The evidence files of `home` whose name contains `needle`.
fn evidence(home: &Path, needle: &str) -> Vec<String> {
    std::fs::read_dir(home.join("evidence"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

fn home(net: &DevNet, name: &str) -> std::path::PathBuf {
    net.dir.path().join("homes").join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_record_outside_the_directory_log_is_refused() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    // Carol has never seen Bob.
    let mut carol = inproc::enrol(&net, "carol", "th.dsi.carol", "DSI")
        .await
        .unwrap();

    // With the PH authority key (stolen or compelled), a version 2 of Bob
    // under the attacker's identity and device, correctly signed, written
    // only into what the relay serves: never appended to the directory log.
    let ph = inproc::authority(&net, "PH");
    let genuine = inproc::current_record(&net, &ph, "ph.pnp.bob")
        .await
        .unwrap();
    let (forged, _) = with_new_keys(&genuine, 0x66);
    net.restart_serving_record("bob-v2.record", &Signed::sign(&forged, &ph.key));

    carol.connect().await.unwrap();
    let held = carol.directory().record(&id("ph.pnp.bob")).unwrap();
    assert_eq!(held.version, 1, "the unlogged version 2 was used");
    assert_eq!(held.identity_key, bob.identity_key());
    let warnings = carol.take_warnings().join("\n");
    assert!(
        warnings.contains(
            "the relay served version 2 of ph.pnp.bob, which is not in its signed directory log"
        ) && warnings.contains("version 1 is used")
            && warnings.contains("Evidence kept in")
            && warnings.contains("report it to your authority"),
        "{warnings}"
    );
    let files = evidence(&home(&net, "carol"), "directory-unlogged-ph.pnp.bob");
    assert_eq!(files.len(), 1, "{files:?}");

    // Messages to Bob go to Bob, who reads them.
    carol
        .send(&[id("ph.pnp.bob")], "for Bob only", Handling::default())
        .await
        .unwrap();
    carol.disconnect().await;
    bob.connect().await.unwrap();
    let report = bob.sync().await.unwrap();
    bob.disconnect().await;
    assert!(
        report.received.iter().any(|m| m.text == "for Bob only"),
        "{:?}",
        report.rejected
    );

    // A second sync keeps the one evidence file.
    carol.connect().await.unwrap();
    carol.disconnect().await;
    assert_eq!(
        evidence(&home(&net, "carol"), "directory-unlogged-ph.pnp.bob").len(),
        1
    );
    let _ = alice.connect().await;
    alice.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_only_the_relay_serves_cannot_be_written_to() {
    let mut net = DevNet::start();
    let (mut alice, _bob) = inproc::alice_and_bob(&net).await;

    // An id the directory log never held, correctly signed by PH.
    let ph = inproc::authority(&net, "PH");
    let template = inproc::current_record(&net, &ph, "ph.pnp.bob")
        .await
        .unwrap();
    let mut base = template.clone();
    base.id = id("ph.pnp.eve");
    base.version = 0;
    let (eve, _) = with_new_keys(&base, 0x70);
    net.restart_serving_record("eve.record", &Signed::sign(&eve, &ph.key));

    alice.connect().await.unwrap();
    assert!(alice.directory().record(&id("ph.pnp.eve")).is_none());
    let err = alice
        .send(&[id("ph.pnp.eve")], "hello?", Handling::default())
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("refusing to encrypt to ph.pnp.eve")
            && msg.contains("that is not in its signed directory log")
            && msg.contains("Evidence kept in"),
        "{msg}"
    );
    assert_eq!(
        evidence(&home(&net, "alice"), "directory-unlogged-ph.pnp.eve").len(),
        1
    );
    alice.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_rolls_back_a_revocation_is_refused() {
    let mut net = DevNet::start();
    let (mut alice, _bob) = inproc::alice_and_bob(&net).await;
    let mut carol = inproc::enrol(&net, "carol", "th.dsi.carol", "DSI")
        .await
        .unwrap();
    alice.connect().await.unwrap();
    alice.disconnect().await;

    // Bob's authority revokes him (version 2).
    let ph = inproc::authority(&net, "PH");
    let mut rec = inproc::current_record(&net, &ph, "ph.pnp.bob")
        .await
        .unwrap();
    rec.version += 1;
    rec.status = RecordStatus::Revoked {
        reason: "device stolen".into(),
    };
    assert!(matches!(
        inproc::publish(&net, &ph, &rec, vec![]).await,
        Ok(Response::Ok)
    ));
    // Alice sees the revocation.
    alice.connect().await.unwrap();
    assert!(alice.resolve(&[id("ph.pnp.bob")]).is_err());
    alice.disconnect().await;

    // The relay then serves version 1 again, omitting the revocation.
    net.kill();
    net.restart_with(&[("LIAISON_RELAY_TEST_SERVE_OLD_RECORD", "ph.pnp.bob")]);
    for (client, name) in [(&mut alice, "alice"), (&mut carol, "carol")] {
        client.connect().await.unwrap();
        let held = client.directory().record(&id("ph.pnp.bob")).unwrap();
        assert_eq!(held.version, 2, "{name} used the rolled-back version");
        assert!(matches!(held.status, RecordStatus::Revoked { .. }));
        let err = client.resolve(&[id("ph.pnp.bob")]).unwrap_err();
        assert!(format!("{err}").contains("not active"), "{err}");
        let warnings = client.take_warnings().join("\n");
        assert!(
            warnings.contains(
                "the relay served version 1 of ph.pnp.bob, but its signed directory log holds \
                 version 2 (revoked); the older version is not used"
            ) && warnings.contains("Evidence kept in"),
            "{name}: {warnings}"
        );
        assert_eq!(
            evidence(&home(&net, name), "directory-older-ph.pnp.bob").len(),
            1,
            "{name}"
        );
        client.disconnect().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_rolls_back_a_device_removal_is_refused() {
    let mut net = DevNet::start();
    let (mut alice, _bob) = inproc::alice_and_bob(&net).await;

    // Bob's record gets a device (version 2) that is then stolen, and his
    // authority replaces it (version 3).
    let ph = inproc::authority(&net, "PH");
    let v1 = inproc::current_record(&net, &ph, "ph.pnp.bob")
        .await
        .unwrap();
    let (v2, stolen) = with_new_keys(&v1, 0x80);
    assert!(matches!(
        inproc::publish(&net, &ph, &v2, vec![]).await,
        Ok(Response::Ok)
    ));
    let (v3, _) = with_new_keys(&v2, 0x90);
    assert!(matches!(
        inproc::publish(&net, &ph, &v3, vec![]).await,
        Ok(Response::Ok)
    ));
    alice.connect().await.unwrap();
    assert!(
        alice
            .directory()
            .device_owner(&stolen.public_key())
            .is_none()
    );
    alice.disconnect().await;
    let _ = alice.take_warnings();

    // The relay serves version 2 again: the stolen device would be Bob's.
    net.kill();
    net.restart_with(&[("LIAISON_RELAY_TEST_SERVE_OLD_RECORD", "ph.pnp.bob")]);
    alice.connect().await.unwrap();
    assert!(
        alice
            .directory()
            .device_owner(&stolen.public_key())
            .is_none(),
        "the removed device is Bob's again"
    );
    assert_eq!(
        alice.directory().record(&id("ph.pnp.bob")).unwrap().version,
        3
    );
    let warnings = alice.take_warnings().join("\n");
    assert!(
        warnings.contains(
            "the relay served version 2 of ph.pnp.bob, but its signed directory log holds \
             version 3; the older version is not used"
        ),
        "{warnings}"
    );
    alice.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_focal_point_is_reachable_at_once_and_the_log_is_fetched_incrementally() {
    let net = DevNet::start();
    let (mut alice, _bob) = inproc::alice_and_bob(&net).await;
    alice.connect().await.unwrap();
    let before = alice.directory_log_size();
    assert!(before >= 4, "{before}");
    alice.disconnect().await;

    // Enrolled, then written to right away.
    let mut dan = inproc::enrol(&net, "dan", "ph.pnp.dan", "PNP")
        .await
        .unwrap();
    // The relay signed a checkpoint covering the new record before the
    // publication returned.
    let link = inproc::connect(&net).await.unwrap();
    let note = link
        .checkpoint(liaison_protocol::frames::LogId::Directory, 0)
        .await
        .unwrap();
    link.close().await;
    let covered = liaison_protocol::log::Checkpoint::from_text(
        liaison_protocol::log::Note::parse(note.as_bytes())
            .unwrap()
            .text(),
    )
    .unwrap()
    .size();
    assert_eq!(covered, before + 1);
    alice.connect().await.unwrap();
    assert_eq!(alice.directory_log_size(), before + 1);
    alice
        .send(&[id("ph.pnp.dan")], "welcome", Handling::default())
        .await
        .unwrap();
    alice.disconnect().await;
    dan.connect().await.unwrap();
    let report = dan.sync().await.unwrap();
    dan.disconnect().await;
    assert!(report.received.iter().any(|m| m.text == "welcome"));

    // The applied log is kept in the home: reopened, the directory is there
    // before any connection.
    drop(alice);
    let alice = Client::open(&home(&net, "alice"), liaison_tests::PASSPHRASE).unwrap();
    assert_eq!(alice.directory_log_size(), before + 1);
    assert!(alice.directory().record(&id("ph.pnp.dan")).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_sees_the_records_in_force_at_each_size() {
    let net = DevNet::start();
    let (_alice, bob) = inproc::alice_and_bob(&net).await;
    let ph = inproc::authority(&net, "PH");
    let mut rec = inproc::current_record(&net, &ph, "ph.pnp.bob")
        .await
        .unwrap();
    rec.version += 1;
    rec.status = RecordStatus::Revoked {
        reason: "left the unit".into(),
    };
    assert!(matches!(
        inproc::publish(&net, &ph, &rec, vec![]).await,
        Ok(Response::Ok)
    ));

    // The directory checkpoint covering the revocation was signed before
    // the publication returned, so the export holds it.
    let export = net.dir.path().join("export");
    let audit = |args: &[&str]| {
        std::process::Command::new(liaison_tests::bin_dir().join("liaison-audit"))
            .args(args)
            .env("LIAISON_LOG", "warn")
            .output()
            .unwrap()
    };
    let (bundle, key) = (net.bundle(), net.dir.path().join("auditor.key"));
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let out = audit(&[
        "export",
        "--bundle",
        &s(&bundle),
        "--key",
        &s(&key),
        "--out",
        &s(&export),
        "--log",
        "directory",
    ]);
    assert!(out.status.success(), "{}", liaison_tests::output_text(&out));

    let records = |at: Option<u64>| {
        let mut args = vec![
            "records".to_owned(),
            s(&export),
            "--bundle".into(),
            s(&bundle),
            "--json".into(),
        ];
        if let Some(at) = at {
            args.extend(["--at".to_owned(), at.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        audit(&args)
    };
    let out = records(None);
    assert!(out.status.success(), "{}", liaison_tests::output_text(&out));
    let now: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let size = now["size"].as_u64().unwrap();
    let bob_at = |v: &serde_json::Value| {
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "ph.pnp.bob")
            .cloned()
            .unwrap()
    };
    let revoked = bob_at(&now);
    assert_eq!(revoked["version"], 2);
    assert_eq!(revoked["status"], "revoked: left the unit");

    // One entry earlier, before the revocation: version 1, Bob's key.
    let out = records(Some(size - 1));
    assert!(out.status.success(), "{}", liaison_tests::output_text(&out));
    let before: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let active = bob_at(&before);
    assert_eq!(active["version"], 1);
    assert_eq!(active["status"], "active");
    assert_eq!(
        active["identity"],
        bob.identity_key().fingerprint().to_string()
    );

    // Beyond what a verified checkpoint covers: refused, saying up to where.
    let out = records(Some(size + 1));
    assert!(!out.status.success());
    let text = liaison_tests::output_text(&out);
    assert!(
        text.contains(&format!("verified up to size {size} only")),
        "{text}"
    );

    // The plain text names each record.
    let out = audit(&["records", &s(&export), "--bundle", &s(&bundle)]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("ph.pnp.bob version 2: identity") && text.contains("revoked: left the unit"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_without_a_directory_log_builds_it_at_its_first_sync() {
    use liaison_client::home::{Home, Table};
    use liaison_protocol::directory::{AuthorityCertificate, RoleRecord};
    /// The relay's directory answer, as the previous release kept it.
    type LegacyDirectory = (
        Vec<Signed<AuthorityCertificate>>,
        Vec<Signed<FocalPointRecord>>,
        Vec<Signed<RoleRecord>>,
    );

    let net = DevNet::start();
    let (mut alice, _bob) = inproc::alice_and_bob(&net).await;
    alice.connect().await.unwrap();
    let size = alice.directory_log_size();
    alice.disconnect().await;
    drop(alice);

    // What the previous release kept: no directory log, the relay's
    // directory answer under `directory`.
    let dir = home(&net, "alice");
    {
        let h = Home::open(&dir, liaison_tests::PASSPHRASE).unwrap();
        let mut w = h.write().unwrap();
        w.remove(Table::Secrets, b"directory-log").unwrap();
        for i in 0..size {
            w.remove(
                Table::Secrets,
                format!("directory-log-entry-{i}").as_bytes(),
            )
            .unwrap();
        }
        let legacy: LegacyDirectory = (Vec::new(), Vec::new(), Vec::new());
        w.put_secret("directory", &legacy).unwrap();
        w.commit().unwrap();
    }

    let mut alice = Client::open(&dir, liaison_tests::PASSPHRASE).unwrap();
    assert_eq!(alice.directory_log_size(), 0);
    assert!(alice.directory().record(&id("ph.pnp.bob")).is_none());
    alice.connect().await.unwrap();
    assert_eq!(alice.directory_log_size(), size);
    assert!(alice.directory().record(&id("ph.pnp.bob")).is_some());
    alice.disconnect().await;
    drop(alice);
    let h = Home::open(&dir, liaison_tests::PASSPHRASE).unwrap();
    let left = h.get_secret::<LegacyDirectory>("directory").unwrap();
    assert!(
        left.is_none(),
        "the previous release's directory answer is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_no_checkpoint_covers_is_not_used_and_the_client_says_so() {
    let mut net = DevNet::start();
    let (mut alice, _bob) = inproc::alice_and_bob(&net).await;

    // A relay that serves a record, and a directory log entry for it after
    // the last one, but never signs a checkpoint that covers it.
    let ph = inproc::authority(&net, "PH");
    let mut base = inproc::current_record(&net, &ph, "ph.pnp.bob")
        .await
        .unwrap();
    base.id = id("ph.pnp.eve");
    base.version = 0;
    let (eve, _) = with_new_keys(&base, 0xa0);
    let file = net.dir.path().join("uncovered.record");
    std::fs::write(
        &file,
        liaison_protocol::codec::encode_versioned(&Signed::sign(&eve, &ph.key)),
    )
    .unwrap();
    net.kill();
    net.restart_with(&[(
        "LIAISON_RELAY_TEST_UNCOVERED_RECORD",
        file.to_str().unwrap(),
    )]);

    // (The bounded wait itself is unit-tested in client::core::directory;
    // here the client gives up at once.)
    alice.set_directory_wait(std::time::Duration::ZERO);
    alice.connect().await.unwrap();
    assert!(alice.directory().record(&id("ph.pnp.eve")).is_none());
    let warnings = alice.take_warnings().join("\n");
    assert!(
        warnings.contains("no checkpoint of its directory log covers it yet")
            && warnings.contains("run `liaison sync` again in a minute"),
        "{warnings}"
    );
    let err = alice
        .send(&[id("ph.pnp.eve")], "hello?", Handling::default())
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("refusing to encrypt to ph.pnp.eve")
            && msg.contains("no checkpoint of its directory log covers it yet"),
        "{msg}"
    );
    // Not yet evidence of anything: nothing kept.
    assert!(evidence(&home(&net, "alice"), "ph.pnp.eve").is_empty());
    alice.disconnect().await;
}
