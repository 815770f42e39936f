//! Structured requests (see [`crate::core::request`] for the rules): the
//! request book kept in the home under its own secret key, each step
//! signed and sent as a message, and the escalation of a request nobody
//! acknowledged in time.
//!
//! A request to a role goes to the role's first holder on call; when it is
//! not acknowledged within its time, the requester's client alerts and
//! sends it on to the next holder in on-call order, then to the addressee
//! agency's duty role (`CC.AGENCY.duty`) where the directory has one.
//! Steps travel in the request's conversation (a case's, when it is sent
//! in a case), under the request's handling.

use std::path::PathBuf;

use liaison_protocol::handling::Handling;
use liaison_protocol::message::{Content, Payload};
use liaison_protocol::request::{RequestAction, RequestEvent, RequestOpen};
use liaison_protocol::{ConversationId, DirectoryId, MessageId};

use crate::client::{Client, Direction, Outgoing, StoredMessage, random};
use crate::core::request::{RequestBook, RequestError, RequestState, next_addressee};
use crate::error::{ClientError, HandlingError, NotFound, RecipientError};
use crate::home::HomeTxn;

/// The home's singleton holding, per request with nobody left to
/// escalate it to, when its requester was last alerted (ms).
const NOBODY_LEFT_ALERTS: &str = "request-nobody-left-alerts";

type Result<T, E = ClientError> = std::result::Result<T, E>;

/// The home's secret key holding the request book (added with requests:
/// a home written before has none, and holds no request).
const REQUESTS: &str = "requests";

/// A request sent, and whom it went to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The request id.
    pub request: [u8; 16],
    /// The message that carried it.
    pub message: MessageId,
    /// The focal point it went to (the first holder on call, for a role).
    pub to: DirectoryId,
}

/// A request escalated (or that could not be any further).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Escalation {
    /// The request id.
    pub request: [u8; 16],
    /// To whom it was sent on; `None` when nobody is left to try.
    pub to: Option<DirectoryId>,
    /// What to tell the requester.
    pub alert: String,
}

impl Client {
    /// Every request this home holds.
    pub fn request_book(&self) -> Result<RequestBook> {
        match self.home.get_secret::<Vec<u8>>(REQUESTS)? {
            Some(bytes) => Ok(RequestBook::decode(&bytes)?),
            None => Ok(RequestBook::default()),
        }
    }

    /// A request held.
    pub fn request(&self, id: [u8; 16]) -> Result<RequestState> {
        self.request_book()?
            .get(&id)
            .cloned()
            .ok_or_else(|| NotFound::Request(id).into())
    }

    /// Apply the request rules to a message this home just verified: a
    /// request step updates the book; one that breaks the rules is flagged
    /// (not verified, the reason kept, the text not kept). Returns the
    /// book to keep with the message, if it changed.
    pub(crate) fn request_rules(
        &self,
        msg: &mut StoredMessage,
        payload: &Payload,
    ) -> Result<Option<RequestBook>> {
        let mut book = self.request_book()?;
        Ok(self
            .request_rules_in(&mut book, msg, payload)
            .then_some(book))
    }

    /// [`Client::request_rules`] against `book`; returns whether it
    /// changed.
    pub(crate) fn request_rules_in(
        &self,
        book: &mut RequestBook,
        msg: &mut StoredMessage,
        payload: &Payload,
    ) -> bool {
        if !msg.verified || !matches!(payload.content, Content::Request(_)) {
            return false;
        }
        match book.apply(payload, msg.id, &|role, who| self.holds_role(role, who)) {
            Ok(_) => true,
            Err(e) => {
                msg.verified = false;
                msg.error = Some(e.to_string());
                msg.text.clear();
                false
            }
        }
    }

    /// Keep in `w` the request step this home signs (the same rules as
    /// the other side applying it), before it leaves.
    pub(crate) fn keep_own_request_step(
        &self,
        w: &mut HomeTxn<'_>,
        payload: &Payload,
        message: MessageId,
    ) -> Result<()> {
        if !matches!(payload.content, Content::Request(_)) {
            return Ok(());
        }
        let mut book = self.request_book()?;
        book.apply(payload, message, &|role, who| self.holds_role(role, who))?;
        Self::keep_request_book(w, &book)
    }

