#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use liaison_protocol::case::{CaseAction, CaseChange, CaseInfo};
use liaison_protocol::handling::Handling;
use liaison_protocol::message::{Content, Payload, SignedPayload, payload_hash};
use liaison_protocol::{ConversationId, DirectoryId, MessageId, Signed, Timestamp};

use super::*;
use crate::core::testing::key;

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

const CASE: ConversationId = ConversationId([9; 16]);

/// The role `th.role.duty` is held by `th.dsi.dan`.
fn holds(role: &DirectoryId, who: &DirectoryId) -> bool {
    role.as_str() == "th.role.duty" && who.as_str() == "th.dsi.dan"
}

fn me(who: &'static str) -> impl Fn(&DirectoryId) -> bool {
    move |m: &DirectoryId| m.as_str() == who || holds(m, &id(who))
}

fn payload(from: &str, n: u8, content: Content) -> Payload {
    Payload {
        message_id: MessageId([n; 16]),
        sender: id(from),
        sender_device: key(11).public_key(),
        recipients: vec![id("ph.nbi.bob")],
        resolved: vec![id("ph.nbi.bob")],
        conversation_id: CASE,
        created_at: Timestamp(1_000 + u64::from(n)),
        handling: Handling::default(),
        body: String::new(),
        content,
        attachments: Vec::new(),
        checkpoints: Vec::new(),
    }
}

/// A case change signed by `key(n)`, with the hash of its signed payload.
fn signed(p: &Payload, n: u8) -> [u8; 32] {
    payload_hash(&Signed::sign(p, &key(n)))
}

fn info(members: &[&str]) -> CaseInfo {
    CaseInfo {
        title: "Pier 7 boat".into(),
        reference: Some("TH-2026-114".into()),
        handling: Handling::default(),
        owner: id("th.dsi.alice"),
        members: members.iter().map(|m| id(m)).collect(),
    }
}

fn change(seq: u32, previous: [u8; 32], action: CaseAction, members: &[&str]) -> Content {
    Content::Case(CaseChange {
        seq,
        previous,
        action,
        case: info(members),
    })
}

/// Alice opens the case with Bob and the duty role: the opening payload
/// and its hash.
fn opening() -> (Payload, [u8; 32]) {
    let p = payload(
        "th.dsi.alice",
        1,
        change(
            0,
            [0; 32],
            CaseAction::Open,
            &["th.dsi.alice", "ph.nbi.bob", "th.role.duty"],
        ),
    );
    let h = signed(&p, 10);
    (p, h)
}

fn text(from: &str, n: u8) -> Payload {
    payload(from, n, Content::Text)
}

#[test]
fn an_opened_case_knows_its_members_and_whom_to_send_to() {
    let (open, h0) = opening();
    let mut bob = CaseBook::default();
    let case = bob.apply(&open, h0, &me("ph.nbi.bob")).unwrap();
    assert_eq!((case.seq, case.joined_seq, case.head), (0, 0, h0));
    assert!(case.is_member(&id("th.dsi.alice"), &holds));
    assert!(
        case.is_member(&id("th.dsi.dan"), &holds),
        "a holder of a member role is a member"
    );
    assert!(!case.is_member(&id("vn.c03.carol"), &holds));
    assert_eq!(
        case.recipients(&id("ph.nbi.bob")),
        vec![id("th.dsi.alice"), id("th.role.duty")]
    );
    // Members and the role holder may post.
    for from in ["th.dsi.alice", "th.dsi.dan"] {
        bob.check_message(&text(from, 5), &holds).unwrap();
    }
    // A home that is not among the members does not take the opening.
    let mut carol = CaseBook::default();
    assert_eq!(
        carol.apply(&open, h0, &me("vn.c03.carol")).unwrap_err(),
        CaseError::UnknownCase
    );
    // The book keeps across a store.
    let bytes = bob.encode().unwrap();
    assert_eq!(bytes[0], CASE_BOOK_FORMAT);
    assert_eq!(CaseBook::decode(&bytes).unwrap(), bob);
    assert!(CaseBook::decode(&[9, 0]).is_err());
}

