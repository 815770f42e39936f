//! The directory: network root → country authority certificates → focal
//! point records, and their verification.
//!
//! Trust chain (DESIGN.md, "Identities and the directory"):
//! 1. the network root key is pinned in every configuration;
//! 2. the root signs an [`AuthorityCertificate`] binding a key to one country;
//! 3. an authority signs [`FocalPointRecord`]s, only for its own country;
//!    a record's id starts with that country's code.
//!
//! Every device in a record carries two signatures: the identity key's
//! endorsement (the focal point wants this device) and the device's own
//! proof of possession (the device agreed to serve this id and identity key),
//! so an authority can list a device only with the device's consent.
//!
//! New versions of a record supersede older ones; a revoked record or device
//! is never used again. The log-ordered rules (who holds a device key,
//! stickiness of revocations) live in [`crate::directory_state`];
//! [`Directory`] is a verified snapshot at one time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, decode_body, encode_body};
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

/// Which signed format a record body is in.
///
/// - [`RecordFormat::Legacy`] (format 1): the body written by releases before
///   device proofs, a bare postcard encoding with no proofs. Still read, so
///   directories, stores and homes written then keep working; its devices
///   count as unproven (see [`crate::directory_state`] for what they may do).
/// - [`RecordFormat::Proofs`] (format 2): the bytes `00 02` followed by the
///   postcard encoding of the record with [`FocalPointRecord::device_proofs`].
///   A format 1 body never starts with `00`: its first field is a non-empty
///   id, whose length prefix is at least 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RecordFormat {
    /// Format 1, before device proofs. Only for records read from, or
    /// fixtures of, the previous release.
    Legacy,
    /// Format 2, with a proof slot per device. What this release signs.
    #[default]
    Proofs,
}

/// First two bytes of a format 2 record body.
pub const RECORD_FORMAT_2_PREFIX: [u8; 2] = [0, 2];

/// A record version's validity starts this long before the authority
/// signed it, for clock skew between the authority's machine and the
/// relays. A version that drops devices from an active record (a device
/// removed, an identity replaced) therefore says when the authority acted:
/// its `not_before` plus this.
pub const RECORD_SKEW_MS: u64 = 60_000;

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
    /// For each device (same order), the device's own signature over
    /// [`device_proof_message`], made on the device when it asked to join.
    /// `None` only for a device the same id already held before device
    /// proofs existed (records of [`RecordFormat::Legacy`], and later
    /// versions that carry such a device over).
    pub device_proofs: Vec<Option<Signature>>,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// Active or revoked.
    pub status: RecordStatus,
    /// The signed format this value was read from or will be written in.
    /// Not a field of the body: format 2 is marked by its prefix.
    #[serde(skip)]
    pub format: RecordFormat,
}

/// The body of a format 1 record, as the previous release wrote it.
#[derive(Serialize, Deserialize)]
struct LegacyRecordBody {
    id: DirectoryId,
    version: u64,
    country: CountryCode,
    name: String,
    agency: String,
    unit: String,
    roles: Vec<String>,
    languages: Vec<String>,
    time_zone: String,
    working_hours: String,
    notes: String,
    identity_key: PublicKey,
    devices: Vec<DeviceKeys>,
    device_endorsements: Vec<Signature>,
    not_before: Timestamp,
    not_after: Timestamp,
    status: RecordStatus,
}

impl SignedBody for FocalPointRecord {
    const DOMAIN: &'static str = "focal-point-record";
    const MAX_BODY: usize = 10 * 1024;

    fn to_body(&self) -> Vec<u8> {
        match self.format {
            RecordFormat::Proofs => {
                let mut out = RECORD_FORMAT_2_PREFIX.to_vec();
                out.extend_from_slice(&encode_body(self));
                out
            }
            RecordFormat::Legacy => encode_body(&LegacyRecordBody {
                id: self.id.clone(),
                version: self.version,
                country: self.country,
                name: self.name.clone(),
                agency: self.agency.clone(),
                unit: self.unit.clone(),
                roles: self.roles.clone(),
                languages: self.languages.clone(),
                time_zone: self.time_zone.clone(),
                working_hours: self.working_hours.clone(),
                notes: self.notes.clone(),
                identity_key: self.identity_key,
                devices: self.devices.clone(),
                device_endorsements: self.device_endorsements.clone(),
                not_before: self.not_before,
                not_after: self.not_after,
                status: self.status.clone(),
            }),
        }
    }

