//! The directory a client uses, built from the relay's directory log alone.
//!
//! The directory log holds every directory object version ever published
//! (key transparency). A client uses a record (to encrypt to it, or to
//! accept a signature by it) only if that exact record is in the log up to
//! a checkpoint the client verified, and it is the version in force for its
//! id there. So the client fetches the log's entries in order, proves each
//! batch against the verified checkpoint (the root of RFC 9162 §2.1.1 when
//! the batch reaches the checkpoint's size, a consistency proof of §2.1.4
//! from the batch's end when it stops short), and only then applies it to a
//! [`DirectoryState`], whose rules make versions only go up and make
//! revocations and device removals final. The relay's directory answer is
//! never used: [`compare_served`] only says what it served that the log
//! does not hold, for the user and as evidence.
//!
//! Pure: the driver fetches entries and proofs, reads the clock and stores
//! what [`DirectoryLog::extend`] accepted.

use std::collections::BTreeMap;

use liaison_protocol::directory::{
    Directory, FocalPointRecord, RECORD_SKEW_MS, RecordStatus, verify_record,
};
use liaison_protocol::directory_state::{Applied, DirectoryState, Refused};
use liaison_protocol::log::event::DirectoryEntry;
use liaison_protocol::log::{
    Checkpoint, CompactRange, Hash, ProofError, leaf_hash, verify_consistency,
};
use liaison_protocol::{DirectoryId, PublicKey, Signed, Timestamp, Wire};

/// Most entries asked for in one batch.
pub const BATCH: u32 = 256;

/// Why a batch of directory log entries was not applied. Every variant but
/// [`BatchError::Stored`] is the relay's doing: what it served does not
/// match the checkpoint it signed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// More entries than asked for.
    #[error(
        "the relay served {got} directory log entries from index {start} when at most {want} \
         were asked for"
    )]
    TooMany {
        /// First index of the batch.
        start: u64,
        /// Entries served.
        got: usize,
        /// Entries asked for.
        want: u64,
    },
    /// No entry where the checkpoint says there are some.
    #[error(
        "the relay served no directory log entry from index {start}, but its signed checkpoint \
         covers {size} entries"
    )]
    Withheld {
        /// First index asked for.
        start: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// An entry that does not decode.
    #[error("directory log entry {index} does not decode ({error})")]
    Malformed {
        /// Its index.
        index: u64,
        /// Why.
        error: String,
    },
    /// The entries do not hash to the checkpoint's root.
    #[error(
        "the directory log entries up to size {size} do not hash to the root of the relay's \
         signed checkpoint"
    )]
    RootMismatch {
        /// The size reached.
        size: u64,
    },
    /// A batch that stops short of the checkpoint is not proven to be a
    /// prefix of it.
    #[error(
        "the directory log entries up to size {size} are not proven to be a prefix of the \
         relay's signed checkpoint of size {checkpoint} ({error})"
    )]
    NotAPrefix {
        /// The size reached.
        size: u64,
        /// The checkpoint's size.
        checkpoint: u64,
        /// Why the proof fails.
        error: ProofError,
    },
    /// The entries kept in the home do not give the range kept with them
    /// (the home is damaged; a new sync rebuilds it).
    #[error("the directory log kept in the home does not match its stored tree hashes")]
    Stored,
}

/// The client's copy of the directory log: how far it was applied, the
/// right edge of its Merkle tree, and the directory it gives.
#[derive(Clone, Debug)]
pub struct DirectoryLog {
    range: CompactRange,
    state: DirectoryState,
    refused: Vec<(u64, Refused)>,
    revocations: BTreeMap<DirectoryId, Revocation>,
    /// Devices an active version dropped (a device removed, or the identity
    /// replaced), by signing key: the version that listed the device and
    /// the one that dropped it.
    removals: BTreeMap<PublicKey, Revocation>,
    /// For each device an active version listed: the validity start of the
    /// first version that listed it.
    listed_since: BTreeMap<PublicKey, Timestamp>,
}

