//! Test fixtures shared by the client's unit tests: keys from a seed, a
//! verified directory of Thai focal points under one authority, their
//! records, and a home held in memory.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use liaison_protocol::directory::{
    AuthorityCertificate, DeviceKeys, Directory, FocalPointRecord, RecordFormat, RecordStatus,
    endorse_device, prove_device,
};
use liaison_protocol::{CountryCode, DirectoryId, MessageId, SecretKey, Signed, Timestamp};

use crate::core::message::StoredMessage;
use crate::core::open::{Held, HeldError};
use crate::core::records::ConsentRecord;

/// A home that holds what the test puts in it.
#[derive(Debug, Default)]
pub struct HeldMessages {
    /// Stored messages.
    pub messages: BTreeMap<MessageId, StoredMessage>,
    /// Consent exchanges.
    pub consents: BTreeMap<[u8; 16], ConsentRecord>,
}

impl Held for HeldMessages {
    fn message(&self, id: MessageId) -> Result<Option<StoredMessage>, HeldError> {
        Ok(self.messages.get(&id).cloned())
    }
    fn consent(&self, id: &[u8; 16]) -> Result<Option<ConsentRecord>, HeldError> {
        Ok(self.consents.get(id).cloned())
    }
}

/// The key whose seed is `[n; 32]`.
pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// A directory verified under root `key(1)` and the TH authority `key(2)`.
pub fn dir(records: Vec<FocalPointRecord>) -> Directory {
    let root = key(1);
    let th = key(2);
    let cert = AuthorityCertificate {
        country: CountryCode::parse("TH").unwrap_or_else(|_| unreachable!()),
        name: "TH".into(),
        key: th.public_key(),
        serial: 1,
        not_before: Timestamp(0),
        not_after: Timestamp(u64::MAX),
        revoked: false,
    };
    let signed: Vec<_> = records.iter().map(|r| Signed::sign(r, &th)).collect();
    Directory::build(
        &root.public_key(),
        &[Signed::sign(&cert, &root)],
        &signed,
        &[],
        Timestamp(5),
    )
    .0
}

/// An active record for `id` with `identity` and devices `key(n)`.
pub fn rec(id: &str, identity: &SecretKey, devices: &[u8]) -> FocalPointRecord {
    let id = DirectoryId::parse(id).unwrap_or_else(|_| unreachable!());
    let devs: Vec<DeviceKeys> = devices
        .iter()
        .map(|n| DeviceKeys {
            signing: key(*n).public_key(),
            agreement: [*n; 32],
        })
        .collect();
    FocalPointRecord {
        country: id.country(),
        id: id.clone(),
        version: 1,
        name: "x".into(),
        agency: "DSI".into(),
        unit: String::new(),
        roles: vec![],
        languages: vec![],
        time_zone: String::new(),
        working_hours: String::new(),
        notes: String::new(),
        identity_key: identity.public_key(),
        device_endorsements: devs
            .iter()
            .map(|d| endorse_device(identity, &id, d))
            .collect(),
        device_proofs: devices
            .iter()
            .zip(&devs)
            .map(|(n, d)| Some(prove_device(&key(*n), &id, &identity.public_key(), d)))
            .collect(),
        devices: devs,
        format: RecordFormat::Proofs,
        not_before: Timestamp(0),
        not_after: Timestamp(u64::MAX),
        status: RecordStatus::Active,
    }
}
