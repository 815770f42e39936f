#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use liaison_protocol::handling::Handling;
use liaison_protocol::message::{Content, Payload};
use liaison_protocol::request::{Priority, RequestType};

use super::*;

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

/// The id of Alice's request (its nonce is [5; 16]).
fn req() -> [u8; 16] {
    liaison_protocol::request::request_id(&id("ph.pnp.alice"), &[5; 16])
}
const HOUR: u64 = 3_600_000;

fn opening(to: &str) -> RequestOpen {
    RequestOpen {
        kind: RequestType::LocatePerson,
        priority: Priority::Urgent,
        due: Timestamp(24 * HOUR),
        acknowledge_within_secs: 3600,
        to: id(to),
        fields: vec![("name".into(), "Maria Santos".into())],
        nonce: [5; 16],
    }
}

/// Step `action` of request [`req`] by `by` at `at` (ms).
fn step(by: &str, at: u64, action: RequestAction) -> Payload {
    Payload {
        message_id: MessageId([u8::try_from(at / HOUR % 250).unwrap(); 16]),
        sender: id(by),
        sender_device: crate::core::testing::key(1).public_key(),
        recipients: Vec::new(),
        resolved: Vec::new(),
        conversation_id: ConversationId([3; 16]),
        created_at: Timestamp(at),
        handling: Handling::default(),
        body: "words".into(),
        content: Content::Request(RequestEvent {
            request: req(),
            action,
        }),
        attachments: Vec::new(),
        checkpoints: Vec::new(),
    }
}

/// Somchai and Niran hold the Thai duty desk.
fn holds(role: &DirectoryId, who: &DirectoryId) -> bool {
    role.as_str() == "th.dsi.duty" && ["th.dsi.somchai", "th.dsi.niran"].contains(&who.as_str())
}

fn apply(book: &mut RequestBook, p: &Payload) -> Result<Status, RequestError> {
    book.apply(p, p.message_id, &holds).map(|s| s.status)
}

#[test]
fn a_request_goes_from_open_to_answered_and_its_outcome() {
    let mut book = RequestBook::default();
    let open = step(
        "ph.pnp.alice",
        0,
        RequestAction::Open(opening("th.dsi.duty")),
    );
    assert_eq!(apply(&mut book, &open), Ok(Status::Open));
    // A holder of the role it was sent to takes it.
    let ack = step("th.dsi.somchai", HOUR / 2, RequestAction::Acknowledge);
    assert_eq!(apply(&mut book, &ack), Ok(Status::Acknowledged));
    let progress = step("th.dsi.somchai", HOUR, RequestAction::Progress);
    assert_eq!(apply(&mut book, &progress), Ok(Status::InProgress));
    let part = step(
        "th.dsi.niran",
        2 * HOUR,
        RequestAction::Answer { partial: true },
    );
    assert_eq!(apply(&mut book, &part), Ok(Status::PartlyAnswered));
    let answer = step(
        "th.dsi.somchai",
        3 * HOUR,
        RequestAction::Answer { partial: false },
    );
    assert_eq!(apply(&mut book, &answer), Ok(Status::Answered));
    let outcome = step("ph.pnp.alice", 4 * HOUR, RequestAction::Outcome);
    assert_eq!(apply(&mut book, &outcome), Ok(Status::Answered));
    let held = book.get(&req()).unwrap();
    assert!(held.outcome);
    let names: Vec<&str> = held.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(
        names,
        [
            "open",
            "acknowledge",
            "progress",
            "partial-answer",
            "answer",
            "outcome"
        ]
    );
    assert_eq!(held.requester, id("ph.pnp.alice"));
    // Nothing after a full answer but the outcome.
    let again = step("th.dsi.somchai", 5 * HOUR, RequestAction::Progress);
    assert!(matches!(
        apply(&mut book, &again),
        Err(RequestError::OutOfTurn {
            status: "answered",
            ..
        })
    ));
    // The book survives storage.
    assert_eq!(RequestBook::decode(&book.encode().unwrap()).unwrap(), book);
}