/// A focal point record revoked in the log, or a device dropped from it (a
/// device removed, or the whole identity replaced): the version in force
/// before and the revoking or dropping version. Kept so that a message
/// accepted by the relay before then is judged by the record in force then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The last version before the revocation.
    pub before: FocalPointRecord,
    /// The revoking version, or the active version that dropped devices.
    pub revoked: FocalPointRecord,
    /// For each device of `before`: the validity start of the first version
    /// that listed it (a renewal or another device's removal moves
    /// `before.not_before` later; a message accepted under an earlier
    /// version that listed the device is judged all the same).
    pub listed_since: BTreeMap<PublicKey, Timestamp>,
}

impl Revocation {
    /// The reason the authority gave.
    pub fn reason(&self) -> &str {
        match &self.revoked.status {
            RecordStatus::Revoked { reason } => reason,
            RecordStatus::Active => "",
        }
    }

    /// Whether the whole record was revoked (else devices were dropped from
    /// an active record).
    pub fn revokes_record(&self) -> bool {
        self.revoked.status != RecordStatus::Active
    }

    /// When the authority revoked the record or dropped the device: the
    /// new version's validity start, which `liaison-admin revoke` sets to
    /// that time, and `revoke-device` and `enrol --replace-identity` to
    /// [`RECORD_SKEW_MS`] before it.
    /// `None` for a version that kept the previous version's start (made
    /// by an earlier release): it does not say when.
    pub fn at(&self) -> Option<Timestamp> {
        let start = self.revoked.not_before;
        (start != self.before.not_before).then(|| {
            if self.revokes_record() {
                start
            } else {
                // An active version starts RECORD_SKEW_MS before it was
                // signed.
                Timestamp(start.0.saturating_add(RECORD_SKEW_MS))
            }
        })
    }

    /// The record in force before the revocation, if a message the relay
    /// accepted at `accepted_at` (the relay's clock) from `device` is to be
    /// judged by it: the revocation says when it was made, the relay
    /// accepted the message before that, the device was one of the
    /// record's, and the record was valid then. The sender's own clock
    /// plays no part: a revoked officer could set it back at will.
    pub fn in_force_before(
        &self,
        device: &PublicKey,
        accepted_at: Timestamp,
    ) -> Option<&FocalPointRecord> {
        let at = self.at()?;
        let before = &self.before;
        let since = self
            .listed_since
            .get(device)
            .copied()
            .unwrap_or(before.not_before);
        (accepted_at < at
            && before.devices.iter().any(|d| &d.signing == device)
            && since <= accepted_at
            && accepted_at < before.not_after)
            .then_some(before)
    }
}

impl DirectoryLog {
    /// Nothing applied yet, under the pinned network `root`.
    pub fn new(root: PublicKey) -> Self {
        DirectoryLog {
            range: CompactRange::new(),
            state: DirectoryState::new(root),
            refused: Vec::new(),
            revocations: BTreeMap::new(),
            removals: BTreeMap::new(),
            listed_since: BTreeMap::new(),
        }
    }

    /// Rebuild from the entries kept in the home (proven when they were
    /// stored), checking they still give the stored `range`.
    pub fn restore(
        root: PublicKey,
        entries: &[Vec<u8>],
        range: &CompactRange,
    ) -> Result<Self, BatchError> {
        let mut log = DirectoryLog::new(root);
        let decoded = log.hash_batch(entries)?;
        if log.range != *range {
            return Err(BatchError::Stored);
        }
        log.apply_all(0, &decoded);
        Ok(log)
    }

    /// Entries applied.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// The right edge of the tree of the applied entries.
    pub fn range(&self) -> &CompactRange {
        &self.range
    }

    /// The directory state the applied entries give.
    pub fn state(&self) -> &DirectoryState {
        &self.state
    }

    /// Entries of the log the directory rules refused (index, why): they
    /// are in the log but never in force.
    pub fn refused(&self) -> &[(u64, Refused)] {
        &self.refused
    }

    /// What is in force at `now` (see [`DirectoryState::directory`]).
    pub fn directory(&self, now: Timestamp) -> (Directory, Vec<Refused>) {
        self.state.directory(now)
    }

    /// The next range of entries to fetch toward `checkpoint` (start,
    /// count), or `None` once it is covered.
    pub fn next_batch(&self, checkpoint: &Checkpoint) -> Option<(u64, u32)> {
        let missing = checkpoint.size().checked_sub(self.size())?;
        if missing == 0 {
            return None;
        }
        let count = u32::try_from(missing).unwrap_or(u32::MAX).min(BATCH);
        Some((self.size(), count))
    }

