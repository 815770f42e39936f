//! Role handover against a misbehaving focal point: a handover cannot put
//! other people's messages, verified, into a third person's inbox; it goes
//! only to a current holder of the role; and a conversation id does not pull
//! other messages into it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use liaison_client::client::{Direction, Faults, MessageKind, now};
use liaison_client::core::handover::HandoverError;
use liaison_client::error::ClientError;
use liaison_client::{Client, StoredMessage};
use liaison_protocol::directory::RoleRecord;
use liaison_protocol::frames::{Request, Response};
use liaison_protocol::handling::Handling;
use liaison_protocol::message::Content;
use liaison_protocol::{DirectoryId, MessageId, Signed, Timestamp};
use liaison_tests::{DevNet, Person, inproc, output_text};

const ROLE: &str = "th.dsi.tip-duty";

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

fn red() -> Handling {
    Handling::parse_text("RED").unwrap()
}

async fn publish_role(net: &DevNet, version: u64, holders: &[&str]) {
    let auth = inproc::authority(net, "TH");
    let r = RoleRecord {
        id: id(ROLE),
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

async fn sync(c: &mut Client) -> Vec<StoredMessage> {
    c.connect().await.unwrap();
    let report = c.sync().await.unwrap();
    c.disconnect().await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    report.received
}

/// Somchai (TH), Niran (TH), Eve (TH) and Bob (PH); the role names Somchai.
async fn people(net: &DevNet) -> (Client, Client, Client, Client) {
    let somchai = inproc::enrol(net, "somchai", "th.dsi.somchai", "DSI")
        .await
        .unwrap();
    let niran = inproc::enrol(net, "niran", "th.dsi.niran", "DSI")
        .await
        .unwrap();
    let eve = inproc::enrol(net, "eve", "th.dsi.eve", "DSI")
        .await
        .unwrap();
    let bob = inproc::enrol(net, "bob", "ph.pnp.bob", "PNP")
        .await
        .unwrap();
    publish_role(net, 1, &["th.dsi.somchai"]).await;
    (somchai, niran, eve, bob)
}

/// Somchai received a RED message from Bob, addressed to him in person. He
/// crafts a handover package carrying it, for the role, and sends it to
/// Eve (who does not hold the role) and to Niran (who does): neither takes
/// it as verified, and the copy kept apart does not occupy the message's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_handover_cannot_inject_a_personal_message() {
    let net = DevNet::start();
    let (mut somchai, mut niran, mut eve, mut bob) = people(&net).await;
    bob.connect().await.unwrap();
    let red_id = bob
        .send(&[id("th.dsi.somchai")], "the informant's name", red())
        .await
        .unwrap();
    bob.disconnect().await;
    sync(&mut somchai).await;
    let red_payload = somchai.message(red_id).unwrap().unwrap().signed_payload;
    publish_role(&net, 2, &["th.dsi.niran"]).await;

    somchai.connect().await.unwrap();
    for to in ["th.dsi.eve", "th.dsi.niran"] {
        let faults = Faults {
            content: Some(Content::Handover {
                role: id(ROLE),
                messages: vec![red_payload.clone()],
            }),
            ..Faults::default()
        };
        somchai
            .send_with_faults(&[id(to)], "handover", Handling::default(), None, faults)
            .await
            .unwrap();
    }
    somchai.disconnect().await;

    for (who, reason) in [
        (&mut eve, "which you do not hold"),
        (&mut niran, "not addressed to role th.dsi.tip-duty"),
    ] {
        sync(who).await;
        let inbox = who.inbox().unwrap();
        let handed: Vec<&StoredMessage> =
            inbox.iter().filter(|m| m.via_handover.is_some()).collect();
        assert_eq!(handed.len(), 1, "{inbox:?}");
        let m = handed[0];
        assert_eq!(m.id, red_id);
        assert!(!m.verified, "{m:?}");
        assert!(m.text.is_empty(), "{m:?}");
        assert!(
            m.error.as_deref().is_some_and(|e| e.contains(reason)),
            "{:?}",
            m.error
        );
        // Kept apart: the message's own id stays free for the genuine one.
        assert!(who.message(red_id).unwrap().is_none());
    }
}

/// `handover --to` someone who does not hold the role is refused before
/// anything is encrypted: no message is stored, queued or received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handover_to_someone_without_the_role_is_refused_before_encrypting() {
    let net = DevNet::start();
    let (mut somchai, _niran, mut eve, mut bob) = people(&net).await;
    bob.connect().await.unwrap();
    bob.send(&[id(ROLE)], "a case for the duty desk", red())
        .await
        .unwrap();
    bob.disconnect().await;
    sync(&mut somchai).await;
    publish_role(&net, 2, &["th.dsi.niran"]).await;

    let before = somchai.messages().unwrap().len();
    somchai.connect().await.unwrap();
    let err = somchai
        .send_handover(&id(ROLE), &id("th.dsi.eve"))
        .await
        .unwrap_err();
    somchai.disconnect().await;
    assert!(
        matches!(err, ClientError::Handover(HandoverError::NotAHolder { .. })),
        "{err:#}"
    );
    assert!(
        err.to_string()
            .contains("th.dsi.eve does not hold role th.dsi.tip-duty"),
        "{err}"
    );
    assert_eq!(somchai.messages().unwrap().len(), before);
    assert!(
        !somchai
            .messages()
            .unwrap()
            .iter()
            .any(|m| m.direction == Direction::Out && m.kind == MessageKind::Handover)
    );
    assert_eq!(somchai.outbox_len().unwrap(), 0);
    assert!(sync(&mut eve).await.is_empty());

    // The same through `liaison handover`.
    drop(somchai);
    let person = Person {
        home: net.dir.path().join("homes").join("somchai"),
    };
    let out = person.run(&["handover", "--role", ROLE, "--to", "th.dsi.eve"]);
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains(
            "th.dsi.eve does not hold role th.dsi.tip-duty in the verified directory, \
             so nothing was sent"
        ),
        "{}",
        output_text(&out)
    );
    assert!(sync(&mut eve).await.is_empty());
}

/// A message addressed to Somchai in person shares its conversation id with
/// a message to the role (whoever wrote to the role reused it): Somchai's
/// honest handover to Niran carries the role's message only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_id_does_not_pull_other_messages_into_a_handover() {
    let net = DevNet::start();
    let (mut somchai, mut niran, _eve, mut bob) = people(&net).await;
    bob.connect().await.unwrap();
    let personal = bob
        .send(&[id("th.dsi.somchai")], "for you only", red())
        .await
        .unwrap();
    let conversation = bob.message(personal).unwrap().unwrap().conversation;
    let to_role = bob
        .send_in(&[id(ROLE)], "for the duty desk", red(), Some(conversation))
        .await
        .unwrap();
    bob.disconnect().await;
    assert_eq!(sync(&mut somchai).await.len(), 2);
    publish_role(&net, 2, &["th.dsi.niran"]).await;

    somchai.connect().await.unwrap();
    let (_, n) = somchai
        .send_handover(&id(ROLE), &id("th.dsi.niran"))
        .await
        .unwrap();
    somchai.disconnect().await;
    assert_eq!(n, 1);
    sync(&mut niran).await;
    let handed: Vec<MessageId> = niran
        .inbox()
        .unwrap()
        .iter()
        .filter(|m| m.via_handover.is_some())
        .map(|m| m.id)
        .collect();
    assert_eq!(handed, vec![to_role]);
    let m = niran.message(to_role).unwrap().unwrap();
    assert!(m.verified, "{m:?}");
    assert!(niran.message(personal).unwrap().is_none());
}
