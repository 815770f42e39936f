//! Directory records an authority signs, built and checked without the
//! network: the next version of a focal point's record (changes, a
//! revocation, a device added or removed) and role records. Every function
//! refuses an id of another country than the authority's
//! ([`check_jurisdiction`]) before doing anything else: the relay and every
//! client would refuse the result anyway, and saying so early names the
//! rule.

use liaison_protocol::armor::{ArmorKind, dearmor_wire};
use liaison_protocol::bundle::AuthorityKeyFile;
use liaison_protocol::directory::{
    DEVICE_ENDORSEMENT_DOMAIN, DeviceKeys, Directory, FocalPointRecord, MAX_DEVICES, MAX_TEXT,
    RecordFormat, RecordStatus, RoleRecord, device_endorsement_message, verify_device_proof,
};
use liaison_protocol::message::{DeviceApproval, DeviceRequest, EnrolmentRequest};
use liaison_protocol::{CountryCode, DirectoryId, Signed, Timestamp};

use crate::error::AdminError;
use crate::validity::{
    DAY_MS, DEFAULT_VALIDITY_DAYS, MAX_DEVICE_REQUEST_AGE_DAYS, RECORD_SKEW_MS, validity_end,
};

/// The rule every authority signature obeys: an authority signs only for its
/// own country. `action` is the verb shown ("enrol", "update", ...).
pub fn check_jurisdiction(
    authority: CountryCode,
    action: &'static str,
    id: &DirectoryId,
) -> Result<(), AdminError> {
    if id.country() != authority {
        return Err(AdminError::Jurisdiction {
            authority,
            action,
            id: id.clone(),
        });
    }
    Ok(())
}

/// Build and sign a focal point record from a verified enrolment request.
/// Refuses requests for another country than the authority's.
pub fn record_from_request(
    authority: &AuthorityKeyFile,
    req: &EnrolmentRequest,
    version: u64,
    valid_days: u64,
    at: Timestamp,
) -> Result<Signed<FocalPointRecord>, AdminError> {
    check_jurisdiction(authority.country, "enrol", &req.id)?;
    let record = FocalPointRecord {
        id: req.id.clone(),
        version,
        country: req.country,
        name: req.name.clone(),
        agency: req.agency.clone(),
        unit: req.unit.clone(),
        roles: Vec::new(),
        languages: req.languages.clone(),
        time_zone: req.time_zone.clone(),
        working_hours: String::new(),
        notes: String::new(),
        identity_key: req.identity_key,
        devices: vec![req.device],
        device_endorsements: vec![req.device_endorsement],
        device_proofs: vec![Some(req.device_proof)],
        format: RecordFormat::Proofs,
        not_before: Timestamp(at.0.saturating_sub(RECORD_SKEW_MS)),
        not_after: at.plus_millis(valid_days.saturating_mul(DAY_MS)),
        status: RecordStatus::Active,
    };
    sign_record(authority, &record)
}

/// Check a record the way the relay and clients will, then sign it.
fn sign_record(
    authority: &AuthorityKeyFile,
    record: &FocalPointRecord,
) -> Result<Signed<FocalPointRecord>, AdminError> {
    check_jurisdiction(authority.country, "sign", &record.id)?;
    // Always written in the current format; devices carried over from a
    // record of the previous release keep an empty proof slot.
    let mut record = record.clone();
    record.format = RecordFormat::Proofs;
    record
        .check_wellformed()
        .and_then(|()| record.verify_endorsements())
        .and_then(|()| record.verify_device_proofs())
        .map_err(AdminError::InvalidRecord)?;
    Ok(Signed::sign(&record, &authority.key))
}