    /// Keep the request book in `w`.
    pub(crate) fn keep_request_book(w: &mut HomeTxn<'_>, book: &RequestBook) -> Result<()> {
        w.put_secret(REQUESTS, &book.encode()?)?;
        Ok(())
    }

    /// The focal point a request to `to` goes to first: `to` itself, or
    /// the first holder on call of the role `to`.
    fn first_addressee(&self, to: &DirectoryId) -> Result<DirectoryId> {
        match self.directory.role(to) {
            Some(role) => role
                .holders
                .first()
                .cloned()
                .ok_or_else(|| RecipientError::NoRecipient.into()),
            None => Ok(to.clone()),
        }
    }

    /// Send a request (`open`, with `text` and `files`; its nonce is drawn
    /// here) under `handling`,
    /// in `conversation` (a case's) or a new one. Refused before anything
    /// leaves when a required field is missing or a field is not in its
    /// type's schema.
    pub async fn request_new(
        &mut self,
        mut open: RequestOpen,
        text: &str,
        handling: Handling,
        conversation: Option<ConversationId>,
        files: &[PathBuf],
    ) -> Result<Sent> {
        crate::core::request::check_fields(&open)?;
        if open.to == self.profile.id {
            return Err(RequestError::ToSelf.into());
        }
        if open.due <= self.now() {
            return Err(RequestError::DueInThePast(open.due.to_rfc3339()).into());
        }
        let first = self.first_addressee(&open.to)?;
        open.nonce = random()?;
        let request = liaison_protocol::request::request_id(&self.profile.id, &open.nonce);
        let conversation = match conversation {
            Some(c) => c,
            None => ConversationId(random()?),
        };
        let event = RequestEvent {
            request,
            action: RequestAction::Open(open),
        };
        let out = Outgoing {
            conversation: Some(conversation),
            ..Outgoing::content(text, handling, Content::Request(event))
        };
        let message = self
            .send_outgoing_attached(std::slice::from_ref(&first), out, files)
            .await?;
        Ok(Sent {
            request,
            message,
            to: first,
        })
    }

