//! Handling in practice (Article 10(3)): reading only after acknowledging
//! the handling, signed receipts, sticky forwards checked against the
//! dissemination scope, consent requests and decisions, and retention.
//!
//! Every receipt, consent request and decision travels as an end-to-end
//! encrypted message signed by its author's identity key, and is declared to
//! the relay (kind, the message it is about, and a SHA-256 commitment to the
//! signed object) so that it appears in the event log; the receiving client
//! checks the logged commitment against what it received.

use anyhow::{Context, Result, anyhow, bail};
use liaison_protocol::codec::Wire;
use liaison_protocol::consent::{
    ConsentDecision, ConsentRequest, ConsentScope, Receipt, ReceiptKind, effective_handling,
};
use liaison_protocol::frames::{Declaration, LogId};
use liaison_protocol::handling::{Handling, Party};
use liaison_protocol::log::LogPolicy;
use liaison_protocol::log::event::{Declared, DisclosedEvent, EventKind};
use liaison_protocol::message::{Content, SignedPayload};
use liaison_protocol::scope::{ForwardContext, check_forward};
use liaison_protocol::{DirectoryId, MessageId, Signed, Timestamp};

use crate::client::{Client, Direction, Outgoing, StoredMessage};
use crate::core::open::{Held, HeldError, origin_of};
use crate::core::records::{ConsentRecord, ReceiptRecord, commitment, receipt_key, receipt_name};
use crate::home::{Home, Table};
use crate::logs;

/// Most receipts carried (and declared) in one message.
const RECEIPTS_PER_MESSAGE: usize = 256;

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

impl Client {
    /// The party (id, country, agency) of a verified record.
    fn party(&self, id: &DirectoryId) -> Result<Party> {
        let rec = self
            .directory
            .record(id)
            .ok_or_else(|| anyhow!("{id} is not in the verified directory"))?;
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
        Ok(self
            .home
            .all::<ReceiptRecord>(Table::Receipts)?
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| r.message_id == id)
            .collect())
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

