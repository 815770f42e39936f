//! The relay's clock in integration tests: a relay built with the test
//! hooks and started with `LIAISON_TEST_CLOCK_OFFSET_MS` runs as it would
//! that much later, so time-based rules (here a record's validity period)
//! are tested without any test sleeping until they apply.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use liaison_net::LinkError;
use liaison_protocol::directory::{
    DeviceKeys, FocalPointRecord, RecordFormat, RecordStatus, endorse_device, prove_device,
};
use liaison_protocol::frames::{ErrorCode, Request, Response};
use liaison_protocol::{DirectoryId, SecretKey, Timestamp};
use liaison_tests::{DevNet, inproc};

const DAY_MS: u64 = 86_400_000;

/// Publish `th.dsi.clock` with one device, valid for one day from now (by
/// this process's clock); returns the device key.
async fn publish_one_day_record(net: &DevNet) -> SecretKey {
    let auth = inproc::authority(net, "TH");
    let identity = SecretKey::from_seed(&[41; 32]);
    let device = SecretKey::from_seed(&[42; 32]);
    let id = DirectoryId::parse("th.dsi.clock").unwrap();
    let keys = DeviceKeys {
        signing: device.public_key(),
        agreement: [7; 32],
    };
    let now = liaison_clock::now();
    let record = FocalPointRecord {
        country: id.country(),
        id: id.clone(),
        version: 1,
        name: "Clock".into(),
        agency: "DSI".into(),
        unit: String::new(),
        roles: vec![],
        languages: vec!["en".into()],
        time_zone: "UTC".into(),
        working_hours: String::new(),
        notes: String::new(),
        identity_key: identity.public_key(),
        device_endorsements: vec![endorse_device(&identity, &id, &keys)],
        device_proofs: vec![Some(prove_device(
            &device,
            &id,
            &identity.public_key(),
            &keys,
        ))],
        devices: vec![keys],
        format: RecordFormat::Proofs,
        not_before: Timestamp(now.0 - 60_000),
        not_after: now.plus_millis(DAY_MS),
        status: RecordStatus::Active,
    };
    match inproc::publish(net, &auth, &record, vec![]).await {
        Ok(Response::Ok) => {}
        other => panic!("publishing the record: {other:?}"),
    }
    device
}

async fn authenticate(net: &DevNet, device: &SecretKey) -> Result<Response, LinkError> {
    let link = inproc::connect(net).await.unwrap();
    let answer = link.authenticate_with_key(device).await;
    link.close().await;
    answer
}

/// The relay's own clock, as it answers Ping, minus this process's.
async fn relay_clock_ahead_ms(net: &DevNet) -> i64 {
    let before = liaison_clock::now().0;
    let Response::Pong { now } = inproc::request(net, &Request::Ping).await.unwrap() else {
        panic!("no Pong");
    };
    i64::try_from(now).unwrap() - i64::try_from(before).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_started_later_applies_validity_periods_then() {
    let mut net = DevNet::start();
    let device = publish_one_day_record(&net).await;
    assert!(matches!(
        authenticate(&net, &device).await,
        Ok(Response::Authenticated { .. })
    ));

    // The same relay, two days on: the record has expired.
    net.kill();
    net.restart_with_clock_offset(i64::try_from(2 * DAY_MS).unwrap(), &[]);
    let ahead = relay_clock_ahead_ms(&net).await;
    assert!(
        ahead.abs_diff(i64::try_from(2 * DAY_MS).unwrap()) < 10 * 60_000,
        "the relay's clock is {ahead} ms ahead"
    );
    let refused = authenticate(&net, &device).await.unwrap_err();
    let refusal = refused.refusal().expect("a refusal");
    assert_eq!(refusal.code, ErrorCode::UnknownDevice, "{refused}");
    assert!(refusal.message.contains("expired"), "{refused}");

    // Back to today: nothing in the store changed, the record is in force.
    net.kill();
    net.restart();
    assert!(relay_clock_ahead_ms(&net).await.abs() < 10 * 60_000);
    assert!(matches!(
        authenticate(&net, &device).await,
        Ok(Response::Authenticated { .. })
    ));
}
