//! Composing a message: the signed payload for what the sender wrote, to
//! the records its recipients resolved to, under the handling it set, and
//! the devices to encrypt it to. Keys, records, the time and the ids come in
//! as arguments; the driver claims prekeys, encrypts, keeps and submits.

use liaison_protocol::directory::{DeviceKeys, FocalPointRecord};
use liaison_protocol::handling::Handling;
use liaison_protocol::message::{AttachmentRef, Content, Payload};
use liaison_protocol::{
    ConversationId, DirectoryId, MessageId, PublicKey, SecretKey, Signed, Timestamp, VerifyError,
    Wire,
};

/// What a message is made of.
#[derive(Debug)]
pub struct Draft<'a> {
    /// The sending focal point.
    pub sender: &'a DirectoryId,
    /// Its identity key, which signs the payload.
    pub identity: &'a SecretKey,
    /// The device that encrypts it (never encrypted to itself).
    pub device: PublicKey,
    /// The recipients as addressed (focal points and roles).
    pub to: &'a [DirectoryId],
    /// The verified, active records `to` resolved to.
    pub records: &'a [FocalPointRecord],
    /// The message's id (drawn at random by the caller).
    pub message_id: MessageId,
    /// The conversation: an existing one, or a new id drawn by the caller.
    pub conversation: ConversationId,
    /// The time of composing.
    pub now: Timestamp,
    /// The restrictions set by the sender.
    pub handling: Handling,
    /// The text (the note, for a forward).
    pub text: String,
    /// Text, forward, handover, receipts or consent.
    pub content: Content,
    /// Attachments.
    pub attachments: Vec<AttachmentRef>,
    /// The sender's latest verified checkpoints, carried for the recipients
    /// to compare with theirs.
    pub checkpoints: Vec<String>,
}

/// A composed message.
#[derive(Debug)]
pub struct Composed {
    /// The payload.
    pub payload: Payload,
    /// The signed payload, encoded once: these bytes are encrypted, kept and
    /// hashed.
    pub signed: Vec<u8>,
    /// Every device to encrypt to, with the focal point it belongs to, in
    /// the order of the records.
    pub devices: Vec<(DirectoryId, DeviceKeys)>,
}

/// Why a message cannot be composed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// The payload breaks a structural limit (recipients, size, handling).
    #[error("cannot send: {0}")]
    Payload(VerifyError),
    /// No recipient has a device other than the sending one.
    #[error("none of the recipients has a device to encrypt to")]
    NoDevice,
}

