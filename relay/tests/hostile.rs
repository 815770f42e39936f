//! The relay in-process on 127.0.0.1:0, driven by a raw QUIC client that pins
//! its certificate: hostile frames are refused with the right error code and
//! leave the relay serving; enrolled devices authenticate and exchange
//! envelopes; limits and shutdown close connections with documented codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Duration;

use liaison_protocol::directory::{
    AuthorityCertificate, DeviceKeys, FocalPointRecord, RecordStatus,
};
use liaison_protocol::frames::{
    AUTH_DOMAIN, EXPORTER_LABEL, ErrorCode, Queued, Request, Response, auth_message, decode_frame,
    encode_frame,
};
use liaison_protocol::message::{Envelope, OlmKind, Prekey};
use liaison_protocol::{
    CountryCode, DirectoryId, MessageId, PublicKey, SecretKey, Signed, Timestamp,
};
use liaison_relay::{Limits, Relay, RelayConfig, RelayError, RelayHandle};
use liaison_tests::raw::RawConnection;

// ---------------------------------------------------------------- client side

struct Client {
    conn: RawConnection,
}

async fn connect_raw(addr: SocketAddr, pin: [u8; 32]) -> Result<Client, quinn::ConnectionError> {
    Ok(Client {
        conn: liaison_tests::raw::connect(addr, pin).await?,
    })
}

async fn connect(addr: SocketAddr, pin: [u8; 32]) -> Client {
    connect_raw(addr, pin)
        .await
        .expect("handshake with the pinned relay")
}

impl Client {
    /// Send raw bytes on a fresh stream, finish it, and read the answer:
    /// `None` if the relay sent nothing before finishing or resetting.
    async fn raw(&self, bytes: &[u8]) -> Option<Response> {
        let (mut send, mut recv) = self.conn.open_bi().await.unwrap();
        // The relay may stop reading early (oversized frame): ignore write errors.
        let _ = send.write_all(bytes).await;
        let _ = send.finish();
        let answer = recv.read_to_end(16 * 1024 * 1024).await.ok()?;
        if answer.is_empty() {
            return None;
        }
        Some(decode_frame::<Response>(&answer, 16 * 1024 * 1024).expect("a valid response frame"))
    }

    async fn request(&self, req: &Request) -> Response {
        self.raw(&encode_frame(req)).await.expect("an answer")
    }

    async fn authenticate(&self, device: &SecretKey) -> Response {
        let Response::Challenge { nonce } = self.request(&Request::Challenge).await else {
            panic!("no challenge");
        };
        let mut exporter = [0u8; 32];
        self.conn
            .export_keying_material(&mut exporter, EXPORTER_LABEL, &nonce)
            .unwrap();
        let signature = device.sign(AUTH_DOMAIN, &auth_message(&nonce, &exporter));
        self.request(&Request::Authenticate {
            device: device.public_key(),
            signature,
        })
        .await
    }
}

