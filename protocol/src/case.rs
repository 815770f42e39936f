//! Case conversations: the signed changes that open a case and change its
//! membership.
//!
//! A case is a conversation (its id is the `conversation_id` of every
//! message in it, 16 random bytes) with a title, an optional reference (a
//! national case number), a default handling, an owner and members (focal
//! point or role ids, from any country). Its lifecycle travels as
//! [`crate::message::Content::Case`]: one [`CaseChange`] inside an ordinary
//! signed payload, fanned out pairwise to every member device like any
//! other message. There is no group key.
//!
//! Only the owner changes a case. Every change is numbered (`seq`, 0 for
//! the opening) and names the payload hash of the change before it
//! (`previous`), so a recipient applies changes as one chain and refuses a
//! replayed or reordered one. Every change carries the whole case as it
//! stands after it ([`CaseInfo`]): a member added later learns the case
//! from the change that added them, and a member who holds the case checks
//! that the change leads from what it holds to what it says.
//!
//! This module checks the form of a change only; the rules that need the
//! state a recipient holds are in the client's core (`core::case`).

use serde::{Deserialize, Serialize};

use crate::directory::MAX_TEXT;
use crate::handling::Handling;
use crate::ids::DirectoryId;
use crate::keys::VerifyError;
use crate::limits::MAX_RECIPIENTS;

/// Most members of a case (focal points and roles): a case message goes to
/// all of them in one payload.
pub const MAX_CASE_MEMBERS: usize = MAX_RECIPIENTS;

/// A case as a change leaves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseInfo {
    /// What the case is about, in a few words.
    pub title: String,
    /// A national case number or other reference, if any.
    pub reference: Option<String>,
    /// The handling messages in the case take unless the sender sets
    /// another.
    pub handling: Handling,
    /// The focal point who opened the case and alone changes it.
    pub owner: DirectoryId,
    /// Every member (focal point or role ids), the owner included.
    pub members: Vec<DirectoryId>,
}

/// What a change does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseAction {
    /// The case is opened with the members of its [`CaseInfo`].
    Open,
    /// These members join.
    Add(Vec<DirectoryId>),
    /// These members leave (they receive this change, then nothing more).
    Remove(Vec<DirectoryId>),
}

/// A signed change of a case (inside the owner's signed payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseChange {
    /// The change's number: 0 opens the case, each change after adds 1.
    pub seq: u32,
    /// SHA-256 of the signed payload of change `seq - 1`
    /// ([`crate::message::payload_hash`]); all zero for the opening.
    pub previous: [u8; 32],
    /// What changes.
    pub action: CaseAction,
    /// The case after the change.
    pub case: CaseInfo,
}

fn has_duplicates(ids: &[DirectoryId]) -> bool {
    ids.iter()
        .enumerate()
        .any(|(i, a)| ids.iter().skip(i + 1).any(|b| b == a))
}

