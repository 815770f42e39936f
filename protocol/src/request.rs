//! Structured requests: the typed, signed messages of informal police
//! cooperation, with a lifecycle.
//!
//! A request has a type drawn from what practitioners ask each other (find
//! a person, verify a document, check records, take a statement, coordinate
//! a rescue, support a victim, an advance copy of a formal mutual legal
//! assistance request, feedback on an outcome), a schema of named fields
//! per type ([`RequestType::fields`]), a priority with the deadline it
//! implies, and an addressee: a focal point or a role. Each step of its
//! life travels as [`crate::message::Content::Request`]: one
//! [`RequestEvent`] inside an ordinary signed payload whose body is the
//! free text of that step (the details, the answer, the reason), with any
//! files as attachments. Every step is therefore signed by its author,
//! handled, fanned out pairwise like any message, and accepted into the
//! relay's event log, so an auditor sees that a request was sent,
//! acknowledged and answered without seeing what it says.
//!
//! The lifecycle (checked by the client core, `core::request`): the
//! requester opens it; the addressee (or a holder of the role it was sent
//! to, or whoever it was escalated to) acknowledges it, reports progress,
//! answers it (in full or in part) or declines it with a reason; the
//! requester may withdraw it, escalate it to the next holder of the role
//! when it is not acknowledged in time, and after an answer sends an
//! outcome. This module checks the form of one step only.

use serde::{Deserialize, Serialize};

use crate::directory::MAX_TEXT;
use crate::ids::DirectoryId;
use crate::ids::Timestamp;
use crate::keys::VerifyError;

/// Most fields a request carries.
pub const MAX_FIELDS: usize = 16;

/// Most bytes of one field's value (longer material goes in the body or an
/// attachment).
pub const MAX_FIELD_VALUE: usize = 4096;

/// What is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RequestType {
    /// Locate a person or a victim.
    LocatePerson,
    /// Verify an identity or a travel document.
    VerifyIdentity,
    /// A records check: criminal, immigration, company, phone subscriber,
    /// bank account.
    RecordsCheck,
    /// A voluntary statement or an interview.
    Statement,
    /// Coordinate a rescue.
    CoordinateRescue,
    /// Support for a victim, and their return.
    VictimSupport,
    /// An advance copy of a formal mutual legal assistance request.
    MlaAdvanceCopy,
    /// Feedback on the outcome of earlier cooperation.
    Feedback,
}

/// A field of a request type's schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its name (`name`, `date-of-birth`, ...): the key of its value and of
    /// its translated label.
    pub name: &'static str,
    /// Whether a request of the type must give it.
    pub required: bool,
}

const fn req(name: &'static str) -> Field {
    Field {
        name,
        required: true,
    }
}

const fn opt(name: &'static str) -> Field {
    Field {
        name,
        required: false,
    }
}

const LOCATE_PERSON: &[Field] = &[
    req("name"),
    opt("date-of-birth"),
    opt("nationality"),
    opt("last-known-location"),
    opt("details"),
];

const VERIFY_IDENTITY: &[Field] = &[
    req("name"),
    req("document-type"),
    req("document-number"),
    opt("nationality"),
    opt("date-of-birth"),
    opt("details"),
];

const RECORDS_CHECK: &[Field] = &[
    req("subject"),
    req("record-type"),
    opt("identifiers"),
    opt("period"),
    opt("details"),
];

const STATEMENT: &[Field] = &[
    req("person"),
    req("topic"),
    opt("language"),
    opt("location"),
    opt("details"),
];

const COORDINATE_RESCUE: &[Field] = &[
    req("location"),
    req("when"),
    opt("victims"),
    opt("risks"),
    opt("contact-on-site"),
    opt("details"),
];

const VICTIM_SUPPORT: &[Field] = &[
    req("victim"),
    req("needs"),
    opt("return-to"),
    opt("language"),
    opt("details"),
];