/// A fingerprint as typed: hex digits, spaces ignored, lowercase.
fn fingerprint_digits(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Whether enrolling `req` as `version` of an id whose latest record is
/// `current` (`None`: a new id) is allowed. A request whose identity key
/// differs from the current record's replaces that identity: its owner's
/// devices are dropped and they can no longer read or send. That takes an
/// explicit `replace_identity`, the current identity's fingerprint, so an
/// authority never does it by mistake.
pub fn check_reenrolment(
    current: Option<&FocalPointRecord>,
    req: &EnrolmentRequest,
    version: u64,
    replace_identity: Option<&str>,
) -> Result<(), AdminError> {
    let Some(current) = current else {
        if replace_identity.is_some() {
            return Err(AdminError::NothingToReplace { id: req.id.clone() });
        }
        return Ok(());
    };
    if let RecordStatus::Revoked { reason } = &current.status {
        return Err(AdminError::Revoked {
            id: current.id.clone(),
            reason: reason.clone(),
            version: current.version,
            action: "enrol",
        });
    }
    let same_identity = current.identity_key == req.identity_key;
    if same_identity
        && current
            .devices
            .iter()
            .any(|d| d.signing == req.device.signing)
    {
        return Err(AdminError::AlreadyEnrolled {
            id: current.id.clone(),
            version: current.version,
        });
    }
    if version <= current.version {
        return Err(AdminError::VersionExists {
            id: current.id.clone(),
            version: current.version,
            asked: version,
            replaces: (!same_identity).then_some(current.identity_key),
        });
    }
    if same_identity {
        return match replace_identity {
            Some(_) => Err(AdminError::NothingToReplace { id: req.id.clone() }),
            None => Ok(()),
        };
    }
    let confirmed = replace_identity.is_some_and(|fp| {
        fingerprint_digits(fp)
            == fingerprint_digits(&current.identity_key.fingerprint().to_string())
    });
    if confirmed {
        return Ok(());
    }
    Err(AdminError::IdentityReplacement {
        id: current.id.clone(),
        version,
        current: current.identity_key,
        new: req.identity_key,
        given: replace_identity.map(str::to_owned),
    })
}

fn next_version(current: u64) -> Result<u64, AdminError> {
    current.checked_add(1).ok_or(AdminError::VersionOverflow)
}

fn require_active_status(
    current: &FocalPointRecord,
    action: &'static str,
) -> Result<(), AdminError> {
    if let RecordStatus::Revoked { reason } = &current.status {
        return Err(AdminError::Revoked {
            id: current.id.clone(),
            reason: reason.clone(),
            version: current.version,
            action,
        });
    }
    Ok(())
}

/// Changes to a focal point record; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct RecordChanges {
    /// Full name.
    pub name: Option<String>,
    /// Unit.
    pub unit: Option<String>,
    /// Agency.
    pub agency: Option<String>,
    /// Languages (replace the list).
    pub languages: Option<Vec<String>>,
    /// IANA time zone.
    pub time_zone: Option<String>,
    /// Working hours.
    pub working_hours: Option<String>,
    /// Contact notes.
    pub notes: Option<String>,
    /// Roles held (replace the list).
    pub roles: Option<Vec<String>>,
    /// New validity from now, in days.
    pub valid_days: Option<u64>,
}

impl RecordChanges {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.unit.is_none()
            && self.agency.is_none()
            && self.languages.is_none()
            && self.time_zone.is_none()
            && self.working_hours.is_none()
            && self.notes.is_none()
            && self.roles.is_none()
            && self.valid_days.is_none()
    }
}