impl CaseChange {
    /// Structural rules: a title of 1 to 256 bytes, a reference of at most
    /// 256, 1 to 64 distinct members with the owner among them, an opening
    /// numbered 0 with no previous change, and a change of 1 to 64 distinct
    /// members, all in (added) or all out of (removed) the case it leaves,
    /// never the owner.
    pub fn check_wellformed(&self) -> Result<(), VerifyError> {
        let c = &self.case;
        if c.title.trim().is_empty() || c.title.len() > MAX_TEXT {
            return Err(VerifyError::Inconsistent("a case title has 1 to 256 bytes"));
        }
        if c.reference.as_ref().is_some_and(|r| r.len() > MAX_TEXT) {
            return Err(VerifyError::Inconsistent(
                "a case reference has at most 256 bytes",
            ));
        }
        if c.members.is_empty() || c.members.len() > MAX_CASE_MEMBERS || has_duplicates(&c.members)
        {
            return Err(VerifyError::Inconsistent(
                "a case has 1 to 64 distinct members",
            ));
        }
        if !c.members.contains(&c.owner) {
            return Err(VerifyError::Inconsistent(
                "the owner of a case is one of its members",
            ));
        }
        c.handling
            .check_wellformed()
            .map_err(VerifyError::Inconsistent)?;
        match &self.action {
            CaseAction::Open => {
                if self.seq != 0 || self.previous != [0; 32] {
                    return Err(VerifyError::Inconsistent(
                        "a case opening is change 0 and follows no other",
                    ));
                }
            }
            CaseAction::Add(ids) | CaseAction::Remove(ids) => {
                if self.seq == 0 {
                    return Err(VerifyError::Inconsistent(
                        "change 0 of a case is its opening",
                    ));
                }
                if ids.is_empty() || ids.len() > MAX_CASE_MEMBERS || has_duplicates(ids) {
                    return Err(VerifyError::Inconsistent(
                        "a membership change names 1 to 64 distinct members",
                    ));
                }
                let adding = matches!(self.action, CaseAction::Add(_));
                if ids.iter().any(|id| c.members.contains(id) != adding) {
                    return Err(VerifyError::Inconsistent(
                        "a membership change does not match the members it leaves",
                    ));
                }
                if ids.contains(&c.owner) {
                    return Err(VerifyError::Inconsistent(
                        "the owner of a case is neither added nor removed",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The members before this change, as the change itself says (the
    /// members after it, less those added, plus those removed); for an
    /// opening, none.
    pub fn members_before(&self) -> Vec<DirectoryId> {
        match &self.action {
            CaseAction::Open => Vec::new(),
            CaseAction::Add(added) => self
                .case
                .members
                .iter()
                .filter(|m| !added.contains(m))
                .cloned()
                .collect(),
            CaseAction::Remove(removed) => {
                let mut m = self.case.members.clone();
                m.extend(removed.iter().cloned());
                m
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::codec::{decode_body, encode_body};
    use crate::message::Content;

    fn id(s: &str) -> DirectoryId {
        DirectoryId::parse(s).unwrap()
    }

    fn opening() -> CaseChange {
        CaseChange {
            seq: 0,
            previous: [0; 32],
            action: CaseAction::Open,
            case: CaseInfo {
                title: "Pier 7 boat".into(),
                reference: Some("TH-2026-114".into()),
                handling: Handling::default(),
                owner: id("th.dsi.alice"),
                members: vec![id("th.dsi.alice"), id("ph.nbi.bob")],
            },
        }
    }

    #[test]
    fn an_opening_and_its_changes_are_checked_for_form() {
        let open = opening();
        open.check_wellformed().unwrap();
        assert!(open.members_before().is_empty());

        let mut bad = open.clone();
        bad.seq = 1;
        assert!(bad.check_wellformed().is_err(), "an opening is change 0");
        let mut bad = open.clone();
        bad.case.title = "  ".into();
        assert!(bad.check_wellformed().is_err(), "a title");
        let mut bad = open.clone();
        bad.case.members = vec![id("ph.nbi.bob")];
        assert!(bad.check_wellformed().is_err(), "the owner is a member");
        let mut bad = open.clone();
        bad.case.members.push(id("ph.nbi.bob"));
        assert!(bad.check_wellformed().is_err(), "members are distinct");

        let mut add = open.clone();
        add.seq = 1;
        add.previous = [7; 32];
        add.action = CaseAction::Add(vec![id("vn.c03.carol")]);
        add.case.members.push(id("vn.c03.carol"));
        add.check_wellformed().unwrap();
        assert_eq!(add.members_before(), open.case.members);
        // An added member missing from the members after the change.
        let mut bad = add.clone();
        bad.case.members.pop();
        assert!(bad.check_wellformed().is_err());

        let mut remove = add.clone();
        remove.seq = 2;
        remove.action = CaseAction::Remove(vec![id("ph.nbi.bob")]);
        remove.case.members = vec![id("th.dsi.alice"), id("vn.c03.carol")];
        remove.check_wellformed().unwrap();
        assert_eq!(remove.members_before().len(), 3);
        let mut bad = remove.clone();
        bad.action = CaseAction::Remove(vec![id("th.dsi.alice")]);
        assert!(bad.check_wellformed().is_err(), "the owner stays");
    }

    /// The case kind comes after every earlier content kind, so payloads of
    /// those kinds keep their encoding.
    #[test]
    fn the_case_content_kind_is_appended() {
        let bytes = encode_body(&Content::Case(opening()));
        assert_eq!(bytes.first(), Some(&7));
        assert_eq!(decode_body::<Content>(&bytes), Ok(Content::Case(opening())));
    }
}