const MLA_ADVANCE_COPY: &[Field] = &[
    req("case-reference"),
    req("requesting-authority"),
    req("measures"),
    opt("offences"),
    opt("details"),
];

const FEEDBACK: &[Field] = &[req("about"), opt("details")];

impl RequestType {
    /// Every type.
    pub const ALL: [RequestType; 8] = [
        RequestType::LocatePerson,
        RequestType::VerifyIdentity,
        RequestType::RecordsCheck,
        RequestType::Statement,
        RequestType::CoordinateRescue,
        RequestType::VictimSupport,
        RequestType::MlaAdvanceCopy,
        RequestType::Feedback,
    ];

    /// The stable name (`liaison request new --type NAME`).
    pub fn name(self) -> &'static str {
        match self {
            RequestType::LocatePerson => "locate-person",
            RequestType::VerifyIdentity => "verify-identity",
            RequestType::RecordsCheck => "records-check",
            RequestType::Statement => "statement",
            RequestType::CoordinateRescue => "coordinate-rescue",
            RequestType::VictimSupport => "victim-support",
            RequestType::MlaAdvanceCopy => "mla-advance-copy",
            RequestType::Feedback => "feedback",
        }
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Option<RequestType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Its schema: the fields a request of this type may give, the
    /// required ones first.
    pub fn fields(self) -> &'static [Field] {
        match self {
            RequestType::LocatePerson => LOCATE_PERSON,
            RequestType::VerifyIdentity => VERIFY_IDENTITY,
            RequestType::RecordsCheck => RECORDS_CHECK,
            RequestType::Statement => STATEMENT,
            RequestType::CoordinateRescue => COORDINATE_RESCUE,
            RequestType::VictimSupport => VICTIM_SUPPORT,
            RequestType::MlaAdvanceCopy => MLA_ADVANCE_COPY,
            RequestType::Feedback => FEEDBACK,
        }
    }
}

/// How soon an answer is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// An answer within 24 hours.
    Urgent,
    /// An answer within 72 hours.
    High,
    /// An answer within 14 days.
    Normal,
}

impl Priority {
    /// Every priority, most pressing first.
    pub const ALL: [Priority; 3] = [Priority::Urgent, Priority::High, Priority::Normal];

    /// The stable name (`urgent`, `high`, `normal`).
    pub fn name(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Normal => "normal",
        }
    }

    /// The priority named `name`.
    pub fn parse(name: &str) -> Option<Priority> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The time an answer is due after the request is sent, in seconds.
    pub fn answer_within_secs(self) -> u64 {
        match self {
            Priority::Urgent => 24 * 3600,
            Priority::High => 72 * 3600,
            Priority::Normal => 14 * 24 * 3600,
        }
    }

    /// The time the addressee has to acknowledge before the requester's
    /// client escalates, by default, in seconds (one hour for urgent).
    pub fn acknowledge_within_secs(self) -> u64 {
        match self {
            Priority::Urgent => 3600,
            Priority::High => 4 * 3600,
            Priority::Normal => 24 * 3600,
        }
    }
}

/// A request as opened (and as carried again when it is escalated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestOpen {
    /// What is asked.
    pub kind: RequestType,
    /// How soon.
    pub priority: Priority,
    /// When the answer is due.
    pub due: Timestamp,
    /// How long the addressee has to acknowledge before the requester's
    /// client escalates, in seconds.
    pub acknowledge_within_secs: u64,
    /// The focal point or role it is addressed to.
    pub to: DirectoryId,
    /// The fields of its type's schema that are given, by name.
    pub fields: Vec<(String, String)>,
    /// 16 random bytes drawn by the requester: the request id is
    /// [`request_id`] of the requester and this, so nobody else can speak
    /// for that request as its requester.
    pub nonce: [u8; 16],
}

/// The id of the request `requester` opens with `nonce`: the first 16
/// bytes of SHA-256 over a domain tag, the requester's id and the nonce.
/// An addressee that learns a request from an escalation checks that its
/// author is the one the id names.
pub fn request_id(requester: &DirectoryId, nonce: &[u8; 16]) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"liaison/1 request\0");
    h.update((requester.as_str().len() as u32).to_be_bytes());
    h.update(requester.as_str().as_bytes());
    h.update(nonce);
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
    out
}