    /// Whether a batch of `served` entries from [`DirectoryLog::size`] stops
    /// short of `checkpoint`, and so needs a consistency proof from the
    /// returned size to the checkpoint's.
    pub fn proof_from(&self, served: usize, checkpoint: &Checkpoint) -> Option<u64> {
        let end = self.size().checked_add(served as u64)?;
        (served > 0 && end < checkpoint.size()).then_some(end)
    }

    /// Check `batch` (the entries from [`DirectoryLog::size`] on, as
    /// served) against the verified `checkpoint`, with the consistency
    /// `proof` [`DirectoryLog::proof_from`] asked for; if it is proven,
    /// apply it and return what each entry did. Nothing changes on an
    /// error.
    pub fn extend(
        &mut self,
        batch: &[Vec<u8>],
        checkpoint: &Checkpoint,
        proof: Option<&[Hash]>,
    ) -> Result<Vec<Result<Applied, Refused>>, BatchError> {
        let start = self.size();
        let want = checkpoint.size().saturating_sub(start);
        if batch.len() as u64 > want {
            return Err(BatchError::TooMany {
                start,
                got: batch.len(),
                want,
            });
        }
        if batch.is_empty() {
            return if want == 0 {
                Ok(Vec::new())
            } else {
                Err(BatchError::Withheld {
                    start,
                    size: checkpoint.size(),
                })
            };
        }
        let mut next = self.clone();
        let decoded = next.hash_batch(batch)?;
        let size = next.size();
        if size == checkpoint.size() {
            if next.range.root() != *checkpoint.root() {
                return Err(BatchError::RootMismatch { size });
            }
        } else {
            verify_consistency(
                size,
                checkpoint.size(),
                proof.unwrap_or_default(),
                &next.range.root(),
                checkpoint.root(),
            )
            .map_err(|error| BatchError::NotAPrefix {
                size,
                checkpoint: checkpoint.size(),
                error,
            })?;
        }
        let outcomes = next.apply_all(start, &decoded);
        *self = next;
        Ok(outcomes)
    }

    /// Decode `batch` and append its leaf hashes (RFC 9162 §2.1.1: the leaf
    /// data is the entry as served).
    fn hash_batch(&mut self, batch: &[Vec<u8>]) -> Result<Vec<DirectoryEntry>, BatchError> {
        let mut out = Vec::with_capacity(batch.len());
        for bytes in batch {
            let index = self.size();
            let entry = DirectoryEntry::decode(bytes).map_err(|e| BatchError::Malformed {
                index,
                error: e.to_string(),
            })?;
            self.range
                .append(leaf_hash(bytes))
                .map_err(|e| BatchError::Malformed {
                    index,
                    error: e.to_string(),
                })?;
            out.push(entry);
        }
        Ok(out)
    }