/// Build the payload of `draft`, check it, sign it with the identity key
/// and list the devices to encrypt it to.
pub fn compose(draft: Draft<'_>) -> Result<Composed, ComposeError> {
    let payload = Payload {
        message_id: draft.message_id,
        sender: draft.sender.clone(),
        sender_device: draft.device,
        recipients: draft.to.to_vec(),
        resolved: draft.records.iter().map(|r| r.id.clone()).collect(),
        conversation_id: draft.conversation,
        created_at: draft.now,
        handling: draft.handling,
        body: draft.text,
        content: draft.content,
        attachments: draft.attachments,
        checkpoints: draft.checkpoints,
    };
    payload.check_wellformed().map_err(ComposeError::Payload)?;
    let devices: Vec<(DirectoryId, DeviceKeys)> = draft
        .records
        .iter()
        .flat_map(|r| r.devices.iter().map(|d| (r.id.clone(), *d)))
        .filter(|(_, d)| d.signing != draft.device)
        .collect();
    if devices.is_empty() {
        return Err(ComposeError::NoDevice);
    }
    let signed = Signed::sign(&payload, draft.identity).encode();
    Ok(Composed {
        payload,
        signed,
        devices,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use liaison_protocol::codec::encode_body;
    use liaison_protocol::message::{SignedPayload, verify_payload};

    use super::*;
    use crate::core::message::{MessageKind, StoredMessage};
    use crate::core::open::open_content;
    use crate::core::testing::{HeldMessages, dir, key, rec};

    fn id(s: &str) -> DirectoryId {
        DirectoryId::parse(s).unwrap()
    }

    /// Alice (identity 10, devices 11 and 12) writes to Bob (identity 20,
    /// device 21) from her device 11.
    fn draft<'a>(
        alice: &'a DirectoryId,
        identity: &'a SecretKey,
        to: &'a [DirectoryId],
        records: &'a [FocalPointRecord],
    ) -> Draft<'a> {
        Draft {
            sender: alice,
            identity,
            device: key(11).public_key(),
            to,
            records,
            message_id: MessageId([7; 16]),
            conversation: ConversationId([8; 16]),
            now: Timestamp(1_000),
            handling: Handling::parse_text("AMBER+STRICT").unwrap(),
            text: "the boat leaves at dawn".into(),
            content: Content::Text,
            attachments: Vec::new(),
            checkpoints: vec!["a checkpoint".into()],
        }
    }

    /// What the recipient's driver does with the bytes: decode, verify
    /// against the sender's record as the directory holds it, open.
    fn receive(
        records: &[FocalPointRecord],
        sender: &FocalPointRecord,
        signed: &[u8],
    ) -> Result<StoredMessage, String> {
        let me = id("th.dsi.bob");
        let s = SignedPayload::decode(signed).map_err(|e| e.to_string())?;
        let p = verify_payload(
            &s,
            sender,
            &key(11).public_key(),
            &MessageId([7; 16]),
            |r| *r == me,
        )
        .map_err(|e| e.to_string())?;
        let mut m = StoredMessage::received(&p, signed.to_vec(), Timestamp(2_000));
        open_content(
            &dir(records.to_vec()),
            &HeldMessages::default(),
            &me,
            &mut m,
            &p,
        )
        .map_err(|e| e.to_string())?;
        Ok(m)
    }

    fn people() -> (DirectoryId, SecretKey, Vec<FocalPointRecord>) {
        let alice = key(10);
        let records = vec![
            rec("th.dsi.alice", &alice, &[11, 12]),
            rec("th.dsi.bob", &key(20), &[21]),
        ];
        (id("th.dsi.alice"), alice, records)
    }

    #[test]
    fn a_composed_message_opens_at_its_recipient() {
        let (alice, identity, records) = people();
        let to = [id("th.dsi.bob")];
        let c = compose(draft(&alice, &identity, &to, &records[1..])).unwrap();
        assert_eq!(c.payload.resolved, to);
        assert_eq!(c.payload.created_at, Timestamp(1_000));
        assert_eq!(c.payload.checkpoints, ["a checkpoint"]);
        assert_eq!(c.devices, [(id("th.dsi.bob"), records[1].devices[0])]);
        let m = receive(&records, &records[0], &c.signed).unwrap();
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(m.text, "the boat leaves at dawn");
        assert_eq!(m.handling, Handling::parse_text("AMBER+STRICT").unwrap());
        assert_eq!(m.id, MessageId([7; 16]));
    }

    #[test]
    fn the_senders_other_devices_are_encrypted_to_but_not_the_sending_one() {
        let (alice, identity, records) = people();
        let to = [id("th.dsi.bob"), alice.clone()];
        let c = compose(draft(&alice, &identity, &to, &records)).unwrap();
        let devices: Vec<PublicKey> = c.devices.iter().map(|(_, d)| d.signing).collect();
        assert_eq!(devices, [key(12).public_key(), key(21).public_key()]);
    }

    #[test]
    fn a_payload_signed_with_another_key_is_refused() {
        let (alice, _, records) = people();
        let to = [id("th.dsi.bob")];
        let mallory = key(66);
        let c = compose(draft(&alice, &mallory, &to, &records[1..])).unwrap();
        let err = receive(&records, &records[0], &c.signed).unwrap_err();
        assert_eq!(err, VerifyError::WrongSigner.to_string());
    }

    #[test]
    fn the_handling_is_bound_into_the_signature() {
        let (alice, identity, records) = people();
        let to = [id("th.dsi.bob")];
        let c = compose(draft(&alice, &identity, &to, &records[1..])).unwrap();
        // The same signature over the payload with a looser handling.
        let signed = SignedPayload::decode(&c.signed).unwrap();
        let mut loosened = c.payload.clone();
        loosened.handling = Handling::parse_text("GREEN").unwrap();
        let forged = Signed::<Payload>::from_parts(
            encode_body(&loosened),
            *signed.signer(),
            *signed.signature(),
        )
        .encode();
        assert_eq!(
            receive(&records, &records[0], &forged).unwrap_err(),
            VerifyError::BadSignature.to_string()
        );
        assert!(receive(&records, &records[0], &c.signed).is_ok());
    }

    #[test]
    fn nothing_is_composed_without_a_device_to_encrypt_to_or_over_the_limits() {
        let (alice, identity, records) = people();
        // Only the sending device itself.
        let only_me = [rec("th.dsi.alice", &identity, &[11])];
        let to = [alice.clone()];
        assert!(matches!(
            compose(draft(&alice, &identity, &to, &only_me)),
            Err(ComposeError::NoDevice)
        ));
        let to = [id("th.dsi.bob")];
        let mut big = draft(&alice, &identity, &to, &records[1..]);
        big.text = "x".repeat(liaison_protocol::message::MAX_BODY + 1);
        assert!(matches!(compose(big), Err(ComposeError::Payload(_))));
        assert!(matches!(
            compose(draft(&alice, &identity, &[], &records[1..])),
            Err(ComposeError::Payload(_))
        ));
    }
}