/// What a step of a request does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestAction {
    /// The requester opens the request.
    Open(RequestOpen),
    /// The addressee has it and will deal with it (signed, so the
    /// requester knows a person took it).
    Acknowledge,
    /// Work is under way (the body says what).
    Progress,
    /// The answer (the body, and any files); `partial` when more is to
    /// come or part could not be answered.
    Answer {
        /// Only part of what was asked is answered.
        partial: bool,
    },
    /// The addressee will not answer (the reason is required).
    Decline {
        /// Why.
        reason: String,
    },
    /// The requester no longer needs an answer.
    Withdraw {
        /// Why.
        reason: String,
    },
    /// After an answer: what came of it (the body).
    Outcome,
    /// The requester sends the request to `to` as well, because it was not
    /// acknowledged in time: the next holder of the role in on-call order,
    /// or the addressee agency's duty role. Carries the request as opened,
    /// so the new addressee learns it from this step.
    Escalate {
        /// The request as opened.
        open: RequestOpen,
        /// The new addressee.
        to: DirectoryId,
    },
}

impl RequestAction {
    /// The step's stable name.
    pub fn name(&self) -> &'static str {
        match self {
            RequestAction::Open(_) => "open",
            RequestAction::Acknowledge => "acknowledge",
            RequestAction::Progress => "progress",
            RequestAction::Answer { partial: false } => "answer",
            RequestAction::Answer { partial: true } => "partial-answer",
            RequestAction::Decline { .. } => "decline",
            RequestAction::Withdraw { .. } => "withdraw",
            RequestAction::Outcome => "outcome",
            RequestAction::Escalate { .. } => "escalate",
        }
    }
}

/// One signed step of a request (inside its author's signed payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEvent {
    /// The request's id (16 random bytes drawn by the requester).
    pub request: [u8; 16],
    /// What this step does.
    pub action: RequestAction,
}

impl RequestOpen {
    /// Structural rules: only fields of the type's schema, each once, the
    /// required ones given and not blank, values of at most
    /// [`MAX_FIELD_VALUE`] bytes, at most [`MAX_FIELDS`] of them.
    pub fn check_wellformed(&self) -> Result<(), VerifyError> {
        let schema = self.kind.fields();
        if self.fields.len() > MAX_FIELDS {
            return Err(VerifyError::Inconsistent("a request has at most 16 fields"));
        }
        for (i, (name, value)) in self.fields.iter().enumerate() {
            if !schema.iter().any(|f| f.name == name) {
                return Err(VerifyError::Inconsistent(
                    "a request field is not in its type's schema",
                ));
            }
            if self.fields.iter().skip(i + 1).any(|(n, _)| n == name) {
                return Err(VerifyError::Inconsistent("a request field is given twice"));
            }
            if value.len() > MAX_FIELD_VALUE {
                return Err(VerifyError::Inconsistent(
                    "a request field has at most 4096 bytes",
                ));
            }
        }
        for f in schema.iter().filter(|f| f.required) {
            if !self
                .fields
                .iter()
                .any(|(n, v)| n == f.name && !v.trim().is_empty())
            {
                return Err(VerifyError::Inconsistent(
                    "a required field of the request's type is missing",
                ));
            }
        }
        if self.acknowledge_within_secs == 0 {
            return Err(VerifyError::Inconsistent(
                "a request gives its addressee some time to acknowledge",
            ));
        }
        Ok(())
    }

    /// The value of field `name`, if given.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first required field of its type that is missing or blank.
    pub fn missing_field(&self) -> Option<&'static str> {
        self.kind
            .fields()
            .iter()
            .filter(|f| f.required)
            .find(|f| self.field(f.name).is_none_or(|v| v.trim().is_empty()))
            .map(|f| f.name)
    }
}

