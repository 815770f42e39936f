//! The directory as a state machine over the directory log.
//!
//! Entries (authority certificates, focal point records, role records) are
//! applied one at a time in log order; each is either applied or refused
//! with a reason. The rules, all decided by order of arrival and never by
//! id order:
//!
//! - versions per id only go up; a version not higher than the one held is
//!   refused;
//! - revocations are final: a revoked authority key, a revoked record and a
//!   device removed from a record never come back (a removed device's keys
//!   are retired for every record);
//! - a device signing key and a device agreement key belong to at most one
//!   record. The first record to list a key holds it until that record is
//!   revoked or a later version of it drops the device; any other record
//!   that lists it is refused, naming the holder. So a record of country A
//!   can never remove or alter anything of country B.
//!
//! Device proofs ([`crate::directory::device_proof_message`]) are checked
//! by [`verify_record`] for every device that carries one. A device without
//! one (records of the previous release, [`crate::directory::RecordFormat::Legacy`], and later
//! versions carrying such a device over) is accepted when read from the log,
//! under the same first-holder rule; [`DirectoryState::admit`], the check
//! made before anything new is written to the log, accepts an unproven
//! device only if the same id already holds it under the same identity key.
//!
//! Holding is independent of time; whether a record is in force at a given
//! time (validity period, its authority's certificate) is decided when a
//! [`Directory`] snapshot is taken.
//!
//! A record is in force only while the authority key that signed it is:
//! certified, within its certificate's validity, and not revoked. When the
//! root revokes an authority key, every record that key signed leaves force,
//! whenever it was signed and wherever it stands in the log; it comes back
//! only as a new version signed by a key in force (re-signing: the same
//! devices, proofs and identity key, a higher version). Nothing the log
//! holds says which of a compromised key's signatures were the thief's, so
//! none is trusted; to change keys without a gap, an authority re-signs its
//! records with its new key before the old one is revoked or expires. A
//! record out of force for this reason, or because its validity ended, is
//! *lapsed*, not revoked: its devices keep holding their keys (no other
//! record can take them), and the relay keeps their queued messages for a
//! grace period (`docs/security.md`, "Lapses and revocations").
//!
//! Pure: no I/O, no clock.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::directory::{
    AuthorityCertificate, DeviceKeys, Directory, FocalPointRecord, MAX_TEXT, RecordStatus,
    RoleRecord, verify_record, verify_role,
};
use crate::ids::{CountryCode, DirectoryId, Timestamp};
use crate::keys::{PublicKey, VerifyError};
use crate::log::event::DirectoryEntry;
use crate::signed::Signed;

/// Which key of a device a conflict is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKeyKind {
    /// The Ed25519 signing key (the device's id).
    Signing,
    /// The Curve25519 agreement key.
    Agreement,
}

impl fmt::Display for DeviceKeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKeyKind::Signing => "signing",
            DeviceKeyKind::Agreement => "agreement",
        })
    }
}

/// Why a directory entry was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The entry does not verify (signature, structure, country, proofs).
    #[error("{0}")]
    Invalid(#[from] VerifyError),
    /// A version not higher than the one already in the directory.
    #[error("version {offered} is not higher than version {held} already in the directory")]
    Stale {
        /// The version offered.
        offered: u64,
        /// The version held.
        held: u64,
    },
    /// The id was revoked; a revocation is final.
    #[error("{id} was revoked at version {version}; a revoked record is never used again")]
    RecordRevoked {
        /// The revoked id.
        id: DirectoryId,
        /// The revoking version.
        version: u64,
    },
    /// The authority key was revoked by the root; a revocation is final.
    #[error("this authority key was revoked by the network root; a revocation is final")]
    AuthorityRevoked,
    /// A device key already belongs to another record.
    #[error(
        "device {device} already belongs to {holder} (its {kind} key); a device belongs to one \
         focal point: if this person changed country, revoke the old record first"
    )]
    DeviceTaken {
        /// Fingerprint of the device's signing key.
        device: String,
        /// Which key collides.
        kind: DeviceKeyKind,
        /// The record that holds it.
        holder: DirectoryId,
    },
    /// A device key was removed from a record and is retired for good.
    #[error(
        "device {device} was removed from {from} and is retired for good (its {kind} key); a \
         removed device is never listed again: make a new device"
    )]
    DeviceRetired {
        /// Fingerprint of the device's signing key.
        device: String,
        /// Which key.
        kind: DeviceKeyKind,
        /// The record it was removed from.
        from: DirectoryId,
    },
    /// A new device without a proof of possession (only refused by
    /// [`DirectoryState::admit`]).
    #[error(
        "device {device} carries no proof that it agreed to join this record; the device must \
         make a new request with this release"
    )]
    UnprovenDevice {
        /// Fingerprint of the device's signing key.
        device: String,
    },
    /// A record id already used by a role, or the reverse.
    #[error("the id is already used by a {0}")]
    IdInUse(&'static str),
}

