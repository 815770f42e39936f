//! What the API shows of the home: messages, contacts, roles, receipts,
//! consents, the agent's own state.
//!
//! Each view's JSON is what `liaison … --json` prints, field for field, so
//! the command line shows the same thing with or without an agent. Times
//! are RFC 3339 (UTC), ids and keys lower-case hex.

use std::collections::BTreeMap;

use liaison_protocol::consent::{ConsentDecision, ConsentRequest};
use liaison_protocol::directory::{Directory, FocalPointRecord, RecordStatus, RoleRecord};
use liaison_protocol::handling::Handling;
use liaison_protocol::scope::{ForwardRefusal, ForwardRule};
use liaison_protocol::{DirectoryId, Signed, Timestamp, Wire};
use serde::{Deserialize, Serialize};

use crate::client::{Direction, StoredMessage, SyncReport};
use crate::contacts::Contacts;
use crate::core::records::{ConsentRecord, ReceiptRecord};

/// A handling, in words and in its text form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandlingView {
    /// TLP 2.0 label, such as `AMBER+STRICT`.
    pub tlp: String,
    /// Judicial use, such as `prohibited`.
    pub judicial_use: String,
    /// The non-punishment principle applies.
    pub protect_victims: bool,
    /// When the recipient's client destroys the content.
    pub retain_until: Option<String>,
    /// Permitted purposes.
    pub purposes: Vec<String>,
    /// Free-text conditions.
    pub conditions: String,
    /// One-line summary.
    pub summary: String,
    /// What the handling asks of the reader, in plain words, one line per
    /// rule.
    pub explained: Vec<String>,
    /// The canonical text form.
    pub text: String,
}

impl From<&Handling> for HandlingView {
    fn from(h: &Handling) -> Self {
        HandlingView {
            tlp: h.dissemination.label().to_owned(),
            judicial_use: format!("{:?}", h.judicial_use).to_lowercase(),
            protect_victims: h.protect_victims,
            retain_until: h.retain_until.map(Timestamp::to_rfc3339),
            purposes: h.purposes.clone(),
            conditions: h.conditions.clone(),
            summary: h.summary(),
            explained: h.explain(),
            text: h.to_text(),
        }
    }
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    /// Message id.
    pub id: String,
    /// Sender (verified when `verified`).
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Sender's creation time.
    pub sent_at: String,
    /// When the relay accepted it (its clock; `sent_at` is the sender's).
    pub stored_at: String,
    /// When `sent_at` and `stored_at` are more than ten minutes apart: by
    /// how many seconds (a wrong clock, or a message held back).
    pub clock_skew_secs: Option<u64>,
    /// Held until the user accepts the sender's changed identity key
    /// (`error` says how).
    pub held: bool,
    /// Conversation id.
    pub conversation: String,
    /// The text; `None` while the handling is not acknowledged (then
    /// `withheld` is true), when rejected, or after the content was
    /// destroyed.
    pub text: Option<String>,
    /// The content is held back until this focal point acknowledges the
    /// originator's handling (`liaison read ID --accept`), which sends the
    /// originator a signed receipt.
    pub withheld: bool,
    /// Signature and sender's record verified.
    pub verified: bool,
    /// Why it was rejected.
    pub error: Option<String>,
    /// The handling set by the originator.
    pub handling: HandlingView,
    /// `in` or `out`.
    pub direction: String,
    /// For sent messages: the relay durably accepted it.
    pub accepted: bool,
    /// The relay's event log provably records it.
    pub logged: bool,
    /// `text`, `forward`, `handover`, `receipts`, `consent-request`,
    /// `consent-decision`.
    pub kind: String,
    /// For a forward: the originator.
    pub original_from: Option<String>,
    /// When the handling was acknowledged.
    pub acknowledged_at: Option<String>,
    /// When the content was destroyed (retention ended).
    pub destroyed_at: Option<String>,
    /// Who handed it over, if it came in a role handover.
    pub handed_over_by: Option<String>,
    /// For a forward the handling allows only with the originator's
    /// consent: the originator's grants it came with, whose conditions
    /// bind the reader.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwarded_with_consent: Vec<GrantView>,
    /// For a consent request received: it waits for this focal point's
    /// decision (`liaison consent grant ID` or `consent refuse ID`, with
    /// this message's id).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_decision: bool,
    /// A received message whose sender's record was revoked after the
    /// relay accepted it: "sent before X's device was revoked on DATE
    /// (reason)". It was judged by the record in force when the relay
    /// accepted it.
    #[serde(default)]
    pub note: Option<String>,
    /// For a sent message the relay has not accepted: it is kept on this
    /// device and goes out at the next sync. `false` with `accepted` false:
    /// it is no longer kept to go out (none of its recipients was still
    /// active, or the relay refused it).
    #[serde(default)]
    pub queued: bool,
    /// The title of the case whose conversation the message is in, if it
    /// is in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// For a sent message in a `conversation` answer: per recipient, the
    /// receipts seen (as `receipts` gives them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receipts: Vec<ReceiptRow>,
    /// The files it carries, as the sender signed them; listed only when
    /// its content may be read (`text` is given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentView>,
}

