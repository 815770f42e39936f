//! The directory: network root → country authority certificates → focal
//! point records, and their verification.
//!
//! Trust chain (DESIGN.md, "Identities and the directory"):
//! 1. the network root key is pinned in every configuration;
//! 2. the root signs an [`AuthorityCertificate`] binding a key to one country;
//! 3. an authority signs [`FocalPointRecord`]s, only for its own country;
//!    a record's id starts with that country's code.
//!
//! New versions of a record supersede older ones; a revoked record or device
//! is never used again. [`Directory`] holds the verified state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{CountryCode, DirectoryId, Timestamp};
use crate::keys::{PublicKey, SecretKey, Signature, VerifyError};
use crate::signed::{Signed, SignedBody};

/// Maximum length of free-text fields (names, agencies, notes).
pub const MAX_TEXT: usize = 256;
/// Maximum number of devices in one record.
pub const MAX_DEVICES: usize = 16;

/// The root's certificate for one country authority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorityCertificate {
    /// The State this authority speaks for, and only for.
    pub country: CountryCode,
    /// Human name, such as "Royal Thai Police — Anti-Trafficking Division".
    pub name: String,
    /// The authority's signing key.
    pub key: PublicKey,
    /// Serial number; a higher serial for the same key supersedes.
    pub serial: u64,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// Set when the root revokes this authority key.
    pub revoked: bool,
}

impl SignedBody for AuthorityCertificate {
    const DOMAIN: &'static str = "authority-certificate";
    const MAX_BODY: usize = 1024;
}

/// One device of a focal point: its Olm identity keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceKeys {
    /// The device's Ed25519 key (Olm "fingerprint key"); also its id, and the
    /// key it authenticates to the relay with.
    pub signing: PublicKey,
    /// The device's Curve25519 key (Olm identity key for 3DH).
    pub agreement: [u8; 32],
}

/// Lifecycle status of a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordStatus {
    /// In service.
    Active,
    /// Revoked; nobody may encrypt to it or admit its devices.
    Revoked {
        /// Reason, for the people reading the directory.
        reason: String,
    },
}

/// A focal point's directory entry, signed by its country's authority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FocalPointRecord {
    /// Stable id, such as `th.dsi.somchai`.
    pub id: DirectoryId,
    /// Version; higher versions supersede lower ones.
    pub version: u64,
    /// Country; must match the id and the signing authority.
    pub country: CountryCode,
    /// Full name.
    pub name: String,
    /// Agency, such as DSI or PNP.
    pub agency: String,
    /// Unit inside the agency.
    pub unit: String,
    /// Roles held (role ids), informational.
    pub roles: Vec<String>,
    /// Languages (BCP 47 tags).
    pub languages: Vec<String>,
    /// IANA time zone name.
    pub time_zone: String,
    /// Working hours in free text, such as "Mon-Fri 08:30-16:30".
    pub working_hours: String,
    /// Contact notes.
    pub notes: String,
    /// The focal point's identity key, which signs every payload it sends.
    pub identity_key: PublicKey,
    /// Its devices.
    pub devices: Vec<DeviceKeys>,
    /// For each device (same order), the identity key's signature over
    /// [`device_endorsement_message`]: a device is only trusted if the focal
    /// point itself endorsed it and its authority countersigned the record.
    pub device_endorsements: Vec<Signature>,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// Active or revoked.
    pub status: RecordStatus,
}

impl SignedBody for FocalPointRecord {
    const DOMAIN: &'static str = "focal-point-record";
    const MAX_BODY: usize = 8 * 1024;
}