    /// Everyone a step of `state` goes to: the requester and everyone the
    /// request reached (a role it was addressed to: its first holder on
    /// call, who got the opening; a role it was escalated to: its
    /// holders), but this focal point, so that all of them hold the same
    /// lifecycle and nobody gets a step of a request they never got.
    fn parties(&self, state: &RequestState, more: Option<&DirectoryId>) -> Vec<DirectoryId> {
        let me = &self.profile.id;
        let mut out: Vec<DirectoryId> = Vec::new();
        let all = std::iter::once(&state.requester)
            .chain(state.addressees.iter())
            .chain(more)
            .enumerate();
        for (i, a) in all {
            let ids = match self.directory.role(a) {
                Some(r) if i == 1 => r.holders.first().cloned().into_iter().collect(),
                Some(r) => r.holders.clone(),
                None => vec![a.clone()],
            };
            for id in ids {
                if id != *me && !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    }

    /// Take step `action` of request `id` (acknowledge, progress, answer,
    /// decline as its addressee; withdraw or send the outcome as its
    /// requester), with `text` and `files`; it goes to the requester and
    /// everyone the request was addressed to. Refused here, before anything
    /// leaves, when the step is not this focal point's or does not fit
    /// where the request stands.
    pub async fn request_step(
        &mut self,
        id: [u8; 16],
        action: RequestAction,
        text: &str,
        files: &[PathBuf],
    ) -> Result<MessageId> {
        let state = self.request(id)?;
        // An addressee acts on a request only once they have acknowledged
        // the handling of the message that brought it (and so seen it).
        if let Some(first) = state.steps.first()
            && let Some(m) = self.message(first.message)?
            && m.direction == Direction::In
            && m.acknowledged_at.is_none()
        {
            return Err(HandlingError::NotAcknowledged(m.id).into());
        }
        let me = self.profile.id.clone();
        let to = self.parties(&state, None);
        let event = RequestEvent {
            request: id,
            action,
        };
        // The same rules the other side applies, before signing.
        self.request_book()?
            .check_step(&me, &event, &|role, who| self.holds_role(role, who))?;
        let handling = self.message_handling(&state).unwrap_or_default();
        let out = Outgoing {
            conversation: Some(state.conversation),
            ..Outgoing::content(text, handling, Content::Request(event))
        };
        self.send_outgoing_attached(&to, out, files).await
    }

    /// The handling of a request's opening, for the steps that follow it.
    fn message_handling(&self, state: &RequestState) -> Option<Handling> {
        let first = state.steps.first()?;
        self.message(first.message)
            .ok()
            .flatten()
            .map(|m| m.handling)
    }

    /// Send on every request this focal point sent that nobody
    /// acknowledged in time: to the next holder of its role in on-call
    /// order, then to the addressee agency's duty role; each gives an
    /// alert to show. A request with nobody left to try only alerts.
    pub async fn escalate_overdue(&mut self) -> Result<Vec<Escalation>> {
        let me = self.profile.id.clone();
        let now = self.now();
        let overdue: Vec<RequestState> = self
            .request_book()?
            .overdue(&me, now)
            .into_iter()
            .cloned()
            .collect();
        let mut out = Vec::new();
        for r in overdue {
            let holders = self
                .directory
                .role(&r.open.to)
                .map(|role| role.holders.clone())
                .unwrap_or_default();
            let duty = self.duty_role_of(&r);
            let Some(next) = next_addressee(&r.addressees, &holders, duty.as_ref()) else {
                // Said again only once per acknowledgement window, not at
                // every sync.
                let mut said: Vec<([u8; 16], u64)> = self
                    .home
                    .get_secret(NOBODY_LEFT_ALERTS)?
                    .unwrap_or_default();
                let window_ms = r.open.acknowledge_within_secs.saturating_mul(1000);
                if said
                    .iter()
                    .any(|(id, at)| *id == r.id && now.0 < at.saturating_add(window_ms))
                {
                    continue;
                }
                said.retain(|(id, _)| *id != r.id);
                said.push((r.id, now.0));
                let mut w = self.home.write()?;
                w.put_secret(NOBODY_LEFT_ALERTS, &said)?;
                w.commit()?;
                let alert = format!(
                    "ALERT: your {} {} request to {} is not acknowledged and nobody is left to escalate it to; call them",
                    r.open.priority.name(),
                    r.open.kind.name(),
                    r.open.to
                );
                self.warnings.push(alert.clone());
                out.push(Escalation {
                    request: r.id,
                    to: None,
                    alert,
                });
                continue;
            };
            // The new addressee, and everyone already in it.
            let targets = self.parties(&r, Some(&next));
            let event = RequestEvent {
                request: r.id,
                action: RequestAction::Escalate {
                    open: r.open.clone(),
                    to: next.clone(),
                },
            };
            let handling = self.message_handling(&r).unwrap_or_default();
            let out_msg = Outgoing {
                conversation: Some(r.conversation),
                ..Outgoing::content("", handling, Content::Request(event))
            };
            // One that cannot go now (a changed key, a link lost) must not
            // hold back the others: it is tried again at the next sync.
            if let Err(e) = self.send_outgoing(&targets, out_msg).await {
                if e.is_unreachable() {
                    return Err(e);
                }
                let alert = format!(
                    "ALERT: your {} {} request to {} is not acknowledged in time, and could not be sent on to {next} ({}); the next sync tries again",
                    r.open.priority.name(),
                    r.open.kind.name(),
                    r.open.to,
                    liaison_net::tool::chain(&e)
                );
                self.warnings.push(alert.clone());
                out.push(Escalation {
                    request: r.id,
                    to: None,
                    alert,
                });
                continue;
            }
            let alert = format!(
                "ALERT: your {} {} request to {} was not acknowledged in time; it was sent on to {next}",
                r.open.priority.name(),
                r.open.kind.name(),
                r.open.to
            );
            self.warnings.push(alert.clone());
            out.push(Escalation {
                request: r.id,
                to: Some(next),
                alert,
            });
        }
        Ok(out)
    }

    /// The duty role of the agency a request was addressed to
    /// (`CC.AGENCY.duty`), if the directory has one.
    fn duty_role_of(&self, r: &RequestState) -> Option<DirectoryId> {
        let to = r.open.to.as_str();
        let mut parts = to.split('.');
        let (country, agency) = (parts.next()?, parts.next()?);
        let duty = DirectoryId::parse(&format!("{country}.{agency}.duty")).ok()?;
        (duty != r.open.to && self.directory.role(&duty).is_some()).then_some(duty)
    }
}