/// A refused (or, in a snapshot, not in force) directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// What was refused: an id, or `authority CC`.
    pub subject: String,
    /// Why.
    pub error: Refusal,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.error)
    }
}

/// The name callers of [`Directory::build`] know.
pub type Rejected = Refused;

/// What applying an entry changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// An authority certificate (or its revocation) is now held.
    Authority {
        /// Its country.
        country: CountryCode,
        /// Whether it revoked the key.
        revoked: bool,
    },
    /// A record version is now the one held for its id.
    Record {
        /// The id.
        id: DirectoryId,
        /// The version.
        version: u64,
        /// Devices it lists without a proof of possession (carried over
        /// from the previous release).
        unproven_devices: usize,
    },
    /// A role version is now the one held for its id.
    Role {
        /// The id.
        id: DirectoryId,
        /// The version.
        version: u64,
    },
}

#[derive(Clone, Debug)]
struct Held<T> {
    value: T,
    signed: Signed<T>,
    /// Arrival order of this version.
    seq: u64,
}

/// The directory built entry by entry in log order. See the module docs for
/// the rules.
#[derive(Clone, Debug)]
pub struct DirectoryState {
    root: PublicKey,
    next_seq: u64,
    authorities: BTreeMap<PublicKey, Held<AuthorityCertificate>>,
    revoked_authorities: BTreeSet<PublicKey>,
    records: BTreeMap<DirectoryId, Held<FocalPointRecord>>,
    roles: BTreeMap<DirectoryId, Held<RoleRecord>>,
    signing: BTreeMap<PublicKey, DirectoryId>,
    agreement: BTreeMap<[u8; 32], DirectoryId>,
    retired_signing: BTreeMap<PublicKey, DirectoryId>,
    retired_agreement: BTreeMap<[u8; 32], DirectoryId>,
}

fn fp(key: &PublicKey) -> String {
    key.fingerprint().to_string()
}

fn subject_of<T: crate::signed::SignedBody>(
    signed: &Signed<T>,
    id: impl Fn(&T) -> String,
) -> String {
    signed
        .decode_unverified()
        .map(|v| id(&v))
        .unwrap_or_else(|_| "?".into())
}

impl DirectoryState {
    /// An empty directory under the pinned network `root`.
    pub fn new(root: PublicKey) -> Self {
        DirectoryState {
            root,
            next_seq: 0,
            authorities: BTreeMap::new(),
            revoked_authorities: BTreeSet::new(),
            records: BTreeMap::new(),
            roles: BTreeMap::new(),
            signing: BTreeMap::new(),
            agreement: BTreeMap::new(),
            retired_signing: BTreeMap::new(),
            retired_agreement: BTreeMap::new(),
        }
    }

    /// Apply the next directory log entry.
    pub fn apply(&mut self, entry: &DirectoryEntry) -> Result<Applied, Refused> {
        match entry {
            DirectoryEntry::Authority(a) => self.apply_authority(a),
            DirectoryEntry::Record(r) => self.apply_record(r),
            DirectoryEntry::Role(r) => self.apply_role(r),
        }
    }

    /// Whether `entry` may be written to the log now: [`DirectoryState::apply`]
    /// would accept it, and every device it lists without a proof of
    /// possession is one the same id already holds. Changes nothing.
    pub fn admit(&self, entry: &DirectoryEntry) -> Result<(), Refused> {
        match entry {
            DirectoryEntry::Record(signed) => {
                let subject = subject_of(signed, |r| r.id.to_string());
                let record = self
                    .check_record(signed)
                    .map_err(|error| Refused { subject, error })?;
                self.check_proven(&record).map_err(|error| Refused {
                    subject: record.id.to_string(),
                    error,
                })
            }
            other => {
                let mut probe = self.clone();
                probe.apply(other).map(|_| ())
            }
        }
    }

