//! Consent and receipts: the signed protocol messages that lift a handling
//! restriction for one message and one scope, and that report delivery,
//! acknowledgement of the handling, and destruction.
//!
//! - [`ConsentRequest`] (domain `consent-request`) is signed by the identity
//!   key of the focal point that wants to do something the handling forbids.
//! - [`ConsentDecision`] (domain `consent-decision`) is the originator's grant
//!   or refusal, signed by its identity key. A grant unlocks exactly its
//!   [`ConsentScope`] for exactly one message, until `valid_until`.
//! - [`Receipt`] (domain `receipt`) is sent by a recipient to the originator:
//!   delivered, handling acknowledged, or deleted (the deletion record).
//!
//! All three are [`SignedBody`] types with a canonical postcard encoding and
//! a [`Wire`] encoding of their [`Signed`] form.
//!
//! The checks here are pure. Callers verify signatures (with
//! [`ConsentDecision::verify`] and friends, against the signer's verified
//! directory record) and pass the decoded decisions in, with `now`.
//!
//! Not modelled: revoking a grant. A refusal never cancels an earlier grant;
//! an originator who wants a grant to lapse gives it a `valid_until`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::Wire;
use crate::directory::FocalPointRecord;
use crate::handling::{
    Handling, HandlingError, JudicialUse, MAX_CONDITIONS, MAX_RETAIN, format_time, is_display_safe,
    is_valid_purpose, parse_purpose, parse_time,
};
use crate::ids::{DirectoryId, MessageId, Timestamp};
use crate::keys::VerifyError;
use crate::limits::MAX_RECIPIENTS;
use crate::signed::{Signed, SignedBody};

/// Longest case reference of a judicial consent, in bytes.
pub const MAX_CASE_REFERENCE: usize = 128;
/// Longest reason of a consent request, in bytes.
pub const MAX_REASON: usize = 2048;

/// What a consent is about: one kind of use of one message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConsentScope {
    /// Forward to these focal points (beyond what the handling allows).
    Forward {
        /// The recipients, each at most once.
        recipients: Vec<DirectoryId>,
    },
    /// Use in the judicial proceedings identified by `case_reference`.
    JudicialUse {
        /// The case (court or prosecution reference).
        case_reference: String,
    },
    /// Use for a purpose the handling does not list.
    Purpose {
        /// A [`Purpose`](crate::handling::Purpose) label or `other:...`.
        purpose: String,
    },
    /// Keep the content until `until` instead of the handling's deadline.
    Retention {
        /// The new deadline.
        until: Timestamp,
    },
}

/// Why a consent scope text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsentError {
    /// Nothing was given.
    #[error(
        "empty consent scope: use forward:ID[,ID...], judicial:CASE, purpose:PURPOSE or retain:DATE"
    )]
    Empty,
    /// The kind before the colon is unknown.
    #[error(
        "unknown consent scope \"{token}\": use forward:ID[,ID...], judicial:CASE, \
         purpose:PURPOSE or retain:DATE"
    )]
    UnknownKind {
        /// The scope text found.
        token: String,
    },
    /// A known kind with a value it does not accept.
    #[error("\"{token}\": {expected}")]
    BadValue {
        /// The offending token.
        token: String,
        /// What is accepted instead.
        expected: &'static str,
    },
    /// A recipient listed twice.
    #[error("\"{id}\" is listed twice")]
    Duplicate {
        /// The repeated directory id.
        id: String,
    },
    /// The purpose is not in the vocabulary.
    #[error(transparent)]
    Purpose(#[from] HandlingError),
}