/// The next version of `current` with `changes` applied, signed.
pub fn updated_record(
    authority: &AuthorityKeyFile,
    current: &FocalPointRecord,
    changes: &RecordChanges,
    at: Timestamp,
) -> Result<Signed<FocalPointRecord>, AdminError> {
    check_jurisdiction(authority.country, "update", &current.id)?;
    require_active_status(current, "update")?;
    if changes.is_empty() {
        return Err(AdminError::NothingToChange {
            id: current.id.clone(),
        });
    }
    let mut r = current.clone();
    r.version = next_version(current.version)?;
    let set = |field: &mut String, v: &Option<String>| {
        if let Some(v) = v {
            field.clone_from(v);
        }
    };
    set(&mut r.name, &changes.name);
    set(&mut r.unit, &changes.unit);
    set(&mut r.agency, &changes.agency);
    set(&mut r.time_zone, &changes.time_zone);
    set(&mut r.working_hours, &changes.working_hours);
    set(&mut r.notes, &changes.notes);
    if let Some(l) = &changes.languages {
        r.languages.clone_from(l);
    }
    if let Some(roles) = &changes.roles {
        r.roles.clone_from(roles);
    }
    if let Some(days) = changes.valid_days {
        r.not_before = Timestamp(at.0.saturating_sub(RECORD_SKEW_MS));
        r.not_after = validity_end(at, days)?;
    }
    let mut texts = vec![
        &r.name,
        &r.agency,
        &r.unit,
        &r.time_zone,
        &r.working_hours,
        &r.notes,
    ];
    texts.extend(&r.languages);
    texts.extend(&r.roles);
    if texts.iter().any(|t| t.len() > MAX_TEXT) {
        return Err(AdminError::FieldTooLong { max: MAX_TEXT });
    }
    sign_record(authority, &r)
}

/// The next version of `current`, revoked for `reason` at `at`. The
/// revoking version's validity starts at `at` (a revoked record is never
/// used, so its validity serves only to date the revocation): clients
/// judge a message the relay accepted before then by the version in force
/// then. A record that has already expired keeps its period.
pub fn revoked_record(
    authority: &AuthorityKeyFile,
    current: &FocalPointRecord,
    reason: &str,
    at: Timestamp,
) -> Result<Signed<FocalPointRecord>, AdminError> {
    check_jurisdiction(authority.country, "revoke", &current.id)?;
    if matches!(current.status, RecordStatus::Revoked { .. }) {
        return Err(AdminError::AlreadyRevoked {
            id: current.id.clone(),
            version: current.version,
        });
    }
    if reason.trim().is_empty() || reason.len() > MAX_TEXT {
        return Err(AdminError::Reason { max: MAX_TEXT });
    }
    let mut r = current.clone();
    r.version = next_version(current.version)?;
    r.status = RecordStatus::Revoked {
        reason: reason.to_owned(),
    };
    if at < r.not_after {
        r.not_before = at;
    }
    sign_record(authority, &r)
}

/// Find a device of `record` by its signing key (hex) or its fingerprint
/// (with or without spaces, or a unique prefix of at least 8 hex digits).
pub fn find_device(record: &FocalPointRecord, selector: &str) -> Result<usize, AdminError> {
    let want: String = selector
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if want.len() < 8 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AdminError::DeviceSelector);
    }
    let matches: Vec<usize> = record
        .devices
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            let fp: String = d
                .signing
                .fingerprint()
                .to_string()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            d.signing.to_hex() == want || fp.starts_with(&want)
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [i] => Ok(*i),
        [] => Err(AdminError::NoSuchDevice {
            id: record.id.clone(),
            selector: selector.to_owned(),
            devices: record
                .devices
                .iter()
                .map(|d| d.signing.fingerprint().to_string())
                .collect(),
        }),
        _ => Err(AdminError::AmbiguousDevice {
            id: record.id.clone(),
            selector: selector.to_owned(),
        }),
    }
}

