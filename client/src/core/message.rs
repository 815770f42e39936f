//! A message as the home keeps it, and what kind of message it is.

use liaison_protocol::handling::Handling;
use liaison_protocol::message::payload_hash_of;
use liaison_protocol::message::{Content, Payload};
use liaison_protocol::{ConversationId, DirectoryId, MessageId, Timestamp};
use serde::{Deserialize, Serialize};

/// What a stored message is. Kept on disk as its name (the home format
/// stores the name as a string), so the names never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A text message.
    Text,
    /// A forward carrying an original signed payload.
    Forward,
    /// A role handover package.
    Handover,
    /// Delivery, acknowledgement or deletion receipts.
    Receipts,
    /// A request for the originator's consent.
    ConsentRequest,
    /// The originator's consent decision.
    ConsentDecision,
    /// A case opened or its membership changed (by its owner).
    Case,
    /// A step of a structured request (opening, acknowledgement, answer,
    /// ...); its text says what the step is, then the author's words.
    Request,
}

impl MessageKind {
    /// Every kind.
    pub const ALL: [MessageKind; 8] = [
        MessageKind::Text,
        MessageKind::Forward,
        MessageKind::Handover,
        MessageKind::Receipts,
        MessageKind::ConsentRequest,
        MessageKind::ConsentDecision,
        MessageKind::Case,
        MessageKind::Request,
    ];

    /// The kind of a payload's content.
    pub fn of(content: &Content) -> MessageKind {
        match content {
            Content::Text => MessageKind::Text,
            Content::Forward { .. } | Content::ForwardWithConsent { .. } => MessageKind::Forward,
            Content::Handover { .. } => MessageKind::Handover,
            Content::Receipts(_) => MessageKind::Receipts,
            Content::ConsentRequest(_) => MessageKind::ConsentRequest,
            Content::ConsentDecision(_) => MessageKind::ConsentDecision,
            Content::Case(_) => MessageKind::Case,
            Content::Request(_) => MessageKind::Request,
            Content::Reply { .. } => MessageKind::Text,
        }
    }

    /// The stable name (`text`, `forward`, `handover`, `receipts`,
    /// `consent-request`, `consent-decision`, `case`, `request`), as shown
    /// in `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Forward => "forward",
            MessageKind::Handover => "handover",
            MessageKind::Receipts => "receipts",
            MessageKind::ConsentRequest => "consent-request",
            MessageKind::ConsentDecision => "consent-decision",
            MessageKind::Case => "case",
            MessageKind::Request => "request",
        }
    }

    /// Whether a person reads it (as opposed to protocol traffic such as
    /// receipts and consent messages).
    pub fn is_readable(self) -> bool {
        matches!(
            self,
            MessageKind::Text | MessageKind::Forward | MessageKind::Handover | MessageKind::Request
        )
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MessageKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// A stored message kind this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown message kind {0:?}")]
pub struct UnknownKind(pub String);

impl Serialize for MessageKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MessageKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Direction of a stored message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Received.
    In,
    /// Sent by this focal point.
    Out,
}

/// The text a message shows: its body, after the quote of the message it
/// answers for a reply.
pub fn shown_text(payload: &Payload) -> String {
    match &payload.content {
        Content::Reply { quote, .. } if !quote.is_empty() => {
            let quoted: Vec<String> = quote.lines().map(|l| format!("> {l}")).collect();
            format!("{}\n\n{}", quoted.join("\n"), payload.body)
        }
        _ => payload.body.clone(),
    }
}