impl FocalPointRecord {
    /// Structural checks that do not depend on signatures.
    pub fn check_wellformed(&self) -> Result<(), VerifyError> {
        if self.id.country() != self.country {
            return Err(VerifyError::Inconsistent(
                "id does not start with the record's country",
            ));
        }
        let texts = [
            &self.name,
            &self.agency,
            &self.unit,
            &self.time_zone,
            &self.working_hours,
            &self.notes,
        ];
        if texts.iter().any(|t| t.len() > MAX_TEXT) {
            return Err(VerifyError::Inconsistent("text field too long"));
        }
        if self.roles.len() > 32 || self.languages.len() > 16 {
            return Err(VerifyError::Inconsistent("too many roles or languages"));
        }
        if self.devices.is_empty() || self.devices.len() > MAX_DEVICES {
            return Err(VerifyError::Inconsistent("a record lists 1 to 16 devices"));
        }
        if self.device_endorsements.len() != self.devices.len() {
            return Err(VerifyError::Inconsistent(
                "every device needs one endorsement",
            ));
        }
        if self.not_after <= self.not_before {
            return Err(VerifyError::Inconsistent("empty validity period"));
        }
        Ok(())
    }

    /// Check that the identity key endorsed every device.
    pub fn verify_endorsements(&self) -> Result<(), VerifyError> {
        for (d, sig) in self.devices.iter().zip(&self.device_endorsements) {
            self.identity_key
                .verify(
                    DEVICE_ENDORSEMENT_DOMAIN,
                    &device_endorsement_message(&self.id, d),
                    sig,
                )
                .map_err(|_| {
                    VerifyError::Inconsistent("a device is not endorsed by the identity key")
                })?;
        }
        Ok(())
    }

    /// Whether this record is active at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.status == RecordStatus::Active && self.not_before <= now && now < self.not_after
    }
}

/// Signature domain of device endorsements.
pub const DEVICE_ENDORSEMENT_DOMAIN: &str = "device-endorsement";

/// What the identity key signs to endorse `device` for `id`.
pub fn device_endorsement_message(id: &DirectoryId, device: &DeviceKeys) -> Vec<u8> {
    let mut m = Vec::with_capacity(id.as_str().len() + 65);
    m.extend_from_slice(id.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(&device.signing.0);
    m.extend_from_slice(&device.agreement);
    m
}

/// Endorse `device` for `id` with the focal point's identity key.
pub fn endorse_device(identity: &SecretKey, id: &DirectoryId, device: &DeviceKeys) -> Signature {
    identity.sign(
        DEVICE_ENDORSEMENT_DOMAIN,
        &device_endorsement_message(id, device),
    )
}

/// A role (such as `th.dsi.tip-duty`): the current holders in on-call order,
/// signed by the role's country authority. A handover is a new version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    /// Role id; its first label is the country.
    pub id: DirectoryId,
    /// Version; higher supersedes.
    pub version: u64,
    /// Country; must match the id and the signing authority.
    pub country: CountryCode,
    /// Human name, such as "DSI trafficking duty desk".
    pub name: String,
    /// What the role is for, hours, escalation.
    pub description: String,
    /// Current holders (focal point ids of the same country), on-call order.
    pub holders: Vec<DirectoryId>,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
}

impl SignedBody for RoleRecord {
    const DOMAIN: &'static str = "role-record";
    const MAX_BODY: usize = 4 * 1024;
}

impl RoleRecord {
    /// Structural checks.
    pub fn check_wellformed(&self) -> Result<(), VerifyError> {
        if self.id.country() != self.country {
            return Err(VerifyError::Inconsistent(
                "role id does not start with its country",
            ));
        }
        if self.name.len() > MAX_TEXT || self.description.len() > 4 * MAX_TEXT {
            return Err(VerifyError::Inconsistent("role text too long"));
        }
        if self.holders.len() > 32 {
            return Err(VerifyError::Inconsistent("a role has at most 32 holders"));
        }
        if self.holders.iter().any(|h| h.country() != self.country) {
            return Err(VerifyError::Inconsistent(
                "role holders must be of the role's country",
            ));
        }
        if self.not_after <= self.not_before {
            return Err(VerifyError::Inconsistent("empty validity period"));
        }
        Ok(())
    }

    /// Whether in force at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.not_before <= now && now < self.not_after
    }
}

/// Verify a role record against a verified authority certificate.
pub fn verify_role(
    authority: &AuthorityCertificate,
    role: &Signed<RoleRecord>,
) -> Result<RoleRecord, VerifyError> {
    let r = role.verify_by(&authority.key)?;
    r.check_wellformed()?;
    authority.check_country(r.country)?;
    Ok(r)
}

