//! Structured requests as a home keeps them: each request's state built
//! from its signed steps ([`liaison_protocol::request`]) applied in the
//! order they arrive, who may take which step, and which requests this
//! focal point sent that wait too long for an acknowledgement.
//!
//! The rules, each unit-tested below:
//! - only the requester opens, withdraws, escalates a request and sends its
//!   outcome; only an addressee (the focal point it was sent to, a holder
//!   of the role it was sent to, or whoever it was escalated to)
//!   acknowledges, reports progress, answers or declines it;
//! - a step must fit where the request stands: nothing after it was
//!   answered in full, declined or withdrawn but an outcome (after an
//!   answer); an acknowledgement only once; an outcome only after an
//!   answer;
//! - a home learns a request from its opening, or from the escalation that
//!   brought it to this focal point;
//! - a request this focal point sent that nobody acknowledged within its
//!   time is overdue ([`RequestBook::overdue`]): the driver alerts and
//!   escalates it to the next addressee ([`next_addressee`]).

use std::collections::BTreeMap;

use liaison_protocol::message::{Content, Payload};
use liaison_protocol::request::{RequestAction, RequestEvent, RequestOpen};
use liaison_protocol::{ConversationId, DirectoryId, MessageId, Timestamp, VerifyError};
use serde::{Deserialize, Serialize};

/// Why a step of a request is refused. Each says what happened in plain
/// words; it is kept as the reason of the flagged message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The step breaks a structural rule (an unknown field, a required one
    /// missing, ...).
    #[error("the request is malformed: {0}")]
    Malformed(VerifyError),
    /// A step about a request this home does not hold.
    #[error("{by} sent a step ({step}) of a request this home does not hold; refused")]
    Unknown {
        /// Who sent it.
        by: DirectoryId,
        /// The step.
        step: &'static str,
    },
    /// A second opening of a request held.
    #[error("{by} sent a second opening of request {request}; refused")]
    AlreadyOpen {
        /// The request id (hex).
        request: String,
        /// Who sent it.
        by: DirectoryId,
    },
    /// A step only the requester takes, from someone else.
    #[error(
        "{by} tried to {step} a request of {requester}'s, which only {requester} can do; refused"
    )]
    NotRequester {
        /// Who signed it.
        by: DirectoryId,
        /// The step.
        step: &'static str,
        /// The requester.
        requester: DirectoryId,
    },
    /// A step only an addressee takes, from someone else.
    #[error(
        "{by} tried to {step} a request addressed to {to}, but is not its addressee nor a holder of that role; refused"
    )]
    NotAddressee {
        /// Who signed it.
        by: DirectoryId,
        /// The step.
        step: &'static str,
        /// Whom it was addressed to.
        to: DirectoryId,
    },
    /// An escalation that carries another request than the one held.
    #[error(
        "{by} escalated request {request} with fields other than those it was opened with; refused"
    )]
    Altered {
        /// Who sent it.
        by: DirectoryId,
        /// The request id (hex).
        request: String,
    },
    /// A request whose id is not its requester's.
    #[error("{by} sent a request whose id is not theirs (it names another requester); refused")]
    NotTheirs {
        /// Who sent it.
        by: DirectoryId,
    },
    /// A step that does not fit where the request stands.
    #[error("a request that is {status} cannot take the step {step}; refused")]
    OutOfTurn {
        /// Where it stands.
        status: &'static str,
        /// The step.
        step: &'static str,
    },
    /// The stored book cannot be read.
    #[error("the stored requests cannot be read: {0}")]
    Stored(String),
    /// A request type that does not exist.
    #[error(
        "there is no request type {0:?}; the types are locate-person, verify-identity, records-check, statement, coordinate-rescue, victim-support, mla-advance-copy and feedback"
    )]
    UnknownType(String),
    /// A priority that does not exist.
    #[error("there is no priority {0:?}; give urgent, high or normal")]
    UnknownPriority(String),
    /// A step that does not exist.
    #[error(
        "there is no request step {0:?}; the steps are acknowledge, progress, answer, partial-answer, decline, withdraw and outcome"
    )]
    UnknownStep(String),
    /// A request addressed to the one who sends it.
    #[error("a request goes to someone else: give another focal point or a role with --to")]
    ToSelf,
    /// A deadline already past.
    #[error(
        "the answer would be due {0}, which is already past: give a later --due, or none (the priority's)"
    )]
    DueInThePast(String),
    /// A decline or withdrawal without its reason.
    #[error("say why: a request is declined or withdrawn with a reason (1 to 256 bytes)")]
    NoReason,
    /// A field that is not in the type's schema.
    #[error("a {kind} request has no field {field:?}; its fields are {fields}")]
    UnknownField {
        /// The type.
        kind: &'static str,
        /// The field given.
        field: String,
        /// The fields of the type, required ones marked.
        fields: String,
    },
    /// A required field missing.
    #[error("a {kind} request needs the field {field} (give it with --field {field}=...)")]
    MissingField {
        /// The type.
        kind: &'static str,
        /// The field.
        field: &'static str,
    },
}