    fn apply_authority(
        &mut self,
        signed: &Signed<AuthorityCertificate>,
    ) -> Result<Applied, Refused> {
        let subject = subject_of(signed, |c| format!("authority {}", c.country));
        let refuse = |error: Refusal| Refused {
            subject: subject.clone(),
            error,
        };
        let cert = signed.verify_by(&self.root).map_err(|e| refuse(e.into()))?;
        if cert.name.len() > MAX_TEXT {
            return Err(refuse(
                VerifyError::Inconsistent("authority name too long").into(),
            ));
        }
        if self.revoked_authorities.contains(&cert.key) {
            return Err(refuse(Refusal::AuthorityRevoked));
        }
        if cert.revoked {
            self.authorities.remove(&cert.key);
            self.revoked_authorities.insert(cert.key);
            return Ok(Applied::Authority {
                country: cert.country,
                revoked: true,
            });
        }
        if let Some(held) = self.authorities.get(&cert.key)
            && held.value.serial >= cert.serial
        {
            return Err(refuse(Refusal::Stale {
                offered: cert.serial,
                held: held.value.serial,
            }));
        }
        let country = cert.country;
        let seq = self.bump();
        self.authorities.insert(
            cert.key,
            Held {
                value: cert,
                signed: signed.clone(),
                seq,
            },
        );
        Ok(Applied::Authority {
            country,
            revoked: false,
        })
    }

    /// Every check of [`DirectoryState::apply`] for a record, without
    /// changing anything.
    fn check_record(&self, signed: &Signed<FocalPointRecord>) -> Result<FocalPointRecord, Refusal> {
        let authority = self
            .authorities
            .get(signed.signer())
            .ok_or(Refusal::Invalid(VerifyError::UnknownAuthority))?;
        let record = verify_record(&authority.value, signed)?;
        if self.roles.contains_key(&record.id) {
            return Err(Refusal::IdInUse("role"));
        }
        if let Some(held) = self.records.get(&record.id) {
            if let RecordStatus::Revoked { .. } = held.value.status {
                return Err(Refusal::RecordRevoked {
                    id: record.id.clone(),
                    version: held.value.version,
                });
            }
            if record.version <= held.value.version {
                return Err(Refusal::Stale {
                    offered: record.version,
                    held: held.value.version,
                });
            }
        }
        if record.status == RecordStatus::Active {
            for d in &record.devices {
                self.check_key_free(&record.id, d)?;
            }
        }
        Ok(record)
    }

    fn check_key_free(&self, id: &DirectoryId, d: &DeviceKeys) -> Result<(), Refusal> {
        let device = fp(&d.signing);
        if let Some(from) = self.retired_signing.get(&d.signing) {
            return Err(Refusal::DeviceRetired {
                device,
                kind: DeviceKeyKind::Signing,
                from: from.clone(),
            });
        }
        if let Some(from) = self.retired_agreement.get(&d.agreement) {
            return Err(Refusal::DeviceRetired {
                device,
                kind: DeviceKeyKind::Agreement,
                from: from.clone(),
            });
        }
        if let Some(holder) = self.signing.get(&d.signing)
            && holder != id
        {
            return Err(Refusal::DeviceTaken {
                device,
                kind: DeviceKeyKind::Signing,
                holder: holder.clone(),
            });
        }
        if let Some(holder) = self.agreement.get(&d.agreement)
            && holder != id
        {
            return Err(Refusal::DeviceTaken {
                device,
                kind: DeviceKeyKind::Agreement,
                holder: holder.clone(),
            });
        }
        Ok(())
    }

    /// Devices without a proof must already belong to the same id, with the
    /// same keys and under the same identity key.
    fn check_proven(&self, record: &FocalPointRecord) -> Result<(), Refusal> {
        if record.status != RecordStatus::Active {
            return Ok(());
        }
        let held = self
            .records
            .get(&record.id)
            .map(|h| &h.value)
            .filter(|h| h.identity_key == record.identity_key);
        for d in record.unproven_devices() {
            if !held.is_some_and(|h| h.devices.contains(d)) {
                return Err(Refusal::UnprovenDevice {
                    device: fp(&d.signing),
                });
            }
        }
        Ok(())
    }