impl AuthorityCertificate {
    /// An authority speaks for its own country only.
    pub fn check_country(&self, subject: CountryCode) -> Result<(), VerifyError> {
        if subject != self.country {
            return Err(VerifyError::CountryMismatch {
                authority: self.country.to_string(),
                subject: subject.to_string(),
            });
        }
        Ok(())
    }
}

/// Verify an authority certificate against the pinned network root.
pub fn verify_authority(
    root: &PublicKey,
    cert: &Signed<AuthorityCertificate>,
    now: Timestamp,
) -> Result<AuthorityCertificate, VerifyError> {
    let c = cert.verify_by(root)?;
    if c.revoked {
        return Err(VerifyError::Revoked);
    }
    if now < c.not_before || now >= c.not_after {
        return Err(VerifyError::Expired("authority certificate"));
    }
    if c.name.len() > MAX_TEXT {
        return Err(VerifyError::Inconsistent("authority name too long"));
    }
    Ok(c)
}

/// Verify a focal point record against a verified authority certificate.
/// Enforces the country constraint: an authority only signs for its own State.
pub fn verify_record(
    authority: &AuthorityCertificate,
    record: &Signed<FocalPointRecord>,
) -> Result<FocalPointRecord, VerifyError> {
    let r = record.verify_by(&authority.key)?;
    r.check_wellformed()?;
    r.verify_endorsements()?;
    authority.check_country(r.country)?;
    Ok(r)
}

/// A problem found while building a [`Directory`]; the offending item is
/// left out, the rest is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// What was rejected (an id, or an authority country).
    pub subject: String,
    /// Why.
    pub error: VerifyError,
}

/// The verified directory: every authority and record checked at one time.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    authorities: BTreeMap<PublicKey, AuthorityCertificate>,
    records: BTreeMap<DirectoryId, (FocalPointRecord, Signed<FocalPointRecord>)>,
    roles: BTreeMap<DirectoryId, (RoleRecord, Signed<RoleRecord>)>,
    devices: BTreeMap<PublicKey, DirectoryId>,
}

impl Directory {
    /// Verify everything against `root` at `now`. Items that fail are
    /// returned in the second element and left out; for each id only the
    /// highest valid version is kept.
    pub fn build(
        root: &PublicKey,
        authorities: &[Signed<AuthorityCertificate>],
        records: &[Signed<FocalPointRecord>],
        roles: &[Signed<RoleRecord>],
        now: Timestamp,
    ) -> (Directory, Vec<Rejected>) {
        let mut dir = Directory::default();
        let mut rejected = Vec::new();
        for a in authorities {
            match verify_authority(root, a, now) {
                Ok(c) => {
                    let keep = dir
                        .authorities
                        .get(&c.key)
                        .is_none_or(|old| old.serial < c.serial);
                    if keep {
                        dir.authorities.insert(c.key, c);
                    }
                }
                Err(error) => rejected.push(Rejected {
                    subject: a
                        .decode_unverified()
                        .map(|c| format!("authority {}", c.country))
                        .unwrap_or_else(|_| "authority ?".into()),
                    error,
                }),
            }
        }
        // A revoked-by-serial authority: a newer certificate with revoked=true
        // fails verify_authority, so also drop keys revoked at any serial.
        for a in authorities {
            if let Ok(c) = a.verify_by(root)
                && c.revoked
            {
                dir.authorities.remove(&c.key);
            }
        }
        for r in records {
            let subject = r
                .decode_unverified()
                .map(|x| x.id.to_string())
                .unwrap_or_else(|_| "?".into());
            let Some(auth) = dir.authorities.get(r.signer()) else {
                rejected.push(Rejected {
                    subject,
                    error: VerifyError::UnknownAuthority,
                });
                continue;
            };
            match verify_record(auth, r) {
                Ok(rec) => {
                    let newer = dir
                        .records
                        .get(&rec.id)
                        .is_none_or(|(old, _)| old.version < rec.version);
                    if newer {
                        dir.records.insert(rec.id.clone(), (rec, r.clone()));
                    }
                }
                Err(error) => rejected.push(Rejected { subject, error }),
            }
        }
        // A device key belongs to one active record only; a second claim is
        // refused (the earlier id in order keeps it).
        let mut claimed: Vec<DirectoryId> = Vec::new();
        for (id, (rec, _)) in &dir.records {
            if rec.is_active(now) {
                if rec
                    .devices
                    .iter()
                    .any(|d| dir.devices.contains_key(&d.signing))
                {
                    rejected.push(Rejected {
                        subject: id.to_string(),
                        error: VerifyError::Inconsistent("lists a device of another focal point"),
                    });
                    claimed.push(id.clone());
                    continue;
                }
                for d in &rec.devices {
                    dir.devices.insert(d.signing, id.clone());
                }
            }
        }
        for id in claimed {
            dir.records.remove(&id);
        }
        for r in roles {
            let subject = r
                .decode_unverified()
                .map(|x| x.id.to_string())
                .unwrap_or_else(|_| "?".into());
            let Some(auth) = dir.authorities.get(r.signer()) else {
                rejected.push(Rejected {
                    subject,
                    error: VerifyError::UnknownAuthority,
                });
                continue;
            };
            match verify_role(auth, r) {
                Ok(role) => {
                    if dir.records.contains_key(&role.id) {
                        rejected.push(Rejected {
                            subject,
                            error: VerifyError::Inconsistent(
                                "a role id collides with a focal point id",
                            ),
                        });
                        continue;
                    }
                    let newer = dir
                        .roles
                        .get(&role.id)
                        .is_none_or(|(old, _)| old.version < role.version);
                    if newer {
                        dir.roles.insert(role.id.clone(), (role, r.clone()));
                    }
                }
                Err(error) => rejected.push(Rejected { subject, error }),
            }
        }
        (dir, rejected)
    }

