//! Case conversations as a home keeps them: each case's state built from
//! its owner's signed changes ([`liaison_protocol::case`]) applied in order,
//! who is a member, and whether a message in a case's conversation comes
//! from one.
//!
//! The rules, each unit-tested below:
//! - only the case's owner changes it; a change must follow the last one
//!   held (the next number, naming that change's payload hash), so a
//!   replayed or reordered change is refused;
//! - a change must lead from the case held to the case it states (same
//!   title, reference, handling and owner; the members held plus those
//!   added, less those removed);
//! - a home learns a case from its opening, or from the change that added
//!   it (a member added later holds the case from that change on);
//! - a message in a case's conversation from a sender who is not a member
//!   (directly, or as a holder of a member role) when this home receives it
//!   is flagged: not verified, with the reason;
//! - a message for a case goes to its members as they stand
//!   ([`CaseState::recipients`]): a removed member gets nothing further, an
//!   added one only what is sent from then on.
//!
//! Membership is judged as this home holds it when a message arrives: the
//! relay delivers one sender's messages in order, so the owner's changes
//! arrive before what the owner sends after them.

use std::collections::BTreeMap;

use liaison_protocol::case::{CaseAction, CaseChange, CaseInfo};
use liaison_protocol::message::{Content, Payload};
use liaison_protocol::{ConversationId, DirectoryId, MessageId, Timestamp, VerifyError};
use serde::{Deserialize, Serialize};

/// Why a case change or a message in a case is refused. Each says what
/// happened in plain words; it is kept as the reason of the flagged
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaseError {
    /// The change breaks a structural rule.
    #[error("the case change is malformed: {0}")]
    Malformed(VerifyError),
    /// The change is not signed by the case's owner.
    #[error(
        "{by} tried to change case \"{title}\", which only its owner {owner} can change; refused"
    )]
    NotFromOwner {
        /// The case title.
        title: String,
        /// Who signed the change.
        by: DirectoryId,
        /// The owner.
        owner: DirectoryId,
    },
    /// A second opening of a case held.
    #[error("{by} sent a second opening of case \"{title}\"; refused")]
    AlreadyOpen {
        /// The case title.
        title: String,
        /// Who sent it.
        by: DirectoryId,
    },
    /// A change numbered at or below the last one held: replayed.
    #[error(
        "change {seq} of case \"{title}\" was already applied (this home holds up to change {held}): a replay; refused"
    )]
    Replayed {
        /// The case title.
        title: String,
        /// The change's number.
        seq: u32,
        /// The last change held.
        held: u32,
    },
    /// A change that does not follow the last one held.
    #[error(
        "change {seq} of case \"{title}\" does not follow change {held}, the last this home holds; refused"
    )]
    DoesNotFollow {
        /// The case title.
        title: String,
        /// The change's number.
        seq: u32,
        /// The last change held.
        held: u32,
    },
    /// A change whose stated case does not follow from the case held.
    #[error(
        "the change to case \"{title}\" states a case that does not follow from the one held ({why}); refused"
    )]
    Inconsistent {
        /// The case title.
        title: String,
        /// What differs.
        why: &'static str,
    },
    /// A change to a case this home does not hold, that does not add this
    /// focal point to it.
    #[error("a change to a case this home does not hold and that does not add you to it; refused")]
    UnknownCase,
    /// A message in a case's conversation from someone who is not a
    /// member.
    #[error(
        "{by} is not a member of case \"{title}\" and cannot post to it; the message is not shown"
    )]
    NotAMember {
        /// The case title.
        title: String,
        /// The sender.
        by: DirectoryId,
    },
    /// This focal point tried to change a case it does not own.
    #[error("only the owner of case \"{title}\", {owner}, can add or remove its members; ask them")]
    NotOwnerHere {
        /// The case title.
        title: String,
        /// The owner.
        owner: DirectoryId,
    },
    /// This focal point tried to post to a case it is not a member of.
    #[error(
        "you are not a member of case \"{title}\" (removed by its owner {owner}), so you cannot post to it"
    )]
    NotAMemberHere {
        /// The case title.
        title: String,
        /// The owner.
        owner: DirectoryId,
    },
    /// A case with no member but this focal point.
    #[error("case \"{0}\" has no member but you: add a member to it first")]
    NoOtherMember(String),
    /// Adding a member already in, or removing one who is not.
    #[error("{id} {}", if *.member { "is already a member of this case" } else { "is not a member of this case" })]
    Membership {
        /// The id.
        id: DirectoryId,
        /// Whether it is a member.
        member: bool,
    },
    /// The case book kept in the home does not decode.
    #[error("the cases kept in this home do not read back ({0})")]
    Stored(String),
}