/// A file a message carries (never its key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentView {
    /// Its name, as the sender gave it.
    pub name: String,
    /// Its media type, as the sender gave it.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its content (64 hex digits), as signed.
    pub sha256: String,
}

impl From<&liaison_protocol::message::AttachmentRef> for AttachmentView {
    fn from(a: &liaison_protocol::message::AttachmentRef) -> Self {
        AttachmentView {
            name: a.name.clone(),
            media_type: a.media_type.clone(),
            size: a.size,
            sha256: hex::encode(a.sha256),
        }
    }
}

/// What the conversation list shows of one conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationView {
    /// The conversation id.
    pub conversation: String,
    /// Everyone in it but this focal point, in order of first appearance.
    pub with: Vec<String>,
    /// Messages in it (text, forwards, handed-over messages).
    pub messages: usize,
    /// Received messages whose handling is not acknowledged yet.
    pub unread: usize,
    /// The newest message's id.
    pub newest: String,
    /// Its sender's time.
    pub newest_at: String,
    /// Its TLP label.
    pub newest_tlp: String,
    /// The title of the case it belongs to, if it is a case's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
}

/// An originator's consent grant, as a forward carried it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantView {
    /// The originator who granted it.
    pub by: String,
    /// What it allows (consent scope text).
    pub scope: String,
    /// The conditions attached, in the originator's words.
    pub conditions: String,
    /// When it was granted (the originator's clock).
    pub decided_at: String,
    /// When it lapses, if it does.
    pub valid_until: Option<String>,
}

impl From<&ConsentDecision> for GrantView {
    fn from(d: &ConsentDecision) -> Self {
        GrantView {
            by: d.decided_by.to_string(),
            scope: d.scope.to_text(),
            conditions: d.conditions.clone(),
            decided_at: d.decided_at.to_rfc3339(),
            valid_until: d.valid_until.map(Timestamp::to_rfc3339),
        }
    }
}

impl MessageView {
    /// Whether this is a received message.
    pub fn is_incoming(&self) -> bool {
        self.direction == "in"
    }
}

impl From<&StoredMessage> for MessageView {
    fn from(m: &StoredMessage) -> Self {
        MessageView {
            id: m.id.to_hex(),
            from: m.from.clone(),
            to: m.to.clone(),
            sent_at: m.sent_at.to_rfc3339(),
            stored_at: m.stored_at.to_rfc3339(),
            clock_skew_secs: m.clock_skew_ms().map(|ms| ms / 1000),
            held: m.is_held(),
            conversation: m.conversation.to_hex(),
            text: m.visible_text().map(str::to_owned),
            withheld: m.withheld(),
            verified: m.verified,
            error: m.error.clone(),
            handling: HandlingView::from(&m.handling),
            direction: match m.direction {
                Direction::In => "in",
                Direction::Out => "out",
            }
            .to_owned(),
            accepted: m.accepted,
            logged: m.logged,
            kind: m.kind.as_str().to_owned(),
            original_from: m.original_from.clone(),
            acknowledged_at: m.acknowledged_at.map(Timestamp::to_rfc3339),
            destroyed_at: m.destroyed_at.map(Timestamp::to_rfc3339),
            handed_over_by: m.via_handover.clone(),
            forwarded_with_consent: crate::core::open::carried_grants(m)
                .iter()
                .map(GrantView::from)
                .collect(),
            awaiting_decision: m.direction == Direction::In
                && m.verified
                && m.kind == crate::core::message::MessageKind::ConsentRequest,
            note: None,
            queued: false,
            case: None,
            receipts: Vec::new(),
            attachments: Vec::new(),
        }
    }
}