/// The next version of `current` without the device `selector` names,
/// removed at `at`. Refuses to remove the last device: that is a
/// revocation. The new version's validity starts at `at` (less the clock
/// skew allowance): that dates the removal, so clients judge a message the
/// relay accepted from the removed device before then by the version in
/// force then, and refuse one accepted after.
pub fn record_without_device(
    authority: &AuthorityKeyFile,
    current: &FocalPointRecord,
    selector: &str,
    at: Timestamp,
) -> Result<(Signed<FocalPointRecord>, DeviceKeys), AdminError> {
    check_jurisdiction(authority.country, "revoke a device of", &current.id)?;
    require_active_status(current, "remove a device of")?;
    let i = find_device(current, selector)?;
    if current.devices.len() == 1 {
        return Err(AdminError::LastDevice {
            id: current.id.clone(),
            selector: selector.to_owned(),
        });
    }
    let mut r = current.clone();
    r.version = next_version(current.version)?;
    let device = r.devices.remove(i);
    if i < r.device_endorsements.len() {
        r.device_endorsements.remove(i);
    }
    if i < r.device_proofs.len() {
        r.device_proofs.remove(i);
    }
    let start = Timestamp(at.0.saturating_sub(RECORD_SKEW_MS));
    if current.not_before < start && start < r.not_after {
        r.not_before = start;
    }
    Ok((sign_record(authority, &r)?, device))
}

/// Read a device approval file.
pub fn parse_device_approval(text: &str) -> Result<DeviceApproval, AdminError> {
    Ok(dearmor_wire::<DeviceApproval>(
        ArmorKind::DeviceApproval,
        text,
    )?)
}

/// Check a device approval against the focal point's current record and
/// build the next version with the device added. Returns the record and the
/// new device's prekeys, to publish with it.
///
/// The authority countersigns only what the focal point's own identity key
/// endorsed: the request is signed by the new device, and the endorsement
/// verifies under the identity key of the *current* record, so neither a
/// stolen device request nor an endorsement by another key adds a device.
pub fn record_with_device(
    authority: &AuthorityKeyFile,
    current: &FocalPointRecord,
    approval: &DeviceApproval,
    at: Timestamp,
) -> Result<(Signed<FocalPointRecord>, DeviceRequest), AdminError> {
    let request =
        DeviceRequest::verify(&approval.request).map_err(AdminError::DeviceRequestSignature)?;
    check_jurisdiction(authority.country, "add a device to", &request.id)?;
    if request.id != current.id {
        return Err(AdminError::ApprovalForAnother {
            approved: request.id,
            id: current.id.clone(),
        });
    }
    require_active_status(current, "add a device to")?;
    // The endorsement check below is what counts; the declared key only
    // makes the refusal say which identity approved.
    if approval.identity_key != current.identity_key {
        return Err(AdminError::ApprovalIdentity {
            id: current.id.clone(),
            approved_by: approval.identity_key,
            current: current.identity_key,
        });
    }
    current
        .identity_key
        .verify(
            DEVICE_ENDORSEMENT_DOMAIN,
            &device_endorsement_message(&request.id, &request.device),
            &approval.endorsement,
        )
        .map_err(|_| AdminError::NotEndorsed {
            id: current.id.clone(),
            identity: current.identity_key,
        })?;
    let proof = approval
        .device_proof
        .ok_or_else(|| AdminError::DeviceNotLinked {
            id: current.id.clone(),
        })?;
    verify_device_proof(&request.id, &current.identity_key, &request.device, &proof).map_err(
        |_| AdminError::BadDeviceProof {
            id: current.id.clone(),
            device: request.device.signing,
        },
    )?;
    let max_age = MAX_DEVICE_REQUEST_AGE_DAYS * DAY_MS;
    if request.created_at.0.saturating_add(max_age) < at.0 {
        return Err(AdminError::DeviceRequestTooOld {
            created_at: request.created_at,
            max_days: MAX_DEVICE_REQUEST_AGE_DAYS,
        });
    }
    if request.created_at.0 > at.0.saturating_add(DAY_MS) {
        return Err(AdminError::DeviceRequestInFuture {
            created_at: request.created_at,
        });
    }
    if current
        .devices
        .iter()
        .any(|d| d.signing == request.device.signing)
    {
        return Err(AdminError::AlreadyADevice {
            device: request.device.signing,
            id: current.id.clone(),
            version: current.version,
        });
    }
    if current.devices.len() >= MAX_DEVICES {
        return Err(AdminError::TooManyDevices {
            id: current.id.clone(),
            max: MAX_DEVICES,
        });
    }
    let mut r = current.clone();
    r.version = next_version(current.version)?;
    r.devices.push(request.device);
    r.device_endorsements.push(approval.endorsement);
    r.device_proofs.push(Some(proof));
    Ok((sign_record(authority, &r)?, request))
}