/// The step named `name` ([`RequestAction::name`]), with the reason a
/// decline or withdrawal needs; an opening or escalation is not a step one
/// takes by name.
pub fn action_named(name: &str, reason: Option<&str>) -> Result<RequestAction, RequestError> {
    let reason = || {
        reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .ok_or(RequestError::NoReason)
    };
    Ok(match name {
        "acknowledge" | "ack" => RequestAction::Acknowledge,
        "progress" => RequestAction::Progress,
        "answer" => RequestAction::Answer { partial: false },
        "partial-answer" => RequestAction::Answer { partial: true },
        "decline" => RequestAction::Decline { reason: reason()? },
        "withdraw" => RequestAction::Withdraw { reason: reason()? },
        "outcome" => RequestAction::Outcome,
        other => return Err(RequestError::UnknownStep(other.to_owned())),
    })
}

/// The fields of `open` against its type's schema, in words a person can
/// act on: the first unknown or missing one.
pub fn check_fields(open: &RequestOpen) -> Result<(), RequestError> {
    let schema = open.kind.fields();
    if let Some((name, _)) = open
        .fields
        .iter()
        .find(|(n, _)| !schema.iter().any(|f| f.name == n))
    {
        return Err(RequestError::UnknownField {
            kind: open.kind.name(),
            field: name.clone(),
            fields: schema
                .iter()
                .map(|f| {
                    if f.required {
                        format!("{} (required)", f.name)
                    } else {
                        f.name.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if let Some(field) = open.missing_field() {
        return Err(RequestError::MissingField {
            kind: open.kind.name(),
            field,
        });
    }
    open.check_wellformed().map_err(RequestError::Malformed)
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Sent, not acknowledged yet.
    Open,
    /// An addressee acknowledged it.
    Acknowledged,
    /// An addressee reported progress.
    InProgress,
    /// Answered in part; more may come.
    PartlyAnswered,
    /// Answered.
    Answered,
    /// Declined, with a reason.
    Declined,
    /// Withdrawn by the requester.
    Withdrawn,
}

impl Status {
    /// The stable name (`open`, `acknowledged`, `in-progress`,
    /// `partly-answered`, `answered`, `declined`, `withdrawn`).
    pub fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::InProgress => "in-progress",
            Status::PartlyAnswered => "partly-answered",
            Status::Answered => "answered",
            Status::Declined => "declined",
            Status::Withdrawn => "withdrawn",
        }
    }

    /// No step but an outcome follows.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            Status::Answered | Status::Declined | Status::Withdrawn
        )
    }
}

/// One step as held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The step's name ([`RequestAction::name`]).
    pub action: String,
    /// Its author.
    pub by: DirectoryId,
    /// Its author's time.
    pub at: Timestamp,
    /// The message that carried it.
    pub message: MessageId,
}

/// A request as this home holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestState {
    /// The request id.
    pub id: [u8; 16],
    /// The request as opened.
    pub open: RequestOpen,
    /// Who asked.
    pub requester: DirectoryId,
    /// When it was sent (the requester's time).
    pub sent_at: Timestamp,
    /// The conversation its steps travel in.
    pub conversation: ConversationId,
    /// Where it stands.
    pub status: Status,
    /// Whom it is addressed to: the addressee first, then each one it was
    /// escalated to, in order.
    pub addressees: Vec<DirectoryId>,
    /// When it was last sent to a new addressee (the opening or the last
    /// escalation): the time to acknowledge runs from then.
    pub last_addressed_at: Timestamp,
    /// An outcome was sent after the answer.
    pub outcome: bool,
    /// Every step held, in order.
    pub steps: Vec<Step>,
}