/// An envelope rejected during a sync.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectedView {
    /// The message id from the envelope.
    pub id: String,
    /// Why.
    pub error: String,
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncView {
    /// New verified messages.
    pub received: Vec<MessageView>,
    /// Rejected envelopes.
    pub rejected: Vec<RejectedView>,
    /// Redeliveries of messages already held.
    pub duplicates: usize,
    /// Unconfirmed sends retried.
    pub resent: usize,
    /// Relay log inconsistencies detected (with evidence paths).
    pub log_inconsistencies: Vec<String>,
    /// Events of our messages the relay's event log omits or contradicts
    /// (with evidence paths).
    #[serde(default)]
    pub log_omissions: Vec<String>,
}

impl From<&SyncReport> for SyncView {
    fn from(r: &SyncReport) -> Self {
        SyncView {
            received: r.received.iter().map(MessageView::from).collect(),
            rejected: r
                .rejected
                .iter()
                .map(|(id, e)| RejectedView {
                    id: id.to_hex(),
                    error: e.clone(),
                })
                .collect(),
            duplicates: r.duplicates,
            resent: r.flushed,
            log_inconsistencies: r.forks.clone(),
            log_omissions: r.log_omissions.clone(),
        }
    }
}

/// This focal point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhoamiView {
    /// Directory id.
    pub id: String,
    /// Identity public key (hex).
    pub identity_key: String,
    /// Identity key fingerprint.
    pub identity_fingerprint: String,
    /// This device's signing key (hex).
    pub device_key: String,
    /// Our record is in force and lists this device.
    pub enrolled: bool,
    /// Where this focal point and device stand: `active`, `not-enrolled`,
    /// `revoked`, `replaced`, `device-removed` or `not-in-force`.
    #[serde(default)]
    pub standing: String,
    /// Unless active: what happened (when and why, for a revocation) and
    /// what to do.
    #[serde(default)]
    pub standing_note: Option<String>,
    /// Sends awaiting the relay's confirmation.
    pub outbox: usize,
}

/// Filters for the contact list (all optional, case-insensitive).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactFilter {
    /// Only this country (TH, PH, ...).
    #[serde(default)]
    pub country: Option<String>,
    /// Only this agency.
    #[serde(default)]
    pub agency: Option<String>,
    /// Only holders of this role.
    #[serde(default)]
    pub role: Option<String>,
    /// Only contacts working in this language.
    #[serde(default)]
    pub language: Option<String>,
    /// Only names or ids containing this text.
    #[serde(default)]
    pub name: Option<String>,
}

impl ContactFilter {
    /// Whether a record holding `roles` passes the filter.
    pub fn matches(&self, r: &FocalPointRecord, roles: &[String]) -> bool {
        let eq = |a: &str, b: &Option<String>| b.as_ref().is_none_or(|b| a.eq_ignore_ascii_case(b));
        eq(r.country.as_str(), &self.country)
            && eq(&r.agency, &self.agency)
            && self
                .role
                .as_ref()
                .is_none_or(|x| roles.iter().any(|h| h.eq_ignore_ascii_case(x)))
            && self
                .language
                .as_ref()
                .is_none_or(|x| r.languages.iter().any(|l| l.eq_ignore_ascii_case(x)))
            && self.name.as_ref().is_none_or(|x| {
                let x = x.to_lowercase();
                r.name.to_lowercase().contains(&x) || r.id.as_str().contains(&x)
            })
    }
}