#[test]
fn each_step_is_taken_only_by_whom_it_belongs_to() {
    let mut book = RequestBook::default();
    apply(
        &mut book,
        &step(
            "ph.pnp.alice",
            0,
            RequestAction::Open(opening("th.dsi.duty")),
        ),
    )
    .unwrap();
    // Someone who neither holds the role nor was asked.
    let e = apply(
        &mut book,
        &step("vn.c03.carol", 1, RequestAction::Acknowledge),
    );
    assert!(matches!(e, Err(RequestError::NotAddressee { .. })), "{e:?}");
    assert!(e.unwrap_err().to_string().contains("not its addressee"));
    // The addressee cannot withdraw or escalate the requester's request.
    let e = apply(
        &mut book,
        &step(
            "th.dsi.somchai",
            2,
            RequestAction::Withdraw {
                reason: "no".into(),
            },
        ),
    );
    assert!(matches!(e, Err(RequestError::NotRequester { .. })), "{e:?}");
    // An outcome before any answer, a second acknowledgement, a second
    // opening: out of turn.
    let e = apply(&mut book, &step("ph.pnp.alice", 3, RequestAction::Outcome));
    assert!(matches!(e, Err(RequestError::OutOfTurn { .. })), "{e:?}");
    apply(
        &mut book,
        &step("th.dsi.niran", 4, RequestAction::Acknowledge),
    )
    .unwrap();
    let e = apply(
        &mut book,
        &step("th.dsi.somchai", 5, RequestAction::Acknowledge),
    );
    assert!(matches!(e, Err(RequestError::OutOfTurn { .. })), "{e:?}");
    let e = apply(
        &mut book,
        &step(
            "ph.pnp.alice",
            6,
            RequestAction::Open(opening("th.dsi.duty")),
        ),
    );
    assert!(matches!(e, Err(RequestError::AlreadyOpen { .. })), "{e:?}");
    // The requester withdraws; nothing follows.
    let w = RequestAction::Withdraw {
        reason: "found her".into(),
    };
    assert_eq!(
        apply(&mut book, &step("ph.pnp.alice", 7, w)),
        Ok(Status::Withdrawn)
    );
    let e = apply(
        &mut book,
        &step("th.dsi.niran", 8, RequestAction::Answer { partial: false }),
    );
    assert!(matches!(e, Err(RequestError::OutOfTurn { .. })), "{e:?}");
}

#[test]
fn a_step_of_an_unknown_request_or_a_malformed_one_is_refused() {
    let mut book = RequestBook::default();
    let e = apply(
        &mut book,
        &step("th.dsi.somchai", 1, RequestAction::Acknowledge),
    );
    assert!(matches!(e, Err(RequestError::Unknown { .. })), "{e:?}");
    let mut bad = opening("th.dsi.duty");
    bad.fields.clear();
    let e = apply(
        &mut book,
        &step("ph.pnp.alice", 0, RequestAction::Open(bad)),
    );
    assert!(matches!(e, Err(RequestError::Malformed(_))), "{e:?}");
    assert!(book.get(&req()).is_none());
}

#[test]
fn an_unacknowledged_request_is_overdue_and_escalates_along_the_on_call_order() {
    let alice = id("ph.pnp.alice");
    let mut book = RequestBook::default();
    apply(
        &mut book,
        &step(
            "ph.pnp.alice",
            0,
            RequestAction::Open(opening("th.dsi.duty")),
        ),
    )
    .unwrap();
    assert!(book.overdue(&alice, Timestamp(HOUR - 1)).is_empty());
    assert_eq!(book.overdue(&alice, Timestamp(HOUR)).len(), 1);
    assert!(
        book.overdue(&id("th.dsi.somchai"), Timestamp(HOUR))
            .is_empty(),
        "only the requester's"
    );

    // Holders in on-call order: Somchai had the opening; Niran is next,
    // then the agency's duty role is all that is left.
    let holders = [id("th.dsi.somchai"), id("th.dsi.niran")];
    let duty = id("th.dsi.desk");
    let held = book.get(&req()).unwrap();
    let next = next_addressee(&held.addressees, &holders, Some(&duty));
    assert_eq!(next, Some(id("th.dsi.niran")));
    let esc = RequestAction::Escalate {
        open: opening("th.dsi.duty"),
        to: id("th.dsi.niran"),
    };
    apply(&mut book, &step("ph.pnp.alice", HOUR, esc)).unwrap();
    // The time to acknowledge runs again from the escalation.
    assert!(book.overdue(&alice, Timestamp(2 * HOUR - 1)).is_empty());
    assert_eq!(book.overdue(&alice, Timestamp(2 * HOUR)).len(), 1);
    let held = book.get(&req()).unwrap();
    assert_eq!(
        next_addressee(&held.addressees, &holders, Some(&duty)),
        Some(duty.clone())
    );
    let mut all = held.addressees.clone();
    all.push(duty.clone());
    assert_eq!(next_addressee(&all, &holders, Some(&duty)), None);

    // Once acknowledged, nothing is overdue and no escalation is taken.
    apply(
        &mut book,
        &step("th.dsi.niran", 2 * HOUR, RequestAction::Acknowledge),
    )
    .unwrap();
    assert!(book.overdue(&alice, Timestamp(10 * HOUR)).is_empty());
    let esc = RequestAction::Escalate {
        open: opening("th.dsi.duty"),
        to: duty,
    };
    let e = apply(&mut book, &step("ph.pnp.alice", 3 * HOUR, esc));
    assert!(matches!(e, Err(RequestError::OutOfTurn { .. })), "{e:?}");
}