/// One change as applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    /// Its number.
    pub seq: u32,
    /// What it did.
    pub action: CaseAction,
    /// Who signed it (the owner).
    pub by: DirectoryId,
    /// The sender's time.
    pub at: Timestamp,
    /// The message that carried it.
    pub message: MessageId,
    /// The members after it.
    pub members: Vec<DirectoryId>,
}

/// The change that opens a case owned by `owner` with `members` (the
/// owner is added if not named).
pub fn opening(
    title: &str,
    reference: Option<String>,
    handling: liaison_protocol::handling::Handling,
    owner: &DirectoryId,
    members: &[DirectoryId],
) -> Result<CaseChange, CaseError> {
    let mut all = vec![owner.clone()];
    for m in members {
        if !all.contains(m) {
            all.push(m.clone());
        }
    }
    let change = CaseChange {
        seq: 0,
        previous: [0; 32],
        action: CaseAction::Open,
        case: CaseInfo {
            title: title.trim().to_owned(),
            reference: reference.filter(|r| !r.trim().is_empty()),
            handling,
            owner: owner.clone(),
            members: all,
        },
    };
    change.check_wellformed().map_err(CaseError::Malformed)?;
    if change.case.members.len() < 2 {
        return Err(CaseError::NoOtherMember(change.case.title));
    }
    Ok(change)
}

/// A case as this home holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseState {
    /// The case id (the conversation id of its messages).
    pub id: ConversationId,
    /// Title, reference, handling, owner and members.
    pub info: CaseInfo,
    /// The last change applied.
    pub seq: u32,
    /// Its signed payload's hash (the next change names it).
    pub head: [u8; 32],
    /// The change from which this home holds the case: 0 from the opening,
    /// later for a member added later.
    pub joined_seq: u32,
    /// Whether this focal point was removed from the case.
    pub removed: bool,
    /// The changes applied, oldest first.
    pub history: Vec<CaseEvent>,
}

impl CaseState {
    /// Whether `who` is a member: named, or holding a member role
    /// (`holds(role, who)`).
    pub fn is_member(
        &self,
        who: &DirectoryId,
        holds: &dyn Fn(&DirectoryId, &DirectoryId) -> bool,
    ) -> bool {
        self.info.members.iter().any(|m| m == who || holds(m, who))
    }

    /// The members after change `seq` (none before the change this home
    /// joined at).
    pub fn members_at(&self, seq: u32) -> Vec<DirectoryId> {
        self.history
            .iter()
            .rev()
            .find(|e| e.seq <= seq)
            .map(|e| e.members.clone())
            .unwrap_or_default()
    }

    /// The change the owner `me` makes to add or remove `ids`, following
    /// the last change held. Refused if `me` is not the owner, to add a
    /// member already in or remove one who is not.
    pub fn next_change(
        &self,
        me: &DirectoryId,
        action: CaseAction,
    ) -> Result<CaseChange, CaseError> {
        if *me != self.info.owner || self.removed {
            return Err(CaseError::NotOwnerHere {
                title: self.info.title.clone(),
                owner: self.info.owner.clone(),
            });
        }
        let mut case = self.info.clone();
        match &action {
            CaseAction::Open => {
                return Err(CaseError::AlreadyOpen {
                    title: self.info.title.clone(),
                    by: me.clone(),
                });
            }
            CaseAction::Add(ids) => {
                if let Some(id) = ids.iter().find(|id| case.members.contains(id)) {
                    return Err(CaseError::Membership {
                        id: id.clone(),
                        member: true,
                    });
                }
                case.members.extend(ids.iter().cloned());
            }
            CaseAction::Remove(ids) => {
                if let Some(id) = ids.iter().find(|id| !case.members.contains(id)) {
                    return Err(CaseError::Membership {
                        id: id.clone(),
                        member: false,
                    });
                }
                case.members.retain(|m| !ids.contains(m));
            }
        }
        let change = CaseChange {
            seq: self.seq.saturating_add(1),
            previous: self.head,
            action,
            case,
        };
        change.check_wellformed().map_err(CaseError::Malformed)?;
        Ok(change)
    }