/// A verified contact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactView {
    /// Directory id.
    pub id: String,
    /// `focal-point`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Agency.
    pub agency: String,
    /// Unit.
    pub unit: String,
    /// Country.
    pub country: String,
    /// Working languages.
    pub languages: Vec<String>,
    /// IANA time zone.
    pub time_zone: String,
    /// Working hours.
    pub working_hours: String,
    /// Roles held.
    pub roles: Vec<String>,
    /// Record version.
    pub version: u64,
    /// Active now.
    pub active: bool,
    /// The authority that vouched for the record.
    pub vouched_by: String,
    /// Valid from.
    pub vouched_since: String,
    /// Valid until.
    pub valid_until: String,
    /// Identity key fingerprint.
    pub identity_fingerprint: String,
    /// Device fingerprints.
    pub devices: Vec<String>,
    /// Safety numbers compared in person.
    pub verified_in_person: bool,
    /// The identity key changed and was not accepted yet.
    pub key_changed: bool,
    /// Fingerprints of devices the contact added (endorsed by their
    /// identity and countersigned by their authority) that were not yet
    /// announced to this person: a send announces them, and so does the
    /// web app's banner (`contact-devices-seen`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_devices: Vec<String>,
    /// `active`, `revoked`, `expired` or `not-yet-valid`.
    #[serde(default)]
    pub status: String,
    /// For a revoked contact: the reason its authority gave.
    #[serde(default)]
    pub revoked_reason: Option<String>,
    /// Since when it is not active: the revocation (when the revocation
    /// says), or the end of its validity.
    #[serde(default)]
    pub inactive_since: Option<String>,
}

impl ContactView {
    /// The status as a short mark for a line of text ("" when active):
    /// `[REVOKED 2026-05-01T…: reason]`, `[EXPIRED 2026-…]`.
    pub fn status_mark(&self) -> String {
        let since = self
            .inactive_since
            .as_deref()
            .map(|t| format!(" {t}"))
            .unwrap_or_default();
        match self.status.as_str() {
            "revoked" => format!(
                "[REVOKED{since}: {}]",
                self.revoked_reason.as_deref().unwrap_or("no reason given")
            ),
            "expired" => format!("[EXPIRED{since}]"),
            "not-yet-valid" => "[NOT YET VALID]".to_owned(),
            _ => String::new(),
        }
    }
}

