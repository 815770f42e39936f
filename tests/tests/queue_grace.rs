//! A lapse does not destroy queued messages (issue 10, item 6): against
//! real relay processes, a record that expires or whose authority key is
//! revoked keeps the queues of its devices, and what was queued is
//! delivered once the record is renewed or re-signed; an explicit
//! revocation drops the queue at once, and a lapse longer than
//! `limits.lapsed_queue_grace_days` (30 by default) drops it too, each
//! with a `dropped` event per envelope in the event log. Time passes by
//! restarting the relay with `LIAISON_TEST_CLOCK_OFFSET_MS`, never by
//! sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use liaison_client::Client;
use liaison_client::client::now;
use liaison_protocol::bundle::AuthorityKeyFile;
use liaison_protocol::directory::{AuthorityCertificate, RecordStatus};
use liaison_protocol::frames::{Request, Response};
use liaison_protocol::handling::Handling;
use liaison_protocol::log::event::DisclosedEvent;
use liaison_protocol::{DirectoryId, MessageId, Signed, Timestamp, Wire};
use liaison_tests::{DevNet, inproc};

const DAY_MS: u64 = 86_400_000;

fn days(n: u64) -> i64 {
    i64::try_from(n * DAY_MS).unwrap()
}

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

async fn send(c: &mut Client, to: &str, text: &str) -> MessageId {
    c.connect().await.unwrap();
    let sent = c.send(&[id(to)], text, Handling::default()).await.unwrap();
    c.disconnect().await;
    sent
}

async fn sync_texts(c: &mut Client) -> Vec<String> {
    c.connect().await.unwrap();
    let report = c.sync().await.unwrap();
    c.disconnect().await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    report.received.iter().map(|m| m.text.clone()).collect()
}

/// The kinds of the event log entries of `message`, as its sender reads
/// them.
async fn event_kinds(sender: &mut Client, message: MessageId) -> Vec<String> {
    sender.connect().await.unwrap();
    let answer = sender
        .conn_request(&Request::GetMessageEvents {
            message_id: message,
        })
        .await
        .unwrap();
    sender.disconnect().await;
    let Response::MessageEvents { events } = answer else {
        panic!("{answer:?}");
    };
    events
        .iter()
        .map(|e| {
            DisclosedEvent::decode(&e.event)
                .unwrap()
                .decode_record()
                .unwrap()
                .kind
                .name()
                .to_owned()
        })
        .collect()
}

/// The relay's count of lapsed devices whose queue it keeps.
fn lapsed_queues(net: &DevNet) -> f64 {
    let (status, text) = liaison_tests::http_get(net.metrics.as_deref().unwrap(), "/metrics");
    assert_eq!(status, 200);
    liaison_tests::metric_value(&text, "liaison_lapsed_queues", &[]).unwrap()
}

/// Why the relay refuses `c`'s device now.
async fn refusal(c: &mut Client) -> String {
    let err = c
        .connect()
        .await
        .expect_err("the relay admitted the device");
    format!("{err:#}")
}

/// Publish the next version of `who`'s record signed by `auth`, valid from
/// `from_ms` to `until_ms` (ms since the epoch).
async fn republish(net: &DevNet, auth: &AuthorityKeyFile, who: &str, from_ms: u64, until_ms: u64) {
    let mut rec = inproc::current_record(net, auth, who).await.unwrap();
    rec.version += 1;
    rec.not_before = Timestamp(from_ms);
    rec.not_after = Timestamp(until_ms);
    let res = inproc::publish(net, auth, &rec, vec![]).await;
    assert!(matches!(res, Ok(Response::Ok)), "{res:?}");
}