    /// The latest verified record for `id` (active or not).
    pub fn record(&self, id: &DirectoryId) -> Option<&FocalPointRecord> {
        self.records.get(id).map(|(r, _)| r)
    }

    /// The signed form of the latest record for `id`.
    pub fn signed_record(&self, id: &DirectoryId) -> Option<&Signed<FocalPointRecord>> {
        self.records.get(id).map(|(_, s)| s)
    }

    /// The active focal point owning device `key`.
    pub fn device_owner(&self, key: &PublicKey) -> Option<&FocalPointRecord> {
        self.devices.get(key).and_then(|id| self.record(id))
    }

    /// Every latest record.
    pub fn records(&self) -> impl Iterator<Item = &FocalPointRecord> {
        self.records.values().map(|(r, _)| r)
    }

    /// The latest verified role record for `id`.
    pub fn role(&self, id: &DirectoryId) -> Option<&RoleRecord> {
        self.roles.get(id).map(|(r, _)| r)
    }

    /// The signed form of the latest role record for `id`.
    pub fn signed_role(&self, id: &DirectoryId) -> Option<&Signed<RoleRecord>> {
        self.roles.get(id).map(|(_, s)| s)
    }

    /// Every latest role record.
    pub fn roles(&self) -> impl Iterator<Item = &RoleRecord> {
        self.roles.values().map(|(r, _)| r)
    }

    /// The active focal points an id reaches: itself, or a role's active
    /// holders in on-call order.
    pub fn resolve(&self, id: &DirectoryId, now: Timestamp) -> Vec<&FocalPointRecord> {
        if let Some(r) = self.record(id) {
            return if r.is_active(now) {
                vec![r]
            } else {
                Vec::new()
            };
        }
        match self.role(id) {
            Some(role) if role.is_active(now) => role
                .holders
                .iter()
                .filter_map(|h| self.record(h))
                .filter(|r| r.is_active(now))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every verified authority.
    pub fn authorities(&self) -> impl Iterator<Item = &AuthorityCertificate> {
        self.authorities.values()
    }

    /// The verified authority certificate for `key`.
    pub fn authority(&self, key: &PublicKey) -> Option<&AuthorityCertificate> {
        self.authorities.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32])
    }