impl ConsentScope {
    /// Parse the text form: `forward:ph.pnp.bob,vn.mps.lan`,
    /// `judicial:CASE-123`, `purpose:prosecution`, `retain:2028-01-01`
    /// (or a full UTC time `retain:2028-01-01T12:00:00Z`).
    pub fn parse_text(s: &str) -> Result<ConsentScope, ConsentError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ConsentError::Empty);
        }
        let unknown = || ConsentError::UnknownKind {
            token: s.to_owned(),
        };
        let (kind, value) = s.split_once(':').ok_or_else(unknown)?;
        let value = value.trim();
        let scope = match kind.trim().to_ascii_lowercase().as_str() {
            "forward" => {
                let mut recipients: Vec<DirectoryId> = Vec::new();
                for id in value.split(',') {
                    let id = id.trim();
                    let parsed = DirectoryId::parse(id).map_err(|_| ConsentError::BadValue {
                        token: id.to_owned(),
                        expected: "forward: takes comma-separated directory ids such as ph.pnp.bob",
                    })?;
                    if recipients.contains(&parsed) {
                        return Err(ConsentError::Duplicate { id: id.to_owned() });
                    }
                    recipients.push(parsed);
                }
                ConsentScope::Forward { recipients }
            }
            "judicial" => ConsentScope::JudicialUse {
                case_reference: value.to_owned(),
            },
            "purpose" => ConsentScope::Purpose {
                purpose: parse_purpose(value)?,
            },
            "retain" => ConsentScope::Retention {
                until: parse_time(value).ok_or_else(|| ConsentError::BadValue {
                    token: s.to_owned(),
                    expected: "retain: takes a UTC date YYYY-MM-DD or time YYYY-MM-DDTHH:MM:SSZ",
                })?,
            },
            _ => return Err(unknown()),
        };
        scope
            .check_wellformed()
            .map_err(|e| ConsentError::BadValue {
                token: s.to_owned(),
                expected: e,
            })?;
        Ok(scope)
    }

    /// The canonical text form; `parse_text(&s.to_text()) == Ok(s)` for
    /// every well-formed scope.
    pub fn to_text(&self) -> String {
        match self {
            ConsentScope::Forward { recipients } => {
                let ids: Vec<&str> = recipients.iter().map(DirectoryId::as_str).collect();
                format!("forward:{}", ids.join(","))
            }
            ConsentScope::JudicialUse { case_reference } => format!("judicial:{case_reference}"),
            ConsentScope::Purpose { purpose } => format!("purpose:{purpose}"),
            ConsentScope::Retention { until } => format!("retain:{}", format_time(*until)),
        }
    }

    /// Structural limits, checked on decode.
    pub fn check_wellformed(&self) -> Result<(), &'static str> {
        match self {
            ConsentScope::Forward { recipients } => {
                if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
                    return Err("a forward consent names 1 to 64 recipients");
                }
                for (i, r) in recipients.iter().enumerate() {
                    if recipients.iter().skip(i + 1).any(|q| q == r) {
                        return Err("a recipient is listed twice");
                    }
                }
            }
            ConsentScope::JudicialUse { case_reference } => {
                if case_reference.is_empty()
                    || case_reference.len() > MAX_CASE_REFERENCE
                    || case_reference.trim() != case_reference
                    || case_reference.contains('\n')
                    || !is_display_safe(case_reference)
                {
                    return Err("a case reference is 1 to 128 bytes of printable text on one line");
                }
            }
            ConsentScope::Purpose { purpose } => {
                if !is_valid_purpose(purpose) {
                    return Err("a purpose is a well-known purpose or other:<words-with-dashes>");
                }
            }
            ConsentScope::Retention { until } => {
                if *until > MAX_RETAIN {
                    return Err("retention deadline after the year 9999");
                }
            }
        }
        Ok(())
    }

    /// Whether a grant of `self` unlocks `needed`: a forward grant covers
    /// any subset of its recipients; a judicial grant only the same case; a
    /// purpose grant only the same purpose; a retention grant any deadline
    /// up to its own.
    pub fn covers(&self, needed: &ConsentScope) -> bool {
        match (self, needed) {
            (ConsentScope::Forward { recipients: g }, ConsentScope::Forward { recipients: n }) => {
                !n.is_empty() && n.iter().all(|r| g.contains(r))
            }
            (
                ConsentScope::JudicialUse { case_reference: g },
                ConsentScope::JudicialUse { case_reference: n },
            ) => g == n,
            (ConsentScope::Purpose { purpose: g }, ConsentScope::Purpose { purpose: n }) => g == n,
            (ConsentScope::Retention { until: g }, ConsentScope::Retention { until: n }) => n <= g,
            _ => false,
        }
    }

    /// Plain words, completing "consent to ...".
    pub fn describe(&self) -> String {
        match self {
            ConsentScope::Forward { recipients } => {
                let ids: Vec<&str> = recipients.iter().map(DirectoryId::as_str).collect();
                format!("forward it to {}", ids.join(", "))
            }
            ConsentScope::JudicialUse { case_reference } => {
                format!("use it in judicial proceedings in case {case_reference}")
            }
            ConsentScope::Purpose { purpose } => {
                let what = crate::handling::Purpose::parse(purpose)
                    .map(|p| p.meaning().to_owned())
                    .unwrap_or_else(|| purpose.clone());
                format!("use it for {what}")
            }
            ConsentScope::Retention { until } => format!("keep it until {}", format_time(*until)),
        }
    }
}