/// Attack: Carol, who is not a member, posts into the case's
/// conversation. Her message is flagged with a plain reason.
#[test]
fn a_message_from_a_non_member_is_flagged() {
    let (open, h0) = opening();
    let mut bob = CaseBook::default();
    bob.apply(&open, h0, &me("ph.nbi.bob")).unwrap();
    let err = bob
        .check_message(&text("vn.c03.carol", 6), &holds)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "vn.c03.carol is not a member of case \"Pier 7 boat\" and cannot post to it; the message is not shown"
    );
    // Another conversation is not the case's business.
    let mut elsewhere = text("vn.c03.carol", 7);
    elsewhere.conversation_id = ConversationId([1; 16]);
    bob.check_message(&elsewhere, &holds).unwrap();
}

/// A member added later learns the case from the change that adds them,
/// and holds it from that change on; the sender addresses the newcomer only
/// from then on.
#[test]
fn a_member_added_later_holds_the_case_from_the_change_that_added_them() {
    let (open, h0) = opening();
    let mut bob = CaseBook::default();
    let before = bob
        .apply(&open, h0, &me("ph.nbi.bob"))
        .unwrap()
        .recipients(&id("th.dsi.alice"));
    assert!(!before.contains(&id("vn.c03.carol")));
    let add = payload(
        "th.dsi.alice",
        2,
        change(
            1,
            h0,
            CaseAction::Add(vec![id("vn.c03.carol")]),
            &["th.dsi.alice", "ph.nbi.bob", "th.role.duty", "vn.c03.carol"],
        ),
    );
    let h1 = signed(&add, 10);
    let case = bob.apply(&add, h1, &me("ph.nbi.bob")).unwrap();
    assert!(
        case.recipients(&id("th.dsi.alice"))
            .contains(&id("vn.c03.carol"))
    );
    assert_eq!(case.members_at(0).len(), 3);
    assert_eq!(case.members_at(1).len(), 4);

    let mut carol = CaseBook::default();
    let case = carol.apply(&add, h1, &me("vn.c03.carol")).unwrap();
    assert_eq!((case.seq, case.joined_seq), (1, 1));
    assert_eq!(case.members_at(0), Vec::<DirectoryId>::new());
    carol.check_message(&text("ph.nbi.bob", 8), &holds).unwrap();
}

/// Attack: Bob, a member but not the owner, adds Mallory, either signing
/// as himself with Alice named as owner, or naming himself owner.
#[test]
fn a_member_who_is_not_the_owner_cannot_change_the_case() {
    let (open, h0) = opening();
    let mut dan = CaseBook::default();
    dan.apply(&open, h0, &me("th.dsi.dan")).unwrap();
    let members = [
        "th.dsi.alice",
        "ph.nbi.bob",
        "th.role.duty",
        "kh.cnp.mallory",
    ];
    let add = change(1, h0, CaseAction::Add(vec![id("kh.cnp.mallory")]), &members);
    let by_bob = payload("ph.nbi.bob", 2, add);
    let err = dan
        .apply(&by_bob, signed(&by_bob, 20), &me("th.dsi.dan"))
        .unwrap_err();
    assert!(
        matches!(&err, CaseError::NotFromOwner { by, .. } if by.as_str() == "ph.nbi.bob"),
        "{err}"
    );
    let mut own = CaseChange {
        seq: 1,
        previous: h0,
        action: CaseAction::Add(vec![id("kh.cnp.mallory")]),
        case: info(&members),
    };
    own.case.owner = id("ph.nbi.bob");
    let as_owner = payload("ph.nbi.bob", 3, Content::Case(own));
    let err = dan
        .apply(&as_owner, signed(&as_owner, 20), &me("th.dsi.dan"))
        .unwrap_err();
    assert!(
        matches!(&err, CaseError::NotFromOwner { owner, .. } if owner.as_str() == "th.dsi.alice"),
        "{err}"
    );
    // Mallory's client refuses it too: she would hold a case owned by
    // Bob, never Alice's.
    let case = dan.get(&CASE).unwrap();
    assert_eq!(case.seq, 0);
    assert!(!case.is_member(&id("kh.cnp.mallory"), &holds));
}