    /// Whom this focal point (`me`) sends a message in the case to: every
    /// other member. Refused once `me` was removed.
    pub fn send_to(&self, me: &DirectoryId) -> Result<Vec<DirectoryId>, CaseError> {
        if self.removed {
            return Err(CaseError::NotAMemberHere {
                title: self.info.title.clone(),
                owner: self.info.owner.clone(),
            });
        }
        let to = self.recipients(me);
        if to.is_empty() {
            return Err(CaseError::NoOtherMember(self.info.title.clone()));
        }
        Ok(to)
    }

    /// Whom `sender` addresses a message in the case to: every member but
    /// the sender itself (roles stay roles, resolved to their holders when
    /// sent).
    pub fn recipients(&self, sender: &DirectoryId) -> Vec<DirectoryId> {
        self.info
            .members
            .iter()
            .filter(|m| *m != sender)
            .cloned()
            .collect()
    }
}

/// Every case a home holds, kept under one secret key of the home.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseBook {
    cases: BTreeMap<ConversationId, CaseState>,
}

/// The first byte of an encoded [`CaseBook`].
pub const CASE_BOOK_FORMAT: u8 = 1;

impl CaseBook {
    /// The stored form: [`CASE_BOOK_FORMAT`], then the book.
    pub fn encode(&self) -> Result<Vec<u8>, CaseError> {
        let mut out = vec![CASE_BOOK_FORMAT];
        out.extend(postcard::to_allocvec(self).map_err(|e| CaseError::Stored(e.to_string()))?);
        Ok(out)
    }

    /// Read the stored form.
    pub fn decode(bytes: &[u8]) -> Result<CaseBook, CaseError> {
        match bytes.split_first() {
            Some((&CASE_BOOK_FORMAT, body)) => {
                postcard::from_bytes(body).map_err(|e| CaseError::Stored(e.to_string()))
            }
            Some((v, _)) => Err(CaseError::Stored(format!("unknown format {v}"))),
            None => Err(CaseError::Stored("empty".into())),
        }
    }

    /// A case held.
    pub fn get(&self, id: &ConversationId) -> Option<&CaseState> {
        self.cases.get(id)
    }

    /// Every case held, by id.
    pub fn cases(&self) -> impl Iterator<Item = &CaseState> {
        self.cases.values()
    }

    /// Apply the case change `payload` carries, signed by its sender (whose
    /// signature the caller verified), whose signed payload hashes to
    /// `hash`. `is_me` says whether a member id is this focal point or a
    /// role it holds. Returns the case as it stands after the change.
    pub fn apply(
        &mut self,
        payload: &Payload,
        hash: [u8; 32],
        is_me: &dyn Fn(&DirectoryId) -> bool,
    ) -> Result<&CaseState, CaseError> {
        let Content::Case(change) = &payload.content else {
            return Err(CaseError::Malformed(VerifyError::Inconsistent(
                "not a case change",
            )));
        };
        change.check_wellformed().map_err(CaseError::Malformed)?;
        let title = change.case.title.clone();
        if payload.sender != change.case.owner {
            return Err(CaseError::NotFromOwner {
                title,
                by: payload.sender.clone(),
                owner: change.case.owner.clone(),
            });
        }
        let event = CaseEvent {
            seq: change.seq,
            action: change.action.clone(),
            by: payload.sender.clone(),
            at: payload.created_at,
            message: payload.message_id,
            members: change.case.members.clone(),
        };
        let id = payload.conversation_id;
        let state = match self.cases.get(&id) {
            None => new_state(id, change, hash, event, is_me)?,
            Some(held) => next_state(held, payload, change, hash, event, is_me)?,
        };
        let slot = self.cases.entry(id).or_insert_with(|| state.clone());
        *slot = state;
        Ok(slot)
    }

    /// Check a message (other than a case change) in the conversation of a
    /// case held: its sender must be a member. `holds(role, who)` says
    /// whether `who` holds `role` now. Messages of other conversations, and
    /// receipts and consent traffic (which have their own rules), pass.
    pub fn check_message(
        &self,
        payload: &Payload,
        holds: &dyn Fn(&DirectoryId, &DirectoryId) -> bool,
    ) -> Result<(), CaseError> {
        let Some(case) = self.cases.get(&payload.conversation_id) else {
            return Ok(());
        };
        if matches!(
            payload.content,
            Content::Receipts(_)
                | Content::ConsentRequest(_)
                | Content::ConsentDecision(_)
                | Content::Case(_)
                // A request's steps are judged by the request's rules: its
                // addressee need not be a member of the case it is in.
                | Content::Request(_)
        ) {
            return Ok(());
        }
        if case.is_member(&payload.sender, holds) {
            Ok(())
        } else {
            Err(CaseError::NotAMember {
                title: case.info.title.clone(),
                by: payload.sender.clone(),
            })
        }
    }
}

