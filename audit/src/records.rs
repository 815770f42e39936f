//! The focal point records in force at a size of a verified directory log
//! export: the log's entries applied in order under the rules the relay and
//! every client apply ([`DirectoryState`]: versions only go up,
//! revocations and device removals are final, a device belongs to one
//! record). A client uses exactly these records, so an auditor can say
//! which key a focal point had at any checkpoint.

use std::path::Path;

use liaison_protocol::Timestamp;
use liaison_protocol::Wire;
use liaison_protocol::directory::RecordStatus;
use liaison_protocol::directory_state::DirectoryState;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::DirectoryEntry;

use crate::error::AuditError;
use crate::layout::max_entry_len;
use crate::report::Report;
use crate::trust::Trust;
use crate::verify::{read_log_export, verify_export};

/// One record, as shown.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecordLine {
    /// The directory id.
    pub id: String,
    /// The version in force.
    pub version: u64,
    /// The identity key's fingerprint.
    pub identity: String,
    /// The devices' signing key fingerprints.
    pub devices: Vec<String>,
    /// `active`, `revoked: REASON`, `expired`, or `not in force: ...`.
    pub status: String,
}

/// The records in force at one size of the directory log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecordsAt {
    /// The log size (entries `0..size` applied).
    pub size: u64,
    /// Every id's version in force, in the order the versions reached the
    /// log.
    pub records: Vec<RecordLine>,
    /// Entries the directory rules refused: `(index, why)`.
    pub refused: Vec<(u64, String)>,
}

impl RecordsAt {
    /// One JSON object: `size`, `records` (`id`, `version`, `identity`,
    /// `devices`, `status`) and `refused` (`[index, why]` pairs).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Plain text, one record per line.
    pub fn render(&self) -> String {
        let mut out = format!(
            "Directory records in force at size {} of the verified directory log:\n",
            self.size
        );
        if self.records.is_empty() {
            out.push_str("  (none)\n");
        }
        for r in &self.records {
            out.push_str(&format!(
                "  {} version {}: identity {}; devices {}; {}\n",
                r.id,
                r.version,
                r.identity,
                if r.devices.is_empty() {
                    "none".to_owned()
                } else {
                    r.devices.join(", ")
                },
                r.status
            ));
        }
        if !self.refused.is_empty() {
            out.push_str("Entries in the log that the directory rules refuse (never in force):\n");
            for (index, why) in &self.refused {
                out.push_str(&format!("  entry {index}: {why}\n"));
            }
        }
        out
    }
}

/// Verify the export in `dir` against `trust` (as [`verify_export`]), then,
/// if it verifies, apply its directory entries `0..at` (default: up to the
/// largest size whose checkpoint root matched) and say which records are in
/// force there at `now`. Returns the verification report, and the records
/// only when it has no failure.
pub fn records_at(
    dir: &Path,
    trust: &Trust,
    at: Option<u64>,
    now: Timestamp,
) -> Result<(Report, Option<RecordsAt>), AuditError> {
    let (report, summaries) = verify_export(dir, trust)?;
    if !report.is_ok() {
        return Ok((report, None));
    }
    let root = trust.root().ok_or(AuditError::NoRoot)?;
    let verified = summaries
        .iter()
        .find(|(log, _)| *log == LogId::Directory)
        .map(|(_, s)| s.verified_size)
        .ok_or_else(|| AuditError::NoDirectoryLog {
            path: dir.to_owned(),
        })?;
    let size = at.unwrap_or(verified);
    if size > verified {
        return Err(AuditError::NotVerifiedAt { size, verified });
    }
    let export = read_log_export(&dir.join(LogId::Directory.name()), LogId::Directory)?;
    let mut state = DirectoryState::new(*root);
    let mut refused = Vec::new();
    for index in 0..size {
        let unreadable = |why: String| AuditError::EntryUnreadable { index, why };
        let data = export
            .entries
            .get(&index)
            .ok_or_else(|| unreadable("is missing".into()))?;
        let bytes = data
            .load(max_entry_len(LogId::Directory))
            .map_err(unreadable)?;
        let entry = DirectoryEntry::decode(&bytes)
            .map_err(|e| unreadable(format!("does not decode: {e}")))?;
        if let Err(r) = state.apply(&entry) {
            refused.push((index, r.to_string()));
        }
    }
    let (in_force, _) = state.directory(now);
    let records = state
        .signed_records()
        .into_iter()
        .filter_map(|signed| {
            let r = signed.decode_unverified().ok()?;
            let status = match &r.status {
                RecordStatus::Revoked { reason } => format!("revoked: {reason}"),
                RecordStatus::Active if in_force.authority(signed.signer()).is_none() => {
                    "not in force: its authority's certificate is not (expired or revoked)".into()
                }
                RecordStatus::Active if r.is_active(now) => "active".into(),
                RecordStatus::Active => "not in force: outside its validity period".into(),
            };
            Some(RecordLine {
                id: r.id.to_string(),
                version: r.version,
                identity: r.identity_key.fingerprint().to_string(),
                devices: r
                    .devices
                    .iter()
                    .map(|d| d.signing.fingerprint().to_string())
                    .collect(),
                status,
            })
        })
        .collect();
    Ok((
        report,
        Some(RecordsAt {
            size,
            records,
            refused,
        }),
    ))
}
