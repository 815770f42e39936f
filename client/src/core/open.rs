//! What a received payload's content means once its signature and sender
//! verified: forwards are checked back to their originator and may only
//! tighten the handling; receipts and consent messages must concern what
//! this focal point sent or asked; each adds records to the home.
//!
//! The home is read through [`Held`], so these rules run without storage.

use std::error::Error;

use liaison_protocol::codec::Wire;
use liaison_protocol::consent::{ConsentDecision, ConsentRequest, Receipt};
use liaison_protocol::directory::{Directory, FocalPointRecord};
use liaison_protocol::handling::{Handling, Party};
use liaison_protocol::message::{Content, Payload, SignedPayload};
use liaison_protocol::scope::{ForwardContext, check_forward};
use liaison_protocol::{DecodeError, DirectoryId, MessageId, Timestamp, VerifyError};

use crate::core::message::{Direction, MessageKind, StoredMessage};
use crate::core::records::{ConsentRecord, ReceiptRecord, SideEffects, receipt_key, receipt_name};

/// Most nested forwards accepted (a forward of a forward of ...).
pub const MAX_FORWARD_DEPTH: usize = 4;

/// What the home holds, as these rules need it.
pub trait Held {
    /// A stored message.
    fn message(&self, id: MessageId) -> Result<Option<StoredMessage>, HeldError>;
    /// A consent exchange, by request id.
    fn consent(&self, request_id: &[u8; 16]) -> Result<Option<ConsentRecord>, HeldError>;
}

/// The home could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading the home: {0}")]
pub struct HeldError(pub Box<dyn Error + Send + Sync>);

