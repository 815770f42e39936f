//! Handling in practice (Article 10(3)): reading only after acknowledging
//! the handling, signed receipts, sticky forwards checked against the
//! dissemination scope, consent requests and decisions, and retention.
//!
//! Every receipt, consent request and decision travels as an end-to-end
//! encrypted message signed by its author's identity key, and is declared to
//! the relay (kind, the message it is about, and a SHA-256 commitment to the
//! signed object) so that it appears in the event log; the receiving client
//! checks the logged commitment against what it received.

use liaison_protocol::codec::Wire;
use liaison_protocol::consent::{
    ConsentDecision, ConsentRequest, ConsentScope, Receipt, ReceiptKind, effective_handling,
};
use liaison_protocol::frames::{Declaration, LogId};
use liaison_protocol::handling::{Handling, Party};
use liaison_protocol::log::event::{Declared, DisclosedEvent, EventKind};
use liaison_protocol::message::{Content, SignedPayload};
use liaison_protocol::scope::{ForwardContext, ForwardRefusal, check_forward};
use liaison_protocol::{DirectoryId, MessageId, Signed, Timestamp};

use crate::client::{Client, Direction, Outgoing, StoredMessage};
use crate::core::open::{Held, HeldError, origin_of, origin_payload};
use crate::core::records::{ConsentRecord, ReceiptRecord, commitment, receipt_key, receipt_name};
use crate::error::{ClientError, HandlingError, NotFound, RecipientError};
use crate::home::{Home, Table};
use crate::logs::{self, LogError};

type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A forward's scope check ([`Client::check_forward_to`]).
struct ScopeCheck {
    /// Per recipient: allowed (`None`) or why not.
    verdicts: Vec<(DirectoryId, Option<Box<ForwardRefusal>>)>,
    /// The originator's grants the allowed forward relies on.
    relied_on: Vec<ConsentDecision>,
    /// The original payload's id.
    original_id: MessageId,
    /// The handling the forwarded payload carries.
    carried_handling: Handling,
}

/// Most receipts carried (and declared) in one message. The relay also
/// takes at most one declared event per recipient device of a message, so a
/// message carries no more receipts than its recipient has devices.
const RECEIPTS_PER_MESSAGE: usize = 256;

/// Where the home keeps the receipts owed ([`OwedReceipt`]).
const OWED_RECEIPTS: &str = "owed-receipts";

/// A receipt this focal point owes a sender (delivery, handling
/// acknowledgement, deletion), kept in the home from the moment it is due
/// until a message carrying it is accepted by the relay, so that a rate
/// limit, a dropped link or a crash never loses it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct OwedReceipt {
    /// The message it is about.
    pub message_id: MessageId,
    /// The sender it goes to.
    pub to: String,
    /// What it reports.
    pub kind: ReceiptKind,
    /// When it became due (the time it reports).
    pub at: Timestamp,
}

/// The home, as the sans-IO rules of [`crate::core::open`] read it.
impl Held for Home {
    fn message(&self, id: MessageId) -> Result<Option<StoredMessage>, HeldError> {
        self.get(Table::Messages, &id.0)
            .map_err(|e| HeldError(Box::new(e)))
    }

    fn consent(&self, request_id: &[u8; 16]) -> Result<Option<ConsentRecord>, HeldError> {
        self.get(Table::Consents, request_id)
            .map_err(|e| HeldError(Box::new(e)))
    }
}

/// The request id of the consent request message `m` carries, if it is
/// one.
fn consent_request_of(m: &StoredMessage) -> Option<[u8; 16]> {
    if m.kind != crate::core::message::MessageKind::ConsentRequest {
        return None;
    }
    let payload = SignedPayload::decode(&m.signed_payload)
        .ok()?
        .decode_unverified()
        .ok()?;
    match payload.content {
        Content::ConsentRequest(s) => s.decode_unverified().ok().map(|r| r.request_id),
        _ => None,
    }
}

impl Client {
    /// The party (id, country, agency) of a verified record.
    fn party(&self, id: &DirectoryId) -> Result<Party> {
        let rec = self
            .directory
            .record(id)
            .ok_or_else(|| RecipientError::NotInDirectory(id.clone(), self.near_ids(id)))?;
        Ok(Party::from_record(rec))
    }