/// What `role set` is asked to publish.
#[derive(Clone, Debug)]
pub struct RoleParams {
    /// Role id.
    pub id: DirectoryId,
    /// Name; required for a new role, kept if `None`.
    pub name: Option<String>,
    /// Description; kept (or empty for a new role) if `None`.
    pub description: Option<String>,
    /// Holders in on-call order.
    pub holders: Vec<DirectoryId>,
    /// Validity from now in days; a new role gets the default, an existing
    /// one keeps its validity if `None`.
    pub valid_days: Option<u64>,
}

/// Build and sign a role record: version 1, or the next version of
/// `current` (a handover). Holders must be of the authority's country;
/// holders with no active record in `dir` produce warnings (the role would
/// not reach them).
pub fn role_record(
    authority: &AuthorityKeyFile,
    current: Option<&RoleRecord>,
    params: &RoleParams,
    dir: &Directory,
    at: Timestamp,
) -> Result<(Signed<RoleRecord>, Vec<String>), AdminError> {
    check_jurisdiction(authority.country, "publish the role", &params.id)?;
    for h in &params.holders {
        if h.country() != authority.country {
            return Err(AdminError::ForeignHolder {
                holder: h.clone(),
                country: authority.country,
                role: params.id.clone(),
            });
        }
    }
    for (i, h) in params.holders.iter().enumerate() {
        if params.holders.iter().take(i).any(|x| x == h) {
            return Err(AdminError::DuplicateHolder { holder: h.clone() });
        }
    }
    if dir.record(&params.id).is_some() {
        return Err(AdminError::RoleIdTaken {
            id: params.id.clone(),
        });
    }
    let mut warnings = Vec::new();
    for h in &params.holders {
        match dir.record(h) {
            None => warnings.push(format!(
                "{h} has no record in the directory: the role will not reach it until it is enrolled"
            )),
            Some(r) if !r.is_active(at) => warnings.push(format!(
                "{h} is not active (revoked or expired): the role will not reach it"
            )),
            Some(_) => {}
        }
    }
    if params.holders.is_empty() {
        warnings.push(format!(
            "{} has no holders: messages to it will reach nobody",
            params.id
        ));
    }
    let role = match current {
        Some(cur) => RoleRecord {
            id: params.id.clone(),
            version: next_version(cur.version)?,
            country: authority.country,
            name: params.name.clone().unwrap_or_else(|| cur.name.clone()),
            description: params
                .description
                .clone()
                .unwrap_or_else(|| cur.description.clone()),
            holders: params.holders.clone(),
            not_before: match params.valid_days {
                Some(_) => Timestamp(at.0.saturating_sub(RECORD_SKEW_MS)),
                None => cur.not_before,
            },
            not_after: match params.valid_days {
                Some(days) => validity_end(at, days)?,
                None => cur.not_after,
            },
        },
        None => RoleRecord {
            id: params.id.clone(),
            version: 1,
            country: authority.country,
            name: params
                .name
                .clone()
                .ok_or_else(|| AdminError::RoleNeedsName {
                    id: params.id.clone(),
                })?,
            description: params.description.clone().unwrap_or_default(),
            holders: params.holders.clone(),
            not_before: Timestamp(at.0.saturating_sub(RECORD_SKEW_MS)),
            not_after: validity_end(at, params.valid_days.unwrap_or(DEFAULT_VALIDITY_DAYS))?,
        },
    };
    role.check_wellformed().map_err(AdminError::InvalidRole)?;
    Ok((Signed::sign(&role, &authority.key), warnings))
}
