//! A foreign authority tries to take a device of another country's focal
//! point (issue 10, item 2): it signs a record of its own country listing a
//! Thai officer's device keys, with her proof copied, with a proof it forged,
//! with none, ahead of her enrolment, or reusing only her agreement key. The
//! relay refuses each with the reason, a relay that serves such a record
//! anyway is overruled by every client, and the officer stays in the
//! directory and keeps receiving messages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::Command;

use liaison_client::Client;
use liaison_client::client::{InitParams, now};
use liaison_net::LinkError;
use liaison_protocol::directory::{
    DEVICE_PROOF_DOMAIN, DeviceKeys, FocalPointRecord, device_proof_message, endorse_device,
    prove_device,
};
use liaison_protocol::frames::{ErrorCode, Response};
use liaison_protocol::handling::Handling;
use liaison_protocol::message::EnrolmentRequest;
use liaison_protocol::{CountryCode, DirectoryId, SecretKey, Signature, Signed};
use liaison_tests::{DevNet, PASSPHRASE, bin, inproc};

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

/// The relay refused `res` as an invalid record; returns its message.
fn refused(res: Result<Response, LinkError>, needle: &str) -> String {
    match res {
        Err(LinkError::Refused(e)) => {
            assert_eq!(e.code, ErrorCode::InvalidRecord, "{}", e.message);
            assert!(
                e.message.contains(needle),
                "{needle:?} not in: {}",
                e.message
            );
            e.message
        }
        other => panic!("the relay accepted a squatting record: {other:?}"),
    }
}

/// A PH record for `ph_id` listing `device` under a PH-made identity key,
/// endorsed by that identity, with `proof` as the device's proof.
fn ph_record(
    template: &FocalPointRecord,
    ph_id: &str,
    device: DeviceKeys,
    proof: Option<Signature>,
) -> FocalPointRecord {
    let identity = SecretKey::from_seed(&[0x51; 32]);
    let mut r = template.clone();
    r.id = id(ph_id);
    r.country = CountryCode::parse("PH").unwrap();
    r.version = 1;
    r.name = "Mallory".into();
    r.agency = "PNP".into();
    r.identity_key = identity.public_key();
    r.devices = vec![device];
    r.device_endorsements = vec![endorse_device(&identity, &r.id, &device)];
    r.device_proofs = vec![proof];
    r
}