/// Attack: a membership change forged by whoever carries it: Alice's
/// signed change altered (the signature no longer verifies), a change that
/// quietly drops a member it does not name, and one that does not name the
/// change before it.
#[test]
fn a_forged_membership_change_is_refused() {
    let (open, h0) = opening();
    let mut bob = CaseBook::default();
    bob.apply(&open, h0, &me("ph.nbi.bob")).unwrap();
    let add = payload(
        "th.dsi.alice",
        2,
        change(
            1,
            h0,
            CaseAction::Add(vec![id("vn.c03.carol")]),
            &["th.dsi.alice", "ph.nbi.bob", "th.role.duty", "vn.c03.carol"],
        ),
    );
    // Altered after signing: the payload's signature fails, so the change
    // never reaches the case book.
    let signed_add = Signed::sign(&add, &key(10));
    let mut altered = add.clone();
    altered.content = change(
        1,
        h0,
        CaseAction::Add(vec![id("kh.cnp.mallory")]),
        &[
            "th.dsi.alice",
            "ph.nbi.bob",
            "th.role.duty",
            "kh.cnp.mallory",
        ],
    );
    let forged = SignedPayload::from_parts(
        liaison_protocol::codec::encode_body(&altered),
        *signed_add.signer(),
        *signed_add.signature(),
    );
    assert!(forged.verify_by(&key(10).public_key()).is_err());

    // Signed by Alice, but dropping the duty role without saying so.
    let drops = payload(
        "th.dsi.alice",
        3,
        change(
            1,
            h0,
            CaseAction::Add(vec![id("vn.c03.carol")]),
            &["th.dsi.alice", "ph.nbi.bob", "vn.c03.carol"],
        ),
    );
    let err = bob
        .apply(&drops, signed(&drops, 10), &me("ph.nbi.bob"))
        .unwrap_err();
    assert!(matches!(err, CaseError::Inconsistent { .. }), "{err}");
    // Not following the change held.
    let stray = payload(
        "th.dsi.alice",
        4,
        change(
            1,
            [5; 32],
            CaseAction::Add(vec![id("vn.c03.carol")]),
            &["th.dsi.alice", "ph.nbi.bob", "th.role.duty", "vn.c03.carol"],
        ),
    );
    let err = bob
        .apply(&stray, signed(&stray, 10), &me("ph.nbi.bob"))
        .unwrap_err();
    assert!(matches!(err, CaseError::DoesNotFollow { .. }), "{err}");
    // A second opening under the same id.
    let mut again = open.clone();
    again.message_id = MessageId([40; 16]);
    let err = bob
        .apply(&again, signed(&again, 10), &me("ph.nbi.bob"))
        .unwrap_err();
    assert!(matches!(err, CaseError::AlreadyOpen { .. }), "{err}");
    // The genuine change applies.
    bob.apply(&add, payload_hash(&signed_add), &me("ph.nbi.bob"))
        .unwrap();
}