impl RequestState {
    /// When it is overdue for an acknowledgement, if it still waits for one.
    pub fn acknowledge_by(&self) -> Option<Timestamp> {
        (self.status == Status::Open).then(|| {
            Timestamp(
                self.last_addressed_at
                    .0
                    .saturating_add(self.open.acknowledge_within_secs.saturating_mul(1000)),
            )
        })
    }

    /// Whether the answer is late at `now` (due, and neither answered,
    /// declined nor withdrawn).
    pub fn is_late(&self, now: Timestamp) -> bool {
        !self.status.is_closed() && now >= self.open.due
    }
}

/// The requests a home holds, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestBook {
    requests: BTreeMap<[u8; 16], RequestState>,
}

/// The first byte of an encoded [`RequestBook`].
pub const REQUEST_BOOK_FORMAT: u8 = 1;

impl RequestBook {
    /// The stored form: [`REQUEST_BOOK_FORMAT`], then the book.
    pub fn encode(&self) -> Result<Vec<u8>, RequestError> {
        let mut out = vec![REQUEST_BOOK_FORMAT];
        out.extend(postcard::to_allocvec(self).map_err(|e| RequestError::Stored(e.to_string()))?);
        Ok(out)
    }

    /// Read the stored form.
    pub fn decode(bytes: &[u8]) -> Result<RequestBook, RequestError> {
        match bytes.split_first() {
            Some((&REQUEST_BOOK_FORMAT, body)) => {
                postcard::from_bytes(body).map_err(|e| RequestError::Stored(e.to_string()))
            }
            Some((v, _)) => Err(RequestError::Stored(format!("unknown format {v}"))),
            None => Err(RequestError::Stored("empty".into())),
        }
    }

    /// A request held.
    pub fn get(&self, id: &[u8; 16]) -> Option<&RequestState> {
        self.requests.get(id)
    }

    /// Every request held.
    pub fn requests(&self) -> impl Iterator<Item = &RequestState> {
        self.requests.values()
    }

    /// Apply the request step `payload` carries (message `message`, already
    /// verified as its author's), with `holds(role, who)` telling whether
    /// `who` holds role `role` in the verified directory. Returns the
    /// request as it stands after the step.
    pub fn apply(
        &mut self,
        payload: &Payload,
        message: MessageId,
        holds: &dyn Fn(&DirectoryId, &DirectoryId) -> bool,
    ) -> Result<&RequestState, RequestError> {
        let Content::Request(event) = &payload.content else {
            return Err(RequestError::Malformed(VerifyError::Inconsistent(
                "not a request step",
            )));
        };
        let at = (&payload.sender, payload.created_at, payload.conversation_id);
        self.apply_step(at, event, message, holds)
    }

    /// Whether `by` may take step `event` now (what [`RequestBook::apply`]
    /// would say), without changing the book.
    pub fn check_step(
        &self,
        by: &DirectoryId,
        event: &RequestEvent,
        holds: &dyn Fn(&DirectoryId, &DirectoryId) -> bool,
    ) -> Result<(), RequestError> {
        let mut probe = self.clone();
        let at = (by, Timestamp(0), ConversationId([0; 16]));
        probe
            .apply_step(at, event, MessageId([0; 16]), holds)
            .map(|_| ())
    }