/// The contacts of `dir` passing `filter`, with what we remember of them.
pub fn contact_views(
    dir: &Directory,
    known: &Contacts,
    revoked_at: &dyn Fn(&DirectoryId) -> Option<Timestamp>,
    filter: &ContactFilter,
    now: Timestamp,
) -> Vec<ContactView> {
    let mut rows = Vec::new();
    for r in dir.records() {
        let holds: Vec<String> = dir
            .roles()
            .filter(|role| role.holders.contains(&r.id))
            .map(|role| role.id.to_string())
            .collect();
        if !filter.matches(r, &holds) {
            continue;
        }
        let vouched_by = dir
            .signed_record(&r.id)
            .and_then(|s| dir.authority(s.signer()))
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let state = known.get(r.id.as_str());
        let (status, revoked_reason, inactive_since) = match &r.status {
            RecordStatus::Revoked { reason } => (
                "revoked",
                Some(reason.clone()),
                revoked_at(&r.id).map(|t| t.to_rfc3339()),
            ),
            RecordStatus::Active if now >= r.not_after => {
                ("expired", None, Some(r.not_after.to_rfc3339()))
            }
            RecordStatus::Active if now < r.not_before => ("not-yet-valid", None, None),
            RecordStatus::Active => ("active", None, None),
        };
        rows.push(ContactView {
            id: r.id.to_string(),
            kind: "focal-point".to_owned(),
            name: r.name.clone(),
            agency: r.agency.clone(),
            unit: r.unit.clone(),
            country: r.country.to_string(),
            languages: r.languages.clone(),
            time_zone: r.time_zone.clone(),
            working_hours: r.working_hours.clone(),
            roles: holds,
            version: r.version,
            active: r.is_active(now),
            vouched_by,
            vouched_since: r.not_before.to_rfc3339(),
            valid_until: r.not_after.to_rfc3339(),
            identity_fingerprint: r.identity_key.fingerprint().to_string(),
            devices: r
                .devices
                .iter()
                .map(|d| d.signing.fingerprint().to_string())
                .collect(),
            verified_in_person: state.is_some_and(|s| s.verified_in_person),
            key_changed: state.is_some_and(|s| s.key_changed.is_some()),
            new_devices: state
                .map(|s| {
                    s.new_devices
                        .iter()
                        .map(|d| d.fingerprint().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            status: status.to_owned(),
            revoked_reason,
            inactive_since,
        });
    }
    rows
}

/// A structured request as this home holds it (`liaison request list`,
/// `request show`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestView {
    /// The request id (32 hex digits).
    pub request: String,
    /// Its type (`locate-person`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// `urgent`, `high` or `normal`.
    pub priority: String,
    /// `open`, `acknowledged`, `in-progress`, `partly-answered`,
    /// `answered`, `declined` or `withdrawn`.
    pub status: String,
    /// This focal point sent it.
    pub mine: bool,
    /// Who asked.
    pub requester: String,
    /// The focal point or role it was addressed to.
    pub to: String,
    /// Everyone it was addressed to, escalations included, in order.
    pub addressees: Vec<String>,
    /// When it was sent (requester's clock).
    pub sent_at: String,
    /// When the answer is due.
    pub due: String,
    /// While nobody acknowledged it: when it escalates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge_by: Option<String>,
    /// Not acknowledged in time.
    pub overdue: bool,
    /// Past its due date without an answer.
    pub late: bool,
    /// The requester sent an outcome.
    pub outcome: bool,
    /// Its fields, as (name, value), in the order given; empty while the
    /// handling of the message that brought it here is not acknowledged
    /// (`withheld`).
    pub fields: Vec<(String, String)>,
    /// The message that brought the request here waits for this focal
    /// point to acknowledge its handling (`liaison read MESSAGE --accept`,
    /// with `message`): until then its fields are not shown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub withheld: bool,
    /// The message that brought the request here (its opening, or the
    /// escalation that reached this focal point).
    pub message: String,
    /// The conversation its steps travel in.
    pub conversation: String,
    /// Every step held: `action`, `by`, `at`, `message`.
    pub steps: Vec<RequestStepView>,
}

/// One step of a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestStepView {
    /// `open`, `acknowledge`, `progress`, `answer`, `partial-answer`,
    /// `decline`, `withdraw`, `outcome` or `escalate`.
    pub action: String,
    /// Its author.
    pub by: String,
    /// Its author's time.
    pub at: String,
    /// The message that carried it (`liaison read` shows its words).
    pub message: String,
}

impl RequestView {
    /// The view of `r` for focal point `me` at `now`; `withheld` when the
    /// message that brought it here is (its fields are then left out).
    pub fn new(
        r: &crate::core::request::RequestState,
        me: &liaison_protocol::DirectoryId,
        now: Timestamp,
        withheld: bool,
    ) -> Self {
        let acknowledge_by = r.acknowledge_by();
        RequestView {
            request: hex::encode(r.id),
            kind: r.open.kind.name().to_owned(),
            priority: r.open.priority.name().to_owned(),
            status: r.status.name().to_owned(),
            mine: r.requester == *me,
            requester: r.requester.to_string(),
            to: r.open.to.to_string(),
            addressees: r.addressees.iter().map(ToString::to_string).collect(),
            sent_at: r.sent_at.to_rfc3339(),
            due: r.open.due.to_rfc3339(),
            acknowledge_by: acknowledge_by.map(Timestamp::to_rfc3339),
            overdue: acknowledge_by.is_some_and(|by| now >= by),
            late: r.is_late(now),
            outcome: r.outcome,
            fields: if withheld {
                Vec::new()
            } else {
                r.open.fields.clone()
            },
            withheld,
            message: r
                .steps
                .first()
                .map(|s| s.message.to_hex())
                .unwrap_or_default(),
            conversation: r.conversation.to_hex(),
            steps: r
                .steps
                .iter()
                .map(|s| RequestStepView {
                    action: s.action.clone(),
                    by: s.by.to_string(),
                    at: s.at.to_rfc3339(),
                    message: s.message.to_hex(),
                })
                .collect(),
        }
    }

    /// Where it goes in a list: overdue first, then late, then open ones
    /// by due date, then the others newest first.
    pub fn rank(&self) -> (u8, String) {
        if self.overdue {
            (0, self.acknowledge_by.clone().unwrap_or_default())
        } else if self.late {
            (1, self.due.clone())
        } else if !matches!(self.status.as_str(), "answered" | "declined" | "withdrawn") {
            (2, self.due.clone())
        } else {
            // Newest first: invert the time's digits.
            (
                3,
                self.sent_at
                    .chars()
                    .map(|c| match c.to_digit(10) {
                        Some(d) => char::from_digit(9 - d, 10).unwrap_or(c),
                        None => c,
                    })
                    .collect(),
            )
        }
    }
}

/// A case as this home holds it (`liaison case show`, `case list`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseView {
    /// Case id (32 hex digits; the conversation id of its messages).
    pub id: String,
    /// Title.
    pub title: String,
    /// Reference (a national case number), if any.
    pub reference: Option<String>,
    /// The default handling of its messages.
    pub handling: HandlingView,
    /// The owner (who alone adds and removes members).
    pub owner: String,
    /// The members (focal points and roles), the owner first.
    pub members: Vec<String>,
    /// Whether this focal point was removed from it.
    pub removed: bool,
    /// The number of the last change held (0: the opening).
    pub changes: u32,
    /// The change from which this home holds the case (0: since its
    /// opening; later for a member added later, who holds nothing from
    /// before).
    pub held_since_change: u32,
    /// Messages held in its conversation (case changes included).
    pub messages: usize,
    /// The changes held, oldest first.
    pub history: Vec<CaseEventView>,
}