#[track_caller]
fn assert_refused(r: &Response, code: ErrorCode) -> String {
    match r {
        Response::Error(e) if e.code == code => e.message.clone(),
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

async fn close_code(conn: &quinn::Connection) -> u64 {
    match conn.closed().await {
        quinn::ConnectionError::ApplicationClosed(c) => c.error_code.into_inner(),
        other => panic!("expected an application close, got {other}"),
    }
}

// ---------------------------------------------------------------- network

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn authority(country: &str, key: &SecretKey, root: &SecretKey) -> Signed<AuthorityCertificate> {
    Signed::sign(
        &AuthorityCertificate {
            country: CountryCode::parse(country).unwrap(),
            name: format!("{country} test authority"),
            key: key.public_key(),
            serial: 1,
            not_before: Timestamp(0),
            not_after: Timestamp(u64::MAX),
            revoked: false,
        },
        root,
    )
}

fn record(id: &str, version: u64, device: &SecretKey) -> FocalPointRecord {
    let id = DirectoryId::parse(id).unwrap();
    let keys = DeviceKeys {
        signing: device.public_key(),
        agreement: device.public_key().0,
    };
    FocalPointRecord {
        country: id.country(),
        id: id.clone(),
        version,
        name: "Officer".into(),
        agency: "Agency".into(),
        unit: "Unit".into(),
        roles: vec![],
        languages: vec!["en".into()],
        time_zone: "Asia/Bangkok".into(),
        working_hours: String::new(),
        notes: String::new(),
        identity_key: key(99).public_key(),
        device_endorsements: vec![liaison_protocol::directory::endorse_device(
            &key(99),
            &id,
            &keys,
        )],
        device_proofs: vec![Some(liaison_protocol::directory::prove_device(
            device,
            &id,
            &key(99).public_key(),
            &keys,
        ))],
        devices: vec![keys],
        not_before: Timestamp(0),
        not_after: Timestamp(u64::MAX),
        status: RecordStatus::Active,
        format: liaison_protocol::directory::RecordFormat::Proofs,
    }
}

fn prekey(device: &SecretKey, n: u8, fallback: bool) -> Prekey {
    let k = [n; 32];
    Prekey {
        device: device.public_key(),
        key: k,
        fallback,
        signature: device.sign(
            Prekey::DOMAIN,
            &Prekey::signed_bytes(&device.public_key(), &k, fallback),
        ),
    }
}

fn send(id: u8, from: &SecretKey, to: &[PublicKey]) -> Request {
    let message_id = MessageId([id; 16]);
    Request::Send {
        message_id,
        envelopes: to
            .iter()
            .map(|t| Envelope {
                message_id,
                sender_device: from.public_key(),
                recipient_device: *t,
                kind: OlmKind::PreKey,
                ciphertext: vec![id; 300],
            })
            .collect(),
        declare: vec![],
    }
}

struct Running {
    addr: SocketAddr,
    pin: [u8; 32],
    handle: RelayHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), RelayError>>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn start(root: &SecretKey, limits: Limits) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let mut config = RelayConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path().join("data"),
            root.public_key(),
        );
        config.limits = limits;
        let relay = Relay::bind(config).unwrap();
        let (addr, pin, handle) = (relay.local_addr(), relay.cert_sha256(), relay.handle());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(relay.serve(async move {
            let _ = stopped.await;
        }));
        Running {
            addr,
            pin,
            handle,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    async fn client(&self) -> Client {
        connect(self.addr, self.pin).await
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

fn test_limits() -> Limits {
    Limits {
        max_frame: 64 * 1024,
        max_envelopes_per_message: 4,
        // Long enough that a slow machine never closes the test's
        // unauthenticated connections; the timeout has its own test.
        auth_timeout_secs: 3600,
        ..Limits::default()
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_are_refused_and_the_relay_keeps_serving() {
    let root = key(1);
    let relay = Running::start(&root, test_limits()).await;
    let c = relay.client().await;

    // Garbage: its first four bytes read as a length of ~1.2 GB.
    let r = c.raw(b"GARBAGE, not a frame at all").await.unwrap();
    assert_refused(&r, ErrorCode::FrameTooLarge);
    // Garbage of a plausible length: unknown format version.
    let r = c.raw(&[0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef]).await.unwrap();
    assert_refused(&r, ErrorCode::Malformed);
    // Right version, body is not a request.
    let r = c.raw(&[0, 0, 0, 2, 1, 0xff]).await.unwrap();
    assert_refused(&r, ErrorCode::Malformed);
    // Length prefix 0xFFFFFFFF.
    let r = c.raw(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).await.unwrap();
    assert_refused(&r, ErrorCode::FrameTooLarge);

    // Truncated frames: in the body, in the length, and an empty stream.
    let ping = encode_frame(&Request::Ping);
    let m = assert_refused(
        &c.raw(&ping[..ping.len() - 1]).await.unwrap(),
        ErrorCode::Malformed,
    );
    assert!(m.contains("truncated"), "{m}");
    let m = assert_refused(&c.raw(&ping[..2]).await.unwrap(), ErrorCode::Malformed);
    assert!(m.contains("truncated"), "{m}");
    assert_refused(&c.raw(&[]).await.unwrap(), ErrorCode::Malformed);
    // Trailing bytes after a valid frame.
    let mut trailing = ping.clone();
    trailing.extend_from_slice(&encode_frame(&Request::Ping));
    assert_refused(&c.raw(&trailing).await.unwrap(), ErrorCode::Malformed);

    // A real frame above max_frame (64 KiB here).
    let big = Request::Send {
        message_id: MessageId([1; 16]),
        envelopes: vec![Envelope {
            message_id: MessageId([1; 16]),
            sender_device: key(2).public_key(),
            recipient_device: key(3).public_key(),
            kind: OlmKind::Normal,
            ciphertext: vec![0; 100 * 1024],
        }],
        declare: vec![],
    };
    let r = c.raw(&encode_frame(&big)).await.unwrap();
    assert_refused(&r, ErrorCode::FrameTooLarge);

    // Requests that need a device, without authentication.
    let r = c.request(&send(1, &key(2), &[key(3).public_key()])).await;
    assert_refused(&r, ErrorCode::Unauthenticated);
    for req in [
        Request::Fetch {
            after: 0,
            limit: 10,
        },
        Request::GetDirectory,
        Request::Ack { seqs: vec![1] },
        Request::PrekeyCount,
        Request::Subscribe,
    ] {
        assert_refused(&c.request(&req).await, ErrorCode::Unauthenticated);
    }

    // Authenticate without a challenge.
    let r = c
        .request(&Request::Authenticate {
            device: key(2).public_key(),
            signature: key(2).sign(AUTH_DOMAIN, b"anything"),
        })
        .await;
    assert_refused(&r, ErrorCode::AuthFailed);
    // A bad signature: signed by another key than the device claimed.
    let Response::Challenge { nonce } = c.request(&Request::Challenge).await else {
        panic!("no challenge")
    };
    let mut exporter = [0u8; 32];
    c.conn
        .export_keying_material(&mut exporter, EXPORTER_LABEL, &nonce)
        .unwrap();
    let msg = auth_message(&nonce, &exporter);
    let r = c
        .request(&Request::Authenticate {
            device: key(2).public_key(),
            signature: key(3).sign(AUTH_DOMAIN, &msg),
        })
        .await;
    assert_refused(&r, ErrorCode::AuthFailed);
    // The nonce was single-use: even a correct signature over it now fails.
    let r = c
        .request(&Request::Authenticate {
            device: key(2).public_key(),
            signature: key(2).sign(AUTH_DOMAIN, &msg),
        })
        .await;
    assert_refused(&r, ErrorCode::AuthFailed);
    // A valid signature by a device no record lists.
    let m = assert_refused(&c.authenticate(&key(2)).await, ErrorCode::UnknownDevice);
    assert!(
        m.contains(&key(2).public_key().fingerprint().to_string()),
        "{m}"
    );
    assert_refused(
        &c.request(&Request::Fetch { after: 0, limit: 1 }).await,
        ErrorCode::Unauthenticated,
    );

    // Deterministic pseudo-random junk: never a crash, always an error or a
    // closed stream.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..100usize {
        let len = i % 40;
        let mut junk = Vec::with_capacity(len);
        for _ in 0..len {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            junk.push((state >> 33) as u8);
        }
        if i % 3 == 0 && junk.len() >= 5 {
            // Make the length plausible so the body decoder gets exercised.
            let body = (junk.len() - 4) as u32;
            junk[..4].copy_from_slice(&body.to_be_bytes());
            junk[4] = 1;
        }
        if let Some(r) = c.raw(&junk).await {
            assert!(matches!(r, Response::Error(_)), "junk {i} answered {r:?}");
        }
    }

    // Still serving, on this connection and on a new one.
    assert!(matches!(
        c.request(&Request::Ping).await,
        Response::Pong { .. }
    ));
    let c2 = relay.client().await;
    assert!(matches!(
        c2.request(&Request::Ping).await,
        Response::Pong { .. }
    ));
    // A client pinning another certificate cannot connect.
    let mut wrong = relay.pin;
    wrong[0] ^= 1;
    assert!(connect_raw(relay.addr, wrong).await.is_err());
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolled_devices_exchange_envelopes() {
    let root = key(1);
    let (th, ph) = (key(10), key(11));
    let (alice_dev, bob_dev, mallory_dev) = (key(20), key(21), key(22));
    let relay = Running::start(&root, test_limits()).await;
    let admin = relay.client().await;

    // Authorities: only the root's signature counts.
    assert_refused(
        &admin
            .request(&Request::PublishAuthority(authority("TH", &th, &key(66))))
            .await,
        ErrorCode::InvalidSignature,
    );
    for cert in [authority("TH", &th, &root), authority("PH", &ph, &root)] {
        assert_eq!(
            admin.request(&Request::PublishAuthority(cert)).await,
            Response::Ok
        );
    }

    // Records, each signed by its own country's authority.
    let alice = Signed::sign(&record("th.dsi.alice", 1, &alice_dev), &th);
    let alice_prekeys = vec![prekey(&alice_dev, 1, false), prekey(&alice_dev, 2, true)];
    let publish_alice = Request::PublishRecord {
        record: alice.clone(),
        prekeys: alice_prekeys,
    };
    assert_eq!(admin.request(&publish_alice).await, Response::Ok);
    assert_eq!(
        admin.request(&publish_alice).await,
        Response::Ok,
        "idempotent"
    );
    let bob_prekeys = vec![prekey(&bob_dev, 3, false), prekey(&bob_dev, 4, true)];
    let publish_bob = Request::PublishRecord {
        record: Signed::sign(&record("ph.pnp.bob", 1, &bob_dev), &ph),
        prekeys: bob_prekeys.clone(),
    };
    assert_eq!(admin.request(&publish_bob).await, Response::Ok);

    // A Thai record signed by the Philippine authority is refused by rule.
    let forged = Request::PublishRecord {
        record: Signed::sign(&record("th.dsi.mallory", 1, &mallory_dev), &ph),
        prekeys: vec![],
    };
    let m = assert_refused(&admin.request(&forged).await, ErrorCode::InvalidRecord);
    assert!(m.contains("own country"), "{m}");
    // A record signed by an uncertified key.
    let rogue = Request::PublishRecord {
        record: Signed::sign(&record("th.dsi.mallory", 1, &mallory_dev), &key(67)),
        prekeys: vec![],
    };
    assert_refused(&admin.request(&rogue).await, ErrorCode::InvalidSignature);
    // A record claiming another focal point's device.
    let capture = Request::PublishRecord {
        record: Signed::sign(&record("th.dsi.mallory", 1, &bob_dev), &th),
        prekeys: vec![],
    };
    let m = assert_refused(&admin.request(&capture).await, ErrorCode::InvalidRecord);
    assert!(m.contains("ph.pnp.bob"), "{m}");
    // A different record at the same version.
    let mut other = record("th.dsi.alice", 1, &alice_dev);
    other.name = "Not Alice".into();
    let stale = Request::PublishRecord {
        record: Signed::sign(&other, &th),
        prekeys: vec![],
    };
    assert_refused(&admin.request(&stale).await, ErrorCode::StaleVersion);
    // A prekey for a device the record does not list.
    let foreign = Request::PublishRecord {
        record: Signed::sign(&record("th.dsi.alice", 2, &alice_dev), &th),
        prekeys: vec![prekey(&mallory_dev, 5, false)],
    };
    assert_refused(&admin.request(&foreign).await, ErrorCode::InvalidRecord);

    // Alice authenticates.
    let a = relay.client().await;
    assert_eq!(
        a.authenticate(&alice_dev).await,
        Response::Authenticated {
            id: DirectoryId::parse("th.dsi.alice").unwrap()
        }
    );
    match a.request(&Request::GetDirectory).await {
        Response::Directory {
            authorities,
            records,
            ..
        } => {
            assert_eq!(authorities.len(), 2);
            assert_eq!(records.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    // Bob's one-time key once, then his fallback key.
    let claim = Request::ClaimPrekey {
        device: bob_dev.public_key(),
    };
    assert_eq!(
        a.request(&claim).await,
        Response::Prekey(bob_prekeys[0].clone())
    );
    assert_eq!(
        a.request(&claim).await,
        Response::Prekey(bob_prekeys[1].clone())
    );
    assert_eq!(
        a.request(&claim).await,
        Response::Prekey(bob_prekeys[1].clone())
    );
    assert_refused(
        &a.request(&Request::ClaimPrekey {
            device: mallory_dev.public_key(),
        })
        .await,
        ErrorCode::UnknownRecipient,
    );
    assert_eq!(
        a.request(&Request::PrekeyCount).await,
        Response::PrekeyCount {
            one_time: 1,
            fallback: true
        }
    );

    // Sends.
    let to_bob = send(1, &alice_dev, &[bob_dev.public_key()]);
    assert_eq!(
        a.request(&to_bob).await,
        Response::Accepted {
            message_id: MessageId([1; 16]),
            duplicate: false
        }
    );
    assert_eq!(
        a.request(&to_bob).await,
        Response::Accepted {
            message_id: MessageId([1; 16]),
            duplicate: true
        }
    );
    // Claiming to send from another device.
    assert_refused(
        &a.request(&send(2, &bob_dev, &[alice_dev.public_key()]))
            .await,
        ErrorCode::Forbidden,
    );
    // An unknown recipient refuses the whole message, naming the device.
    let m = assert_refused(
        &a.request(&send(
            3,
            &alice_dev,
            &[bob_dev.public_key(), mallory_dev.public_key()],
        ))
        .await,
        ErrorCode::UnknownRecipient,
    );
    assert!(
        m.contains(&mallory_dev.public_key().fingerprint().to_string()),
        "{m}"
    );
    let five: Vec<PublicKey> = (30..35).map(|n| key(n).public_key()).collect();
    assert_refused(
        &a.request(&send(4, &alice_dev, &five)).await,
        ErrorCode::TooManyEnvelopes,
    );

    // Bob subscribes, then Alice sends again: it is pushed.
    let b = relay.client().await;
    assert!(matches!(
        b.authenticate(&bob_dev).await,
        Response::Authenticated { .. }
    ));
    let (mut sub_send, mut sub_recv) = b.conn.open_bi().await.unwrap();
    sub_send
        .write_all(&encode_frame(&Request::Subscribe))
        .await
        .unwrap();
    sub_send.finish().unwrap();
    while relay.handle.subscribers() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(matches!(
        a.request(&send(5, &alice_dev, &[bob_dev.public_key()]))
            .await,
        Response::Accepted {
            duplicate: false,
            ..
        }
    ));
    let mut header = [0u8; 4];
    sub_recv.read_exact(&mut header).await.unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
    sub_recv.read_exact(&mut body).await.unwrap();
    let mut frame = header.to_vec();
    frame.extend_from_slice(&body);
    let pushed: Queued = match decode_frame::<Response>(&frame, 1 << 20).unwrap() {
        Response::Push(q) => q,
        other => panic!("{other:?}"),
    };
    assert_eq!(pushed.seq, 2);
    assert_eq!(pushed.envelope.message_id, MessageId([5; 16]));
    assert_eq!(pushed.envelope.sender_device, alice_dev.public_key());

    // Bob fetches both (the first was sent before he subscribed), acks them.
    let Response::Messages { items, more } = b
        .request(&Request::Fetch {
            after: 0,
            limit: 10,
        })
        .await
    else {
        panic!("no messages")
    };
    assert!(!more);
    assert_eq!(items.iter().map(|q| q.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(items[0].envelope.ciphertext, vec![1u8; 300]);
    assert_eq!(items[1], pushed);
    let Response::Messages { items, more } =
        b.request(&Request::Fetch { after: 0, limit: 1 }).await
    else {
        panic!("no messages")
    };
    assert_eq!(items.len(), 1);
    assert!(more);
    // Alice acking Bob's sequence numbers deletes nothing of Bob's.
    assert_eq!(
        a.request(&Request::Ack { seqs: vec![1, 2] }).await,
        Response::Ok
    );
    let Response::Messages { items, .. } = b
        .request(&Request::Fetch {
            after: 0,
            limit: 10,
        })
        .await
    else {
        panic!("no messages")
    };
    assert_eq!(items.len(), 2);
    assert_eq!(
        b.request(&Request::Ack { seqs: vec![1, 2] }).await,
        Response::Ok
    );
    assert_eq!(
        b.request(&Request::Ack { seqs: vec![1, 2] }).await,
        Response::Ok
    );
    assert_eq!(
        b.request(&Request::Fetch {
            after: 0,
            limit: 10
        })
        .await,
        Response::Messages {
            items: vec![],
            more: false
        }
    );

    assert!(relay.handle.commit_stats().commits() >= 2);

    // Graceful shutdown: connections are closed with "shutting down" (504).
    let conn = b.conn.clone();
    relay.shutdown().await;
    assert_eq!(
        close_code(&conn).await,
        u64::from(ErrorCode::ShuttingDown.code())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_and_authentication_timeout() {
    let root = key(1);
    let limits = Limits {
        max_connections: 1,
        auth_timeout_secs: 1,
        ..Limits::default()
    };
    let relay = Running::start(&root, limits).await;
    let first = relay.client().await;
    assert!(matches!(
        first.request(&Request::Ping).await,
        Response::Pong { .. }
    ));
    // The second connection is told why it cannot stay.
    let code = match connect_raw(relay.addr, relay.pin).await {
        Ok(second) => close_code(&second.conn).await,
        Err(e) => {
            assert!(e.to_string().contains("503"), "{e}");
            503
        }
    };
    assert_eq!(code, u64::from(ErrorCode::TooManyConnections.code()));
    // The first never authenticates, so it is closed.
    assert_eq!(
        close_code(&first.conn).await,
        u64::from(ErrorCode::Unauthenticated.code())
    );
    relay.shutdown().await;
}