    /// [`RequestBook::apply`] of `event` by `by` at the author's time, in
    /// its conversation.
    fn apply_step(
        &mut self,
        (by, created_at, conversation): (&DirectoryId, Timestamp, ConversationId),
        event: &RequestEvent,
        message: MessageId,
        holds: &dyn Fn(&DirectoryId, &DirectoryId) -> bool,
    ) -> Result<&RequestState, RequestError> {
        event.check_wellformed().map_err(RequestError::Malformed)?;
        let step = event.action.name();
        let held = Step {
            action: step.to_owned(),
            by: by.clone(),
            at: created_at,
            message,
        };
        let RequestEvent { request, action } = event;
        // The id names its requester: nobody else opens it, nor introduces
        // it to a new addressee.
        if let RequestAction::Open(open) | RequestAction::Escalate { open, .. } = action
            && !self.requests.contains_key(request)
            && liaison_protocol::request::request_id(by, &open.nonce) != *request
        {
            return Err(RequestError::NotTheirs { by: by.clone() });
        }
        if let RequestAction::Open(open) = action {
            if self.requests.contains_key(request) {
                return Err(RequestError::AlreadyOpen {
                    request: hex::encode(request),
                    by: by.clone(),
                });
            }
            let state = RequestState {
                id: *request,
                open: open.clone(),
                requester: by.clone(),
                sent_at: created_at,
                conversation,
                status: Status::Open,
                addressees: vec![open.to.clone()],
                last_addressed_at: created_at,
                outcome: false,
                steps: vec![held],
            };
            return Ok(self.requests.entry(*request).or_insert(state));
        }
        if let RequestAction::Escalate { open, to } = action
            && !self.requests.contains_key(request)
        {
            // This home learns the request from the escalation that brings
            // it here.
            let state = RequestState {
                id: *request,
                open: open.clone(),
                requester: by.clone(),
                sent_at: created_at,
                conversation,
                status: Status::Open,
                addressees: vec![open.to.clone(), to.clone()],
                last_addressed_at: created_at,
                outcome: false,
                steps: vec![held],
            };
            return Ok(self.requests.entry(*request).or_insert(state));
        }
        let Some(state) = self.requests.get_mut(request) else {
            return Err(RequestError::Unknown {
                by: by.clone(),
                step,
            });
        };
        let requester_only = matches!(
            action,
            RequestAction::Withdraw { .. }
                | RequestAction::Outcome
                | RequestAction::Escalate { .. }
        );
        if requester_only && *by != state.requester {
            return Err(RequestError::NotRequester {
                by: by.clone(),
                step,
                requester: state.requester.clone(),
            });
        }
        if !requester_only && !state.addressees.iter().any(|a| a == by || holds(a, by)) {
            return Err(RequestError::NotAddressee {
                by: by.clone(),
                step,
                to: state.open.to.clone(),
            });
        }
        let out_of_turn = || RequestError::OutOfTurn {
            status: state.status.name(),
            step,
        };
        let next = match action {
            RequestAction::Open(_) => return Err(out_of_turn()),
            RequestAction::Escalate { to, open } => {
                if state.status != Status::Open {
                    return Err(out_of_turn());
                }
                if *open != state.open {
                    return Err(RequestError::Altered {
                        by: by.clone(),
                        request: hex::encode(request),
                    });
                }
                if !state.addressees.contains(to) {
                    state.addressees.push(to.clone());
                }
                state.last_addressed_at = created_at;
                Status::Open
            }
            RequestAction::Acknowledge => {
                if state.status != Status::Open {
                    return Err(out_of_turn());
                }
                Status::Acknowledged
            }
            RequestAction::Progress => {
                if state.status.is_closed() {
                    return Err(out_of_turn());
                }
                Status::InProgress
            }
            RequestAction::Answer { partial } => {
                if state.status.is_closed() {
                    return Err(out_of_turn());
                }
                if *partial {
                    Status::PartlyAnswered
                } else {
                    Status::Answered
                }
            }
            RequestAction::Decline { .. } | RequestAction::Withdraw { .. } => {
                if state.status.is_closed() {
                    return Err(out_of_turn());
                }
                if matches!(action, RequestAction::Decline { .. }) {
                    Status::Declined
                } else {
                    Status::Withdrawn
                }
            }
            RequestAction::Outcome => {
                if !matches!(state.status, Status::Answered | Status::PartlyAnswered) {
                    return Err(out_of_turn());
                }
                state.outcome = true;
                state.status
            }
        };
        state.status = next;
        state.steps.push(held);
        Ok(state)
    }