/// One change of a case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseEventView {
    /// Its number.
    pub seq: u32,
    /// `open`, `add` or `remove`.
    pub action: String,
    /// The members it added or removed (for `open`, every member).
    pub ids: Vec<String>,
    /// Who made it (the owner).
    pub by: String,
    /// When (the owner's clock).
    pub at: String,
    /// The message that carried it.
    pub message: String,
}

impl CaseView {
    /// The view of `c`, with the count of messages in its conversation.
    pub fn new(c: &crate::core::case::CaseState, messages: usize) -> Self {
        use liaison_protocol::case::CaseAction;
        let ids = |v: &[DirectoryId]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        CaseView {
            id: c.id.to_hex(),
            title: c.info.title.clone(),
            reference: c.info.reference.clone(),
            handling: HandlingView::from(&c.info.handling),
            owner: c.info.owner.to_string(),
            members: ids(&c.info.members),
            removed: c.removed,
            changes: c.seq,
            held_since_change: c.joined_seq,
            messages,
            history: c
                .history
                .iter()
                .map(|e| {
                    let (action, who) = match &e.action {
                        CaseAction::Open => ("open", ids(&e.members)),
                        CaseAction::Add(v) => ("add", ids(v)),
                        CaseAction::Remove(v) => ("remove", ids(v)),
                    };
                    CaseEventView {
                        seq: e.seq,
                        action: action.to_owned(),
                        ids: who,
                        by: e.by.to_string(),
                        at: e.at.to_rfc3339(),
                        message: e.message.to_hex(),
                    }
                })
                .collect(),
        }
    }
}

/// A role and its holders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleView {
    /// Role id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Country.
    pub country: String,
    /// Record version.
    pub version: u64,
    /// Holders in on-call order.
    pub holders: Vec<String>,
    /// Messages this home received addressed to the role (while this
    /// focal point held it, or handed over since).
    #[serde(default)]
    pub received: usize,
}

impl From<&RoleRecord> for RoleView {
    fn from(r: &RoleRecord) -> Self {
        RoleView {
            id: r.id.to_string(),
            name: r.name.clone(),
            description: r.description.clone(),
            country: r.country.to_string(),
            version: r.version,
            holders: r.holders.iter().map(ToString::to_string).collect(),
            received: 0,
        }
    }
}

/// A device of our directory record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceView {
    /// Signing key (hex).
    pub device: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Whether it is the device running this client.
    pub this_device: bool,
}

/// Receipts of one recipient for a message we sent. A `*_at` field is
/// absent until that receipt arrived.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReceiptRow {
    /// The recipient.
    pub recipient: String,
    /// Delivered (signer's clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// The delivery receipt is in the event log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_logged: Option<bool>,
    /// Handling acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<String>,
    /// The acknowledgement is in the event log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_logged: Option<bool>,
    /// Content destroyed (retention ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// The deletion record is in the event log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_logged: Option<bool>,
}