#[test]
fn a_home_learns_a_request_from_the_escalation_that_brings_it() {
    let mut book = RequestBook::default();
    let esc = RequestAction::Escalate {
        open: opening("th.dsi.duty"),
        to: id("th.dsi.niran"),
    };
    assert_eq!(
        apply(&mut book, &step("ph.pnp.alice", HOUR, esc)),
        Ok(Status::Open)
    );
    let held = book.get(&req()).unwrap();
    assert_eq!(held.addressees, vec![id("th.dsi.duty"), id("th.dsi.niran")]);
    assert_eq!(held.requester, id("ph.pnp.alice"));
    assert_eq!(
        apply(
            &mut book,
            &step("th.dsi.niran", 2 * HOUR, RequestAction::Acknowledge)
        ),
        Ok(Status::Acknowledged)
    );
}

#[test]
fn a_step_reads_as_what_it_is() {
    let open = RequestEvent {
        request: req(),
        action: RequestAction::Open(opening("th.dsi.duty")),
    };
    let text = describe(&id("ph.pnp.alice"), &open, "She may be held at Pier 7.");
    assert!(
        text.starts_with("ph.pnp.alice sends a request: locate-person (urgent, answer due"),
        "{text}"
    );
    assert!(text.contains("name: Maria Santos"), "{text}");
    assert!(text.ends_with("She may be held at Pier 7."), "{text}");
    let decline = RequestEvent {
        request: req(),
        action: RequestAction::Decline {
            reason: "needs a formal MLA request".into(),
        },
    };
    assert_eq!(
        describe(&id("th.dsi.niran"), &decline, ""),
        "th.dsi.niran declines the request: needs a formal MLA request"
    );
}

#[test]
fn nobody_speaks_for_anothers_request_nor_changes_it_on_the_way() {
    // Somchai, who got Alice's opening, tries to introduce her request to
    // Niran as his own (with other fields): its id is not his.
    let mut forged = opening("th.dsi.duty");
    forged.fields = vec![("name".into(), "Someone else".into())];
    let mut niran = RequestBook::default();
    let e = apply(
        &mut niran,
        &step(
            "th.dsi.somchai",
            HOUR,
            RequestAction::Escalate {
                open: forged.clone(),
                to: id("th.dsi.niran"),
            },
        ),
    );
    assert!(matches!(e, Err(RequestError::NotTheirs { .. })), "{e:?}");
    assert!(niran.get(&req()).is_none());
    // Alice's own escalation then reaches Niran as hers.
    let real = RequestAction::Escalate {
        open: opening("th.dsi.duty"),
        to: id("th.dsi.niran"),
    };
    apply(&mut niran, &step("ph.pnp.alice", HOUR, real)).unwrap();
    assert_eq!(niran.get(&req()).unwrap().requester, id("ph.pnp.alice"));

    // An escalation that changes the fields of a request held is refused.
    let mut book = RequestBook::default();
    apply(
        &mut book,
        &step(
            "ph.pnp.alice",
            0,
            RequestAction::Open(opening("th.dsi.duty")),
        ),
    )
    .unwrap();
    let e = apply(
        &mut book,
        &step(
            "ph.pnp.alice",
            HOUR,
            RequestAction::Escalate {
                open: forged,
                to: id("th.dsi.niran"),
            },
        ),
    );
    assert!(matches!(e, Err(RequestError::Altered { .. })), "{e:?}");
    assert_eq!(
        book.get(&req()).unwrap().open.field("name"),
        Some("Maria Santos")
    );
}

#[test]
fn a_destroyed_opening_takes_the_fields_with_it() {
    let mut book = RequestBook::default();
    let open = step(
        "ph.pnp.alice",
        0,
        RequestAction::Open(opening("th.dsi.duty")),
    );
    apply(&mut book, &open).unwrap();
    assert!(!book.forget_fields_of(&[MessageId([77; 16])]));
    assert!(book.forget_fields_of(&[open.message_id]));
    assert!(book.get(&req()).unwrap().open.fields.is_empty());
    assert_eq!(book.get(&req()).unwrap().steps.len(), 1);
}