/// `from` sends `text` to `to`; `to` syncs and must receive it.
async fn reaches(from: &mut Client, to: &mut Client, to_id: &str, text: &str) {
    from.connect().await.unwrap();
    from.send(&[id(to_id)], text, Handling::default())
        .await
        .unwrap();
    from.disconnect().await;
    to.connect().await.unwrap();
    let report = to.sync().await.unwrap();
    to.disconnect().await;
    assert!(
        report.received.iter().any(|m| m.text == text),
        "{to_id} did not receive {text:?}: {:?}",
        report.received.iter().map(|m| &m.text).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_authority_cannot_squat_a_device_or_evict_its_record() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let ph = inproc::authority(&net, "PH");
    let real = inproc::current_record(&net, &ph, "th.dsi.alice")
        .await
        .unwrap();
    let device = real.devices[0];

    // Alice's own proof, copied: it was made for her id and identity key.
    let copied = ph_record(&real, "ph.pnp.mallory", device, real.device_proofs[0]);
    refused(
        inproc::publish(&net, &ph, &copied, vec![]).await,
        "proof of possession does not verify",
    );
    // A proof the PH authority made with a key of its own.
    let forged_proof = ph.key.sign(
        DEVICE_PROOF_DOMAIN,
        &device_proof_message(&copied.id, &copied.identity_key, &device),
    );
    let forged = ph_record(&real, "ph.pnp.mallory", device, Some(forged_proof));
    refused(
        inproc::publish(&net, &ph, &forged, vec![]).await,
        "proof of possession does not verify",
    );
    // No proof at all, as the previous release allowed: Alice holds the
    // device (first in the directory log), although "ph" sorts first.
    let bare = ph_record(&real, "ph.pnp.mallory", device, None);
    let msg = refused(
        inproc::publish(&net, &ph, &bare, vec![]).await,
        "already belongs to th.dsi.alice",
    );
    assert!(
        msg.contains("if this person changed country, revoke the old record first"),
        "{msg}"
    );

    // Ahead of enrolment: Carol's request is out, her record not yet
    // published; PH copies her device and its proof into a PH record.
    let bundle_text = std::fs::read_to_string(net.bundle()).unwrap();
    let carol_home = net.dir.path().join("homes").join("carol");
    let (req_path, _) = Client::init(
        &carol_home,
        PASSPHRASE,
        &bundle_text,
        InitParams {
            id: id("th.dsi.carol"),
            name: "carol".into(),
            country: CountryCode::parse("TH").unwrap(),
            agency: "DSI".into(),
            unit: String::new(),
            languages: vec!["en".into()],
            time_zone: "UTC".into(),
        },
        inproc::test_kdf(),
    )
    .unwrap();
    let (_, carol_req) =
        EnrolmentRequest::from_armored(&std::fs::read_to_string(req_path).unwrap()).unwrap();
    let ahead = ph_record(
        &real,
        "ph.pnp.mallory",
        carol_req.device,
        Some(carol_req.device_proof),
    );
    refused(
        inproc::publish(&net, &ph, &ahead, vec![]).await,
        "proof of possession does not verify",
    );
    let ahead = ph_record(&real, "ph.pnp.mallory", carol_req.device, None);
    refused(
        inproc::publish(&net, &ph, &ahead, vec![]).await,
        "carries no proof",
    );
    // Her own authority enrols her as usual.
    let th = inproc::authority(&net, "TH");
    let carol_record = liaison_admin::record_from_request(&th, &carol_req, 1, 30, now()).unwrap();
    assert!(matches!(
        inproc::publish(
            &net,
            &th,
            &carol_record.decode_unverified().unwrap(),
            carol_req.prekeys.clone()
        )
        .await,
        Ok(Response::Ok)
    ));
    let mut carol = Client::open(&carol_home, PASSPHRASE).unwrap();

    // Alice is still in every client's directory and still reachable.
    bob.connect().await.unwrap();
    assert_eq!(
        bob.directory()
            .device_owner(&device.signing)
            .map(|r| r.id.as_str()),
        Some("th.dsi.alice")
    );
    assert!(bob.directory().record(&id("ph.pnp.mallory")).is_none());
    bob.disconnect().await;
    reaches(&mut bob, &mut alice, "th.dsi.alice", "still yours, Alice").await;
    reaches(&mut bob, &mut carol, "th.dsi.carol", "welcome, Carol").await;

    // A relay that serves the squatting record anyway (put after Alice's,
    // or anywhere: it proves nothing): every client keeps Alice, and says
    // why the PH record is left out.
    net.restart_serving_record("squat.record", &Signed::sign(&bare, &ph.key));
    bob.connect().await.unwrap();
    assert_eq!(
        bob.directory()
            .device_owner(&device.signing)
            .map(|r| r.id.as_str()),
        Some("th.dsi.alice")
    );
    assert!(bob.directory().record(&id("ph.pnp.mallory")).is_none());
    let problems = bob.directory_problems().join("\n");
    assert!(
        problems.contains("ph.pnp.mallory") && problems.contains("already belongs to th.dsi.alice"),
        "{problems}"
    );
    bob.disconnect().await;
    reaches(&mut bob, &mut alice, "th.dsi.alice", "and still yours").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_reusing_another_records_agreement_key_is_refused() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let ph = inproc::authority(&net, "PH");
    let real = inproc::current_record(&net, &ph, "th.dsi.alice")
        .await
        .unwrap();

    // PH enrols a device that is really its own (its proof verifies) but
    // announces Alice's agreement key, so that senders would encrypt to her
    // key under a PH name; through `liaison-admin enrol`, as an authority
    // would.
    let identity = SecretKey::from_seed(&[0x61; 32]);
    let own = SecretKey::from_seed(&[0x62; 32]);
    let device = DeviceKeys {
        signing: own.public_key(),
        agreement: real.devices[0].agreement,
    };
    let mallory = id("ph.pnp.mallory");
    let request = EnrolmentRequest {
        id: mallory.clone(),
        country: mallory.country(),
        name: "Mallory".into(),
        agency: "PNP".into(),
        unit: String::new(),
        languages: vec!["en".into()],
        time_zone: "UTC".into(),
        identity_key: identity.public_key(),
        device,
        device_proof: prove_device(&own, &mallory, &identity.public_key(), &device),
        device_endorsement: endorse_device(&identity, &mallory, &device),
        prekeys: vec![],
        created_at: now(),
    };
    let signed = Signed::sign(&request, &identity);
    let path = net.dir.path().join("mallory.request");
    std::fs::write(&path, EnrolmentRequest::armor(&signed)).unwrap();
    let out = Command::new(bin("liaison-admin"))
        .arg("enrol")
        .arg("--authority")
        .arg(net.authority("PH"))
        .arg("--bundle")
        .arg(net.bundle())
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for needle in [
        "refused",
        "ph.pnp.mallory",
        "already belongs to th.dsi.alice (its agreement key)",
        "if this person changed country, revoke the old record first",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }

    // Served anyway by a relay: clients refuse it, and say why.
    let record = FocalPointRecord {
        identity_key: identity.public_key(),
        devices: vec![device],
        device_endorsements: vec![request.device_endorsement],
        device_proofs: vec![Some(request.device_proof)],
        ..ph_record(&real, "ph.pnp.mallory", device, None)
    };
    net.restart_serving_record("agreement.record", &Signed::sign(&record, &ph.key));
    bob.connect().await.unwrap();
    assert!(bob.directory().record(&id("ph.pnp.mallory")).is_none());
    let problems = bob.directory_problems().join("\n");
    assert!(
        problems.contains("ph.pnp.mallory") && problems.contains("agreement key"),
        "{problems}"
    );
    bob.disconnect().await;
    reaches(&mut bob, &mut alice, "th.dsi.alice", "only for Alice").await;
}
