//! Hostile input against a real relay process: garbage, truncated frames,
//! oversized length prefixes, unauthenticated and forged requests. Each gets
//! an error frame or a closed stream; the relay stays up and legitimate
//! clients keep working.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use liaison_protocol::frames::{
    AUTH_DOMAIN, EXPORTER_LABEL, ErrorCode, Request, Response, auth_message, decode_frame,
    encode_frame,
};
use liaison_protocol::message::{Envelope, OlmKind};
use liaison_protocol::{MessageId, PublicKey, SecretKey};
use liaison_tests::{DevNet, assert_success};

#[derive(Debug, PartialEq)]
enum Outcome {
    Refused(ErrorCode),
    Closed,
    Answered(Response),
}

/// Write raw bytes on a new stream and classify what comes back.
async fn exchange(conn: &quinn::Connection, bytes: &[u8]) -> Outcome {
    let Ok((mut send, mut recv)) = conn.open_bi().await else {
        return Outcome::Closed;
    };
    if send.write_all(bytes).await.is_err() {
        return Outcome::Closed;
    }
    let _ = send.finish();
    match recv.read_to_end(64 << 20).await {
        Ok(b) if b.is_empty() => Outcome::Closed,
        Ok(b) => match decode_frame::<Response>(&b, 64 << 20) {
            Ok(Response::Error(e)) => Outcome::Refused(e.code),
            Ok(r) => Outcome::Answered(r),
            Err(e) => panic!("relay sent an undecodable frame: {e}"),
        },
        Err(_) => Outcome::Closed,
    }
}

fn refused_or_closed(o: &Outcome, codes: &[ErrorCode]) -> bool {
    match o {
        Outcome::Closed => true,
        Outcome::Refused(c) => codes.contains(c),
        Outcome::Answered(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_survives_hostile_streams() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let conn = net.raw_connect().await;

    // Garbage.
    let o = exchange(&conn, b"GET / HTTP/1.1\r\nHost: relay\r\n\r\n").await;
    assert!(
        refused_or_closed(&o, &[ErrorCode::Malformed, ErrorCode::FrameTooLarge]),
        "{o:?}"
    );
    // A length prefix promising more than is sent.
    let mut truncated = encode_frame(&Request::Fetch { after: 0, limit: 5 });
    truncated.truncate(truncated.len() - 2);
    let o = exchange(&conn, &truncated).await;
    assert!(refused_or_closed(&o, &[ErrorCode::Malformed]), "{o:?}");
    // An absurd length prefix.
    let o = exchange(&conn, &[0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]).await;
    assert!(
        refused_or_closed(&o, &[ErrorCode::FrameTooLarge, ErrorCode::Malformed]),
        "{o:?}"
    );
    // A real frame above the size limit (2 MiB of envelope).
    let big = Request::Send {
        message_id: MessageId([1; 16]),
        envelopes: vec![Envelope {
            message_id: MessageId([1; 16]),
            sender_device: PublicKey([2; 32]),
            recipient_device: PublicKey([3; 32]),
            kind: OlmKind::Normal,
            ciphertext: vec![0x42; 2 << 20],
        }],
        declare: vec![],
    };
    let o = exchange(&conn, &encode_frame(&big)).await;
    assert!(refused_or_closed(&o, &[ErrorCode::FrameTooLarge]), "{o:?}");
    // A valid frame followed by trailing junk.
    let mut trailing = encode_frame(&Request::Ping);
    trailing.extend_from_slice(b"junk");
    let o = exchange(&conn, &trailing).await;
    assert!(refused_or_closed(&o, &[ErrorCode::Malformed]), "{o:?}");
    // Empty stream.
    let o = exchange(&conn, b"").await;
    assert!(refused_or_closed(&o, &[ErrorCode::Malformed]), "{o:?}");

    // Unauthenticated requests that need a device.
    for req in [
        Request::Fetch {
            after: 0,
            limit: 10,
        },
        Request::GetDirectory,
        Request::Ack { seqs: vec![1] },
        Request::ClaimPrekey {
            device: PublicKey([9; 32]),
        },
        Request::Send {
            message_id: MessageId([5; 16]),
            envelopes: vec![],
            declare: vec![],
        },
    ] {
        let o = exchange(&conn, &encode_frame(&req)).await;
        assert_eq!(o, Outcome::Refused(ErrorCode::Unauthenticated), "{req:?}");
    }

    // Authenticate without a challenge, with a bad signature, and as a
    // device that is not in the directory.
    let stranger = SecretKey::from_seed(&[0x5a; 32]);
    let no_challenge = Request::Authenticate {
        device: stranger.public_key(),
        signature: stranger.sign(AUTH_DOMAIN, b"anything"),
    };
    let o = exchange(&conn, &encode_frame(&no_challenge)).await;
    assert!(
        refused_or_closed(&o, &[ErrorCode::AuthFailed, ErrorCode::UnknownDevice]),
        "{o:?}"
    );

    let nonce = match exchange(&conn, &encode_frame(&Request::Challenge)).await {
        Outcome::Answered(Response::Challenge { nonce }) => nonce,
        o => panic!("{o:?}"),
    };
    let mut exporter = [0u8; 32];
    conn.export_keying_material(&mut exporter, EXPORTER_LABEL, &nonce)
        .unwrap();
    let bad = Request::Authenticate {
        device: stranger.public_key(),
        signature: stranger.sign(AUTH_DOMAIN, &auth_message(&nonce, &[0u8; 32])),
    };
    let o = exchange(&conn, &encode_frame(&bad)).await;
    assert!(
        refused_or_closed(&o, &[ErrorCode::AuthFailed, ErrorCode::UnknownDevice]),
        "{o:?}"
    );

    let nonce = match exchange(&conn, &encode_frame(&Request::Challenge)).await {
        Outcome::Answered(Response::Challenge { nonce }) => nonce,
        o => panic!("{o:?}"),
    };
    conn.export_keying_material(&mut exporter, EXPORTER_LABEL, &nonce)
        .unwrap();
    let unknown = Request::Authenticate {
        device: stranger.public_key(),
        signature: stranger.sign(AUTH_DOMAIN, &auth_message(&nonce, &exporter)),
    };
    let o = exchange(&conn, &encode_frame(&unknown)).await;
    assert!(refused_or_closed(&o, &[ErrorCode::UnknownDevice]), "{o:?}");

    // A burst of concurrent garbage streams on fresh connections.
    let mut handles = Vec::new();
    for i in 0..20u8 {
        let c = net.raw_connect().await;
        handles.push(tokio::spawn(async move {
            for j in 0..5u8 {
                let junk: Vec<u8> = (0..64u8)
                    .map(|k| k.wrapping_mul(i).wrapping_add(j))
                    .collect();
                let _ = exchange(&c, &junk).await;
            }
            c.close(0u32.into(), b"");
            c.endpoint.wait_idle().await;
        }));
    }
    for h in handles {
        h.await.unwrap();
    }

    // Still up: Ping answers, and a legitimate exchange works end to end.
    let conn2 = net.raw_connect().await;
    assert!(matches!(
        exchange(&conn2, &encode_frame(&Request::Ping)).await,
        Outcome::Answered(Response::Pong { .. })
    ));
    assert_success(
        &alice.run(&["send", "--to", "ph.pnp.bob", "after the storm"]),
        "send",
    );
    assert_success(&bob.run(&["sync"]), "sync");
    let id = bob.inbox()[0]["id"].as_str().unwrap().to_owned();
    let out = bob.run(&["read", &id, "--accept", "--json"]);
    assert_success(&out, "read --accept");
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["message"]["text"], "after the storm");
}