    fn from_body(body: &[u8]) -> Result<Self, DecodeError> {
        match body {
            [0, 2, rest @ ..] => {
                let mut r: FocalPointRecord = decode_body(rest)?;
                r.format = RecordFormat::Proofs;
                Ok(r)
            }
            [0, v, ..] => Err(DecodeError::UnsupportedVersion(*v)),
            _ => {
                let l: LegacyRecordBody = decode_body(body)?;
                Ok(FocalPointRecord {
                    device_proofs: vec![None; l.devices.len()],
                    id: l.id,
                    version: l.version,
                    country: l.country,
                    name: l.name,
                    agency: l.agency,
                    unit: l.unit,
                    roles: l.roles,
                    languages: l.languages,
                    time_zone: l.time_zone,
                    working_hours: l.working_hours,
                    notes: l.notes,
                    identity_key: l.identity_key,
                    devices: l.devices,
                    device_endorsements: l.device_endorsements,
                    not_before: l.not_before,
                    not_after: l.not_after,
                    status: l.status,
                    format: RecordFormat::Legacy,
                })
            }
        }
    }
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
        if self.device_proofs.len() != self.devices.len() {
            return Err(VerifyError::Inconsistent(
                "every device needs one proof slot",
            ));
        }
        if self.format == RecordFormat::Legacy && self.device_proofs.iter().any(Option::is_some) {
            return Err(VerifyError::Inconsistent(
                "a format 1 record cannot carry device proofs",
            ));
        }
        for (i, d) in self.devices.iter().enumerate() {
            let later = self.devices.get(i + 1..).unwrap_or(&[]);
            if later
                .iter()
                .any(|e| e.signing == d.signing || e.agreement == d.agreement)
            {
                return Err(VerifyError::Inconsistent(
                    "a record lists the same device key twice",
                ));
            }
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

    /// Check every device proof the record carries: each was made by the
    /// device's own key over this id, this identity key and the device's
    /// keys. Devices without a proof are left to the caller
    /// ([`FocalPointRecord::unproven_devices`]).
    pub fn verify_device_proofs(&self) -> Result<(), VerifyError> {
        for (d, proof) in self.devices.iter().zip(&self.device_proofs) {
            if let Some(sig) = proof {
                verify_device_proof(&self.id, &self.identity_key, d, sig).map_err(|_| {
                    VerifyError::Inconsistent(
                        "a device's proof of possession does not verify (the device did not \
                         agree to join this id with this identity key)",
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Devices listed without a proof of possession.
    pub fn unproven_devices(&self) -> impl Iterator<Item = &DeviceKeys> {
        self.devices
            .iter()
            .zip(&self.device_proofs)
            .filter(|(_, p)| p.is_none())
            .map(|(d, _)| d)
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

/// Signature domain of device proofs of possession.
pub const DEVICE_PROOF_DOMAIN: &str = "device-proof";

/// What a device signs, with its own Ed25519 key, to agree to serve `id`
/// under `identity`: the id, a zero byte, the identity key, the device's
/// signing key and its agreement key.
pub fn device_proof_message(
    id: &DirectoryId,
    identity: &PublicKey,
    device: &DeviceKeys,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(id.as_str().len() + 97);
    m.extend_from_slice(id.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(&identity.0);
    m.extend_from_slice(&device.signing.0);
    m.extend_from_slice(&device.agreement);
    m
}

/// Check `proof` against `device`'s own signing key.
pub fn verify_device_proof(
    id: &DirectoryId,
    identity: &PublicKey,
    device: &DeviceKeys,
    proof: &Signature,
) -> Result<(), VerifyError> {
    device.signing.verify(
        DEVICE_PROOF_DOMAIN,
        &device_proof_message(id, identity, device),
        proof,
    )
}

/// Make a device proof with a device key held as a [`SecretKey`] (tools and
/// tests; clients sign with their Olm account, over the same bytes).
pub fn prove_device(
    device_key: &SecretKey,
    id: &DirectoryId,
    identity: &PublicKey,
    device: &DeviceKeys,
) -> Signature {
    device_key.sign(
        DEVICE_PROOF_DOMAIN,
        &device_proof_message(id, identity, device),
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
    authority.check_country(r.country)?;
    r.verify_endorsements()?;
    r.verify_device_proofs()?;
    Ok(r)
}

/// The verified directory at one time: the records in force, their device
/// owners, roles and authorities. Built by
/// [`crate::directory_state::DirectoryState::directory`] (or the
/// [`Directory::build`] wrapper).
#[derive(Clone, Debug, Default)]
pub struct Directory {
    pub(crate) authorities: BTreeMap<PublicKey, AuthorityCertificate>,
    pub(crate) records: BTreeMap<DirectoryId, (FocalPointRecord, Signed<FocalPointRecord>)>,
    pub(crate) roles: BTreeMap<DirectoryId, (RoleRecord, Signed<RoleRecord>)>,
    pub(crate) devices: BTreeMap<PublicKey, DirectoryId>,
}

impl Directory {
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
    use crate::directory_state::Refusal;
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
        let keys = DeviceKeys {
            signing: device.public_key(),
            agreement: device.public_key().0,
        };
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
            device_endorsements: vec![endorse_device(identity, &id_for_endorse, &keys)],
            device_proofs: vec![Some(prove_device(
                device,
                &id_for_endorse,
                &identity.public_key(),
                &keys,
            ))],
            devices: vec![keys],
            not_before: Timestamp(0),
            not_after: Timestamp(u64::MAX),
            status: RecordStatus::Active,
            format: RecordFormat::Proofs,
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
            Refusal::Invalid(VerifyError::CountryMismatch { .. })
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

    #[test]
    fn both_formats_round_trip_and_legacy_bodies_still_verify() {
        let th = key(2);
        let current = record("th.dsi.somchai", &key(4), &key(5));
        let signed = Signed::sign(&current, &th);
        assert_eq!(
            signed.body_bytes().get(..2),
            Some(&RECORD_FORMAT_2_PREFIX[..])
        );
        assert_eq!(signed.verify_by(&th.public_key()), Ok(current.clone()));

        let mut legacy = current.clone();
        legacy.format = RecordFormat::Legacy;
        legacy.device_proofs = vec![None];
        let old = Signed::sign(&legacy, &th);
        assert_ne!(old.body_bytes().first(), Some(&0));
        let back = old
            .verify_by(&th.public_key())
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(back, legacy);
        assert_eq!(back.to_body(), old.body_bytes());
        assert_eq!(back.unproven_devices().count(), 1);
        assert!(verify_record(&cert("TH", &th), &old).is_ok());

        // An unknown future format is named, not misread.
        let mut future = signed.body_bytes().to_vec();
        future[1] = 3;
        assert_eq!(
            FocalPointRecord::from_body(&future),
            Err(DecodeError::UnsupportedVersion(3))
        );
    }

    #[test]
    fn a_proof_binds_id_identity_and_both_device_keys() {
        let th = key(2);
        let good = record("th.dsi.somchai", &key(4), &key(5));
        assert!(verify_record(&cert("TH", &th), &Signed::sign(&good, &th)).is_ok());
        // The same proof under another id, identity or agreement key fails.
        let mut other_id = good.clone();
        other_id.id = DirectoryId::parse("th.dsi.mallory").unwrap_or_else(|_| unreachable!());
        other_id.device_endorsements =
            vec![endorse_device(&key(4), &other_id.id, &other_id.devices[0])];
        let mut other_identity = good.clone();
        other_identity.identity_key = key(6).public_key();
        other_identity.device_endorsements =
            vec![endorse_device(&key(6), &good.id, &good.devices[0])];
        let mut other_agreement = good.clone();
        other_agreement.devices[0].agreement = [9; 32];
        other_agreement.device_endorsements = vec![endorse_device(
            &key(4),
            &good.id,
            &other_agreement.devices[0],
        )];
        for bad in [other_id, other_identity, other_agreement] {
            assert!(matches!(
                verify_record(&cert("TH", &th), &Signed::sign(&bad, &th)),
                Err(VerifyError::Inconsistent(m)) if m.contains("proof of possession")
            ));
        }
        // A proof slot per device, and no key twice in one record.
        let mut missing = good.clone();
        missing.device_proofs.clear();
        assert!(missing.check_wellformed().is_err());
        let mut twice = good.clone();
        twice.devices.push(DeviceKeys {
            signing: key(7).public_key(),
            agreement: good.devices[0].agreement,
        });
        twice.device_endorsements.push(good.device_endorsements[0]);
        twice.device_proofs.push(None);
        assert!(matches!(
            twice.check_wellformed(),
            Err(VerifyError::Inconsistent(m)) if m.contains("twice")
        ));
    }
}