/// Why a received payload's content was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Forwards nested deeper than [`MAX_FORWARD_DEPTH`].
    #[error("forward chain deeper than {MAX_FORWARD_DEPTH}")]
    ForwardTooDeep,
    /// A forwarded payload does not decode.
    #[error("forwarded payload is malformed: {0}")]
    ForwardMalformed(DecodeError),
    /// A forwarded payload's body does not decode or is not well formed.
    #[error("forwarded payload is invalid: {0}")]
    ForwardInvalid(VerifyError),
    /// The originator of a forwarded message is not in the verified
    /// directory.
    #[error("the forwarded message's originator {0} is not in the verified directory")]
    ForwardOriginatorUnknown(DirectoryId),
    /// The originator's signature on a forwarded message does not verify.
    #[error("the forwarded message's signature by {by} does not verify ({error})")]
    ForwardSignature {
        /// The claimed originator.
        by: DirectoryId,
        /// Why.
        error: VerifyError,
    },
    /// A forward is less strict than what it forwards.
    #[error("the forward loosens the original handling set by {by}: {}; rejected", .why.join("; "))]
    ForwardLoosens {
        /// Who set the original handling.
        by: DirectoryId,
        /// Each loosening, in words.
        why: Vec<String>,
    },
    /// A consent grant carried by a forward does not verify as the
    /// originator's grant about the forwarded message (altered, or not
    /// the originator's).
    #[error(
        "the forward carries a consent grant that does not verify as {by}'s grant for the forwarded message ({error}): it was altered or is not the originator's; rejected"
    )]
    ForwardGrantInvalid {
        /// The originator.
        by: DirectoryId,
        /// Why.
        error: VerifyError,
    },
    /// A forward outside the dissemination scope of the handling, without
    /// the originator's grant for this recipient.
    #[error(
        "the forward by {by} is outside the handling set by {originator} ({rule}) and carries no consent of {originator} for you: {by}'s client broke the handling rules or removed the originator's consent and its conditions; rejected"
    )]
    ForwardOutOfScope {
        /// The forwarder.
        by: DirectoryId,
        /// The originator.
        originator: DirectoryId,
        /// The rule that the forward breaks (`tlp-red`, ...).
        rule: &'static str,
    },
    /// The author of a receipt or consent message is not in the verified
    /// directory.
    #[error("{0} not in directory")]
    AuthorUnknown(&'static str),
    /// A receipt's signature or contents do not verify.
    #[error("receipt does not verify: {0}")]
    ReceiptInvalid(VerifyError),
    /// A receipt from someone who was not a recipient of the message.
    #[error("receipt for message {id} from {by}, who was not one of its recipients")]
    ReceiptNotFromRecipient {
        /// The message.
        id: MessageId,
        /// Who signed the receipt.
        by: DirectoryId,
    },
    /// A consent request's signature or contents do not verify.
    #[error("consent request does not verify: {0}")]
    ConsentRequestInvalid(VerifyError),
    /// A consent request about a message this focal point did not
    /// originate.
    #[error("consent request about message {0} that this focal point did not originate")]
    ConsentRequestNotOurs(MessageId),
    /// A consent decision's signature or contents do not verify.
    #[error("consent decision does not verify: {0}")]
    ConsentDecisionInvalid(VerifyError),
    /// A consent decision answers no request this focal point made.
    #[error("a consent decision for a request this focal point never made")]
    ConsentDecisionUnrequested,
    /// A consent decision names another message than its request.
    #[error("the consent decision is about another message than the request")]
    ConsentDecisionMismatch,
    /// A consent decision about a message this home does not hold.
    #[error("consent decision about an unknown message")]
    ConsentDecisionUnknownMessage,
    /// A consent decision not signed by the message's originator.
    #[error("the consent decision is not from the message's originator")]
    ConsentDecisionNotFromOriginator,
    /// A stored message carries no payload that decodes.
    #[error("message {0} has no payload")]
    NoPayload(MessageId),
    /// The home could not be read.
    #[error(transparent)]
    Held(#[from] HeldError),
}

/// The original payload's id and originator of a stored message (the
/// innermost payload of a forward chain).
pub fn origin_of(m: &StoredMessage) -> Result<(MessageId, DirectoryId), OpenError> {
    let p = origin_payload(m)?;
    Ok((p.message_id, p.sender))
}

/// The original payload of a stored message: the innermost payload of a
/// forward chain, as verified when the message was received. Its
/// `recipients` and `resolved` are the originator's named recipients,
/// which no forwarder along the chain can add to.
pub fn origin_payload(m: &StoredMessage) -> Result<Payload, OpenError> {
    let no_payload = || OpenError::NoPayload(m.id);
    let decode = |bytes: &[u8]| {
        SignedPayload::decode(bytes)
            .ok()
            .and_then(|s| s.decode_unverified().ok())
            .ok_or_else(no_payload)
    };
    let mut p = decode(&m.signed_payload)?;
    for _ in 0..MAX_FORWARD_DEPTH {
        match p.content.forwarded() {
            Some(original) => p = decode(original)?,
            None => break,
        }
    }
    Ok(p)
}

/// Verify a forwarded payload back to its originator: every signature in
/// the chain verifies against the verified directory, and every forward is
/// at least as strict as what it carries. Returns the innermost payload and
/// its originator.
pub fn verify_forward_chain(
    directory: &Directory,
    outer: &Handling,
    original: &[u8],
    depth: usize,
) -> Result<(Payload, DirectoryId), OpenError> {
    if depth > MAX_FORWARD_DEPTH {
        return Err(OpenError::ForwardTooDeep);
    }
    let signed = SignedPayload::decode(original).map_err(OpenError::ForwardMalformed)?;
    let claimed = signed
        .decode_unverified()
        .map_err(OpenError::ForwardInvalid)?;
    let rec = directory
        .record(&claimed.sender)
        .ok_or_else(|| OpenError::ForwardOriginatorUnknown(claimed.sender.clone()))?;
    let p = signed
        .verify_by(&rec.identity_key)
        .map_err(|error| OpenError::ForwardSignature {
            by: claimed.sender.clone(),
            error,
        })?;
    p.check_wellformed().map_err(OpenError::ForwardInvalid)?;
    if !outer.is_at_least_as_strict_as(&p.handling) {
        let why = outer
            .loosenings(&p.handling)
            .iter()
            .map(ToString::to_string)
            .collect();
        return Err(OpenError::ForwardLoosens {
            by: p.sender.clone(),
            why,
        });
    }
    match p.content.forwarded() {
        Some(original) => verify_forward_chain(directory, &p.handling, original, depth + 1),
        None => {
            let sender = p.sender.clone();
            Ok((p, sender))
        }
    }
}

/// The originator's consent grants a stored forward carries, as the
/// recipient verified them on receipt (none for other messages).
pub fn carried_grants(m: &StoredMessage) -> Vec<ConsentDecision> {
    SignedPayload::decode(&m.signed_payload)
        .ok()
        .and_then(|s| s.decode_unverified().ok())
        .map(|p| {
            p.content
                .forward_grants()
                .iter()
                .filter_map(|g| g.decode_unverified().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Check what a forward carries against the rules an honest forwarder's
/// client applied: every grant it carries is the originator's, signed and
/// about the forwarded message, and this recipient is inside the
/// dissemination scope of the handling the forwarder held, counting those
/// grants. A forward outside that scope without a grant for this
/// recipient was sent by a client that broke the rules or removed the
/// originator's grant (and with it the conditions attached to it).
fn check_forward_received(
    directory: &Directory,
    me: &DirectoryId,
    payload: &Payload,
    original: &[u8],
    origin: &Payload,
    accepted_at: Timestamp,
) -> Result<(), OpenError> {
    let originator = directory
        .record(&origin.sender)
        .ok_or_else(|| OpenError::ForwardOriginatorUnknown(origin.sender.clone()))?;
    let mut grants = Vec::new();
    for g in payload.content.forward_grants() {
        let d = ConsentDecision::verify(g, originator).map_err(|error| {
            OpenError::ForwardGrantInvalid {
                by: origin.sender.clone(),
                error,
            }
        })?;
        if d.message_id != origin.message_id {
            return Err(OpenError::ForwardGrantInvalid {
                by: origin.sender.clone(),
                error: VerifyError::Inconsistent("the grant is about another message"),
            });
        }
        grants.push(d);
    }
    let (Some(forwarder), Some(recipient)) =
        (directory.record(&payload.sender), directory.record(me))
    else {
        return Err(OpenError::AuthorUnknown("forwarder or recipient"));
    };
    // The handling the forwarder held: the one on the payload it forwards
    // (each hop only tightens it).
    let carried = SignedPayload::decode(original)
        .map_err(OpenError::ForwardMalformed)?
        .decode_unverified()
        .map_err(OpenError::ForwardInvalid)?;
    // The originator's named recipients, from the originator's own signed
    // payload: a forwarder along the chain lists whom it likes in its own
    // payload, and must not widen the scope for the next hop by that.
    let mut original_recipients = origin.recipients.clone();
    original_recipients.extend(origin.resolved.iter().cloned());
    let ctx = ForwardContext {
        message_id: origin.message_id,
        handling: &carried.handling,
        originator: &Party::from_record(originator),
        original_recipients: &original_recipients,
        grants: &grants,
        // The later of the forwarder's clock and the relay's acceptance:
        // a forwarder setting its clock back cannot revive a lapsed grant
        // or an expired retention.
        now: payload.created_at.max(accepted_at),
    };
    check_forward(
        &ctx,
        &Party::from_record(forwarder),
        &Party::from_record(recipient),
    )
    .map_err(|refusal| OpenError::ForwardOutOfScope {
        by: payload.sender.clone(),
        originator: origin.sender.clone(),
        rule: refusal.rule.code(),
    })
}

/// Text another person wrote (a reason, conditions), on one line, so that
/// it cannot pass for lines of our own output (a fake hint or command).
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn sent_by_us(held: &impl Held, id: MessageId) -> Result<bool, OpenError> {
    Ok(held
        .message(id)?
        .is_some_and(|m| m.direction == Direction::Out))
}

/// Whether `by` was a recipient of message `id` that this focal point
/// sent: named in it, among the focal points its roles resolved to when it
/// was sent, or holding one of its roles now. Anyone else who learned the
/// id (the relay sees every id) cannot report on it.
fn receipt_from_recipient(
    directory: &Directory,
    held: &impl Held,
    id: MessageId,
    by: &DirectoryId,
) -> Result<bool, OpenError> {
    let Some(m) = held.message(id)? else {
        return Ok(false);
    };
    if m.direction != Direction::Out {
        return Ok(false);
    }
    if m.to.iter().any(|t| t == by.as_str()) {
        return Ok(true);
    }
    let resolved = SignedPayload::decode(&m.signed_payload)
        .ok()
        .and_then(|s| s.decode_unverified().ok())
        .is_some_and(|p| p.resolved.contains(by));
    let holds_role = m.to.iter().any(|t| {
        DirectoryId::parse(t)
            .ok()
            .and_then(|role| directory.role(&role))
            .is_some_and(|r| r.holders.contains(by))
    });
    Ok(resolved || holds_role)
}

/// Check the content of a received payload whose signature and sender
/// verified, set the stored message's kind and text accordingly, and say
/// what else to store.
pub fn open_content(
    directory: &Directory,
    held: &impl Held,
    me: &DirectoryId,
    msg: &mut StoredMessage,
    payload: &Payload,
) -> Result<SideEffects, OpenError> {
    open_content_by(
        directory,
        held,
        me,
        msg,
        payload,
        directory.record(&payload.sender),
    )
}

/// [`open_content`] with the sender's record the payload was verified by
/// (for a message accepted before the sender's identity was replaced or
/// device removed: the record in force then), which the receipts and
/// consent decisions it carries must be signed by too.
pub fn open_content_by(
    directory: &Directory,
    held: &impl Held,
    me: &DirectoryId,
    msg: &mut StoredMessage,
    payload: &Payload,
    sender: Option<&FocalPointRecord>,
) -> Result<SideEffects, OpenError> {
    let mut fx = SideEffects::default();
    let author = |what: &'static str| {
        sender
            .filter(|r| r.id == payload.sender)
            .ok_or(OpenError::AuthorUnknown(what))
    };
    match &payload.content {
        // A reply's quote is shown as the replier's own words ("> ...").
        Content::Text | Content::Reply { .. } => {}
        Content::Handover { .. } => msg.kind = MessageKind::Handover,
        Content::Forward { original } | Content::ForwardWithConsent { original, .. } => {
            msg.kind = MessageKind::Forward;
            let (orig, originator) =
                verify_forward_chain(directory, &payload.handling, original, 1)?;
            check_forward_received(directory, me, payload, original, &orig, msg.stored_at)?;
            msg.original_from = Some(originator.to_string());
            msg.text = if payload.body.is_empty() {
                orig.body
            } else {
                format!("{}\n--- forwarded message ---\n{}", payload.body, orig.body)
            };
        }
        Content::Case(change) => {
            msg.kind = MessageKind::Case;
            msg.text = crate::core::case::describe_change(&payload.sender, change);
        }
        Content::Request(event) => {
            msg.kind = MessageKind::Request;
            msg.text = crate::core::request::describe(&payload.sender, event, &payload.body);
        }
        Content::Receipts(list) => {
            msg.kind = MessageKind::Receipts;
            let signer = author("receipt signer")?;
            for s in list {
                let r = Receipt::verify(s, signer).map_err(OpenError::ReceiptInvalid)?;
                if !sent_by_us(held, r.message_id)? {
                    // Not a message this home sent: another device of this
                    // focal point's sent it (receipts go to every device of
                    // the sender), or the signer names an id it made up.
                    // Either way there is nothing here to record it against.
                    continue;
                }
                if !receipt_from_recipient(directory, held, r.message_id, &r.by)? {
                    return Err(OpenError::ReceiptNotFromRecipient {
                        id: r.message_id,
                        by: r.by.clone(),
                    });
                }
                let bytes = s.encode();
                fx.receipts.push((
                    receipt_key(&r.message_id, &bytes),
                    ReceiptRecord {
                        by: r.by.to_string(),
                        message_id: r.message_id,
                        kind: receipt_name(&r.kind).into(),
                        at: r.at,
                        carrier: payload.message_id,
                        logged: false,
                        receipt: bytes,
                    },
                ));
            }
        }
        Content::ConsentRequest(s) => {
            msg.kind = MessageKind::ConsentRequest;
            let requester = author("requester")?;
            let req =
                ConsentRequest::verify(s, requester).map_err(OpenError::ConsentRequestInvalid)?;
            if !sent_by_us(held, req.message_id)? {
                return Err(OpenError::ConsentRequestNotOurs(req.message_id));
            }
            msg.text = format!(
                "{} asks for consent on message {}: {} — reason: \"{}\"",
                req.requested_by,
                req.message_id,
                req.scope.describe(),
                one_line(&req.reason)
            );
            fx.consents.push(ConsentRecord {
                request_id: req.request_id,
                message_id: req.message_id,
                request: Some(s.encode()),
                decision: None,
                we_asked: false,
            });
        }
        Content::ConsentDecision(s) => {
            msg.kind = MessageKind::ConsentDecision;
            let originator = author("originator")?;
            let d = ConsentDecision::verify(s, originator)
                .map_err(OpenError::ConsentDecisionInvalid)?;
            let mut rec = held
                .consent(&d.request_id)?
                .ok_or(OpenError::ConsentDecisionUnrequested)?;
            if rec.message_id != d.message_id {
                return Err(OpenError::ConsentDecisionMismatch);
            }
            let (orig_id, orig_sender) = match held.message(d.message_id)? {
                Some(m) => origin_of(&m)?,
                None => return Err(OpenError::ConsentDecisionUnknownMessage),
            };
            if orig_id != d.message_id || orig_sender != d.decided_by {
                return Err(OpenError::ConsentDecisionNotFromOriginator);
            }
            msg.text = format!(
                "{} {} consent on message {}: {}{}",
                d.decided_by,
                if d.granted { "GRANTED" } else { "REFUSED" },
                d.message_id,
                d.scope.describe(),
                if d.conditions.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", d.conditions)
                }
            );
            rec.decision = Some(s.encode());
            fx.consents.push(rec);
        }
    }
    Ok(fx)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use liaison_protocol::consent::ReceiptKind;
    use liaison_protocol::{ConversationId, SecretKey, Signed, Timestamp};

    use super::*;
    use crate::core::testing::{HeldMessages as Home, dir, key, rec};

    fn id(s: &str) -> DirectoryId {
        DirectoryId::parse(s).unwrap()
    }

    fn h(text: &str) -> Handling {
        Handling::parse_text(text).unwrap()
    }

    /// Alice (key 10, device 11) and Bob (key 20, device 21) of TH.
    fn people() -> (Directory, SecretKey, SecretKey) {
        let (alice, bob) = (key(10), key(20));
        let d = dir(vec![
            rec("th.dsi.alice", &alice, &[11]),
            rec("th.dsi.bob", &bob, &[21]),
            rec("th.dsi.carol", &key(30), &[31]),
        ]);
        (d, alice, bob)
    }

    fn payload(from: &str, n: u8, body: &str, handling: Handling, content: Content) -> Payload {
        let device = if from.ends_with("alice") { 11 } else { 21 };
        Payload {
            message_id: MessageId([n; 16]),
            sender: id(from),
            sender_device: key(device).public_key(),
            recipients: vec![id("th.dsi.carol")],
            resolved: vec![id("th.dsi.carol")],
            conversation_id: ConversationId([n; 16]),
            created_at: Timestamp(1_000),
            handling,
            body: body.into(),
            content,
            attachments: Vec::new(),
            checkpoints: Vec::new(),
        }
    }

    fn opened(d: &Directory, held: &Home, p: &Payload) -> Result<StoredMessage, OpenError> {
        let bytes = Signed::sign(p, &key(20)).encode();
        let mut m = StoredMessage::received(p, bytes, Timestamp(2_000));
        open_content(d, held, &id("th.dsi.carol"), &mut m, p).map(|_| m)
    }

    #[test]
    fn a_forward_that_keeps_or_tightens_the_handling_opens_to_the_original() {
        let (d, alice, _) = people();
        let original = payload("th.dsi.alice", 1, "pier 7", h("AMBER"), Content::Text);
        let original = Signed::sign(&original, &alice).encode();
        let fwd = payload(
            "th.dsi.bob",
            2,
            "see below",
            h("RED"),
            Content::Forward { original },
        );
        let m = opened(&d, &Home::default(), &fwd).unwrap();
        assert_eq!(m.kind, MessageKind::Forward);
        assert_eq!(m.original_from.as_deref(), Some("th.dsi.alice"));
        assert_eq!(m.text, "see below\n--- forwarded message ---\npier 7");
    }

    /// Attack: Bob forwards Alice's RED message to Carol, a named
    /// recipient, but lists Dave among the recipients of his own forward.
    /// Carol's honest client forwards it on to Dave. Dave's client judges
    /// the scope by Alice's named recipients, not by what Bob listed, and
    /// refuses it.
    #[test]
    fn a_forwarder_cannot_widen_the_scope_by_listing_recipients_in_its_forward() {
        let (alice, bob, carol) = (key(10), key(20), key(30));
        let d = dir(vec![
            rec("th.dsi.alice", &alice, &[11]),
            rec("th.dsi.bob", &bob, &[21]),
            rec("th.dsi.carol", &carol, &[31]),
            rec("th.dsi.dave", &key(40), &[41]),
        ]);
        let named = vec![id("th.dsi.bob"), id("th.dsi.carol")];
        let mut original = payload("th.dsi.alice", 1, "pier 7", h("RED"), Content::Text);
        original.recipients.clone_from(&named);
        original.resolved.clone_from(&named);
        let original = Signed::sign(&original, &alice).encode();
        let mut by_bob = payload("th.dsi.bob", 2, "", h("RED"), Content::Forward { original });
        let widened = vec![id("th.dsi.carol"), id("th.dsi.dave")];
        by_bob.recipients.clone_from(&widened);
        by_bob.resolved = widened;
        let by_bob = Signed::sign(&by_bob, &bob).encode();
        let mut by_carol = payload(
            "th.dsi.carol",
            3,
            "",
            h("RED"),
            Content::Forward { original: by_bob },
        );
        by_carol.recipients = vec![id("th.dsi.dave")];
        by_carol.resolved = vec![id("th.dsi.dave")];
        let bytes = Signed::sign(&by_carol, &carol).encode();
        let mut m = StoredMessage::received(&by_carol, bytes, Timestamp(2_000));
        let err =
            open_content(&d, &Home::default(), &id("th.dsi.dave"), &mut m, &by_carol).unwrap_err();
        assert!(
            matches!(&err, OpenError::ForwardOutOfScope { originator, .. } if originator.as_str() == "th.dsi.alice"),
            "{err}"
        );
        // To a named recipient of Alice's, the same chain is in scope.
        let mut m = StoredMessage::received(&by_carol, Vec::new(), Timestamp(2_000));
        open_content(&d, &Home::default(), &id("th.dsi.bob"), &mut m, &by_carol).unwrap();
    }

    #[test]
    fn a_forward_that_loosens_or_alters_the_original_is_refused() {
        let (d, alice, bob) = people();
        let original = payload("th.dsi.alice", 1, "pier 7", h("RED"), Content::Text);
        let signed = Signed::sign(&original, &alice).encode();
        let loose = payload(
            "th.dsi.bob",
            2,
            "",
            h("GREEN"),
            Content::Forward {
                original: signed.clone(),
            },
        );
        let err = opened(&d, &Home::default(), &loose).unwrap_err();
        assert!(
            matches!(&err, OpenError::ForwardLoosens { by, .. } if by.as_str() == "th.dsi.alice"),
            "{err}"
        );
        assert!(err.to_string().contains("loosens the original handling"));

        // Bob edits Alice's text but keeps her signature.
        let mut edited = signed.clone();
        let at = edited.windows(6).position(|w| w == b"pier 7").unwrap();
        edited[at] = b'P';
        let forged = payload(
            "th.dsi.bob",
            3,
            "",
            h("RED"),
            Content::Forward { original: edited },
        );
        assert!(matches!(
            opened(&d, &Home::default(), &forged),
            Err(OpenError::ForwardSignature { .. })
        ));

        // Bob signs a payload claiming to be Alice's.
        let claimed = Signed::sign(&original, &bob).encode();
        let impostor = payload(
            "th.dsi.bob",
            4,
            "",
            h("RED"),
            Content::Forward { original: claimed },
        );
        assert!(matches!(
            opened(&d, &Home::default(), &impostor),
            Err(OpenError::ForwardSignature { .. })
        ));

        // A chain deeper than allowed.
        let mut inner = signed;
        for n in 0..=MAX_FORWARD_DEPTH as u8 {
            let p = payload(
                "th.dsi.alice",
                10 + n,
                "",
                h("RED"),
                Content::Forward { original: inner },
            );
            inner = Signed::sign(&p, &alice).encode();
        }
        let deep = payload(
            "th.dsi.bob",
            30,
            "",
            h("RED"),
            Content::Forward { original: inner },
        );
        assert!(matches!(
            opened(&d, &Home::default(), &deep),
            Err(OpenError::ForwardTooDeep)
        ));
    }

    /// Alice's RED message to Bob, signed, and Alice's grant (conditions
    /// "boarding team only") for Bob to forward it to Carol.
    fn red_and_grant(alice: &SecretKey) -> (Vec<u8>, Signed<ConsentDecision>) {
        let mut original = payload("th.dsi.alice", 1, "pier 7", h("RED"), Content::Text);
        original.recipients = vec![id("th.dsi.bob")];
        original.resolved = vec![id("th.dsi.bob")];
        let grant = ConsentDecision {
            request_id: [4; 16],
            message_id: original.message_id,
            scope: liaison_protocol::consent::ConsentScope::Forward {
                recipients: vec![id("th.dsi.carol")],
            },
            granted: true,
            conditions: "boarding team only".into(),
            decided_by: id("th.dsi.alice"),
            decided_at: Timestamp(500),
            valid_until: None,
        };
        (
            Signed::sign(&original, alice).encode(),
            Signed::sign(&grant, alice),
        )
    }

    #[test]
    fn a_forward_outside_the_scope_needs_the_originators_grant_and_carries_its_conditions() {
        let (d, alice, bob) = people();
        let (original, grant) = red_and_grant(&alice);
        // Without the grant (a forwarder that removed it): rejected.
        let stripped = payload(
            "th.dsi.bob",
            2,
            "",
            h("RED"),
            Content::Forward {
                original: original.clone(),
            },
        );
        let err = opened(&d, &Home::default(), &stripped).unwrap_err();
        assert!(
            matches!(
                &err,
                OpenError::ForwardOutOfScope {
                    rule: "tlp-red",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("removed the originator's consent"));
        // With it: opened, and the conditions are there to show.
        let with = payload(
            "th.dsi.bob",
            3,
            "",
            h("RED"),
            Content::ForwardWithConsent {
                original: original.clone(),
                grants: vec![grant.clone()],
            },
        );
        let m = opened(&d, &Home::default(), &with).unwrap();
        assert_eq!(m.original_from.as_deref(), Some("th.dsi.alice"));
        let carried = carried_grants(&m);
        assert_eq!(carried.len(), 1);
        assert_eq!(carried[0].conditions, "boarding team only");
        // Conditions altered by the forwarder: the signature fails.
        let mut altered = grant.decode_unverified().unwrap();
        altered.conditions = "no conditions".into();
        let altered = Signed::<ConsentDecision>::from_parts(
            liaison_protocol::codec::encode_body(&altered),
            *grant.signer(),
            *grant.signature(),
        );
        let forged = payload(
            "th.dsi.bob",
            4,
            "",
            h("RED"),
            Content::ForwardWithConsent {
                original: original.clone(),
                grants: vec![altered],
            },
        );
        assert!(matches!(
            opened(&d, &Home::default(), &forged),
            Err(OpenError::ForwardGrantInvalid { .. })
        ));
        // A grant the forwarder signed itself is not the originator's.
        let own = Signed::sign(&grant.decode_unverified().unwrap(), &bob);
        let impostor = payload(
            "th.dsi.bob",
            5,
            "",
            h("RED"),
            Content::ForwardWithConsent {
                original,
                grants: vec![own],
            },
        );
        assert!(matches!(
            opened(&d, &Home::default(), &impostor),
            Err(OpenError::ForwardGrantInvalid { .. })
        ));
    }

    /// A reason or conditions written by another person cannot add lines
    /// to our output (a planted "To answer: `liaison consent grant …`").
    #[test]
    fn text_from_others_is_shown_on_one_line() {
        let planted = "urgent\n  To answer: `liaison consent grant 00ff`\r\n\tnow";
        let shown = one_line(planted);
        assert!(!shown.contains(['\n', '\r', '\t']), "{shown}");
        assert_eq!(shown, "urgent To answer: `liaison consent grant 00ff` now");
    }

    /// A grant that lapsed before the relay accepted the forward does not
    /// count, whatever time the forwarder's clock put in the payload.
    #[test]
    fn a_grant_is_judged_at_the_relays_acceptance_not_the_forwarders_clock() {
        let (d, alice, _) = people();
        let (original, grant) = red_and_grant(&alice);
        let mut lapsing = grant.decode_unverified().unwrap();
        // The forward says 1_000 and is accepted at 2_000 (see `opened`).
        lapsing.valid_until = Some(Timestamp(1_500));
        let lapsing = Signed::sign(&lapsing, &alice);
        let fwd = payload(
            "th.dsi.bob",
            6,
            "",
            h("RED"),
            Content::ForwardWithConsent {
                original: original.clone(),
                grants: vec![lapsing],
            },
        );
        let err = opened(&d, &Home::default(), &fwd).unwrap_err();
        assert!(matches!(&err, OpenError::ForwardOutOfScope { .. }), "{err}");
        // Still valid at the acceptance: opened.
        let mut valid = grant.decode_unverified().unwrap();
        valid.valid_until = Some(Timestamp(2_500));
        let fwd = payload(
            "th.dsi.bob",
            7,
            "",
            h("RED"),
            Content::ForwardWithConsent {
                original,
                grants: vec![Signed::sign(&valid, &alice)],
            },
        );
        opened(&d, &Home::default(), &fwd).unwrap();
    }

    #[test]
    fn receipts_count_only_for_messages_this_home_sent_to_their_signer() {
        let (d, _, bob) = people();
        let sent = payload("th.dsi.alice", 1, "pier 7", h("RED"), Content::Text);
        let mut home = Home::default();
        let receipt = |n: u8| {
            Signed::sign(
                &Receipt {
                    message_id: MessageId([n; 16]),
                    kind: ReceiptKind::Delivered,
                    by: id("th.dsi.bob"),
                    at: Timestamp(1_500),
                },
                &bob,
            )
        };
        let carrier = payload(
            "th.dsi.bob",
            5,
            "",
            h("RED"),
            Content::Receipts(vec![receipt(1)]),
        );
        // Not sent from this home (another device of the sender's, or an id
        // made up): nothing is recorded, and the carrier is not refused.
        let bytes = Signed::sign(&carrier, &key(20)).encode();
        let mut m = StoredMessage::received(&carrier, bytes, Timestamp(2_000));
        let fx = open_content(&d, &home, &id("th.dsi.carol"), &mut m, &carrier).unwrap();
        assert!(fx.receipts.is_empty());

        // Sent, but to carol: bob (who learned the id somehow) cannot
        // report on it.
        let signed = Signed::sign(&sent, &key(10)).encode();
        home.messages
            .insert(sent.message_id, StoredMessage::outgoing(&sent, signed));
        assert!(matches!(
            opened(&d, &home, &carrier),
            Err(OpenError::ReceiptNotFromRecipient { id: m, by }) if m == MessageId([1; 16]) && by == id("th.dsi.bob")
        ));

        // Sent to bob: his receipt counts.
        let mut sent = sent;
        sent.recipients = vec![id("th.dsi.bob")];
        sent.resolved = vec![id("th.dsi.bob")];
        let signed = Signed::sign(&sent, &key(10)).encode();
        home.messages
            .insert(sent.message_id, StoredMessage::outgoing(&sent, signed));
        let bytes = Signed::sign(&carrier, &bob).encode();
        let mut m = StoredMessage::received(&carrier, bytes, Timestamp(2_000));
        let fx = open_content(&d, &home, &id("th.dsi.alice"), &mut m, &carrier).unwrap();
        assert_eq!(m.kind, MessageKind::Receipts);
        assert_eq!(fx.receipts.len(), 1);
        let (_, r) = &fx.receipts[0];
        assert_eq!(
            (r.by.as_str(), r.kind.as_str()),
            ("th.dsi.bob", "delivered")
        );
        assert_eq!(r.carrier, carrier.message_id);
    }

    #[test]
    fn a_consent_decision_needs_a_request_made_here_about_the_deciders_message() {
        let (d, alice, _) = people();
        let decision = |n: u8| ConsentDecision {
            request_id: [n; 16],
            message_id: MessageId([1; 16]),
            decided_by: id("th.dsi.alice"),
            granted: true,
            scope: liaison_protocol::consent::ConsentScope::JudicialUse {
                case_reference: "case 1".into(),
            },
            conditions: String::new(),
            decided_at: Timestamp(1_500),
            valid_until: None,
        };
        let carrier = payload(
            "th.dsi.alice",
            6,
            "",
            h("RED"),
            Content::ConsentDecision(Signed::sign(&decision(9), &alice)),
        );
        assert!(matches!(
            opened(&d, &Home::default(), &carrier),
            Err(OpenError::ConsentDecisionUnrequested)
        ));
    }
}