/// Attack: the relay (or anyone who kept it) replays Alice's removal of
/// Bob after Alice added him back. The replay is refused and Bob stays a
/// member; Bob, once removed, learns the case again from the change that
/// adds him back.
#[test]
fn a_replayed_removal_is_refused() {
    let (open, h0) = opening();
    let mut dan = CaseBook::default();
    let mut bob = CaseBook::default();
    dan.apply(&open, h0, &me("th.dsi.dan")).unwrap();
    bob.apply(&open, h0, &me("ph.nbi.bob")).unwrap();
    let remove = payload(
        "th.dsi.alice",
        2,
        change(
            1,
            h0,
            CaseAction::Remove(vec![id("ph.nbi.bob")]),
            &["th.dsi.alice", "th.role.duty"],
        ),
    );
    let h1 = signed(&remove, 10);
    let case = dan.apply(&remove, h1, &me("th.dsi.dan")).unwrap();
    assert!(
        !case
            .recipients(&id("th.dsi.alice"))
            .contains(&id("ph.nbi.bob"))
    );
    // Bob now posting into the case is flagged.
    assert!(matches!(
        dan.check_message(&text("ph.nbi.bob", 9), &holds),
        Err(CaseError::NotAMember { .. })
    ));
    // Bob receives his removal, and knows it.
    assert!(bob.apply(&remove, h1, &me("ph.nbi.bob")).unwrap().removed);

    let add = payload(
        "th.dsi.alice",
        3,
        change(
            2,
            h1,
            CaseAction::Add(vec![id("ph.nbi.bob")]),
            &["th.dsi.alice", "th.role.duty", "ph.nbi.bob"],
        ),
    );
    let h2 = signed(&add, 10);
    dan.apply(&add, h2, &me("th.dsi.dan")).unwrap();
    let err = dan.apply(&remove, h1, &me("th.dsi.dan")).unwrap_err();
    assert!(
        matches!(
            err,
            CaseError::Replayed {
                seq: 1,
                held: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(dan.get(&CASE).unwrap().is_member(&id("ph.nbi.bob"), &holds));

    // Bob missed nothing he should have had, and is back from change 2.
    let back = bob.apply(&add, h2, &me("ph.nbi.bob")).unwrap();
    assert!(!back.removed);
    assert_eq!((back.seq, back.joined_seq), (2, 2));
    assert_eq!(back.history.len(), 3);
}

/// The owner's client makes each change from the case it holds, and the
/// members' clients apply it; a member's client refuses to make one.
#[test]
fn the_owner_makes_changes_that_members_apply() {
    let alice = id("th.dsi.alice");
    let open = super::opening(
        " Pier 7 boat ",
        Some("TH-2026-114".into()),
        Handling::default(),
        &alice,
        &[id("ph.nbi.bob"), alice.clone()],
    )
    .unwrap();
    assert_eq!(open.case.members, vec![alice.clone(), id("ph.nbi.bob")]);
    assert_eq!(open.case.title, "Pier 7 boat");
    assert!(matches!(
        super::opening("x", None, Handling::default(), &alice, &[]),
        Err(CaseError::NoOtherMember(_))
    ));
    let p = payload("th.dsi.alice", 1, Content::Case(open));
    let (mut own, mut bob) = (CaseBook::default(), CaseBook::default());
    let h0 = signed(&p, 10);
    own.apply(&p, h0, &me("th.dsi.alice")).unwrap();
    bob.apply(&p, h0, &me("ph.nbi.bob")).unwrap();
    let held = own.get(&CASE).unwrap();
    assert_eq!(held.send_to(&alice).unwrap(), vec![id("ph.nbi.bob")]);
    let add = held
        .next_change(&alice, CaseAction::Add(vec![id("vn.c03.carol")]))
        .unwrap();
    assert!(matches!(
        held.next_change(&alice, CaseAction::Add(vec![id("ph.nbi.bob")])),
        Err(CaseError::Membership { member: true, .. })
    ));
    assert!(matches!(
        held.next_change(&alice, CaseAction::Remove(vec![id("vn.c03.carol")])),
        Err(CaseError::Membership { member: false, .. })
    ));
    assert!(matches!(
        bob.get(&CASE)
            .unwrap()
            .next_change(&id("ph.nbi.bob"), CaseAction::Add(vec![id("vn.c03.carol")])),
        Err(CaseError::NotOwnerHere { .. })
    ));
    let p = payload("th.dsi.alice", 2, Content::Case(add));
    let h1 = signed(&p, 10);
    own.apply(&p, h1, &me("th.dsi.alice")).unwrap();
    let case = bob.apply(&p, h1, &me("ph.nbi.bob")).unwrap();
    assert_eq!(case.info.members.len(), 3);
    // Removed, Bob's client will not post to the case any more.
    let remove = own
        .get(&CASE)
        .unwrap()
        .next_change(&alice, CaseAction::Remove(vec![id("ph.nbi.bob")]))
        .unwrap();
    let p = payload("th.dsi.alice", 3, Content::Case(remove));
    let case = bob.apply(&p, signed(&p, 10), &me("ph.nbi.bob")).unwrap();
    assert!(matches!(
        case.send_to(&id("ph.nbi.bob")),
        Err(CaseError::NotAMemberHere { .. })
    ));
}