impl fmt::Display for ConsentScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl std::str::FromStr for ConsentScope {
    type Err = ConsentError;
    fn from_str(s: &str) -> Result<Self, ConsentError> {
        ConsentScope::parse_text(s)
    }
}

/// A request to the originator of `message_id` to lift a restriction.
/// Signed by the requester's identity key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    /// Random id chosen by the requester; the decision refers to it.
    pub request_id: [u8; 16],
    /// The message (the original payload's id, not a forward's).
    pub message_id: MessageId,
    /// What the requester wants to do.
    pub scope: ConsentScope,
    /// Why, in the requester's words.
    pub reason: String,
    /// The requesting focal point.
    pub requested_by: DirectoryId,
    /// When made (requester's clock).
    pub created_at: Timestamp,
}

impl SignedBody for ConsentRequest {
    const DOMAIN: &'static str = "consent-request";
    const MAX_BODY: usize = 8 * 1024;
}

impl Wire for Signed<ConsentRequest> {
    const MAX_LEN: usize = ConsentRequest::MAX_BODY + 256;
}

impl ConsentRequest {
    /// Structural limits.
    pub fn check_wellformed(&self) -> Result<(), &'static str> {
        self.scope.check_wellformed()?;
        if self.reason.len() > MAX_REASON || !is_display_safe(&self.reason) {
            return Err("a reason is at most 2048 bytes of printable text");
        }
        Ok(())
    }

    /// Verify a signed request against the requester's verified directory
    /// record: signed by its identity key, naming it, well-formed.
    pub fn verify(
        signed: &Signed<ConsentRequest>,
        requester: &FocalPointRecord,
    ) -> Result<ConsentRequest, VerifyError> {
        let r = signed.verify_by(&requester.identity_key)?;
        r.check_wellformed().map_err(VerifyError::Inconsistent)?;
        if r.requested_by != requester.id {
            return Err(VerifyError::Inconsistent(
                "consent request names another requester",
            ));
        }
        Ok(r)
    }
}

/// The originator's answer to a [`ConsentRequest`] (or an unsolicited
/// grant, with an all-zero `request_id`). Signed by the originator's
/// identity key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentDecision {
    /// The request answered.
    pub request_id: [u8; 16],
    /// The message (the original payload's id).
    pub message_id: MessageId,
    /// What is granted or refused; a grant may be narrower than the
    /// request.
    pub scope: ConsentScope,
    /// Granted or refused.
    pub granted: bool,
    /// Conditions attached to a grant, or the reason for a refusal.
    pub conditions: String,
    /// The originator.
    pub decided_by: DirectoryId,
    /// When decided (originator's clock).
    pub decided_at: Timestamp,
    /// A grant lapses at this time (exclusive); `None`: no lapse.
    pub valid_until: Option<Timestamp>,
}

impl SignedBody for ConsentDecision {
    const DOMAIN: &'static str = "consent-decision";
    const MAX_BODY: usize = 8 * 1024;
}

impl Wire for Signed<ConsentDecision> {
    const MAX_LEN: usize = ConsentDecision::MAX_BODY + 256;
}

