//! Who may read a message's events from the relay: its sender all of them;
//! each recipient the acceptance, what happened to its own copy, and the
//! declarations it or the sender made, never the other recipients'
//! deliveries, acknowledgements or receipts; anyone else nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use liaison_client::Client;
use liaison_protocol::frames::{Request, Response};
use liaison_protocol::handling::Handling;
use liaison_protocol::log::event::{DisclosedEvent, EventKind};
use liaison_protocol::{DirectoryId, MessageId, PublicKey, Wire};
use liaison_tests::{DevNet, inproc};

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

/// The events of `m` that `c` is given: (kind, device it concerns).
async fn events(c: &mut Client, m: MessageId) -> Result<Vec<(String, Option<PublicKey>)>, String> {
    c.connect().await.unwrap();
    let r = c
        .conn_request(&Request::GetMessageEvents { message_id: m })
        .await;
    c.disconnect().await;
    match r {
        Ok(Response::MessageEvents { events }) => Ok(events
            .iter()
            .map(|e| {
                let k = DisclosedEvent::decode(&e.event)
                    .unwrap()
                    .decode_record()
                    .unwrap()
                    .kind;
                let device = match &k {
                    EventKind::Delivered {
                        recipient_device, ..
                    }
                    | EventKind::Acknowledged {
                        recipient_device, ..
                    } => Some(*recipient_device),
                    EventKind::Declared { by_device, .. } => Some(*by_device),
                    _ => None,
                };
                (k.name().to_owned(), device)
            })
            .collect()),
        Ok(other) => Err(format!("{other:?}")),
        Err(e) => Err(format!("{e:#}")),
    }
}

async fn sync(c: &mut Client) {
    c.connect().await.unwrap();
    c.sync().await.unwrap();
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_do_not_see_each_others_deliveries() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let mut carol = inproc::enrol(&net, "carol", "th.dsi.carol", "DSI")
        .await
        .unwrap();
    let mut dave = inproc::enrol(&net, "dave", "th.dsi.dave", "DSI")
        .await
        .unwrap();
    alice.connect().await.unwrap();
    let m = alice
        .send(
            &[id("ph.pnp.bob"), id("th.dsi.carol")],
            "to both",
            Handling::default(),
        )
        .await
        .unwrap();
    alice.disconnect().await;
    sync(&mut bob).await;
    sync(&mut carol).await;
    sync(&mut alice).await;

    let (bob_dev, carol_dev) = (bob.device_key(), carol.device_key());
    let all = events(&mut alice, m).await.unwrap();
    for (kind, who) in [
        ("delivered", bob_dev),
        ("delivered", carol_dev),
        ("acknowledged", carol_dev),
    ] {
        assert!(
            all.contains(&(kind.to_owned(), Some(who))),
            "sender misses {kind}: {all:?}"
        );
    }
    let bobs = events(&mut bob, m).await.unwrap();
    assert!(bobs.iter().any(|(k, _)| k == "accepted"), "{bobs:?}");
    assert!(
        bobs.contains(&("delivered".to_owned(), Some(bob_dev))),
        "{bobs:?}"
    );
    assert!(
        bobs.iter().all(|(_, who)| *who != Some(carol_dev)),
        "bob learns about carol's copy: {bobs:?}"
    );
    // Someone who was not a recipient gets nothing.
    let err = events(&mut dave, m).await.unwrap_err();
    assert!(err.contains("only the sender and the recipients"), "{err}");
}