/// One row per recipient of a message sent to `to`, from the receipt
/// records (ours excluded).
pub fn receipt_rows(to: &[String], records: &[ReceiptRecord], me: &str) -> Vec<ReceiptRow> {
    let mut per: BTreeMap<String, ReceiptRow> = BTreeMap::new();
    for t in to {
        per.insert(
            t.clone(),
            ReceiptRow {
                recipient: t.clone(),
                ..ReceiptRow::default()
            },
        );
    }
    for r in records.iter().filter(|r| r.by != me) {
        let row = per.entry(r.by.clone()).or_insert_with(|| ReceiptRow {
            recipient: r.by.clone(),
            ..ReceiptRow::default()
        });
        let at = Some(r.at.to_rfc3339());
        let logged = Some(r.logged);
        match r.kind.as_str() {
            "delivered" => (row.delivered_at, row.delivered_logged) = (at, logged),
            "acknowledged" => (row.acknowledged_at, row.acknowledged_logged) = (at, logged),
            "deleted" => (row.deleted_at, row.deleted_logged) = (at, logged),
            _ => {}
        }
    }
    per.into_values().collect()
}

/// One receipt, as an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptView {
    /// The message it is about.
    pub message: String,
    /// Who signed it.
    pub by: String,
    /// `delivered`, `acknowledged` or `deleted`.
    pub kind: String,
    /// When (signer's clock).
    pub at: String,
}

impl From<&ReceiptRecord> for ReceiptView {
    fn from(r: &ReceiptRecord) -> Self {
        ReceiptView {
            message: r.message_id.to_hex(),
            by: r.by.clone(),
            kind: r.kind.clone(),
            at: r.at.to_rfc3339(),
        }
    }
}

/// A consent exchange.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsentView {
    /// The id of the message that carried the request, as `inbox` (or
    /// `sent`) shows it; `consent grant` and `consent refuse` take it (or
    /// the request id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Request id.
    pub request: String,
    /// The message concerned.
    pub message: String,
    /// We asked (true) or were asked (false).
    pub we_asked: bool,
    /// What was asked for (scope text).
    pub scope: Option<String>,
    /// Who asked.
    pub requested_by: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// `granted` or `refused`, once decided.
    pub decision: Option<String>,
    /// Conditions of the decision.
    pub conditions: Option<String>,
    /// When the decision was made (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// A grant lapses at this time (UTC); none: it does not lapse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

impl From<&ConsentRecord> for ConsentView {
    fn from(c: &ConsentRecord) -> Self {
        let req = c
            .request
            .as_ref()
            .and_then(|b| Signed::<ConsentRequest>::decode(b).ok())
            .and_then(|s| s.decode_unverified().ok());
        let dec = c
            .decision
            .as_ref()
            .and_then(|b| Signed::<ConsentDecision>::decode(b).ok())
            .and_then(|s| s.decode_unverified().ok());
        ConsentView {
            id: None,
            request: hex::encode(c.request_id),
            message: c.message_id.to_hex(),
            we_asked: c.we_asked,
            scope: req.as_ref().map(|r| r.scope.to_text()),
            requested_by: req.as_ref().map(|r| r.requested_by.to_string()),
            reason: req.as_ref().map(|r| r.reason.clone()),
            decision: dec
                .as_ref()
                .map(|d| if d.granted { "granted" } else { "refused" }.to_owned()),
            conditions: dec.as_ref().map(|d| d.conditions.clone()),
            decided_at: dec.as_ref().map(|d| d.decided_at.to_rfc3339()),
            valid_until: dec
                .as_ref()
                .and_then(|d| d.valid_until)
                .map(|t| t.to_rfc3339()),
        }
    }
}

/// The relay link as the agent sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkState {
    /// Locked: no link until unlocked.
    Locked,
    /// Connected and subscribed to live push.
    Up,
    /// Not connected; the agent retries with backoff.
    Down,
    /// Not connected and not retrying by itself: the relay showed an
    /// inconsistent history. A request that needs the relay tries again.
    Halted,
}

impl LinkState {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Locked => "locked",
            LinkState::Up => "up",
            LinkState::Down => "down",
            LinkState::Halted => "halted",
        }
    }
}