impl ConsentDecision {
    /// Structural limits.
    pub fn check_wellformed(&self) -> Result<(), &'static str> {
        self.scope.check_wellformed()?;
        if self.conditions.len() > MAX_CONDITIONS || !is_display_safe(&self.conditions) {
            return Err("consent conditions are at most 2048 bytes of printable text");
        }
        Ok(())
    }

    /// Verify a signed decision against the originator's verified directory
    /// record: signed by its identity key, naming it, well-formed. The
    /// caller must also check that `originator` is the sender of the
    /// message the decision is about.
    pub fn verify(
        signed: &Signed<ConsentDecision>,
        originator: &FocalPointRecord,
    ) -> Result<ConsentDecision, VerifyError> {
        let d = signed.verify_by(&originator.identity_key)?;
        d.check_wellformed().map_err(VerifyError::Inconsistent)?;
        if d.decided_by != originator.id {
            return Err(VerifyError::Inconsistent(
                "consent decision names another originator",
            ));
        }
        Ok(d)
    }

    /// A grant for `message_id` that has not lapsed at `now`.
    pub fn is_in_force(&self, message_id: &MessageId, now: Timestamp) -> bool {
        self.granted && &self.message_id == message_id && self.valid_until.is_none_or(|v| now < v)
    }

    /// Whether this decision unlocks `needed` for `message_id` at `now`: it
    /// is a grant, for that message, not lapsed, and its scope covers
    /// `needed` ([`ConsentScope::covers`]). Does not check who decided: use
    /// [`find_grant`] with the originator, or filter first.
    pub fn covers(&self, message_id: &MessageId, needed: &ConsentScope, now: Timestamp) -> bool {
        self.is_in_force(message_id, now) && self.scope.covers(needed)
    }
}

/// The originator's grant among `decisions` that unlocks `needed` for
/// `message_id` at `now`, if any. Decisions by anyone other than
/// `originator` are ignored.
pub fn find_grant<'d>(
    decisions: &'d [ConsentDecision],
    message_id: &MessageId,
    originator: &DirectoryId,
    needed: &ConsentScope,
    now: Timestamp,
) -> Option<&'d ConsentDecision> {
    decisions
        .iter()
        .find(|d| &d.decided_by == originator && d.covers(message_id, needed, now))
}

/// What the originator said earlier about a scope that is not (or no
/// longer) granted, so a refusal can tell the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorDecision {
    /// Nothing on record.
    None,
    /// A grant covered it but lapsed at this time.
    Lapsed(Timestamp),
    /// The originator refused it at this time.
    Refused(Timestamp),
}

/// The latest lapsed grant or refusal by `originator` about `needed` for
/// `message_id`.
pub fn prior_decision(
    decisions: &[ConsentDecision],
    message_id: &MessageId,
    originator: &DirectoryId,
    needed: &ConsentScope,
    now: Timestamp,
) -> PriorDecision {
    latest_prior(decisions, message_id, originator, now, |s| s.covers(needed))
}

fn latest_prior(
    decisions: &[ConsentDecision],
    message_id: &MessageId,
    originator: &DirectoryId,
    now: Timestamp,
    about: impl Fn(&ConsentScope) -> bool,
) -> PriorDecision {
    decisions
        .iter()
        .filter(|d| {
            &d.decided_by == originator
                && &d.message_id == message_id
                && about(&d.scope)
                && !d.is_in_force(message_id, now)
        })
        .max_by_key(|d| d.decided_at)
        .map_or(PriorDecision::None, |d| match (d.granted, d.valid_until) {
            (true, Some(v)) => PriorDecision::Lapsed(v),
            _ => PriorDecision::Refused(d.decided_at),
        })
}

impl PriorDecision {
    /// A sentence about it, starting with a space, or nothing.
    pub(crate) fn sentence(&self, what: &str) -> String {
        match self {
            PriorDecision::None => String::new(),
            PriorDecision::Lapsed(t) => {
                format!(
                    " The originator's consent to {what} lapsed at {}.",
                    format_time(*t)
                )
            }
            PriorDecision::Refused(t) => format!(
                " The originator refused consent to {what} on {}.",
                format_time(*t)
            ),
        }
    }
}