    /// Verified consent decisions held about `id`.
    pub fn consent_decisions(&self, id: MessageId) -> Result<Vec<Signed<ConsentDecision>>> {
        let mut out = Vec::new();
        for (_, c) in self.home.all::<ConsentRecord>(Table::Consents)? {
            if c.message_id != id {
                continue;
            }
            if let Some(d) = &c.decision
                && let Ok(s) = Signed::<ConsentDecision>::decode(d)
            {
                out.push(s);
            }
        }
        Ok(out)
    }

    fn grants(&self, id: MessageId) -> Result<Vec<ConsentDecision>> {
        Ok(self
            .consent_decisions(id)?
            .iter()
            .filter_map(|s| s.decode_unverified().ok())
            .collect())
    }

    /// Receipts about message `id` (received for our message, or sent by us).
    pub fn receipts(&self, id: MessageId) -> Result<Vec<Signed<Receipt>>> {
        Ok(self
            .receipt_records(id)?
            .iter()
            .filter_map(|r| Signed::<Receipt>::decode(&r.receipt).ok())
            .collect())
    }

    /// Receipt records about message `id`.
    pub fn receipt_records(&self, id: MessageId) -> Result<Vec<ReceiptRecord>> {
        Ok(self.receipt_index()?.get(&id).cloned().unwrap_or_default())
    }