    fn apply_record(&mut self, signed: &Signed<FocalPointRecord>) -> Result<Applied, Refused> {
        let subject = subject_of(signed, |r| r.id.to_string());
        let record = self
            .check_record(signed)
            .map_err(|error| Refused { subject, error })?;
        let active = record.status == RecordStatus::Active;
        // Release what the previous version held; retire devices it listed
        // that this version drops (unless the record itself is revoked,
        // which releases its devices).
        if let Some(old) = self.records.get(&record.id) {
            for d in &old.value.devices {
                if self.signing.get(&d.signing) == Some(&record.id) {
                    self.signing.remove(&d.signing);
                }
                if self.agreement.get(&d.agreement) == Some(&record.id) {
                    self.agreement.remove(&d.agreement);
                }
                if active {
                    if !record.devices.iter().any(|n| n.signing == d.signing) {
                        self.retired_signing.insert(d.signing, record.id.clone());
                    }
                    if !record.devices.iter().any(|n| n.agreement == d.agreement) {
                        self.retired_agreement
                            .insert(d.agreement, record.id.clone());
                    }
                }
            }
        }
        if active {
            for d in &record.devices {
                self.signing.insert(d.signing, record.id.clone());
                self.agreement.insert(d.agreement, record.id.clone());
            }
        }
        let applied = Applied::Record {
            id: record.id.clone(),
            version: record.version,
            unproven_devices: record.unproven_devices().count(),
        };
        let seq = self.bump();
        self.records.insert(
            record.id.clone(),
            Held {
                value: record,
                signed: signed.clone(),
                seq,
            },
        );
        Ok(applied)
    }

    fn apply_role(&mut self, signed: &Signed<RoleRecord>) -> Result<Applied, Refused> {
        let subject = subject_of(signed, |r| r.id.to_string());
        let refuse = |error: Refusal| Refused {
            subject: subject.clone(),
            error,
        };
        let authority = self
            .authorities
            .get(signed.signer())
            .ok_or_else(|| refuse(VerifyError::UnknownAuthority.into()))?;
        let role = verify_role(&authority.value, signed).map_err(|e| refuse(e.into()))?;
        if self.records.contains_key(&role.id) {
            return Err(refuse(Refusal::IdInUse("focal point record")));
        }
        if let Some(held) = self.roles.get(&role.id)
            && role.version <= held.value.version
        {
            return Err(refuse(Refusal::Stale {
                offered: role.version,
                held: held.value.version,
            }));
        }
        let applied = Applied::Role {
            id: role.id.clone(),
            version: role.version,
        };
        let seq = self.bump();
        self.roles.insert(
            role.id.clone(),
            Held {
                value: role,
                signed: signed.clone(),
                seq,
            },
        );
        Ok(applied)
    }

    fn bump(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        seq
    }

    /// The record version held for `id` (active, expired or revoked).
    pub fn record(&self, id: &DirectoryId) -> Option<&FocalPointRecord> {
        self.records.get(id).map(|h| &h.value)
    }

    /// The signed form of the record version held for `id`.
    pub fn signed_record(&self, id: &DirectoryId) -> Option<&Signed<FocalPointRecord>> {
        self.records.get(id).map(|h| &h.signed)
    }

    /// The id whose record holds device signing key `key`.
    pub fn device_holder(&self, key: &PublicKey) -> Option<&DirectoryId> {
        self.signing.get(key)
    }

    /// The record versions held, in the order they arrived.
    pub fn signed_records(&self) -> Vec<&Signed<FocalPointRecord>> {
        let mut v: Vec<&Held<FocalPointRecord>> = self.records.values().collect();
        v.sort_by_key(|h| h.seq);
        v.into_iter().map(|h| &h.signed).collect()
    }

    /// The authority certificates held, in the order they arrived.
    pub fn signed_authorities(&self) -> Vec<&Signed<AuthorityCertificate>> {
        let mut v: Vec<&Held<AuthorityCertificate>> = self.authorities.values().collect();
        v.sort_by_key(|h| h.seq);
        v.into_iter().map(|h| &h.signed).collect()
    }