/// The handling in force for a recipient at `now`: the original with the
/// originator's current grants applied. A purpose grant adds its purpose
/// (when the original lists purposes at all); a retention grant moves the
/// deadline later (when the original has one). The grant's conditions are
/// appended as condition lines. Forward and judicial grants do not change
/// the handling; `scope::check_forward` and
/// [`check_judicial_use`] consult them.
pub fn effective_handling(
    original: &Handling,
    message_id: &MessageId,
    originator: &DirectoryId,
    grants: &[ConsentDecision],
    now: Timestamp,
) -> Handling {
    let mut h = original.clone();
    for g in grants
        .iter()
        .filter(|g| &g.decided_by == originator && g.is_in_force(message_id, now))
    {
        let applied = match &g.scope {
            ConsentScope::Purpose { purpose } => {
                if h.purposes.is_empty() || h.purposes.contains(purpose) {
                    false
                } else {
                    h.purposes.push(purpose.clone());
                    true
                }
            }
            ConsentScope::Retention { until } => match h.retain_until {
                Some(r) if *until > r => {
                    h.retain_until = Some(*until);
                    true
                }
                _ => false,
            },
            ConsentScope::Forward { .. } | ConsentScope::JudicialUse { .. } => false,
        };
        if applied && !g.conditions.trim().is_empty() {
            for line in g.conditions.lines() {
                h.add_condition(&format!("({}) {}", g.scope.to_text(), line.trim()));
            }
        }
    }
    h
}

/// Why judicial use of a message is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct JudicialRefusal {
    /// The message.
    pub message_id: MessageId,
    /// Its judicial-use code.
    pub judicial_use: JudicialUse,
    /// Who can consent.
    pub originator: DirectoryId,
    /// The case asked about, if any.
    pub case_reference: Option<String>,
    /// What the originator said before.
    pub prior: PriorDecision,
}

impl JudicialRefusal {
    /// The scope to request.
    pub fn needed_scope(&self) -> ConsentScope {
        ConsentScope::JudicialUse {
            case_reference: self
                .case_reference
                .clone()
                .unwrap_or_else(|| "CASE-REFERENCE".to_owned()),
        }
    }

    /// The command that asks the originator for consent.
    pub fn consent_command(&self) -> String {
        format!(
            "liaison consent request {} --scope {} --reason \"...\"",
            self.message_id.to_hex(),
            crate::shell::quote(&self.needed_scope().to_text())
        )
    }

    fn message(&self) -> String {
        let head = match self.judicial_use {
            JudicialUse::Prohibited => {
                "The originator prohibited judicial use of this message (judicial=prohibited); \
                 only their written consent can lift that."
            }
            _ => {
                "Judicial use of this message needs the originator's written consent \
                 (judicial=with-consent)."
            }
        };
        let what = match &self.case_reference {
            Some(c) => format!("judicial use in case {c}"),
            None => "judicial use".to_owned(),
        };
        format!(
            "{head}{} Ask the originator {}: {}",
            self.prior.sentence(&what),
            self.originator,
            self.consent_command()
        )
    }
}

/// Whether the message may be used in judicial proceedings (exported as
/// evidence) at `now`. `Permitted` needs nothing (`Ok(None)`); otherwise a
/// judicial grant by the originator for this message is needed, for
/// `case_reference` if one is given, for any case if not. Returns the grant
/// used, to be included in the evidence bundle. A grant lifts `Prohibited`
/// too: the originator set the restriction and may lift it.
pub fn check_judicial_use<'g>(
    handling: &Handling,
    message_id: &MessageId,
    originator: &DirectoryId,
    case_reference: Option<&str>,
    grants: &'g [ConsentDecision],
    now: Timestamp,
) -> Result<Option<&'g ConsentDecision>, JudicialRefusal> {
    if handling.judicial_use == JudicialUse::Permitted {
        return Ok(None);
    }
    let found = grants.iter().find(|g| {
        &g.decided_by == originator
            && g.is_in_force(message_id, now)
            && matches!(&g.scope, ConsentScope::JudicialUse { case_reference: c }
                if case_reference.is_none_or(|want| want == c))
    });
    if let Some(g) = found {
        return Ok(Some(g));
    }
    let prior = latest_prior(grants, message_id, originator, now, |s| {
        matches!(s, ConsentScope::JudicialUse { case_reference: c }
            if case_reference.is_none_or(|want| want == c))
    });
    Err(JudicialRefusal {
        message_id: *message_id,
        judicial_use: handling.judicial_use,
        originator: originator.clone(),
        case_reference: case_reference.map(str::to_owned),
        prior,
    })
}