impl RequestEvent {
    /// Structural rules of the step: an opening or escalation carries a
    /// well-formed request; a reason is given (1 to 256 bytes).
    pub fn check_wellformed(&self) -> Result<(), VerifyError> {
        match &self.action {
            RequestAction::Open(open) | RequestAction::Escalate { open, .. } => {
                open.check_wellformed()
            }
            RequestAction::Decline { reason } | RequestAction::Withdraw { reason } => {
                if reason.trim().is_empty() || reason.len() > MAX_TEXT {
                    Err(VerifyError::Inconsistent("a reason has 1 to 256 bytes"))
                } else {
                    Ok(())
                }
            }
            RequestAction::Acknowledge
            | RequestAction::Progress
            | RequestAction::Answer { .. }
            | RequestAction::Outcome => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::codec::{decode_body, encode_body};
    use crate::message::Content;

    fn open() -> RequestOpen {
        RequestOpen {
            kind: RequestType::LocatePerson,
            priority: Priority::Urgent,
            due: Timestamp(86_400_000),
            acknowledge_within_secs: 3600,
            to: DirectoryId::parse("th.dsi.duty").unwrap(),
            fields: vec![
                ("name".into(), "Maria Santos".into()),
                ("last-known-location".into(), "Pier 7".into()),
            ],
            nonce: [5; 16],
        }
    }

    #[test]
    fn a_request_gives_the_required_fields_of_its_type_and_no_others() {
        open().check_wellformed().unwrap();
        assert_eq!(open().missing_field(), None);
        let mut r = open();
        r.fields.remove(0);
        assert!(r.check_wellformed().is_err(), "name is required");
        assert_eq!(r.missing_field(), Some("name"));
        let mut r = open();
        r.fields[0].1 = "  ".into();
        assert!(r.check_wellformed().is_err(), "a blank required field");
        let mut r = open();
        r.fields.push(("shoe-size".into(), "42".into()));
        assert!(r.check_wellformed().is_err(), "not in the schema");
        let mut r = open();
        r.fields.push(("name".into(), "again".into()));
        assert!(r.check_wellformed().is_err(), "given twice");
        let mut r = open();
        r.fields[1].1 = "x".repeat(MAX_FIELD_VALUE + 1);
        assert!(r.check_wellformed().is_err(), "too long");
        let mut r = open();
        r.acknowledge_within_secs = 0;
        assert!(r.check_wellformed().is_err());
    }

    #[test]
    fn every_type_and_priority_has_a_name_that_parses_back() {
        for t in RequestType::ALL {
            assert_eq!(RequestType::parse(t.name()), Some(t));
            assert!(t.fields().iter().any(|f| f.required), "{}", t.name());
        }
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.name()), Some(p));
            assert!(p.acknowledge_within_secs() < p.answer_within_secs());
        }
        assert_eq!(Priority::Urgent.acknowledge_within_secs(), 3600);
        assert_eq!(RequestType::parse("wiretap"), None);
    }

    #[test]
    fn a_decline_or_withdrawal_gives_a_reason() {
        let ev = |action| RequestEvent {
            request: [1; 16],
            action,
        };
        assert!(
            ev(RequestAction::Decline { reason: " ".into() })
                .check_wellformed()
                .is_err()
        );
        ev(RequestAction::Withdraw {
            reason: "found".into(),
        })
        .check_wellformed()
        .unwrap();
        ev(RequestAction::Answer { partial: true })
            .check_wellformed()
            .unwrap();
    }

    /// The request kind comes after every earlier content kind, so payloads
    /// of those kinds keep their encoding.
    #[test]
    fn the_request_content_kind_is_appended() {
        let ev = RequestEvent {
            request: [2; 16],
            action: RequestAction::Open(open()),
        };
        let bytes = encode_body(&Content::Request(ev.clone()));
        assert_eq!(bytes.first(), Some(&8));
        assert_eq!(decode_body::<Content>(&bytes), Ok(Content::Request(ev)));
    }
}
