//! Builders shared by the unit tests.
#![allow(clippy::unwrap_used, dead_code)]

use liaison_protocol::directory::{DeviceKeys, FocalPointRecord, RecordStatus};
use liaison_protocol::message::{Envelope, OlmKind, Prekey};
use liaison_protocol::{DirectoryId, MessageId, PublicKey, SecretKey, Timestamp};

use crate::store::{RedbStore, SendOp};

pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

pub fn prekey(device: &SecretKey, n: u8, fallback: bool) -> Prekey {
    let key = [n; 32];
    let signature = device.sign(
        Prekey::DOMAIN,
        &Prekey::signed_bytes(&device.public_key(), &key, fallback),
    );
    Prekey {
        device: device.public_key(),
        key,
        fallback,
        signature,
    }
}

pub fn envelope(id: MessageId, from: &PublicKey, to: &PublicKey, len: usize) -> Envelope {
    Envelope {
        message_id: id,
        sender_device: *from,
        recipient_device: *to,
        kind: OlmKind::Normal,
        ciphertext: vec![0xa5; len],
    }
}

pub fn op(n: u16, from: &PublicKey, to: &[PublicKey]) -> SendOp {
    let mut id = [0u8; 16];
    id[..2].copy_from_slice(&n.to_be_bytes());
    let id = MessageId(id);
    SendOp {
        message_id: id,
        envelopes: to.iter().map(|t| envelope(id, from, t, 100)).collect(),
        declare: vec![],
    }
}

pub fn record(
    id: &str,
    version: u64,
    identity: &SecretKey,
    devices: &[&SecretKey],
) -> FocalPointRecord {
    let id = DirectoryId::parse(id).unwrap();
    let keys = |d: &SecretKey| DeviceKeys {
        signing: d.public_key(),
        agreement: d.public_key().0,
    };
    FocalPointRecord {
        country: id.country(),
        id: id.clone(),
        version,
        name: "Test Officer".into(),
        agency: "DSI".into(),
        unit: "Anti-trafficking".into(),
        roles: vec![],
        languages: vec!["en".into()],
        time_zone: "Asia/Bangkok".into(),
        working_hours: String::new(),
        notes: String::new(),
        identity_key: identity.public_key(),
        device_endorsements: devices
            .iter()
            .map(|d| liaison_protocol::directory::endorse_device(identity, &id, &keys(d)))
            .collect(),
        device_proofs: devices
            .iter()
            .map(|d| {
                Some(liaison_protocol::directory::prove_device(
                    d,
                    &id,
                    &identity.public_key(),
                    &keys(d),
                ))
            })
            .collect(),
        devices: devices.iter().map(|d| keys(d)).collect(),
        not_before: Timestamp(0),
        not_after: Timestamp(u64::MAX),
        status: RecordStatus::Active,
        format: liaison_protocol::directory::RecordFormat::Proofs,
    }
}

pub fn temp_store() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("relay.redb")).unwrap();
    (dir, store)
}