/// A case this home does not hold yet: learnt from its opening or from the
/// change that adds this focal point.
fn new_state(
    id: ConversationId,
    change: &CaseChange,
    hash: [u8; 32],
    event: CaseEvent,
    is_me: &dyn Fn(&DirectoryId) -> bool,
) -> Result<CaseState, CaseError> {
    let joins = match &change.action {
        CaseAction::Open => change.case.members.iter().any(is_me),
        CaseAction::Add(added) => added.iter().any(is_me),
        CaseAction::Remove(_) => false,
    };
    if !joins {
        return Err(CaseError::UnknownCase);
    }
    Ok(CaseState {
        id,
        info: change.case.clone(),
        seq: change.seq,
        head: hash,
        joined_seq: change.seq,
        removed: false,
        history: vec![event],
    })
}

/// The case held after `change`, which must follow it.
fn next_state(
    held: &CaseState,
    payload: &Payload,
    change: &CaseChange,
    hash: [u8; 32],
    event: CaseEvent,
    is_me: &dyn Fn(&DirectoryId) -> bool,
) -> Result<CaseState, CaseError> {
    let title = held.info.title.clone();
    if payload.sender != held.info.owner {
        return Err(CaseError::NotFromOwner {
            title,
            by: payload.sender.clone(),
            owner: held.info.owner.clone(),
        });
    }
    if matches!(change.action, CaseAction::Open) {
        return Err(CaseError::AlreadyOpen {
            title,
            by: payload.sender.clone(),
        });
    }
    let adds_me = matches!(&change.action, CaseAction::Add(ids) if ids.iter().any(is_me));
    if held.removed && adds_me && change.seq > held.seq {
        // Added again after a removal: the changes in between were not
        // sent here, so the case is learnt again from this change.
        let mut back = new_state(held.id, change, hash, event, is_me)?;
        let mut history = held.history.clone();
        history.append(&mut back.history);
        back.history = history;
        return Ok(back);
    }
    if change.seq <= held.seq {
        return Err(CaseError::Replayed {
            title,
            seq: change.seq,
            held: held.seq,
        });
    }
    if change.seq != held.seq.saturating_add(1) || change.previous != held.head {
        return Err(CaseError::DoesNotFollow {
            title,
            seq: change.seq,
            held: held.seq,
        });
    }
    let inconsistent = |why| CaseError::Inconsistent {
        title: title.clone(),
        why,
    };
    let (was, now) = (&held.info, &change.case);
    if was.title != now.title
        || was.reference != now.reference
        || was.handling != now.handling
        || was.owner != now.owner
    {
        return Err(inconsistent("title, reference, handling or owner changed"));
    }
    let mut before = change.members_before();
    let mut members = was.members.clone();
    before.sort();
    members.sort();
    if before != members {
        return Err(inconsistent("the members differ"));
    }
    let mut next = held.clone();
    next.info = change.case.clone();
    next.seq = change.seq;
    next.head = hash;
    match &change.action {
        CaseAction::Remove(ids) if ids.iter().any(is_me) => next.removed = true,
        CaseAction::Add(ids) if ids.iter().any(is_me) => next.removed = false,
        _ => {}
    }
    next.history.push(event);
    Ok(next)
}

/// Text the owner wrote, on one line (it cannot pass for lines of our
/// own output).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A case change in words, as the inbox shows it: who opened the case
/// (its title, reference and members) or whom they added or removed. The
/// title and reference are the owner's text, shown on one line.
pub fn describe_change(by: &DirectoryId, change: &CaseChange) -> String {
    let list = |ids: &[DirectoryId]| {
        ids.iter()
            .map(DirectoryId::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let title = one_line(&change.case.title);
    match &change.action {
        CaseAction::Open => format!(
            "{by} opened case \"{title}\"{} with {}",
            change
                .case
                .reference
                .as_deref()
                .map(|r| format!(" (ref {})", one_line(r)))
                .unwrap_or_default(),
            list(&change.case.members)
        ),
        CaseAction::Add(ids) => format!("{by} added {} to case \"{title}\"", list(ids)),
        CaseAction::Remove(ids) => format!("{by} removed {} from case \"{title}\"", list(ids)),
    }
}

#[cfg(test)]
#[path = "case_test.rs"]
mod tests;