    fn cert(country: &str, k: &SecretKey) -> AuthorityCertificate {
        AuthorityCertificate {
            country: CountryCode::parse(country).unwrap_or_else(|_| unreachable!()),
            name: format!("{country} authority"),
            key: k.public_key(),
            serial: 1,
            not_before: Timestamp(0),
            not_after: Timestamp(u64::MAX),
            revoked: false,
        }
    }

    pub(crate) fn record(id: &str, identity: &SecretKey, device: &SecretKey) -> FocalPointRecord {
        let id = DirectoryId::parse(id).unwrap_or_else(|_| unreachable!());
        let id_for_endorse = id.clone();
        FocalPointRecord {
            country: id.country(),
            id,
            version: 1,
            name: "Somchai".into(),
            agency: "DSI".into(),
            unit: "Anti-trafficking".into(),
            roles: vec![],
            languages: vec!["th".into(), "en".into()],
            time_zone: "Asia/Bangkok".into(),
            working_hours: String::new(),
            notes: String::new(),
            identity_key: identity.public_key(),
            device_endorsements: vec![endorse_device(
                identity,
                &id_for_endorse,
                &DeviceKeys {
                    signing: device.public_key(),
                    agreement: [5; 32],
                },
            )],
            devices: vec![DeviceKeys {
                signing: device.public_key(),
                agreement: [5; 32],
            }],
            not_before: Timestamp(0),
            not_after: Timestamp(u64::MAX),
            status: RecordStatus::Active,
        }
    }

    #[test]
    fn chain_verifies_and_country_is_enforced() {
        let root = key(1);
        let th = key(2);
        let ph = key(3);
        let auths = vec![
            Signed::sign(&cert("TH", &th), &root),
            Signed::sign(&cert("PH", &ph), &root),
        ];
        let good = Signed::sign(&record("th.dsi.somchai", &key(4), &key(5)), &th);
        // PH authority signing a Thai focal point: must be rejected.
        let forged = Signed::sign(&record("th.dsi.mallory", &key(6), &key(7)), &ph);
        let (dir, rejected) = Directory::build(
            &root.public_key(),
            &auths,
            &[good, forged],
            &[],
            Timestamp(10),
        );
        assert!(
            dir.record(&DirectoryId::parse("th.dsi.somchai").unwrap_or_else(|_| unreachable!()))
                .is_some()
        );
        assert!(
            dir.record(&DirectoryId::parse("th.dsi.mallory").unwrap_or_else(|_| unreachable!()))
                .is_none()
        );
        assert_eq!(rejected.len(), 1);
        assert!(matches!(
            rejected[0].error,
            VerifyError::CountryMismatch { .. }
        ));
        assert!(dir.device_owner(&key(5).public_key()).is_some());
    }

    #[test]
    fn authority_not_signed_by_root_is_ignored() {
        let root = key(1);
        let rogue = key(9);
        let th = key(2);
        let auths = vec![Signed::sign(&cert("TH", &th), &rogue)];
        let rec = Signed::sign(&record("th.dsi.somchai", &key(4), &key(5)), &th);
        let (dir, rejected) =
            Directory::build(&root.public_key(), &auths, &[rec], &[], Timestamp(10));
        assert_eq!(dir.records().count(), 0);
        assert_eq!(rejected.len(), 2);
    }

    #[test]
    fn newer_version_supersedes_and_revocation_removes_devices() {
        let root = key(1);
        let th = key(2);
        let auths = vec![Signed::sign(&cert("TH", &th), &root)];
        let v1 = record("th.dsi.somchai", &key(4), &key(5));
        let mut v2 = v1.clone();
        v2.version = 2;
        v2.status = RecordStatus::Revoked {
            reason: "left the unit".into(),
        };
        let recs = vec![Signed::sign(&v2, &th), Signed::sign(&v1, &th)];
        let (dir, _) = Directory::build(&root.public_key(), &auths, &recs, &[], Timestamp(10));
        let id = DirectoryId::parse("th.dsi.somchai").unwrap_or_else(|_| unreachable!());
        assert_eq!(dir.record(&id).map(|r| r.version), Some(2));
        assert!(dir.device_owner(&key(5).public_key()).is_none());
    }
}