/// The network root revokes `auth`'s key.
async fn revoke_authority_key(net: &DevNet, auth: &AuthorityKeyFile) {
    let root = liaison_protocol::bundle::parse_root_key_file(
        &std::fs::read_to_string(net.dir.path().join("root.key")).unwrap(),
    )
    .unwrap();
    let mut cert: AuthorityCertificate = auth.certificate.decode_unverified().unwrap();
    cert.serial += 1;
    cert.revoked = true;
    let res = inproc::request(net, &Request::PublishAuthority(Signed::sign(&cert, &root))).await;
    assert!(matches!(res, Ok(Response::Ok)), "{res:?}");
}

/// An authority's certificate renewed with a new key: the root certifies
/// the new key and revokes the old one. Bob's record, signed by the old
/// key, is no longer in force (records signed by a revoked key need
/// re-signing, docs/security.md), but what was queued for him waits, and
/// is delivered once the authority re-signs his record with the new key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_authority_key_keeps_queues_until_the_records_are_re_signed() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let old_ph = inproc::authority(&net, "PH");
    let queued = send(&mut alice, "ph.pnp.bob", "queued before the key change").await;

    let new_ph = inproc::new_authority(&net, "PH", "Philippine National Police (new key)")
        .await
        .unwrap();
    revoke_authority_key(&net, &old_ph).await;

    // The queue is kept; meanwhile Bob is refused, and told why and that
    // his messages wait.
    let kinds = event_kinds(&mut alice, queued).await;
    assert!(!kinds.contains(&"dropped".to_owned()), "{kinds:?}");
    let why = refusal(&mut bob).await;
    assert!(
        why.contains("ph.pnp.bob") && why.contains("kept for 30 days"),
        "{why}"
    );

    // liaison-admin update does not re-sign what a revoked key signed
    // without the authority checking it (docs/security.md): it refuses.
    let bundle = liaison_protocol::bundle::Bundle::from_toml(
        &std::fs::read_to_string(net.bundle()).unwrap(),
    )
    .unwrap();
    let changes = liaison_admin::RecordChanges {
        valid_days: Some(30),
        ..liaison_admin::RecordChanges::default()
    };
    let refused = liaison_admin::update(&bundle, &new_ph, &id("ph.pnp.bob"), &changes, now())
        .await
        .expect_err("update re-signed a record of a revoked key");
    assert!(
        matches!(refused, liaison_admin::AdminError::RecordRejected { .. }),
        "{refused}"
    );

    // Re-signed by the new key: Bob is back and gets what was queued.
    let rec = inproc::current_record(&net, &new_ph, "ph.pnp.bob")
        .await
        .unwrap();
    republish(
        &net,
        &new_ph,
        "ph.pnp.bob",
        rec.not_before.0,
        rec.not_after.0,
    )
    .await;
    assert_eq!(
        sync_texts(&mut bob).await,
        vec!["queued before the key change".to_owned()]
    );
    let kinds = event_kinds(&mut alice, queued).await;
    assert!(kinds.contains(&"acknowledged".to_owned()), "{kinds:?}");
    assert!(!kinds.contains(&"dropped".to_owned()), "{kinds:?}");
}