    /// Every consent exchange.
    pub fn consents(&self) -> Result<Vec<ConsentRecord>> {
        Ok(self
            .home
            .all::<ConsentRecord>(Table::Consents)?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// A consent request as a person names it: its request id, or the id
    /// of the message that carried it (as `inbox` and `consent list` show
    /// it). An id that is neither is returned as is, for the caller to
    /// report as not found.
    pub fn consent_request_id(&self, id: [u8; 16]) -> Result<[u8; 16]> {
        if self
            .home
            .get::<ConsentRecord>(Table::Consents, &id)?
            .is_some()
        {
            return Ok(id);
        }
        Ok(self
            .message(MessageId(id))?
            .as_ref()
            .and_then(consent_request_of)
            .unwrap_or(id))
    }

    /// The message that carried each consent request held (request id to
    /// message id), received or sent.
    pub fn consent_request_messages(
        &self,
    ) -> Result<std::collections::HashMap<[u8; 16], MessageId>> {
        Ok(self
            .message_index()?
            .all()
            .iter()
            .filter_map(|m| consent_request_of(m).map(|r| (r, m.id)))
            .collect())
    }

    /// The stored message `id`.
    pub fn message(&self, id: MessageId) -> Result<Option<StoredMessage>> {
        Ok(self.home.get(Table::Messages, &id.0)?)
    }

    /// The enrolment bundle.
    pub fn bundle(&self) -> &liaison_protocol::bundle::Bundle {
        &self.bundle
    }

    /// The handling in force for a received message: the originator's,
    /// widened only by the originator's grants.
    pub fn effective_handling_of(&self, m: &StoredMessage) -> Result<Handling> {
        let (original_id, originator) = origin_of(m)?;
        let grants = self.grants(original_id)?;
        Ok(effective_handling(
            &m.handling,
            &original_id,
            &originator,
            &grants,
            self.now(),
        ))
    }

    /// Send accountability objects to one party, each declared to the relay.
    async fn send_accountability(
        &mut self,
        to: &DirectoryId,
        content: Content,
        declare: Vec<Declaration>,
        text: &str,
    ) -> Result<MessageId> {
        let out = Outgoing {
            declare,
            ..Outgoing::content(text, Handling::default(), content)
        };
        self.send_outgoing(std::slice::from_ref(to), out).await
    }

    /// The receipts owed to senders and not yet accepted by the relay.
    pub(crate) fn owed_receipts(&self) -> Result<Vec<OwedReceipt>> {
        Ok(self.home.get_secret(OWED_RECEIPTS)?.unwrap_or_default())
    }

    /// Add receipts of `kind` for `messages` to what is owed, in the write
    /// transaction `w` (so that the change that makes them due, such as an
    /// acknowledgement or a destruction, and the debt are one commit).
    pub(crate) fn owe_receipts(
        &self,
        w: &mut crate::home::HomeTxn<'_>,
        messages: &[StoredMessage],
        kind: impl Fn(&StoredMessage) -> ReceiptKind,
    ) -> Result<usize> {
        let mut owed = self.owed_receipts()?;
        let before = owed.len();
        let at = self.now();
        for m in messages {
            if !(m.kind.is_readable() && m.verified && m.direction == Direction::In) {
                continue;
            }
            let k = kind(m);
            let dup = owed
                .iter()
                .any(|o| o.message_id == m.id && receipt_name(&o.kind) == receipt_name(&k));
            if !dup {
                owed.push(OwedReceipt {
                    message_id: m.id,
                    to: m.from.clone(),
                    kind: k,
                    at,
                });
            }
        }
        if owed.len() != before {
            w.put_secret(OWED_RECEIPTS, &owed)?;
        }
        Ok(owed.len() - before)
    }

    /// Owe receipts of `kind` for `messages` (durably), then send every
    /// receipt owed ([`Self::flush_receipts`]). A receipt that cannot go now
    /// stays owed and goes at the next sync.
    pub(crate) async fn send_receipts(
        &mut self,
        messages: &[StoredMessage],
        kind: impl Fn(&StoredMessage) -> ReceiptKind,
    ) -> Result<()> {
        let mut w = self.home.write()?;
        self.owe_receipts(&mut w, messages, kind)?;
        w.commit()?;
        self.flush_receipts().await
    }

    /// Send the receipts owed, one message per sender and batch, each batch
    /// no larger than the relay accepts (one declaration per recipient
    /// device). Each batch leaves the debt in the commit that records it as
    /// sent; on the first failure the rest stays owed and the error is
    /// returned.
    pub(crate) async fn flush_receipts(&mut self) -> Result<()> {
        use std::collections::BTreeMap;
        let owed = self.owed_receipts()?;
        let mut by_sender: BTreeMap<String, Vec<OwedReceipt>> = BTreeMap::new();
        for o in owed {
            by_sender.entry(o.to.clone()).or_default().push(o);
        }
        for (sender, all) in by_sender {
            let Ok(to) = DirectoryId::parse(&sender) else {
                self.forget_receipts(&all)?;
                continue;
            };
            let devices: usize = self
                .directory
                .resolve(&to, self.now())
                .iter()
                .map(|r| r.devices.len())
                .sum();
            if devices == 0 {
                // Nobody to send them to now (revoked, or not in the
                // directory yet): they stay owed.
                continue;
            }
            for batch in all.chunks(devices.min(RECEIPTS_PER_MESSAGE)) {
                let mut receipts = Vec::new();
                let mut declare = Vec::new();
                let mut records = Vec::new();
                for o in batch {
                    let declared = match o.kind {
                        ReceiptKind::Delivered => Declared::DeliveryReceipt,
                        ReceiptKind::HandlingAcknowledged { .. } => Declared::HandlingAcknowledged,
                        ReceiptKind::Deleted { .. } => Declared::Deletion,
                    };
                    let r = Receipt {
                        message_id: o.message_id,
                        kind: o.kind.clone(),
                        by: self.profile.id.clone(),
                        at: o.at,
                    };
                    let s = Signed::sign(&r, &self.identity);
                    let bytes = s.encode();
                    declare.push(Declaration {
                        kind: declared,
                        refers_to: o.message_id,
                        commitment: commitment(&bytes),
                    });
                    records.push((
                        receipt_key(&o.message_id, &bytes),
                        ReceiptRecord {
                            by: self.profile.id.to_string(),
                            message_id: o.message_id,
                            kind: receipt_name(&o.kind).into(),
                            at: r.at,
                            carrier: MessageId([0; 16]),
                            logged: false,
                            receipt: bytes,
                        },
                    ));
                    receipts.push(s);
                }
                let n = receipts.len();
                let carrier = self
                    .send_accountability(
                        &to,
                        Content::Receipts(receipts),
                        declare,
                        &format!("{n} receipt(s)"),
                    )
                    .await?;
                let mut w = self.home.write()?;
                for (k, mut r) in records {
                    r.carrier = carrier;
                    w.put(Table::Receipts, &k, &r)?;
                }
                let left: Vec<OwedReceipt> = self
                    .owed_receipts()?
                    .into_iter()
                    .filter(|o| !batch.contains(o))
                    .collect();
                w.put_secret(OWED_RECEIPTS, &left)?;
                w.commit()?;
            }
        }
        Ok(())
    }

    /// Drop owed receipts that can never be sent (a sender id that does not
    /// parse).
    fn forget_receipts(&mut self, gone: &[OwedReceipt]) -> Result<()> {
        let left: Vec<OwedReceipt> = self
            .owed_receipts()?
            .into_iter()
            .filter(|o| !gone.contains(o))
            .collect();
        let mut w = self.home.write()?;
        w.put_secret(OWED_RECEIPTS, &left)?;
        w.commit()?;
        Ok(())
    }

    /// Show the handling of message `id` in plain words; with `accept`,
    /// record the acknowledgement, send the signed receipt to the sender and
    /// return the content.
    pub async fn read(
        &mut self,
        id: MessageId,
        accept: bool,
    ) -> Result<(StoredMessage, Vec<String>)> {
        let m = self.message(id)?.ok_or(NotFound::Message(id))?;
        if m.direction != Direction::In {
            let explain = m.handling.explain();
            return Ok((m, explain));
        }
        if !m.verified {
            return Err(ClientError::Rejected {
                id,
                reason: m.error.clone().unwrap_or_default(),
            });
        }
        if let Some(at) = m.destroyed_at {
            return Err(ClientError::Destroyed { id, at });
        }
        let me = self.party(&self.profile.id.clone()).ok();
        let h = self.effective_handling_of(&m)?;
        let explain = match &me {
            Some(p) => h.explain_for(p),
            None => h.explain(),
        };
        let mut explain = explain;
        for g in crate::core::open::carried_grants(&m) {
            explain.push(format!(
                "Forwarded to you with the consent of {} ({}, {}){}.",
                g.decided_by,
                g.scope.describe(),
                g.decided_at.to_rfc3339(),
                if g.conditions.trim().is_empty() {
                    ", with no conditions".to_owned()
                } else {
                    format!(", on these conditions: {}", g.conditions.trim())
                }
            ));
        }
        if !accept {
            let mut hidden = m.clone();
            if hidden.withheld() {
                hidden.text = String::new();
            }
            return Ok((hidden, explain));
        }
        if m.acknowledged_at.is_none() {
            let mut acked = m.clone();
            acked.acknowledged_at = Some(self.now());
            let hash = m.payload_hash;
            // The acknowledgement and the receipt it owes the originator are
            // one commit; the receipt goes now if it can, else at the next
            // sync.
            let mut w = self.home.write()?;
            w.put(Table::Messages, &id.0, &acked)?;
            self.owe_receipts(&mut w, std::slice::from_ref(&m), |_| {
                ReceiptKind::HandlingAcknowledged { payload_hash: hash }
            })?;
            w.commit()?;
            if let Err(e) = self.flush_receipts().await {
                self.warnings.push(format!(
                    "the acknowledgement receipt for {id} is kept and goes to {} at your next sync: {}",
                    m.from,
                    liaison_net::tool::chain(&e)
                ));
            }
            return Ok((acked, explain));
        }
        Ok((m, explain))
    }

    /// The dissemination scope check of a forward of `id` to `to`, without
    /// sending anything: per recipient, `None` if the forward is allowed,
    /// else the refusal (which rule, and the consent that would allow it).
    /// The same check [`Client::forward`] makes before it sends.
    pub fn check_forward_to(
        &self,
        id: MessageId,
        to: &[DirectoryId],
    ) -> Result<Vec<(DirectoryId, Option<Box<ForwardRefusal>>)>> {
        let m = self.forwardable(id)?;
        Ok(self.scope_check(&m, to)?.verdicts)
    }

    /// A received message that may be forwarded once its scope allows it.
    fn forwardable(&self, id: MessageId) -> Result<StoredMessage> {
        let m = self.message(id)?.ok_or(NotFound::Message(id))?;
        if !m.verified || m.signed_payload.is_empty() {
            return Err(ClientError::NotForwardable(id));
        }
        if m.direction == Direction::In && m.acknowledged_at.is_none() {
            return Err(HandlingError::NotAcknowledged(id).into());
        }
        Ok(m)
    }

    /// Check every recipient of a forward of `m` against its scope.
    fn scope_check(&self, m: &StoredMessage, to: &[DirectoryId]) -> Result<ScopeCheck> {
        let held = self.effective_handling_of(m)?;
        // The payload being forwarded: its handling (each hop only
        // tightens it) is the one a forward keeps or tightens.
        let carried = SignedPayload::decode(&m.signed_payload)?.decode_unverified()?;
        // The originator's own payload: its named recipients are the
        // scope's, whatever a forwarder along the chain listed in its.
        let origin = origin_payload(m)?;
        let (original_id, originator_id) = (origin.message_id, origin.sender.clone());
        let originator = self.party(&originator_id)?;
        let me = self.party(&self.profile.id.clone())?;
        let grants = self.grants(original_id)?;
        let mut original_recipients = origin.recipients;
        original_recipients.extend(origin.resolved);
        let ctx = ForwardContext {
            message_id: original_id,
            handling: &held,
            originator: &originator,
            original_recipients: &original_recipients,
            grants: &grants,
            now: self.now(),
        };
        let mut verdicts = Vec::new();
        let mut relied_on: Vec<ConsentDecision> = Vec::new();
        for r in self.resolve(to)? {
            let party = Party::from_record(&r);
            if let Err(e) = check_forward(&ctx, &me, &party) {
                verdicts.push((r.id.clone(), Some(e)));
                continue;
            }
            verdicts.push((r.id.clone(), None));
            // Allowed only thanks to the originator's grants: the forward
            // carries them, so the recipient can check it and is shown
            // their conditions.
            let without = ForwardContext { grants: &[], ..ctx };
            if check_forward(&without, &me, &party).is_err() {
                for g in &grants {
                    let used = matches!(&g.scope,
                        ConsentScope::Forward { recipients } if recipients.contains(&r.id));
                    if used
                        && g.decided_by == originator_id
                        && g.is_in_force(&original_id, ctx.now)
                        && !relied_on.contains(g)
                    {
                        relied_on.push(g.clone());
                    }
                }
            }
        }
        // Past the original retention date only thanks to a retention
        // grant: that grant goes along too.
        if carried.handling.is_expired(ctx.now) {
            for g in &grants {
                if matches!(g.scope, ConsentScope::Retention { .. })
                    && g.decided_by == originator_id
                    && g.is_in_force(&original_id, ctx.now)
                    && !relied_on.contains(g)
                {
                    relied_on.push(g.clone());
                }
            }
        }
        Ok(ScopeCheck {
            verdicts,
            relied_on,
            original_id,
            carried_handling: carried.handling,
        })
    }

    /// Forward a received message, unchanged and with its handling (which
    /// may be tightened, never loosened), after checking every recipient
    /// against the dissemination scope.
    pub async fn forward(
        &mut self,
        id: MessageId,
        to: &[DirectoryId],
        handling: Option<Handling>,
        note: &str,
    ) -> Result<MessageId> {
        let m = self.forwardable(id)?;
        let check = self.scope_check(&m, to)?;
        let new_handling = handling.unwrap_or_else(|| check.carried_handling.clone());
        if !new_handling.is_at_least_as_strict_as(&check.carried_handling) {
            let why: Vec<String> = new_handling
                .loosenings(&check.carried_handling)
                .iter()
                .map(ToString::to_string)
                .collect();
            return Err(HandlingError::Loosens(why).into());
        }
        let refusals: Vec<String> = check
            .verdicts
            .iter()
            .filter_map(|(_, v)| v.as_ref().map(|e| e.explain(id)))
            .collect();
        if !refusals.is_empty() {
            return Err(HandlingError::ForwardRefused(refusals).into());
        }
        let ScopeCheck {
            relied_on,
            original_id,
            ..
        } = check;
        let original = m.signed_payload.clone();
        let content = if relied_on.is_empty() {
            Content::Forward { original }
        } else {
            let grants = self
                .consent_decisions(original_id)?
                .into_iter()
                .filter(|s| s.decode_unverified().is_ok_and(|d| relied_on.contains(&d)))
                .collect();
            Content::ForwardWithConsent { original, grants }
        };
        let out = Outgoing {
            content,
            ..Outgoing::text(note, new_handling, Some(m.conversation))
        };
        self.send_outgoing(to, out).await
    }

    /// Reply to received message `id`: to its sender, in its conversation.
    /// The handling is the answered message's own unless `handling` is
    /// given, which may tighten it, never loosen it (a reply often quotes
    /// what it answers). Returns the new message's id and its recipient.
    pub async fn reply(
        &mut self,
        id: MessageId,
        text: &str,
        handling: Option<Handling>,
    ) -> Result<(crate::outbox::SendOutcome, DirectoryId)> {
        let m = self.message(id)?.ok_or(NotFound::Message(id))?;
        if m.direction != Direction::In {
            return Err(ClientError::ReplyToOwn(id));
        }
        if !m.verified {
            return Err(ClientError::Rejected {
                id,
                reason: m.error.clone().unwrap_or_default(),
            });
        }
        let to = DirectoryId::parse(&m.from).map_err(|_| ClientError::ReplyToOwn(id))?;
        let handling = match handling {
            None => m.handling.clone(),
            Some(h) if h.is_at_least_as_strict_as(&m.handling) => h,
            Some(h) => {
                let why = h
                    .loosenings(&m.handling)
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                return Err(HandlingError::ReplyLoosens(why).into());
            }
        };
        // The answered message's sender holds it: the quote goes back to
        // them only (and only what this focal point may read).
        let quote = m
            .visible_text()
            .map(crate::core::message::quote_of)
            .unwrap_or_default();
        let out = Outgoing {
            conversation: Some(m.conversation),
            ..Outgoing::content(text, handling, Content::Reply { to: id, quote })
        };
        let sent = self.send_or_queue(std::slice::from_ref(&to), out).await?;
        Ok((sent, to))
    }

    /// Ask the originator of a received message for consent. Returns the
    /// request id.
    pub async fn request_consent(
        &mut self,
        id: MessageId,
        scope: ConsentScope,
        reason: &str,
    ) -> Result<[u8; 16]> {
        let m = self.message(id)?.ok_or(NotFound::Message(id))?;
        let (original_id, originator) = origin_of(&m)?;
        let mut request_id = [0u8; 16];
        getrandom::fill(&mut request_id).map_err(ClientError::Random)?;
        let req = ConsentRequest {
            request_id,
            message_id: original_id,
            scope,
            reason: reason.to_owned(),
            requested_by: self.profile.id.clone(),
            created_at: self.now(),
        };
        req.check_wellformed().map_err(ClientError::Consent)?;
        let s = Signed::sign(&req, &self.identity);
        let bytes = s.encode();
        let declare = vec![Declaration {
            kind: Declared::ConsentRequest,
            refers_to: original_id,
            commitment: commitment(&bytes),
        }];
        {
            let mut w = self.home.write()?;
            w.put(
                Table::Consents,
                &request_id,
                &ConsentRecord {
                    request_id,
                    message_id: original_id,
                    request: Some(bytes),
                    decision: None,
                    we_asked: true,
                },
            )?;
            w.commit()?;
        }
        self.send_accountability(
            &originator,
            Content::ConsentRequest(s),
            declare,
            "consent request",
        )
        .await?;
        Ok(request_id)
    }

    /// As originator, grant or refuse a consent request received, named
    /// by its request id or by the id of the message that carried it.
    pub async fn decide_consent(
        &mut self,
        request_id: [u8; 16],
        grant: bool,
        conditions: &str,
        valid_until: Option<Timestamp>,
    ) -> Result<()> {
        let request_id = self.consent_request_id(request_id)?;
        let mut rec: ConsentRecord = self
            .home
            .get(Table::Consents, &request_id)?
            .ok_or(NotFound::ConsentRequest(request_id))?;
        if rec.we_asked {
            return Err(ClientError::OwnConsentRequest);
        }
        if let Some(prev) = &rec.decision {
            let prev = Signed::<ConsentDecision>::decode(prev)?.decode_unverified()?;
            return Err(ClientError::ConsentDecided {
                granted: prev.granted,
                at: prev.decided_at,
            });
        }
        let req_bytes = rec
            .request
            .clone()
            .ok_or(NotFound::ConsentRequest(request_id))?;
        let req = Signed::<ConsentRequest>::decode(&req_bytes)?.decode_unverified()?;
        let d = ConsentDecision {
            request_id,
            message_id: req.message_id,
            scope: req.scope.clone(),
            granted: grant,
            conditions: conditions.to_owned(),
            decided_by: self.profile.id.clone(),
            decided_at: self.now(),
            valid_until,
        };
        d.check_wellformed().map_err(ClientError::Consent)?;
        let s = Signed::sign(&d, &self.identity);
        let bytes = s.encode();
        let declare = vec![Declaration {
            kind: if grant {
                Declared::ConsentGranted
            } else {
                Declared::ConsentRefused
            },
            refers_to: req.message_id,
            commitment: commitment(&bytes),
        }];
        // The decision is recorded in the same write that keeps it to go
        // out (the outbox), so that it is final exactly when it will reach
        // the requester, whatever interrupts the send.
        rec.decision = Some(bytes);
        let out = Outgoing {
            declare,
            keep_consent: Some(rec),
            ..Outgoing::content(
                "consent decision",
                Handling::default(),
                Content::ConsentDecision(s),
            )
        };
        self.send_outgoing(std::slice::from_ref(&req.requested_by), out)
            .await?;
        Ok(())
    }

    /// Destroy the content of received messages whose retention ended,
    /// keeping a tombstone (payload hash), and send signed deletion records
    /// to their senders. Returns the ids destroyed.
    pub async fn enforce_retention(&mut self) -> Result<Vec<MessageId>> {
        let at = self.now();
        let mut expired = Vec::new();
        for m in self.messages()? {
            if m.direction != Direction::In
                || m.destroyed_at.is_some()
                || !m.verified
                || m.signed_payload.is_empty()
            {
                continue;
            }
            let h = self
                .effective_handling_of(&m)
                .unwrap_or_else(|_| m.handling.clone());
            if h.is_expired(at) {
                expired.push(m);
            }
        }
        if expired.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<MessageId> = expired.iter().map(|m| m.id).collect();
        // Destroy first: the content must go even if the relay is down. The
        // deletion records owed to the originators are in the same commit.
        {
            let mut w = self.home.write()?;
            for m in &expired {
                let mut t = m.clone();
                t.text = String::new();
                t.signed_payload = Vec::new();
                t.destroyed_at = Some(at);
                w.put(Table::Messages, &m.id.0, &t)?;
            }
            self.owe_receipts(&mut w, &expired, |m| ReceiptKind::Deleted {
                payload_hash: m.payload_hash,
            })?;
            // A request brought by a destroyed message loses its fields
            // with it (its steps stay: who did what, when).
            let mut book = self.request_book()?;
            if book.forget_fields_of(&ids) {
                Self::keep_request_book(&mut w, &book)?;
            }
            w.commit()?;
        }
        // The sealed copies of their attachments go with them.
        self.forget_attachments(&ids);
        // The old values would survive in the database's free pages, and the
        // passphrase still opens them: copy the live rows to a fresh file.
        self.home.rewrite()?;
        if let Err(e) = self.flush_receipts().await {
            self.warnings.push(format!(
                "deletion records are kept and go to the originators at your next sync: {}",
                liaison_net::tool::chain(&ClientError::DeletionRecords(Box::new(e)))
            ));
        }
        Ok(ids)
    }

    /// Check that each receipt we received is declared in the event log
    /// under a verified checkpoint (commitment and inclusion proof).
    pub async fn verify_receipt_events(&mut self) -> Result<usize> {
        let Some(note) = self.checkpoint(LogId::Events)? else {
            return Ok(0);
        };
        let base = logs::base_policy(&self.bundle, LogId::Events)?;
        let cp = logs::open(&base, &note)?;
        let size = cp.checkpoint().size();
        let pending: Vec<(Vec<u8>, ReceiptRecord)> = self
            .home
            .all::<ReceiptRecord>(Table::Receipts)?
            .into_iter()
            .filter(|(_, r)| {
                !r.logged && r.by != self.profile.id.as_str() && r.carrier != MessageId([0; 16])
            })
            .collect();
        let mut n = 0;
        for (key, mut r) in pending {
            let events = self.conn()?.message_events(r.carrier).await?;
            let want = commitment(&r.receipt);
            for e in events {
                let d = DisclosedEvent::decode(&e.event).map_err(|_| LogError::MalformedEvent)?;
                let rec = d
                    .decode_record()
                    .map_err(|_| LogError::MalformedEventRecord)?;
                let EventKind::Declared {
                    refers_to,
                    commitment: c,
                    ..
                } = rec.kind
                else {
                    continue;
                };
                if refers_to != r.message_id || c != want || e.index >= size {
                    continue;
                }
                let proof = self.conn()?.inclusion(LogId::Events, e.index, size).await?;
                cp.checkpoint()
                    .verify_inclusion(&d.leaf_hash(), e.index, &proof)
                    .map_err(LogError::ReceiptInclusion)?;
                r.logged = true;
                n += 1;
                let mut w = self.home.write()?;
                w.put(Table::Receipts, &key, &r)?;
                w.commit()?;
                break;
            }
        }
        Ok(n)
    }
}