/// What a [`Receipt`] reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptKind {
    /// The recipient's client received and verified the message.
    Delivered,
    /// The recipient read the handling and accepted it before seeing the
    /// content. Binds the exact signed payload (and so the exact handling)
    /// acknowledged.
    HandlingAcknowledged {
        /// `message::payload_hash` of the signed payload.
        payload_hash: [u8; 32],
    },
    /// The deletion record: the content was destroyed (retention ended);
    /// only this hash is kept.
    Deleted {
        /// `message::payload_hash` of the destroyed signed payload.
        payload_hash: [u8; 32],
    },
}

/// A recipient's signed report to the originator about one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The message.
    pub message_id: MessageId,
    /// What happened.
    pub kind: ReceiptKind,
    /// The recipient reporting.
    pub by: DirectoryId,
    /// When (recipient's clock).
    pub at: Timestamp,
}

impl SignedBody for Receipt {
    const DOMAIN: &'static str = "receipt";
    const MAX_BODY: usize = 512;
}

impl Wire for Signed<Receipt> {
    const MAX_LEN: usize = Receipt::MAX_BODY + 256;
}

impl Receipt {
    /// Verify a signed receipt against the recipient's verified directory
    /// record: signed by its identity key and naming it.
    pub fn verify(signed: &Signed<Receipt>, by: &FocalPointRecord) -> Result<Receipt, VerifyError> {
        let r = signed.verify_by(&by.identity_key)?;
        if r.by != by.id {
            return Err(VerifyError::Inconsistent("receipt names another recipient"));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> DirectoryId {
        DirectoryId::parse(s).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn scope_text_examples() {
        for s in [
            "forward:ph.pnp.bob,vn.mps.lan",
            "judicial:CASE-123",
            "judicial:OSG 2026/41 (Manila RTC)",
            "purpose:prosecution",
            "purpose:other:asset-tracing",
            "retain:2028-01-01",
            "retain:2028-01-01T12:30:00Z",
        ] {
            let scope = ConsentScope::parse_text(s);
            assert_eq!(
                scope.as_ref().map(ConsentScope::to_text).ok(),
                Some(s.to_owned())
            );
        }
        assert_eq!(
            ConsentScope::parse_text(" Forward: ph.pnp.bob , vn.mps.lan ").map(|s| s.to_text()),
            Ok("forward:ph.pnp.bob,vn.mps.lan".into())
        );
        assert_eq!(
            ConsentScope::parse_text("retain:2028-01-01T00:00:00Z").map(|s| s.to_text()),
            Ok("retain:2028-01-01".into())
        );
    }

    #[test]
    fn scope_text_errors_name_the_token() {
        let cases = [
            ("", "empty"),
            ("export:x", "export:x"),
            ("forward", "forward"),
            ("forward:", "forward:"),
            ("forward:ph.pnp.bob,PH.PNP.X", "PH.PNP.X"),
            ("forward:ph.pnp.bob,ph.pnp.bob", "ph.pnp.bob"),
            ("judicial:", "judicial:"),
            ("purpose:fishing", "fishing"),
            ("retain:2028-02-30", "retain:2028-02-30"),
        ];
        for (input, named) in cases {
            let e = ConsentScope::parse_text(input).map(|s| s.to_text());
            let msg = e.clone().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains(named), "{input:?} → {e:?}");
        }
    }

    #[test]
    fn scope_coverage() {
        let bob = id("ph.pnp.bob");
        let lan = id("vn.mps.lan");
        let grant = ConsentScope::Forward {
            recipients: vec![bob.clone()],
        };
        assert!(grant.covers(&ConsentScope::Forward {
            recipients: vec![bob.clone()]
        }));
        assert!(!grant.covers(&ConsentScope::Forward {
            recipients: vec![lan.clone()]
        }));
        assert!(!grant.covers(&ConsentScope::Forward {
            recipients: vec![bob, lan]
        }));
        assert!(!grant.covers(&ConsentScope::Forward { recipients: vec![] }));
        let r = |s: &str| ConsentScope::Retention {
            until: parse_time(s).unwrap_or_default(),
        };
        assert!(r("2028-01-01").covers(&r("2027-01-01")));
        assert!(!r("2027-01-01").covers(&r("2028-01-01")));
        assert!(!r("2028-01-01").covers(&ConsentScope::Purpose {
            purpose: "rescue".into()
        }));
    }
}
