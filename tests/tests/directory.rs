//! The directory lifecycle against real relay processes: roles and
//! handover across three countries, the country constraint, key
//! substitution, revocation, second devices and in-person verification.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use liaison_client::Client;
use liaison_client::client::now;
use liaison_net::LinkError;
use liaison_protocol::directory::{RecordStatus, RoleRecord, endorse_device, prove_device};
use liaison_protocol::frames::{ErrorCode, Request, Response};
use liaison_protocol::handling::Handling;
use liaison_protocol::{DirectoryId, Signed, Timestamp};
use liaison_tests::{DevNet, inproc};

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

async fn send(c: &mut Client, to: &str, text: &str) -> anyhow::Result<liaison_protocol::MessageId> {
    c.connect().await?;
    let r = c.send(&[id(to)], text, Handling::default()).await;
    c.disconnect().await;
    Ok(r?)
}

async fn sync_texts(c: &mut Client) -> Vec<String> {
    c.connect().await.unwrap();
    let report = c.sync().await.unwrap();
    c.disconnect().await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    report.received.iter().map(|m| m.text.clone()).collect()
}

async fn publish_role(net: &DevNet, country: &str, role: &str, version: u64, holders: &[&str]) {
    let auth = inproc::authority(net, country);
    let r = RoleRecord {
        id: id(role),
        version,
        country: auth.country,
        name: "Trafficking duty desk".into(),
        description: "24/7 on-call".into(),
        holders: holders.iter().map(|h| id(h)).collect(),
        not_before: Timestamp(now().0 - 60_000),
        not_after: now().plus_millis(86_400_000),
    };
    let res = inproc::request(net, &Request::PublishRole(Signed::sign(&r, &auth.key))).await;
    assert!(matches!(res, Ok(Response::Ok)), "{res:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_handover_across_three_countries() {
    let net = DevNet::start();
    let vn = inproc::new_authority(&net, "VN", "Viet Nam (test authority)")
        .await
        .unwrap();
    let mut somchai = inproc::enrol(&net, "somchai", "th.dsi.somchai", "DSI")
        .await
        .unwrap();
    let mut niran = inproc::enrol(&net, "niran", "th.dsi.niran", "DSI")
        .await
        .unwrap();
    let mut bob = inproc::enrol(&net, "bob", "ph.pnp.bob", "PNP")
        .await
        .unwrap();
    let mut lan = inproc::enrol_with(&net, &vn, "lan", "vn.mps.lan", "MPS")
        .await
        .unwrap();

    publish_role(&net, "TH", "th.dsi.tip-duty", 1, &["th.dsi.somchai"]).await;
    send(&mut bob, "th.dsi.tip-duty", "before handover, from Manila")
        .await
        .unwrap();
    send(&mut lan, "th.dsi.tip-duty", "before handover, from Hanoi")
        .await
        .unwrap();

    let got = sync_texts(&mut somchai).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(sync_texts(&mut niran).await.is_empty());

    // Handover: a new version of the role names Niran.
    publish_role(&net, "TH", "th.dsi.tip-duty", 2, &["th.dsi.niran"]).await;
    send(&mut bob, "th.dsi.tip-duty", "after handover")
        .await
        .unwrap();
    assert_eq!(
        sync_texts(&mut niran).await,
        vec!["after handover".to_owned()]
    );
    assert!(
        sync_texts(&mut somchai).await.is_empty(),
        "the old holder gets nothing new"
    );

    // Somchai hands the role's history to Niran.
    somchai.connect().await.unwrap();
    let (_, n) = somchai
        .send_handover(&id("th.dsi.tip-duty"), &id("th.dsi.niran"))
        .await
        .unwrap();
    somchai.disconnect().await;
    assert_eq!(n, 2);
    sync_texts(&mut niran).await;
    let inbox = niran.inbox().unwrap();
    let handed: Vec<_> = inbox.iter().filter(|m| m.via_handover.is_some()).collect();
    assert_eq!(handed.len(), 2, "{inbox:?}");
    assert!(
        handed
            .iter()
            .all(|m| m.verified && m.via_handover.as_deref() == Some("th.dsi.somchai"))
    );
    let senders: Vec<&str> = handed.iter().map(|m| m.from.as_str()).collect();
    assert!(
        senders.contains(&"ph.pnp.bob") && senders.contains(&"vn.mps.lan"),
        "{senders:?}"
    );
    assert!(
        handed
            .iter()
            .any(|m| m.text == "before handover, from Hanoi")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_cannot_act_for_another_country() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let ph = inproc::authority(&net, "PH");

    // PH's authority signs an update of a Thai record: the relay refuses.
    let mut forged = inproc::current_record(&net, &ph, "th.dsi.alice")
        .await
        .unwrap();
    forged.version += 1;
    forged.name = "Not Alice".into();
    let res = inproc::publish(&net, &ph, &forged, vec![]).await;
    match res {
        Err(LinkError::Refused(e)) => {
            assert_eq!(e.code, ErrorCode::InvalidRecord);
            assert!(e.message.contains("cannot sign for TH"), "{}", e.message);
        }
        other => panic!("relay accepted a cross-country record: {other:?}"),
    }
    // And a revocation of a Thai officer signed by PH.
    let mut revoke = inproc::current_record(&net, &ph, "th.dsi.alice")
        .await
        .unwrap();
    revoke.version += 1;
    revoke.status = RecordStatus::Revoked {
        reason: "hostile".into(),
    };
    assert!(inproc::publish(&net, &ph, &revoke, vec![]).await.is_err());

    // A relay that serves such a record anyway: clients reject it.
    let mut mallory = forged.clone();
    mallory.id = id("th.dsi.mallory");
    let dev = liaison_protocol::SecretKey::from_seed(&[0x42; 32]);
    let identity = liaison_protocol::SecretKey::from_seed(&[0x43; 32]);
    mallory.identity_key = identity.public_key();
    mallory.devices = vec![liaison_protocol::directory::DeviceKeys {
        signing: dev.public_key(),
        agreement: [1; 32],
    }];
    mallory.device_endorsements = vec![endorse_device(&identity, &mallory.id, &mallory.devices[0])];
    net.restart_serving_record("forged.record", &Signed::sign(&mallory, &ph.key));

    bob.connect().await.unwrap();
    assert!(bob.directory().record(&id("th.dsi.mallory")).is_none());
    let problems = bob.directory_problems().join("\n");
    assert!(
        problems.contains("th.dsi.mallory") && problems.contains("cannot sign for TH"),
        "{problems}"
    );
    let err = bob
        .send(&[id("th.dsi.mallory")], "hello?", Handling::default())
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("refusing to encrypt to th.dsi.mallory") && msg.contains("cannot sign for TH"),
        "{msg}"
    );
    // The genuine record is untouched.
    assert_eq!(
        bob.directory().record(&id("th.dsi.alice")).unwrap().name,
        "alice"
    );
    bob.disconnect().await;
    let _ = alice.connect().await;
    alice.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_substituted_key_is_refused_with_the_reason() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    net.kill();
    net.restart_with(&[("LIAISON_RELAY_TEST_SUBSTITUTE_KEY", "ph.pnp.bob")]);
    alice.connect().await.unwrap();
    // The substituted record is refused, saying why; Bob's record from the
    // verified directory log is the one used.
    let warnings = alice.take_warnings().join("\n");
    assert!(
        warnings.contains("the relay served a record for ph.pnp.bob that does not verify")
            && warnings.contains("signature verification failed")
            && warnings.contains("report this to your authority"),
        "{warnings}"
    );
    assert_eq!(
        alice
            .directory()
            .record(&id("ph.pnp.bob"))
            .unwrap()
            .identity_key,
        bob.identity_key()
    );
    alice
        .send(&[id("ph.pnp.bob")], "for Bob only", Handling::default())
        .await
        .unwrap();
    alice.disconnect().await;
    assert_eq!(sync_texts(&mut bob).await, vec!["for Bob only".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_disconnects_drops_the_queue_and_stops_senders() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let ph = inproc::authority(&net, "PH");

    // Bob is connected with a live subscription (nothing fetched or
    // acknowledged, so what is pushed stays queued at the relay).
    bob.connect().await.unwrap();
    let mut sub = bob.subscribe_raw().await.unwrap();

    // A message queued for Bob, then his authority revokes him.
    alice.connect().await.unwrap();
    let queued = alice
        .send(
            &[id("ph.pnp.bob")],
            "queued before revocation",
            Handling::default(),
        )
        .await
        .unwrap();
    assert!(matches!(sub.next().await, Ok(Some(Response::Push(_)))));
    let mut rec = inproc::current_record(&net, &ph, "ph.pnp.bob")
        .await
        .unwrap();
    rec.version += 1;
    rec.status = RecordStatus::Revoked {
        reason: "left the unit".into(),
    };
    let started = Instant::now();
    assert!(matches!(
        inproc::publish(&net, &ph, &rec, vec![]).await,
        Ok(Response::Ok)
    ));

    // His live connection is closed by the relay.
    let closed = tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await
        .expect("the revoked device's connection was not closed");
    println!(
        "{{\"revoked_device_disconnected_after_ms\":{}}}",
        started.elapsed().as_millis()
    );
    assert!(
        closed.is_err(),
        "subscription ended without error: {closed:?}"
    );
    bob.disconnect().await;
    // He cannot reconnect, and is told why from the signed directory log
    // (this revocation, made without `liaison-admin`, does not say when).
    let err = bob.connect().await.unwrap_err();
    assert!(
        format!("{err:#}").contains(
            "this device was revoked: your authority revoked ph.pnp.bob's record (version 2), \
             giving the reason \"left the unit\""
        ),
        "{err:#}"
    );

    // The queued envelope was dropped, and the drop is in the event log.
    let events = match alice
        .conn_request(&Request::GetMessageEvents { message_id: queued })
        .await
        .unwrap()
    {
        Response::MessageEvents { events } => events,
        other => panic!("{other:?}"),
    };
    let kinds: Vec<String> = events
        .iter()
        .map(|e| {
            let d =
                <liaison_protocol::log::event::DisclosedEvent as liaison_protocol::Wire>::decode(
                    &e.event,
                )
                .unwrap();
            d.decode_record().unwrap().kind.name().to_owned()
        })
        .collect();
    assert!(
        kinds.contains(&"accepted".to_owned()) && kinds.contains(&"dropped".to_owned()),
        "{kinds:?}"
    );

    // After one sync, Alice no longer encrypts to Bob.
    alice.disconnect().await;
    alice.connect().await.unwrap();
    let err = alice
        .send(&[id("ph.pnp.bob")], "after revocation", Handling::default())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("not active"), "{err:#}");
    alice.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_device_receives_and_contacts_are_warned() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let th = inproc::authority(&net, "TH");
    bob.connect().await.unwrap();
    bob.disconnect().await;

    // Alice's laptop asks to join; her desk machine approves; TH countersigns.
    let laptop_home = net.dir.path().join("homes").join("alice-laptop");
    let bundle = std::fs::read_to_string(net.bundle()).unwrap();
    let (req_path, code) = Client::device_request(
        &laptop_home,
        liaison_tests::PASSPHRASE,
        &bundle,
        id("th.dsi.alice"),
        inproc::test_kdf(),
    )
    .unwrap();
    alice.connect().await.unwrap();
    let request = std::fs::read_to_string(req_path).unwrap();
    // A wrong code approves nothing.
    let err = alice
        .approve_device(&request, "0000-0000-0000")
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("confirmation code does not match"),
        "{err:#}"
    );
    let approval_text = alice.approve_device(&request, &code).unwrap();
    // The laptop links first: that adds its proof of possession.
    let linked =
        Client::link_device(&laptop_home, liaison_tests::PASSPHRASE, &approval_text).unwrap();
    let approval: liaison_protocol::message::DeviceApproval =
        liaison_protocol::armor::dearmor_wire(
            liaison_protocol::armor::ArmorKind::DeviceApproval,
            &std::fs::read_to_string(linked).unwrap(),
        )
        .unwrap();
    let request = approval.request.verify().unwrap();
    let mut rec = inproc::current_record(&net, &th, "th.dsi.alice")
        .await
        .unwrap();
    rec.version += 1;
    rec.devices.push(request.device);
    rec.device_endorsements.push(approval.endorsement);
    rec.device_proofs.push(approval.device_proof);
    assert!(matches!(
        inproc::publish(&net, &th, &rec, request.prekeys.clone()).await,
        Ok(Response::Ok)
    ));
    let mut laptop = Client::open(&laptop_home, liaison_tests::PASSPHRASE).unwrap();

    // Bob's client warns about the new device, and encrypts to both.
    bob.connect().await.unwrap();
    let warnings = bob.take_warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("th.dsi.alice added a new device")),
        "{warnings:?}"
    );
    bob.send(
        &[id("th.dsi.alice")],
        "to both of Alice's devices",
        Handling::default(),
    )
    .await
    .unwrap();
    bob.disconnect().await;
    assert_eq!(
        sync_texts(&mut laptop).await,
        vec!["to both of Alice's devices".to_owned()]
    );
    assert_eq!(
        sync_texts(&mut alice).await,
        vec!["to both of Alice's devices".to_owned()]
    );
    // Neither of Alice's devices raises an alert about her own record.
    for c in [&mut alice, &mut laptop] {
        c.connect().await.unwrap();
        let w = c.take_warnings();
        assert!(!w.iter().any(|w| w.contains("ALERT")), "{w:?}");
        c.disconnect().await;
    }
    // The laptop can send as Alice.
    send(&mut laptop, "ph.pnp.bob", "from the laptop")
        .await
        .unwrap();
    let got = sync_texts(&mut bob).await;
    assert_eq!(got, vec!["from the laptop".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_person_verification_and_key_change() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    alice.connect().await.unwrap();
    bob.connect().await.unwrap();
    let theirs = bob.safety_number(&id("th.dsi.alice")).unwrap();
    assert_eq!(theirs, alice.safety_number(&id("ph.pnp.bob")).unwrap());

    let wrong = theirs.replace('1', "2").replace('0', "1");
    assert!(alice.verify_contact(&id("ph.pnp.bob"), &wrong).is_err());
    assert!(!alice.contacts().unwrap()["ph.pnp.bob"].verified_in_person);
    alice.verify_contact(&id("ph.pnp.bob"), &theirs).unwrap();
    assert!(alice.contacts().unwrap()["ph.pnp.bob"].verified_in_person);
    alice.disconnect().await;
    bob.disconnect().await;

    // Bob's record gets a new identity key (a reinstall, so a new device
    // too, which proves possession): the mark is cleared, Alice is warned
    // and her next send is held.
    let ph = inproc::authority(&net, "PH");
    let new_identity = liaison_protocol::SecretKey::from_seed(&[0x77; 32]);
    let new_device = liaison_protocol::SecretKey::from_seed(&[0x78; 32]);
    let keys = liaison_protocol::directory::DeviceKeys {
        signing: new_device.public_key(),
        agreement: new_device.public_key().0,
    };
    let mut rec = inproc::current_record(&net, &ph, "ph.pnp.bob")
        .await
        .unwrap();
    rec.version += 1;
    rec.identity_key = new_identity.public_key();
    rec.devices = vec![keys];
    rec.device_endorsements = vec![endorse_device(&new_identity, &rec.id, &keys)];
    rec.device_proofs = vec![Some(prove_device(
        &new_device,
        &rec.id,
        &new_identity.public_key(),
        &keys,
    ))];
    assert!(matches!(
        inproc::publish(&net, &ph, &rec, vec![]).await,
        Ok(Response::Ok)
    ));

    alice.connect().await.unwrap();
    let warnings = alice.take_warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("identity key of ph.pnp.bob has changed")
                && w.contains("no longer applies")),
        "{warnings:?}"
    );
    let state = &alice.contacts().unwrap()["ph.pnp.bob"];
    assert!(!state.verified_in_person && state.key_changed.is_some());
    let err = alice
        .send(&[id("ph.pnp.bob")], "held?", Handling::default())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("Sending to ph.pnp.bob is held"),
        "{err:#}"
    );
    alice.accept_contact_key(&id("ph.pnp.bob")).unwrap();
    assert!(
        alice.contacts().unwrap()["ph.pnp.bob"]
            .key_changed
            .is_none()
    );
    alice.disconnect().await;
}