    /// The role versions held, in the order they arrived.
    pub fn signed_roles(&self) -> Vec<&Signed<RoleRecord>> {
        let mut v: Vec<&Held<RoleRecord>> = self.roles.values().collect();
        v.sort_by_key(|h| h.seq);
        v.into_iter().map(|h| &h.signed).collect()
    }

    /// What is in force at `now`: authorities within their validity, and
    /// the records and roles they signed. Records and roles whose authority
    /// is not (expired, revoked, unknown) are returned as not in force.
    pub fn directory(&self, now: Timestamp) -> (Directory, Vec<Refused>) {
        let mut dir = Directory::default();
        let mut out = Vec::new();
        for held in self.authorities.values() {
            let c = &held.value;
            if now < c.not_before || now >= c.not_after {
                out.push(Refused {
                    subject: format!("authority {}", c.country),
                    error: VerifyError::Expired("authority certificate").into(),
                });
            } else {
                dir.authorities.insert(c.key, c.clone());
            }
        }
        let mut records: Vec<&Held<FocalPointRecord>> = self.records.values().collect();
        records.sort_by_key(|h| h.seq);
        for held in records {
            let r = &held.value;
            if !dir.authorities.contains_key(held.signed.signer()) {
                out.push(Refused {
                    subject: r.id.to_string(),
                    error: VerifyError::UnknownAuthority.into(),
                });
                continue;
            }
            if r.is_active(now) {
                for d in &r.devices {
                    dir.devices.insert(d.signing, r.id.clone());
                }
            }
            dir.records
                .insert(r.id.clone(), (r.clone(), held.signed.clone()));
        }
        for held in self.roles.values() {
            if !dir.authorities.contains_key(held.signed.signer()) {
                out.push(Refused {
                    subject: held.value.id.to_string(),
                    error: VerifyError::UnknownAuthority.into(),
                });
                continue;
            }
            dir.roles.insert(
                held.value.id.clone(),
                (held.value.clone(), held.signed.clone()),
            );
        }
        (dir, out)
    }
}

impl Directory {
    /// Verify a directory served as lists (authorities, then records and
    /// roles in the order given: the order they reached the directory log)
    /// against `root` at `now`. A thin wrapper over [`DirectoryState`]:
    /// items refused or not in force are returned in the second element and
    /// left out. Older versions of an id that follow a newer one are ignored
    /// without a report.
    ///
    /// The lists are not the log, so their order is only the server's word:
    /// records whose every device proved possession are applied before
    /// records with unproven devices (from the previous release). An honest
    /// relay serves records whose device keys never overlap, so this changes
    /// nothing for it; a relay that puts a squatting record without proofs
    /// first still cannot take a proven device from its holder.
    pub fn build(
        root: &PublicKey,
        authorities: &[Signed<AuthorityCertificate>],
        records: &[Signed<FocalPointRecord>],
        roles: &[Signed<RoleRecord>],
        now: Timestamp,
    ) -> (Directory, Vec<Refused>) {
        let mut state = DirectoryState::new(*root);
        let mut refused = Vec::new();
        let proven = |r: &&Signed<FocalPointRecord>| {
            r.decode_unverified()
                .is_ok_and(|v| v.unproven_devices().next().is_none())
        };
        let entries = authorities
            .iter()
            .cloned()
            .map(DirectoryEntry::Authority)
            .chain(
                records
                    .iter()
                    .filter(proven)
                    .chain(records.iter().filter(|r| !proven(r)))
                    .cloned()
                    .map(DirectoryEntry::Record),
            )
            .chain(roles.iter().cloned().map(DirectoryEntry::Role));
        for entry in entries {
            match state.apply(&entry) {
                Ok(_) => {}
                Err(Refused {
                    error: Refusal::Stale { .. } | Refusal::AuthorityRevoked,
                    ..
                }) => {}
                Err(r) => refused.push(r),
            }
        }
        let (dir, mut not_in_force) = state.directory(now);
        refused.append(&mut not_in_force);
        (dir, refused)
    }
}

#[cfg(test)]
#[path = "directory_state_test.rs"]
mod tests;