    /// Forget the fields of the requests brought here by one of `messages`
    /// (their content was destroyed when its retention ended). Returns
    /// whether any changed.
    pub fn forget_fields_of(&mut self, messages: &[MessageId]) -> bool {
        let mut changed = false;
        for r in self.requests.values_mut() {
            if r.steps
                .first()
                .is_some_and(|s| messages.contains(&s.message))
                && !r.open.fields.is_empty()
            {
                r.open.fields.clear();
                changed = true;
            }
        }
        changed
    }

    /// The requests `me` sent that wait for an acknowledgement past their
    /// time at `now`, most overdue first.
    pub fn overdue(&self, me: &DirectoryId, now: Timestamp) -> Vec<&RequestState> {
        let mut out: Vec<&RequestState> = self
            .requests
            .values()
            .filter(|r| r.requester == *me)
            .filter(|r| r.acknowledge_by().is_some_and(|by| now >= by))
            .collect();
        out.sort_by_key(|r| r.acknowledge_by());
        out
    }
}

/// Whom an unacknowledged request goes to next: the next holder of the
/// role it was sent to, in on-call order (`holders`, when it was sent to a
/// role), not yet addressed; then the addressee agency's duty role
/// (`duty_role`, where the directory has one); `None` when everyone was
/// tried.
pub fn next_addressee(
    addressees: &[DirectoryId],
    holders: &[DirectoryId],
    duty_role: Option<&DirectoryId>,
) -> Option<DirectoryId> {
    // The first holder got the opening (a request to a role goes to the
    // first holder on call).
    let reached = |h: &DirectoryId| addressees.contains(h) || holders.first() == Some(h);
    holders
        .iter()
        .find(|h| !reached(h))
        .or_else(|| duty_role.filter(|d| !addressees.contains(d)))
        .cloned()
}

/// The text a request step shows: what the step is, the request's type,
/// priority, due date and fields for an opening or escalation, then the
/// author's own words.
pub fn describe(by: &DirectoryId, event: &RequestEvent, body: &str) -> String {
    let head = match &event.action {
        RequestAction::Open(open) => format!("{by} sends a request: {}", summary(open)),
        RequestAction::Escalate { open, to } => format!(
            "{by} escalates a request not acknowledged in time to {to}: {}",
            summary(open)
        ),
        RequestAction::Acknowledge => format!("{by} acknowledges the request"),
        RequestAction::Progress => format!("{by} reports progress on the request"),
        RequestAction::Answer { partial: false } => format!("{by} answers the request"),
        RequestAction::Answer { partial: true } => format!("{by} answers part of the request"),
        RequestAction::Decline { reason } => format!("{by} declines the request: {reason}"),
        RequestAction::Withdraw { reason } => format!("{by} withdraws the request: {reason}"),
        RequestAction::Outcome => format!("{by} shares the outcome"),
    };
    if body.is_empty() {
        head
    } else {
        format!("{head}\n\n{body}")
    }
}

/// An opening in one paragraph: type, priority, due date, fields.
fn summary(open: &RequestOpen) -> String {
    let mut s = format!(
        "{} ({}, answer due {})",
        open.kind.name(),
        open.priority.name(),
        open.due.to_rfc3339()
    );
    for (name, value) in &open.fields {
        s.push_str(&format!("\n{name}: {value}"));
    }
    s
}

#[cfg(test)]
#[path = "request_test.rs"]
mod tests;