    fn apply_all(
        &mut self,
        start: u64,
        entries: &[DirectoryEntry],
    ) -> Vec<Result<Applied, Refused>> {
        let mut out = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let before = match entry {
                DirectoryEntry::Record(signed) => signed
                    .decode_unverified()
                    .ok()
                    .and_then(|r| self.state.record(&r.id).cloned()),
                _ => None,
            };
            let outcome = self.state.apply(entry);
            match &outcome {
                Err(r) => self.refused.push((start + i as u64, r.clone())),
                Ok(Applied::Record { id, .. }) => {
                    let Some(now) = self.state.record(id).cloned() else {
                        out.push(outcome);
                        continue;
                    };
                    if now.status == RecordStatus::Active {
                        for d in &now.devices {
                            let since =
                                self.listed_since.entry(d.signing).or_insert(now.not_before);
                            *since = (*since).min(now.not_before);
                        }
                    }
                    if let Some(before) = before
                        && before.status == RecordStatus::Active
                    {
                        let listed_since: BTreeMap<PublicKey, Timestamp> = before
                            .devices
                            .iter()
                            .filter_map(|d| {
                                self.listed_since.get(&d.signing).map(|t| (d.signing, *t))
                            })
                            .collect();
                        if now.status != RecordStatus::Active {
                            self.revocations.insert(
                                id.clone(),
                                Revocation {
                                    before,
                                    revoked: now.clone(),
                                    listed_since,
                                },
                            );
                        } else {
                            let dropped: Vec<PublicKey> = before
                                .devices
                                .iter()
                                .map(|d| d.signing)
                                .filter(|k| !now.devices.iter().any(|n| n.signing == *k))
                                .collect();
                            for device in dropped {
                                self.removals.insert(
                                    device,
                                    Revocation {
                                        before: before.clone(),
                                        revoked: now.clone(),
                                        listed_since: listed_since.clone(),
                                    },
                                );
                            }
                        }
                    }
                }
                Ok(_) => {}
            }
            out.push(outcome);
        }
        out
    }

    /// The revocation of `id`'s record, if the log revoked it after an
    /// active version.
    pub fn revocation(&self, id: &DirectoryId) -> Option<&Revocation> {
        self.revocations.get(id)
    }

    /// The revocations of records that listed device `device` before they
    /// were revoked (a revoked record releases its devices, so there may
    /// be more than one).
    pub fn revocations_of_device<'a>(
        &'a self,
        device: &'a PublicKey,
    ) -> impl Iterator<Item = &'a Revocation> + 'a {
        self.revocations
            .values()
            .filter(move |r| r.before.devices.iter().any(|d| &d.signing == device))
    }

    /// The active version that dropped device `device` from its record (a
    /// device removed, or the identity replaced), with the version that
    /// listed it.
    pub fn removal_of_device(&self, device: &PublicKey) -> Option<&Revocation> {
        self.removals.get(device)
    }

    /// How the log took device `device` out of use, newest last: the
    /// revocations of records that listed it, then the version that
    /// dropped it from an active record.
    pub fn retirements_of_device<'a>(
        &'a self,
        device: &'a PublicKey,
    ) -> impl Iterator<Item = &'a Revocation> + 'a {
        self.revocations_of_device(device)
            .chain(self.removal_of_device(device))
    }
}

/// Where this focal point and device stand in the verified directory log,
/// said to the user in plain words ([`OwnStanding::describe`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnStanding {
    /// The record is in force and lists this device.
    Active,
    /// The log holds no record of this id.
    NotEnrolled,
    /// The authority revoked the record.
    Revoked {
        /// The revoking version.
        version: u64,
        /// The reason it gave.
        reason: String,
        /// When, if the revocation says.
        at: Option<Timestamp>,
    },
    /// The record now names another identity key: someone else was
    /// enrolled under this id.
    Replaced {
        /// The version that replaced it.
        version: u64,
        /// The identity it names.
        identity: PublicKey,
    },
    /// The record no longer lists this device.
    DeviceRemoved {
        /// The version that dropped it.
        version: u64,
    },
    /// The record lists this device but is not in force now (expired, not
    /// yet valid, or its authority's certificate is not in force).
    NotInForce {
        /// Its version.
        version: u64,
        /// The end of its validity.
        not_after: Timestamp,
    },
}

impl OwnStanding {
    /// Where `me` (identity `identity`, this `device`) stands in `log` at
    /// `now`.
    pub fn of(
        log: &DirectoryLog,
        me: &DirectoryId,
        identity: &PublicKey,
        device: &PublicKey,
        now: Timestamp,
    ) -> OwnStanding {
        let Some(record) = log.state().record(me) else {
            return OwnStanding::NotEnrolled;
        };
        if let RecordStatus::Revoked { reason } = &record.status {
            return OwnStanding::Revoked {
                version: record.version,
                reason: reason.clone(),
                at: log.revocation(me).and_then(Revocation::at),
            };
        }
        if &record.identity_key != identity {
            return OwnStanding::Replaced {
                version: record.version,
                identity: record.identity_key,
            };
        }
        if !record.devices.iter().any(|d| &d.signing == device) {
            return OwnStanding::DeviceRemoved {
                version: record.version,
            };
        }
        let (dir, _) = log.directory(now);
        if dir.device_owner(device).is_some_and(|r| &r.id == me) {
            OwnStanding::Active
        } else {
            OwnStanding::NotInForce {
                version: record.version,
                not_after: record.not_after,
            }
        }
    }