/// A record that expires keeps its device's queue: renewed within the
/// grace period, the device gets it; lapsed longer than the grace period,
/// the queue is dropped with `dropped` events; revoked while lapsed, it is
/// dropped at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_record_keeps_its_queue_for_the_grace_period() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let _carol = inproc::enrol(&net, "carol", "ph.pnp.carol", "PNP")
        .await
        .unwrap();
    let (th, ph) = (inproc::authority(&net, "TH"), inproc::authority(&net, "PH"));
    let t0 = now().0;
    // Alice stays in force throughout; Bob's and Carol's records end tomorrow.
    republish(&net, &th, "th.dsi.alice", t0 - 60_000, t0 + 400 * DAY_MS).await;
    republish(&net, &ph, "ph.pnp.bob", t0 - 60_000, t0 + DAY_MS).await;
    republish(&net, &ph, "ph.pnp.carol", t0 - 60_000, t0 + DAY_MS).await;
    let first = send(&mut alice, "ph.pnp.bob", "waits for the renewal").await;
    let to_carol = send(&mut alice, "ph.pnp.carol", "for Carol").await;

    // Two days on, both records have expired: refused, queues kept.
    net.kill();
    net.restart_with_clock_offset(days(2), &[]);
    let kinds = event_kinds(&mut alice, first).await;
    assert!(!kinds.contains(&"dropped".to_owned()), "{kinds:?}");
    assert_eq!(lapsed_queues(&net), 2.0);
    let why = refusal(&mut bob).await;
    assert!(
        why.contains("expired") && why.contains("kept for 30 days"),
        "{why}"
    );

    // An explicit revocation of a lapsed record still drops its queue.
    let mut carol = inproc::current_record(&net, &ph, "ph.pnp.carol")
        .await
        .unwrap();
    carol.version += 1;
    carol.status = RecordStatus::Revoked {
        reason: "left the unit".into(),
    };
    let res = inproc::publish(&net, &ph, &carol, vec![]).await;
    assert!(matches!(res, Ok(Response::Ok)), "{res:?}");
    let kinds = event_kinds(&mut alice, to_carol).await;
    assert!(kinds.contains(&"dropped".to_owned()), "{kinds:?}");
    assert_eq!(lapsed_queues(&net), 1.0);

    // Renewed: Bob gets what waited.
    republish(&net, &ph, "ph.pnp.bob", t0 - 60_000, t0 + 3 * DAY_MS).await;
    assert_eq!(
        sync_texts(&mut bob).await,
        vec!["waits for the renewal".to_owned()]
    );
    assert_eq!(lapsed_queues(&net), 0.0);

    // A second lapse, longer than the grace period (30 days by default).
    let second = send(&mut alice, "ph.pnp.bob", "waits too long").await;
    net.kill();
    net.restart_with_clock_offset(days(4), &[]);
    net.kill();
    net.restart_with_clock_offset(days(4 + 29), &[]);
    let kinds = event_kinds(&mut alice, second).await;
    assert!(!kinds.contains(&"dropped".to_owned()), "{kinds:?}");
    assert_eq!(lapsed_queues(&net), 1.0);
    net.kill();
    net.restart_with_clock_offset(days(4 + 31), &[]);
    let kinds = event_kinds(&mut alice, second).await;
    assert!(kinds.contains(&"dropped".to_owned()), "{kinds:?}");
    assert_eq!(lapsed_queues(&net), 0.0);

    // Renewed after that, Bob is back but the dropped message is gone.
    republish(&net, &ph, "ph.pnp.bob", t0 - 60_000, t0 + 60 * DAY_MS).await;
    assert!(sync_texts(&mut bob).await.is_empty());
}

/// A planned key change has no gap: the authority re-signs its records with
/// its new key (what `liaison-admin update --authority NEW.key ... --id ID
/// --valid-days D` does) before the root revokes the old key, and its focal
/// points never lapse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_authority_key_change_has_no_gap() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let old_ph = inproc::authority(&net, "PH");
    let new_ph = inproc::new_authority(&net, "PH", "Philippine National Police (new key)")
        .await
        .unwrap();
    let bundle = liaison_protocol::bundle::Bundle::from_toml(
        &std::fs::read_to_string(net.bundle()).unwrap(),
    )
    .unwrap();
    let changes = liaison_admin::RecordChanges {
        valid_days: Some(30),
        ..liaison_admin::RecordChanges::default()
    };
    liaison_admin::update(&bundle, &new_ph, &id("ph.pnp.bob"), &changes, now())
        .await
        .unwrap();
    revoke_authority_key(&net, &old_ph).await;

    let sent = send(&mut alice, "ph.pnp.bob", "after the key change").await;
    assert_eq!(
        sync_texts(&mut bob).await,
        vec!["after the key change".to_owned()]
    );
    let kinds = event_kinds(&mut alice, sent).await;
    assert!(!kinds.contains(&"dropped".to_owned()), "{kinds:?}");
}