/// A message signed by a contact whose identity key changed is held just as
/// sending to them is: not shown as verified, its text withheld, no receipt
/// sent, until the recipient verifies or accepts the new key; then it opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_a_changed_key_are_held_until_the_key_is_accepted() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    send(&mut bob, "th.dsi.alice", "before").await.unwrap();
    assert_eq!(sync_texts(&mut alice).await, vec!["before".to_owned()]);

    // Bob's phone is replaced: a new identity key, enrolled by PH as version 2.
    let ph = inproc::authority(&net, "PH");
    let mut bob2 = inproc::enrol_version(&net, &ph, "bob2", "ph.pnp.bob", "PNP", 2)
        .await
        .unwrap();
    let held = send(&mut bob2, "th.dsi.alice", "after the reinstall")
        .await
        .unwrap();
    alice.connect().await.unwrap();
    let report = alice.sync().await.unwrap();
    alice.disconnect().await;
    let m = report
        .received
        .iter()
        .find(|m| m.id == held)
        .expect("the message is kept");
    assert!(!m.verified, "{m:?}");
    assert_eq!(m.visible_text(), None);
    let why = m.error.clone().unwrap();
    assert!(
        why.starts_with("held: ph.pnp.bob's identity key changed"),
        "{why}"
    );
    assert!(why.contains("contacts accept ph.pnp.bob"), "{why}");
    drop(bob);

    alice.accept_contact_key(&id("ph.pnp.bob")).unwrap();
    let m = alice.message(held).unwrap().unwrap();
    assert!(m.verified, "{m:?}");
    assert_eq!(m.error, None);
    assert_eq!(m.from, "ph.pnp.bob");
}