    /// A short name for JSON: `active`, `not-enrolled`, `revoked`,
    /// `replaced`, `device-removed`, `not-in-force`.
    pub fn name(&self) -> &'static str {
        match self {
            OwnStanding::Active => "active",
            OwnStanding::NotEnrolled => "not-enrolled",
            OwnStanding::Revoked { .. } => "revoked",
            OwnStanding::Replaced { .. } => "replaced",
            OwnStanding::DeviceRemoved { .. } => "device-removed",
            OwnStanding::NotInForce { .. } => "not-in-force",
        }
    }

    /// What happened and what to do, for `me`.
    pub fn describe(&self, me: &DirectoryId) -> String {
        match self {
            OwnStanding::Active => format!("{me}'s record is in force and lists this device"),
            OwnStanding::NotEnrolled => format!(
                "{me} is not in the directory yet: give your enrolment.request to your \
                 authority, then sync again"
            ),
            OwnStanding::Revoked {
                version,
                reason,
                at,
            } => format!(
                "this device was revoked: your authority revoked {me}'s record{} (version \
                 {version}), giving the reason \"{reason}\". This device can no longer send or \
                 receive; ask your authority if this is a mistake",
                at.map(|t| format!(" on {}", t.to_rfc3339()))
                    .unwrap_or_default()
            ),
            OwnStanding::Replaced { version, identity } => format!(
                "{me}'s record (version {version}) now names another identity (fingerprint \
                 {}), so this device is no longer in it. If you did not ask your authority \
                 for this, your identity may be being taken over: contact your authority now",
                identity.fingerprint()
            ),
            OwnStanding::DeviceRemoved { version } => format!(
                "this device was removed from {me}'s record (version {version}); it can no \
                 longer send or receive. Use another of your devices, or ask your authority"
            ),
            OwnStanding::NotInForce { version, not_after } => format!(
                "{me}'s record (version {version}) is not in force: it is valid until {}, or \
                 the certificate of the authority that signed it is not in force. Ask your \
                 authority to renew the record",
                not_after.to_rfc3339()
            ),
        }
    }
}

/// A record the relay's directory answer holds that differs from the
/// verified log (or one the log holds that the answer lacks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// It does not verify (signature, its authority, the country rule).
    Invalid {
        /// The id it claims (`?` if it does not decode).
        id: String,
        /// Why.
        problem: String,
    },
    /// It verifies, but it is not the version in force in the log: a
    /// version the log does not hold, or another record under the log's
    /// version, or an id the log does not have.
    NotInLog {
        /// The id.
        id: DirectoryId,
        /// The version served.
        version: u64,
        /// The version the log holds, if any.
        in_log: Option<u64>,
        /// Why the directory rules would refuse it too, if they would (a
        /// device of another record, for example).
        refused: Option<String>,
    },
    /// An older version than the log's: a rollback (a revocation or a
    /// device removal undone, if the log's version made one).
    Older {
        /// The id.
        id: DirectoryId,
        /// The version served.
        served: u64,
        /// The version the log holds.
        in_log: u64,
        /// Whether the log's version revokes the record.
        revoked: bool,
    },
    /// The log holds a record the answer omits.
    Omitted {
        /// The id.
        id: DirectoryId,
        /// The version the log holds.
        in_log: u64,
        /// Whether it is a revocation.
        revoked: bool,
    },
}

impl Served {
    /// The id concerned.
    pub fn id(&self) -> String {
        match self {
            Served::Invalid { id, .. } => id.clone(),
            Served::NotInLog { id, .. } | Served::Older { id, .. } | Served::Omitted { id, .. } => {
                id.to_string()
            }
        }
    }