    /// Send signed receipts of `kind` for `messages` to their senders, one
    /// message per sender. Records what was sent.
    pub(crate) async fn send_receipts(
        &mut self,
        messages: &[StoredMessage],
        kind: impl Fn(&StoredMessage) -> ReceiptKind,
    ) -> Result<()> {
        use std::collections::BTreeMap;
        let mut by_sender: BTreeMap<String, Vec<&StoredMessage>> = BTreeMap::new();
        for m in messages {
            if m.kind.is_readable() && m.verified && m.direction == Direction::In {
                by_sender.entry(m.from.clone()).or_default().push(m);
            }
        }
        for (sender, all) in by_sender {
            let Ok(to) = DirectoryId::parse(&sender) else {
                continue;
            };
            if self.directory.resolve(&to, self.now()).is_empty() {
                continue;
            }
            for ms in all.chunks(RECEIPTS_PER_MESSAGE) {
                let mut receipts = Vec::new();
                let mut declare = Vec::new();
                let mut records = Vec::new();
                for m in ms {
                    let k = kind(m);
                    let declared = match k {
                        ReceiptKind::Delivered => Declared::DeliveryReceipt,
                        ReceiptKind::HandlingAcknowledged { .. } => Declared::HandlingAcknowledged,
                        ReceiptKind::Deleted { .. } => Declared::Deletion,
                    };
                    let r = Receipt {
                        message_id: m.id,
                        kind: k.clone(),
                        by: self.profile.id.clone(),
                        at: self.now(),
                    };
                    let s = Signed::sign(&r, &self.identity);
                    let bytes = s.encode();
                    declare.push(Declaration {
                        kind: declared,
                        refers_to: m.id,
                        commitment: commitment(&bytes),
                    });
                    records.push((
                        receipt_key(&m.id, &bytes),
                        ReceiptRecord {
                            by: self.profile.id.to_string(),
                            message_id: m.id,
                            kind: receipt_name(&k).into(),
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
                w.commit()?;
            }
        }
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
        let m = self
            .message(id)?
            .ok_or_else(|| anyhow!("no message {id}"))?;
        if m.direction != Direction::In {
            let explain = m.handling.explain();
            return Ok((m, explain));
        }
        if !m.verified {
            bail!(
                "message {id} was rejected: {}",
                m.error.clone().unwrap_or_default()
            );
        }
        if let Some(at) = m.destroyed_at {
            bail!(
                "the content of {id} was destroyed on {at} (retention ended); only its hash is kept"
            );
        }
        let me = self.party(&self.profile.id.clone()).ok();
        let h = self.effective_handling_of(&m)?;
        let explain = match &me {
            Some(p) => h.explain_for(p),
            None => h.explain(),
        };
        if !accept {
            let mut hidden = m.clone();
            if hidden.acknowledged_at.is_none() {
                hidden.text = String::new();
            }
            return Ok((hidden, explain));
        }
        if m.acknowledged_at.is_none() {
            let mut acked = m.clone();
            acked.acknowledged_at = Some(self.now());
            let hash = m.payload_hash;
            self.send_receipts(std::slice::from_ref(&m), |_| {
                ReceiptKind::HandlingAcknowledged { payload_hash: hash }
            })
            .await?;
            let mut w = self.home.write()?;
            w.put(Table::Messages, &id.0, &acked)?;
            w.commit()?;
            return Ok((acked, explain));
        }
        Ok((m, explain))
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
        let m = self
            .message(id)?
            .ok_or_else(|| anyhow!("no message {id}"))?;
        if !m.verified || m.signed_payload.is_empty() {
            bail!("message {id} cannot be forwarded (rejected or destroyed)");
        }
        if m.direction == Direction::In && m.acknowledged_at.is_none() {
            bail!("acknowledge the handling of {id} first: liaison read {id} --accept");
        }
        let signed = SignedPayload::decode(&m.signed_payload)?;
        let carried = signed.decode_unverified()?;
        let held = self.effective_handling_of(&m)?;
        let new_handling = handling.unwrap_or_else(|| carried.handling.clone());
        if !new_handling.is_at_least_as_strict_as(&carried.handling) {
            let why: Vec<String> = new_handling
                .loosenings(&carried.handling)
                .iter()
                .map(ToString::to_string)
                .collect();
            bail!(
                "a forward may only tighten the handling: {}",
                why.join("; ")
            );
        }
        let (original_id, originator_id) = origin_of(&m)?;
        let originator = self.party(&originator_id)?;
        let me = self.party(&self.profile.id.clone())?;
        let grants = self.grants(original_id)?;
        let mut original_recipients = carried.recipients.clone();
        original_recipients.extend(carried.resolved.iter().cloned());
        let ctx = ForwardContext {
            message_id: original_id,
            handling: &held,
            originator: &originator,
            original_recipients: &original_recipients,
            grants: &grants,
            now: self.now(),
        };
        let mut refusals = Vec::new();
        for r in self.resolve(to)? {
            if let Err(e) = check_forward(&ctx, &me, &Party::from_record(&r)) {
                refusals.push(e.to_string());
            }
        }
        if !refusals.is_empty() {
            bail!("forward refused: {}", refusals.join("\n"));
        }
        let out = Outgoing {
            content: Content::Forward {
                original: m.signed_payload.clone(),
            },
            ..Outgoing::text(note, new_handling, Some(m.conversation))
        };
        self.send_outgoing(to, out).await
    }

    /// Ask the originator of a received message for consent. Returns the
    /// request id.
    pub async fn request_consent(
        &mut self,
        id: MessageId,
        scope: ConsentScope,
        reason: &str,
    ) -> Result<[u8; 16]> {
        let m = self
            .message(id)?
            .ok_or_else(|| anyhow!("no message {id}"))?;
        let (original_id, originator) = origin_of(&m)?;
        let mut request_id = [0u8; 16];
        getrandom::fill(&mut request_id).map_err(|e| anyhow!("OS random generator failed: {e}"))?;
        let req = ConsentRequest {
            request_id,
            message_id: original_id,
            scope,
            reason: reason.to_owned(),
            requested_by: self.profile.id.clone(),
            created_at: self.now(),
        };
        req.check_wellformed().map_err(|e| anyhow!("{e}"))?;
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

    /// As originator, grant or refuse a consent request received.
    pub async fn decide_consent(
        &mut self,
        request_id: [u8; 16],
        grant: bool,
        conditions: &str,
        valid_until: Option<Timestamp>,
    ) -> Result<()> {
        let mut rec: ConsentRecord = self
            .home
            .get(Table::Consents, &request_id)?
            .ok_or_else(|| anyhow!("no consent request {}", hex::encode(request_id)))?;
        if rec.we_asked {
            bail!("this is your own request; only the originator decides");
        }
        let req_bytes = rec
            .request
            .clone()
            .ok_or_else(|| anyhow!("request missing"))?;
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
        d.check_wellformed().map_err(|e| anyhow!("{e}"))?;
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
        rec.decision = Some(bytes);
        {
            let mut w = self.home.write()?;
            w.put(Table::Consents, &request_id, &rec)?;
            w.commit()?;
        }
        self.send_accountability(
            &req.requested_by,
            Content::ConsentDecision(s),
            declare,
            "consent decision",
        )
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
        // Destroy first: the content must go even if the relay is down.
        {
            let mut w = self.home.write()?;
            for m in &expired {
                let mut t = m.clone();
                t.text = String::new();
                t.signed_payload = Vec::new();
                t.destroyed_at = Some(at);
                w.put(Table::Messages, &m.id.0, &t)?;
            }
            w.commit()?;
        }
        // The old values would survive in the database's free pages, and the
        // passphrase still opens them: copy the live rows to a fresh file.
        self.home.rewrite()?;
        self.send_receipts(&expired, |m| ReceiptKind::Deleted {
            payload_hash: m.payload_hash,
        })
        .await
        .context("content destroyed, but the deletion records could not be sent yet")?;
        Ok(ids)
    }

    /// Check that each receipt we received is declared in the event log
    /// under a verified checkpoint (commitment and inclusion proof).
    pub async fn verify_receipt_events(&mut self) -> Result<usize> {
        let Some(note) = self.checkpoint(LogId::Events)? else {
            return Ok(0);
        };
        let policy = logs::policy(&self.bundle, LogId::Events)?;
        let base = LogPolicy::new(policy.log().clone()).map_err(|e| anyhow!("{e}"))?;
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
                let d = DisclosedEvent::decode(&e.event).map_err(|_| anyhow!("malformed event"))?;
                let rec = d
                    .decode_record()
                    .map_err(|_| anyhow!("malformed event record"))?;
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
                    .map_err(|e| anyhow!("receipt event inclusion proof does not verify: {e}"))?;
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