/// The agent's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The agent's program and version.
    pub agent: String,
    /// Its process id.
    pub pid: u32,
    /// The home it owns.
    pub home: String,
    /// Its socket.
    pub socket: String,
    /// Waiting for the passphrase.
    pub locked: bool,
    /// The focal point (unknown while locked).
    pub id: Option<String>,
    /// The relay address (unknown while locked).
    pub relay: Option<String>,
    /// The relay link.
    pub link: LinkState,
    /// Since when the link is in this state.
    pub link_since: Option<String>,
    /// The last reason the link went down or a connection attempt failed.
    pub last_error: Option<String>,
    /// Failed connection attempts since the link went down.
    pub attempts: u32,
    /// Seconds until the next connection attempt, while down.
    pub next_attempt_in_secs: Option<u64>,
    /// Sends awaiting the relay's confirmation.
    pub outbox: Option<usize>,
    /// Open event streams.
    pub subscribers: usize,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn receipt_rows_list_each_recipient_with_only_the_receipts_seen() {
        let rec = |by: &str, kind: &str| ReceiptRecord {
            receipt: Vec::new(),
            by: by.into(),
            message_id: liaison_protocol::MessageId([0; 16]),
            kind: kind.into(),
            at: Timestamp(86_400_000),
            carrier: liaison_protocol::MessageId([1; 16]),
            logged: true,
        };
        let rows = receipt_rows(
            &["ph.pnp.bob".into(), "vn.mps.lan".into()],
            &[
                rec("ph.pnp.bob", "delivered"),
                rec("th.dsi.me", "delivered"),
            ],
            "th.dsi.me",
        );
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"recipient": "ph.pnp.bob", "delivered_at": "1970-01-02T00:00:00Z", "delivered_logged": true},
                {"recipient": "vn.mps.lan"},
            ])
        );
    }
}

/// The scope check of a forward to one recipient (`forward-check`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardCheckView {
    /// The recipient.
    pub recipient: String,
    /// The forward to them is allowed.
    pub allowed: bool,
    /// The rule that refuses it: `tlp-red`, `tlp-amber-strict`,
    /// `tlp-amber`, `onward-with-consent` or `retention-ended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The refusal in words, with the command that asks for consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Who can consent: the originator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originator: Option<String>,
    /// The consent that would allow it (scope text, such as
    /// `forward:ID`); none when no consent can (the retention ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_scope: Option<String>,
    /// The forwarder's agency and country, as the rule weighs them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarder: Option<(String, String)>,
    /// The recipient's agency and country, as the rule weighs them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_agency: Option<(String, String)>,
    /// When the retention ended (for `retention-ended`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_ended_at: Option<String>,
}

impl ForwardCheckView {
    /// The verdict for `recipient` of a forward of the message held as
    /// `held`.
    pub fn new(
        recipient: DirectoryId,
        refusal: Option<&ForwardRefusal>,
        held: liaison_protocol::MessageId,
    ) -> ForwardCheckView {
        let Some(r) = refusal else {
            return ForwardCheckView {
                recipient: recipient.to_string(),
                allowed: true,
                rule: None,
                explanation: None,
                originator: None,
                consent_scope: None,
                forwarder: None,
                recipient_agency: None,
                retention_ended_at: None,
            };
        };
        ForwardCheckView {
            recipient: recipient.to_string(),
            allowed: false,
            rule: Some(r.rule.code().to_owned()),
            explanation: Some(r.explain(held)),
            originator: Some(r.originator.to_string()),
            consent_scope: r.needed_scope().map(|s| s.to_text()),
            forwarder: Some((r.forwarder.agency.clone(), r.forwarder.country.to_string())),
            recipient_agency: Some((r.recipient.agency.clone(), r.recipient.country.to_string())),
            retention_ended_at: match r.rule {
                ForwardRule::Expired { at } => Some(at.to_rfc3339()),
                _ => None,
            },
        }
    }
}

/// A message a search found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHitView {
    /// Message id.
    pub id: String,
    /// `in` (received) or `out` (sent).
    pub direction: String,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// The sender's time (UTC).
    pub sent_at: String,
    /// Its conversation (`liaison reply ID` continues it).
    pub conversation: String,
    /// The match with some text around it, on one line; empty when only
    /// an id matched.
    pub snippet: String,
}

impl From<&crate::core::search::Hit> for SearchHitView {
    fn from(h: &crate::core::search::Hit) -> Self {
        SearchHitView {
            id: h.id.to_hex(),
            direction: match h.direction {
                crate::core::message::Direction::In => "in",
                crate::core::message::Direction::Out => "out",
            }
            .to_owned(),
            from: h.from.clone(),
            to: h.to.clone(),
            sent_at: h.sent_at.to_rfc3339(),
            conversation: h.conversation.to_hex(),
            snippet: h.snippet.clone(),
        }
    }
}