    /// A short name for file names: `invalid`, `unlogged`, `older`,
    /// `omitted`.
    pub fn kind(&self) -> &'static str {
        match self {
            Served::Invalid { .. } => "invalid",
            Served::NotInLog { .. } => "unlogged",
            Served::Older { .. } => "older",
            Served::Omitted { .. } => "omitted",
        }
    }

    /// Whether this shows the relay misbehaving against its own signed log
    /// (so evidence is kept): everything but a record that does not verify,
    /// which anyone could have made up.
    pub fn is_evidence(&self) -> bool {
        !matches!(self, Served::Invalid { .. })
    }

    /// What happened, in plain words (the driver adds where the evidence
    /// is and what to do).
    pub fn describe(&self) -> String {
        let revoked = |r: &bool| if *r { " (revoked)" } else { "" };
        match self {
            Served::Invalid { id, problem } => format!("{id}: {problem}"),
            Served::NotInLog {
                id,
                version,
                in_log,
                refused,
            } => {
                let mut text = match in_log {
                    None => format!(
                        "the relay served a record for {id} (version {version}) that is not in \
                         its signed directory log; it is not used"
                    ),
                    Some(held) if held == version => format!(
                        "the relay served a version {version} of {id} that differs from the \
                         version {held} in its signed directory log; the log's version is used"
                    ),
                    Some(held) => format!(
                        "the relay served version {version} of {id}, which is not in its signed \
                         directory log (the log holds version {held}); version {held} is used"
                    ),
                };
                if let Some(why) = refused {
                    text.push_str(&format!(" (the directory rules refuse it too: {why})"));
                }
                text
            }
            Served::Older {
                id,
                served,
                in_log,
                revoked: r,
            } => format!(
                "the relay served version {served} of {id}, but its signed directory log holds \
                 version {in_log}{}; the older version is not used",
                revoked(r)
            ),
            Served::Omitted {
                id,
                in_log,
                revoked: r,
            } => format!(
                "the relay did not serve {id}, which its signed directory log holds at version \
                 {in_log}{}; the log's version is used",
                revoked(r)
            ),
        }
    }
}

/// Compare the records the relay's directory answer holds with the
/// verified log's state at `now`. Records identical to the log's version
/// in force are fine; every other difference is returned.
pub fn compare_served(
    log: &DirectoryState,
    served: &[Signed<FocalPointRecord>],
    now: Timestamp,
) -> Vec<Served> {
    let (dir, _) = log.directory(now);
    let mut out = Vec::new();
    let mut seen: Vec<DirectoryId> = Vec::new();
    for signed in served {
        let Ok(claimed) = signed.decode_unverified() else {
            out.push(Served::Invalid {
                id: "?".into(),
                problem: "a record that does not decode".into(),
            });
            continue;
        };
        seen.push(claimed.id.clone());
        if log.signed_record(&claimed.id) == Some(signed) {
            continue;
        }
        let verified = dir
            .authority(signed.signer())
            .ok_or(liaison_protocol::VerifyError::UnknownAuthority)
            .and_then(|a| verify_record(a, signed));
        let record = match verified {
            Ok(r) => r,
            Err(e) => {
                out.push(Served::Invalid {
                    id: claimed.id.to_string(),
                    problem: e.to_string(),
                });
                continue;
            }
        };
        let held = log.record(&record.id);
        match held {
            Some(h) if h.version > record.version => out.push(Served::Older {
                id: record.id.clone(),
                served: record.version,
                in_log: h.version,
                revoked: is_revoked(h),
            }),
            _ => {
                let refused = log
                    .clone()
                    .apply(&DirectoryEntry::Record(signed.clone()))
                    .err()
                    .map(|r| r.error.to_string());
                out.push(Served::NotInLog {
                    id: record.id.clone(),
                    version: record.version,
                    in_log: held.map(|h| h.version),
                    refused,
                });
            }
        }
    }
    for signed in log.signed_records() {
        if let Ok(r) = signed.decode_unverified()
            && !seen.contains(&r.id)
        {
            out.push(Served::Omitted {
                in_log: r.version,
                revoked: is_revoked(&r),
                id: r.id,
            });
        }
    }
    out
}

fn is_revoked(r: &FocalPointRecord) -> bool {
    matches!(r.status, RecordStatus::Revoked { .. })
}

/// What to do while the relay's directory answer holds records the
/// verified log does not (yet) hold and the relay's log has entries no
/// checkpoint covers yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Ask for a newer checkpoint again (the relay signs one right after
    /// each directory append; witnesses may take longer).
    Retry,
    /// Waited `bound_ms` already: go on without those records, and say so.
    GiveUp,
}

/// Whether to keep waiting for a checkpoint that covers the relay's newest
/// directory entries, having waited `waited_ms` of at most `bound_ms`.
pub fn wait_for_checkpoint(waited_ms: u64, bound_ms: u64) -> Wait {
    if waited_ms < bound_ms {
        Wait::Retry
    } else {
        Wait::GiveUp
    }
}

#[cfg(test)]
#[path = "directory_test.rs"]
mod tests;