/// The beginning of `text` to quote in a reply: at most
/// [`liaison_protocol::message::MAX_QUOTE`] bytes, cut at a character
/// boundary, with an ellipsis when cut.
pub fn quote_of(text: &str) -> String {
    let max = liaison_protocol::message::MAX_QUOTE - '…'.len_utf8();
    let text = text.trim();
    if text.len() <= liaison_protocol::message::MAX_QUOTE {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

/// A message in the local store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Message id.
    pub id: MessageId,
    /// Received or sent.
    pub direction: Direction,
    /// Sender id (as claimed; verified when `verified` is true).
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Sender's creation time.
    pub sent_at: Timestamp,
    /// When the relay accepted it (by the relay's clock; for messages
    /// received before this was recorded, the local time of receipt).
    pub stored_at: Timestamp,
    /// Conversation.
    pub conversation: ConversationId,
    /// Text (empty if rejected).
    pub text: String,
    /// Handling set by the originator.
    pub handling: Handling,
    /// The signature and the sender's directory record verified.
    pub verified: bool,
    /// Why the message was rejected, if it was.
    pub error: Option<String>,
    /// The signed payload as received (for later verification or export).
    pub signed_payload: Vec<u8>,
    /// The relay's event log provably contains this message's acceptance
    /// (and, for received messages, its delivery to us), checked against a
    /// verified checkpoint.
    pub logged: bool,
    /// Set when this message reached us inside a role handover package:
    /// who handed it over.
    pub via_handover: Option<String>,
    /// What the message is.
    pub kind: MessageKind,
    /// For a forward: the originator of the forwarded payload (`from` is
    /// the forwarder).
    pub original_from: Option<String>,
    /// When this focal point acknowledged the handling (received messages).
    pub acknowledged_at: Option<Timestamp>,
    /// When the content was destroyed because its retention ended; only the
    /// payload hash is kept.
    pub destroyed_at: Option<Timestamp>,
    /// SHA-256 of the signed payload (kept after destruction).
    pub payload_hash: [u8; 32],
    /// For sent messages: whether the relay durably accepted it.
    pub accepted: bool,
}

/// The start of the reason of a received message that is held (verified,
/// but kept unread until the user accepts its sender's changed identity
/// key).
pub const HELD: &str = "held";

/// A difference between the sender's clock and the relay's acceptance time
/// beyond which the two are shown apart: a wrong clock on either side, or a
/// message held back before it was sent.
pub const SKEW_WARNING_MS: u64 = 10 * 60 * 1000;

impl StoredMessage {
    /// Whether this received message is held until its sender's changed
    /// identity key is accepted ([`HELD`]).
    pub fn is_held(&self) -> bool {
        !self.verified
            && self
                .error
                .as_deref()
                .is_some_and(|e| e.strip_prefix(HELD).is_some_and(|r| r.starts_with(':')))
    }

    /// How far the sender's creation time is from the time the relay
    /// accepted the message, in milliseconds, when that is more than
    /// [`SKEW_WARNING_MS`] (either way).
    pub fn clock_skew_ms(&self) -> Option<u64> {
        let skew = self.sent_at.0.abs_diff(self.stored_at.0);
        (skew > SKEW_WARNING_MS).then_some(skew)
    }

    /// Whether the content stays hidden until this focal point acknowledges
    /// the originator's handling (`read ID --accept`): every received,
    /// verified message whose content still exists, except receipts,
    /// consent traffic and case changes (a case's title, reference and
    /// members show before its messages' handling is acknowledged), which
    /// carry no content of the originator's.
    pub fn withheld(&self) -> bool {
        self.direction == Direction::In
            && self.verified
            && self.destroyed_at.is_none()
            && self.acknowledged_at.is_none()
            && !matches!(
                self.kind,
                MessageKind::Receipts
                    | MessageKind::ConsentRequest
                    | MessageKind::ConsentDecision
                    | MessageKind::Case
            )
    }

    /// The text a reader may see now: none while the handling is not
    /// acknowledged, after the content was destroyed, or when the message
    /// was rejected.
    pub fn visible_text(&self) -> Option<&str> {
        if self.withheld() || self.destroyed_at.is_some() || !self.verified {
            None
        } else {
            Some(&self.text)
        }
    }

    /// A message this focal point sends, before the relay accepted it.
    /// `signed_payload` is the canonical encoding of the signed `payload`.
    pub fn outgoing(payload: &Payload, signed_payload: Vec<u8>) -> StoredMessage {
        StoredMessage {
            direction: Direction::Out,
            accepted: false,
            kind: MessageKind::of(&payload.content),
            payload_hash: payload_hash_of(&signed_payload),
            ..StoredMessage::from_payload(payload, signed_payload, payload.created_at)
        }
    }

    /// A received message whose signature and sender record verified,
    /// stored at `at`. `signed_payload` is the canonical encoding as
    /// decrypted.
    pub fn received(payload: &Payload, signed_payload: Vec<u8>, at: Timestamp) -> StoredMessage {
        StoredMessage {
            payload_hash: payload_hash_of(&signed_payload),
            ..StoredMessage::from_payload(payload, signed_payload, at)
        }
    }

    /// A message that reached us inside `via`'s handover package; its text
    /// is kept only if its originator's signature verified.
    pub fn handed_over(
        payload: Payload,
        signed_payload: Vec<u8>,
        via: &DirectoryId,
        check: Result<(), String>,
        at: Timestamp,
    ) -> StoredMessage {
        let mut m = StoredMessage::from_payload(&payload, signed_payload, at);
        m.via_handover = Some(via.to_string());
        m.payload_hash = [0; 32];
        if let Err(why) = check {
            m.verified = false;
            m.error = Some(why);
            m.text = String::new();
        }
        m
    }

    /// The record of a rejected envelope: who sent it, when, and why.
    pub fn rejected(
        id: MessageId,
        from: String,
        to: &DirectoryId,
        sent_at: Timestamp,
        at: Timestamp,
        reason: String,
    ) -> StoredMessage {
        StoredMessage {
            id,
            direction: Direction::In,
            from,
            to: vec![to.to_string()],
            sent_at,
            stored_at: at,
            conversation: ConversationId([0; 16]),
            text: String::new(),
            handling: Handling::default(),
            verified: false,
            error: Some(reason),
            signed_payload: Vec::new(),
            logged: false,
            via_handover: None,
            kind: MessageKind::Text,
            original_from: None,
            acknowledged_at: None,
            destroyed_at: None,
            payload_hash: [0; 32],
            accepted: false,
        }
    }

    /// The fields every verified message takes from its payload; the kind
    /// and what the content adds are filled in by whoever opens it.
    fn from_payload(payload: &Payload, signed_payload: Vec<u8>, at: Timestamp) -> StoredMessage {
        StoredMessage {
            id: payload.message_id,
            direction: Direction::In,
            from: payload.sender.to_string(),
            to: payload.recipients.iter().map(ToString::to_string).collect(),
            sent_at: payload.created_at,
            stored_at: at,
            conversation: payload.conversation_id,
            text: shown_text(payload),
            handling: payload.handling.clone(),
            verified: true,
            error: None,
            signed_payload,
            logged: false,
            via_handover: None,
            kind: MessageKind::Text,
            original_from: None,
            acknowledged_at: None,
            destroyed_at: None,
            payload_hash: [0; 32],
            accepted: true,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_stored_as_their_names() {
        // The home format stores the kind as a string: the encoding of a
        // kind must be the encoding of its name.
        for k in MessageKind::ALL {
            let as_kind = postcard::to_allocvec(&k).unwrap();
            let as_name = postcard::to_allocvec(&k.as_str().to_owned()).unwrap();
            assert_eq!(as_kind, as_name, "{k}");
            assert_eq!(postcard::from_bytes::<MessageKind>(&as_name).unwrap(), k);
        }
        let unknown = postcard::to_allocvec(&"poll".to_owned()).unwrap();
        assert!(postcard::from_bytes::<MessageKind>(&unknown).is_err());
    }

    #[test]
    fn held_messages_and_clock_skew_are_told_apart() {
        let to = DirectoryId::parse("th.dsi.bob").unwrap();
        let mut m = StoredMessage::rejected(
            MessageId([7; 16]),
            "ph.pnp.maria".into(),
            &to,
            Timestamp(1_000_000),
            Timestamp(1_000_000),
            "held: ph.pnp.maria's identity key changed".into(),
        );
        assert!(m.is_held());
        m.error = Some("holder mismatch".into());
        assert!(!m.is_held(), "only the held: prefix");
        m.error = Some("held: x".into());
        m.verified = true;
        assert!(!m.is_held(), "a verified message is not held");

        assert_eq!(m.clock_skew_ms(), None);
        m.stored_at = Timestamp(m.sent_at.0 + SKEW_WARNING_MS);
        assert_eq!(m.clock_skew_ms(), None, "up to the threshold");
        m.stored_at = Timestamp(m.sent_at.0 + SKEW_WARNING_MS + 1);
        assert_eq!(m.clock_skew_ms(), Some(SKEW_WARNING_MS + 1));
        m.stored_at = Timestamp(m.sent_at.0 - SKEW_WARNING_MS - 5);
        assert_eq!(
            m.clock_skew_ms(),
            Some(SKEW_WARNING_MS + 5),
            "a future-dated message"
        );
    }

    #[test]
    fn content_is_withheld_until_the_handling_is_acknowledged() {
        let to = DirectoryId::parse("th.dsi.bob").unwrap();
        let mut m = StoredMessage::rejected(
            MessageId([7; 16]),
            "ph.pnp.maria".into(),
            &to,
            Timestamp(1),
            Timestamp(2),
            "x".into(),
        );
        // Rejected: nothing to show, and nothing to acknowledge.
        assert!(!m.withheld());
        assert_eq!(m.visible_text(), None);

        m.verified = true;
        m.error = None;
        m.text = "Pier 7 at 0400".into();
        assert!(m.withheld());
        assert_eq!(m.visible_text(), None);

        // Receipts and consent traffic carry no originator content.
        for kind in [
            MessageKind::Receipts,
            MessageKind::ConsentRequest,
            MessageKind::ConsentDecision,
        ] {
            let other = StoredMessage { kind, ..m.clone() };
            assert!(!other.withheld(), "{kind}");
        }

        m.acknowledged_at = Some(Timestamp(3));
        assert!(!m.withheld());
        assert_eq!(m.visible_text(), Some("Pier 7 at 0400"));

        m.destroyed_at = Some(Timestamp(4));
        assert_eq!(m.visible_text(), None);

        // What this focal point sent is its own to read.
        let sent = StoredMessage {
            direction: Direction::Out,
            acknowledged_at: None,
            destroyed_at: None,
            ..m
        };
        assert!(!sent.withheld());
        assert_eq!(sent.visible_text(), Some("Pier 7 at 0400"));
    }
}
