//! Request handling, independent of QUIC: authentication, the directory,
//! prekeys, queues. [`crate::server`] feeds it decoded requests per
//! connection [`Session`].
//!
//! Every refusal is a [`WireError`] with a specific code and a message naming
//! the rule that was broken. Messages and logs carry ids, fingerprints and
//! sizes only: never ciphertext, keys or signatures.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use liaison_protocol::codec::Wire;
use liaison_protocol::directory::{
    AuthorityCertificate, Directory, FocalPointRecord, RecordStatus, RoleRecord, verify_authority,
    verify_record, verify_role,
};
use liaison_protocol::directory_state::{
    Applied, DirectoryState as LogDirectory, Refusal, Refused,
};
use liaison_protocol::frames::{
    AUTH_DOMAIN, ErrorCode, IndexedEvent, LogEntry, LogId, Queued, Request, Response, WireError,
    auth_message,
};
use liaison_protocol::log::event::{DirectoryEntry, DisclosedEvent, EventKind};
use liaison_protocol::message::{Envelope, MAX_CIPHERTEXT, Prekey};
use liaison_protocol::{MessageId, PublicKey, Signature, Signed, VerifyError};
use tokio::sync::broadcast;

use crate::checkpoints::{Checkpointer, CosignError};
use crate::commit::{CommitError, Committer};
use crate::limits::Limits;
use crate::store::{
    BlobBegin, BlobFetch, BlobGrant, BlobProgress, BlobPut, PrekeyUpload, PutOutcome, SendOp,
    SendOutcome, Store, StoreError, StoreHealth,
};
use crate::uploads::{self, Uploads};

/// Most sequence numbers acknowledged by one Ack.
pub const MAX_ACK: usize = 4096;
/// Pushed envelopes buffered per subscribed device before a subscriber that
/// falls behind catches up from the store instead.
const SUBSCRIBER_BUFFER: usize = 256;

/// Derives the TLS exporter value for a nonce on one connection.
pub type Exporter = Box<dyn Fn(&[u8; 32]) -> Option<[u8; 32]> + Send + Sync>;

/// Per-connection authentication state.
pub struct Session {
    state: Mutex<SessionState>,
    exporter: Exporter,
}

#[derive(Default)]
struct SessionState {
    nonce: Option<[u8; 32]>,
    device: Option<PublicKey>,
    auditor: Option<PublicKey>,
    authority: Option<PublicKey>,
    /// A device that proved possession of its key but is out of force
    /// (revoked, removed from its record, or lapsed): it may read the
    /// directory log, and nothing else, so that its client can show its
    /// user, from the signed log, what happened to their record.
    refused: Option<PublicKey>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("device", &self.device())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A fresh, unauthenticated session.
    pub fn new(exporter: Exporter) -> Self {
        Session {
            state: Mutex::new(SessionState::default()),
            exporter,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The authenticated device, if any.
    pub fn device(&self) -> Option<PublicKey> {
        self.lock().device
    }

    /// Whether the session authenticated as a device, an auditor or an
    /// authority.
    pub fn is_authenticated(&self) -> bool {
        let s = self.lock();
        s.device.is_some() || s.auditor.is_some() || s.authority.is_some()
    }

    /// The authenticated authority key, if any.
    pub fn authority(&self) -> Option<PublicKey> {
        self.lock().authority
    }

    /// The authenticated auditor key, if any.
    pub fn auditor(&self) -> Option<PublicKey> {
        self.lock().auditor
    }

    /// A device that proved its key but was refused as out of force, if
    /// any: it may read the directory log only.
    pub fn refused_device(&self) -> Option<PublicKey> {
        self.lock().refused
    }
}

/// The directory as last built from the store.
#[derive(Debug)]
pub struct DirectoryState {
    /// Verified view at the time of the last build.
    pub directory: Directory,
    /// The directory log replayed in order: what a new entry is checked
    /// against before it is stored.
    pub log: LogDirectory,
    /// Every stored authority certificate (revocations included).
    pub authorities: Vec<Signed<AuthorityCertificate>>,
    /// The record version in force for every id the log accepted, in the
    /// order they reached the directory log.
    pub records: Vec<Signed<FocalPointRecord>>,
    /// Latest stored role record of every role id.
    pub roles: Vec<Signed<RoleRecord>>,
    /// Devices an authority took out of the directory explicitly: every
    /// device of a record it revoked, and every device a later version of
    /// its record dropped. Their queues are dropped at once; the queue of a
    /// device that is out of force for any other reason (a lapse) is kept
    /// for [`Limits::lapsed_queue_grace_days`].
    pub revoked_devices: BTreeSet<PublicKey>,
}

/// Where a device stands, for its queue and for what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// An active device of a record in force.
    InForce,
    /// Out of force without an explicit revocation: its record (named when
    /// the directory log still gives it the device) expired or is not yet
    /// valid, or its authority's certificate expired or was revoked. It
    /// may not authenticate, send or fetch; its queue is kept for the grace
    /// period.
    Lapsed(Option<liaison_protocol::DirectoryId>),
    /// Revoked by its authority (its record revoked, or the device removed
    /// from it). Its queue is dropped.
    Revoked,
}

impl DirectoryState {
    /// Where `device` stands now.
    pub fn standing(&self, device: &PublicKey) -> Standing {
        if self.directory.device_owner(device).is_some() {
            Standing::InForce
        } else if let Some(id) = self.log.device_holder(device) {
            Standing::Lapsed(Some(id.clone()))
        } else if self.revoked_devices.contains(device) {
            Standing::Revoked
        } else {
            // Never seen, or held by a record the log refused: nothing says
            // an authority revoked it, so nothing is dropped early.
            Standing::Lapsed(None)
        }
    }
}

/// Live subscribers, per device.
#[derive(Debug, Default)]
pub struct Subscribers {
    map: Mutex<HashMap<PublicKey, broadcast::Sender<Arc<Queued>>>>,
}

impl Subscribers {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<PublicKey, broadcast::Sender<Arc<Queued>>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start receiving envelopes committed for `device`.
    pub fn subscribe(&self, device: PublicKey) -> broadcast::Receiver<Arc<Queued>> {
        self.lock()
            .entry(device)
            .or_insert_with(|| broadcast::channel(SUBSCRIBER_BUFFER).0)
            .subscribe()
    }

    /// Forget `device` if nobody listens any more.
    pub fn release(&self, device: &PublicKey) {
        let mut map = self.lock();
        if map.get(device).is_some_and(|tx| tx.receiver_count() == 0) {
            map.remove(device);
        }
    }

    /// Hand a committed envelope to its device's subscribers.
    pub fn notify(&self, q: &Queued) {
        let mut map = self.lock();
        let device = q.envelope.recipient_device;
        if let Some(tx) = map.get(&device)
            && tx.send(Arc::new(q.clone())).is_err()
        {
            map.remove(&device);
        }
    }

    /// Subscribed streams, all devices together.
    pub fn count(&self) -> usize {
        self.lock().values().map(|tx| tx.receiver_count()).sum()
    }
}

/// The relay's request handler.
pub struct Service {
    limits: Limits,
    root: PublicKey,
    store: Arc<dyn Store>,
    committer: Committer,
    uploads: Arc<Uploads>,
    directory: RwLock<Arc<DirectoryState>>,
    publish: tokio::sync::Mutex<()>,
    subscribers: Arc<Subscribers>,
    health: Arc<StoreHealth>,
    checkpointer: Arc<Checkpointer>,
    auditors: Vec<PublicKey>,
    generation: tokio::sync::watch::Sender<u64>,
    #[cfg(feature = "test-hooks")]
    hooks: crate::test_hooks::TestHooks,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("limits", &self.limits)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn progress(p: BlobProgress) -> Response {
    Response::BlobProgress {
        confirmed: p.confirmed,
        chunks: p.chunks,
    }
}

fn err(code: ErrorCode, message: impl Into<String>) -> WireError {
    WireError::new(code, message)
}

fn internal(health: &StoreHealth, e: &StoreError) -> WireError {
    tracing::error!(error = %e, "store failure");
    health.check(e);
    err(
        ErrorCode::Internal,
        format!("relay storage failure ({e}); nothing was changed, retry later"),
    )
}

/// Refusal of a directory object (`kind` is "record" or "role") whose
/// signer is not a certified authority.
fn unknown_authority(kind: &str, id: &str) -> WireError {
    err(
        ErrorCode::InvalidSignature,
        format!(
            "{kind} {id} is not signed by an authority certified by the network root \
             (unknown, revoked or expired authority key)"
        ),
    )
}

/// How the directory is brought up to date.
enum DirectoryUpdate {
    /// Replay the whole directory log (at start).
    Replay,
    /// Apply the entry just appended to the log to the current state.
    Appended(DirectoryEntry),
    /// Nothing was appended: recompute what is in force now (validity
    /// periods end even when nothing is published).
    Refresh,
}

/// Refusal of a directory entry by the log-ordered directory rules.
fn refused_entry(kind: &str, id: &str, r: Refused) -> WireError {
    match r.error {
        Refusal::Invalid(e) => refused(kind, id, e),
        Refusal::Stale { offered, held } => err(
            ErrorCode::StaleVersion,
            format!("{kind} {id} version {offered} is not higher than the stored version {held}"),
        ),
        other => err(
            ErrorCode::InvalidRecord,
            format!("{kind} {id} refused: {other}"),
        ),
    }
}

/// Apply `entry` to `log`, adding to `revoked` the devices it takes out of
/// the directory explicitly: every device of a record it revokes, every
/// device a new version of a record drops.
fn apply_tracked(
    log: &mut LogDirectory,
    revoked: &mut BTreeSet<PublicKey>,
    entry: &DirectoryEntry,
) -> Result<Applied, Refused> {
    let previous = match entry {
        DirectoryEntry::Record(signed) => signed
            .decode_unverified()
            .ok()
            .and_then(|r| log.record(&r.id).cloned()),
        _ => None,
    };
    let applied = log.apply(entry)?;
    if let (Some(old), Applied::Record { id, .. }) = (previous, &applied)
        && let Some(new) = log.record(id)
    {
        let revoking = !matches!(new.status, RecordStatus::Active);
        for d in &old.devices {
            if revoking || !new.devices.iter().any(|n| n.signing == d.signing) {
                revoked.insert(d.signing);
            }
        }
        if revoking {
            revoked.extend(new.devices.iter().map(|d| d.signing));
        }
    }
    Ok(applied)
}

/// The directory log replayed from its first entry, and the devices its
/// entries revoked (see [`apply_tracked`]).
type Replayed = (LogDirectory, BTreeSet<PublicKey>, Vec<Refused>);

/// Replay the directory log from its first entry. Entries the rules refuse
/// (written by an earlier release that did not check them) are returned,
/// not applied.
fn replay_directory_log(store: &dyn Store, root: &PublicKey) -> Result<Replayed, StoreError> {
    let (size, _) = store.log_head(LogId::Directory)?;
    let mut log = LogDirectory::new(*root);
    let mut revoked = BTreeSet::new();
    let mut refused = Vec::new();
    let mut next = 0u64;
    while next < size {
        let entries = store.log_entries(LogId::Directory, next, size - next)?;
        if entries.is_empty() {
            return Err(StoreError::Corrupt("directory log shorter than its head"));
        }
        for bytes in &entries {
            let entry = DirectoryEntry::decode(bytes)
                .map_err(|_| StoreError::Corrupt("directory log entry"))?;
            if let Err(r) = apply_tracked(&mut log, &mut revoked, &entry) {
                refused.push(r);
            }
        }
        next = next.saturating_add(u64::try_from(entries.len()).unwrap_or(u64::MAX));
    }
    Ok((log, revoked, refused))
}

/// What to do with the queues, decided by [`decide_queues`].
#[derive(Debug, Default, PartialEq, Eq)]
struct QueueSweep {
    /// Lapses to note: (device, since when, ms).
    lapsed: Vec<(PublicKey, u64)>,
    /// Lapses to forget (the device is back in force, or has no queue).
    restored: Vec<PublicKey>,
    /// Queues to drop, with the reason their `dropped` events give.
    drop: Vec<(PublicKey, String)>,
}

/// Decide, at `now` (ms), the queue of every `queued` device against
/// `state`, given the lapses already `noted`: an explicitly revoked
/// device's queue is dropped; a lapsed device's is kept, its lapse noted
/// the first time it is seen and the queue dropped once the lapse is older
/// than [`Limits::lapsed_queue_grace_days`]; a device in force (again) has
/// its lapse forgotten. Pure.
fn decide_queues(
    state: &DirectoryState,
    queued: &BTreeSet<PublicKey>,
    noted: &std::collections::BTreeMap<PublicKey, u64>,
    now: u64,
    limits: &Limits,
) -> QueueSweep {
    let grace_ms = limits.lapsed_queue_grace_ms();
    let mut sweep = QueueSweep {
        restored: noted
            .keys()
            .filter(|d| !queued.contains(*d))
            .copied()
            .collect(),
        ..QueueSweep::default()
    };
    for d in queued {
        let since = noted.get(d).copied();
        match (state.standing(d), since) {
            (Standing::InForce, Some(_)) => sweep.restored.push(*d),
            (Standing::InForce, None) => {}
            (Standing::Revoked, _) => sweep.drop.push((*d, "revoked by its authority".into())),
            (Standing::Lapsed(_), None) => sweep.lapsed.push((*d, now)),
            (Standing::Lapsed(_), Some(since)) if now.saturating_sub(since) >= grace_ms => {
                sweep.drop.push((
                    *d,
                    format!(
                        "lapsed for more than {} days",
                        limits.lapsed_queue_grace_days
                    ),
                ));
            }
            (Standing::Lapsed(_), Some(_)) => {}
        }
    }
    sweep
}

/// Refusal of a directory object that failed verification under its
/// authority, naming the rule it broke.
fn refused(kind: &str, id: &str, e: VerifyError) -> WireError {
    match e {
        VerifyError::CountryMismatch { authority, subject } => err(
            ErrorCode::InvalidRecord,
            format!(
                "{kind} {id} refused: the {authority} authority cannot sign for {subject}; \
                 an authority signs only {kind}s of its own country"
            ),
        ),
        VerifyError::BadSignature | VerifyError::WrongSigner => err(
            ErrorCode::InvalidSignature,
            format!("{kind} {id}: the authority's signature does not verify"),
        ),
        other => err(
            ErrorCode::InvalidRecord,
            format!("{kind} {id} refused: {other}"),
        ),
    }
}

fn fp(key: &PublicKey) -> String {
    key.fingerprint().to_string()
}

impl Service {
    /// Build the service over `store`; the directory is loaded from it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        limits: Limits,
        root: PublicKey,
        store: Arc<dyn Store>,
        committer: Committer,
        subscribers: Arc<Subscribers>,
        health: Arc<StoreHealth>,
        checkpointer: Arc<Checkpointer>,
        auditors: Vec<PublicKey>,
    ) -> Result<Self, StoreError> {
        let service = Service {
            checkpointer,
            auditors,
            generation: tokio::sync::watch::channel(0).0,
            limits,
            root,
            uploads: Uploads::new(store.clone()),
            store,
            committer,
            directory: RwLock::new(Arc::new(DirectoryState {
                directory: Directory::default(),
                log: LogDirectory::new(root),
                authorities: Vec::new(),
                records: Vec::new(),
                roles: Vec::new(),
                revoked_devices: BTreeSet::new(),
            })),
            publish: tokio::sync::Mutex::new(()),
            subscribers,
            health,
            #[cfg(feature = "test-hooks")]
            hooks: crate::test_hooks::TestHooks::from_env(),
        };
        service.rebuild_directory_blocking()?;
        Ok(service)
    }

    /// The current directory.
    pub fn directory(&self) -> Arc<DirectoryState> {
        self.directory
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Changes whenever the directory is rebuilt; connections re-check that
    /// their device is still admitted.
    pub fn directory_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The group committer.
    pub fn committer(&self) -> &Committer {
        &self.committer
    }

    /// Live subscribers.
    pub fn subscribers(&self) -> &Arc<Subscribers> {
        &self.subscribers
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn rebuild_directory_blocking(&self) -> Result<(), StoreError> {
        self.update_directory_blocking(DirectoryUpdate::Replay)
    }

    fn update_directory_blocking(&self, update: DirectoryUpdate) -> Result<(), StoreError> {
        let now = liaison_clock::now();
        let (authorities, _) = self.store.load_directory()?;
        // In log order: the first record to list a device key holds it,
        // whatever the ids (see liaison_protocol::directory_state).
        let (log, revoked_devices, mut rejected) = match update {
            DirectoryUpdate::Replay => replay_directory_log(self.store.as_ref(), &self.root)?,
            DirectoryUpdate::Appended(entry) => {
                let before = self.directory();
                let (mut log, mut revoked) = (before.log.clone(), before.revoked_devices.clone());
                let refused = apply_tracked(&mut log, &mut revoked, &entry).err();
                (log, revoked, refused.into_iter().collect())
            }
            DirectoryUpdate::Refresh => {
                let before = self.directory();
                (
                    before.log.clone(),
                    before.revoked_devices.clone(),
                    Vec::new(),
                )
            }
        };
        let (directory, mut not_in_force) = log.directory(now);
        rejected.append(&mut not_in_force);
        let records: Vec<Signed<FocalPointRecord>> =
            log.signed_records().into_iter().cloned().collect();
        let roles: Vec<Signed<RoleRecord>> = log.signed_roles().into_iter().cloned().collect();
        let state = DirectoryState {
            directory,
            log,
            authorities,
            records,
            roles,
            revoked_devices,
        };
        self.sweep_queues(&state, now.0)?;
        self.expire_blobs(now.0)?;
        for r in &rejected {
            tracing::warn!(subject = %r.subject, error = %r.error, "directory entry not in force");
        }
        tracing::debug!(
            authorities = state.authorities.len(),
            records = state.records.len(),
            "directory rebuilt"
        );
        *self.directory.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
        Ok(())
    }

    /// Decide the queue of every device that has one ([`decide_queues`])
    /// and carry it out: drops first (each with its `dropped` events), then
    /// the lapses noted and forgotten.
    fn sweep_queues(&self, state: &DirectoryState, now: u64) -> Result<(), StoreError> {
        let noted = self.store.lapsed_devices()?;
        let queued: BTreeSet<PublicKey> = self.store.queued_devices()?.into_iter().collect();
        let sweep = decide_queues(state, &queued, &noted, now, &self.limits);
        for (d, reason) in &sweep.drop {
            let n = self.store.drop_queue(d, reason, now)?;
            tracing::info!(device = %fp(d), dropped = n, %reason, "queue dropped");
        }
        for (d, _) in &sweep.lapsed {
            tracing::info!(
                device = %fp(d),
                days = self.limits.lapsed_queue_grace_days,
                "device out of force without a revocation; its queue is kept"
            );
        }
        for d in sweep.restored.iter().filter(|d| queued.contains(d)) {
            tracing::info!(device = %fp(d), "lapsed device back in force; its queue is kept for it");
        }
        self.store.note_lapsed(&sweep.lapsed, &sweep.restored)
    }

    /// Delete the attachments past `limits.attachment_retention_days`.
    fn expire_blobs(&self, now: u64) -> Result<(), StoreError> {
        let before = now.saturating_sub(self.limits.attachment_retention_ms());
        let (blobs, bytes) = self.store.blob_expire(before, now)?;
        if blobs > 0 {
            tracing::info!(
                blobs,
                bytes,
                days = self.limits.attachment_retention_days,
                "attachments past their retention deleted"
            );
        }
        Ok(())
    }

    /// Rebuild the directory from the store at the current time (validity
    /// periods end even when nothing is published).
    pub async fn refresh_directory(self: &Arc<Self>) -> Result<(), WireError> {
        let _guard = self.publish.lock().await;
        self.update_directory(DirectoryUpdate::Refresh).await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, WireError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| {
                err(
                    ErrorCode::Internal,
                    "relay storage task failed; retry later",
                )
            })?
            .map_err(|e| internal(&self.health, &e))
    }

    /// Why a device that is not in force may not act, and what its user
    /// can do about it.
    fn not_admitted(&self, device: &PublicKey, standing: &Standing) -> WireError {
        let days = self.limits.lapsed_queue_grace_days;
        let message = match standing {
            Standing::Lapsed(Some(id)) => format!(
                "device {} belongs to {id}, whose record is not in force now: it expired or is \
                 not valid yet, or the certificate of the authority that signed it expired or \
                 was revoked. Ask your country authority to renew or re-sign the record; \
                 messages already queued for this device are kept for {days} days meanwhile",
                fp(device)
            ),
            Standing::Revoked => format!(
                "device {} was revoked by its authority (the record revoked, or the device \
                 removed from it); ask your country authority if this is a mistake. This \
                 connection may still read the directory log, to see the record",
                fp(device)
            ),
            Standing::Lapsed(None) | Standing::InForce => format!(
                "device {} is not an active device of any focal point in the directory \
                 (not enrolled, revoked or expired)",
                fp(device)
            ),
        };
        err(ErrorCode::UnknownDevice, message)
    }

    /// The authenticated device of `session`, still active in the directory.
    pub fn require_device(&self, session: &Session) -> Result<PublicKey, WireError> {
        let device = session.device().ok_or_else(|| {
            err(
                ErrorCode::Unauthenticated,
                "this request needs an authenticated device: send Challenge, then Authenticate",
            )
        })?;
        match self.directory().standing(&device) {
            Standing::InForce => Ok(device),
            standing => Err(self.not_admitted(&device, &standing)),
        }
    }

    /// Answer one request (every request but Subscribe, which streams).
    pub async fn handle(self: &Arc<Self>, session: &Session, request: Request) -> Response {
        match self.dispatch(session, request).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(code = e.code.code(), reason = %e.message, "refused");
                Response::Error(e)
            }
        }
    }

    async fn dispatch(
        self: &Arc<Self>,
        session: &Session,
        request: Request,
    ) -> Result<Response, WireError> {
        match request {
            Request::Ping => Ok(Response::Pong {
                now: liaison_clock::now().0,
            }),
            Request::Challenge => {
                let mut nonce = [0u8; 32];
                getrandom::fill(&mut nonce).map_err(|e| {
                    err(ErrorCode::Internal, format!("no randomness available: {e}"))
                })?;
                session.lock().nonce = Some(nonce);
                Ok(Response::Challenge { nonce })
            }
            Request::Authenticate { device, signature } => {
                self.authenticate(session, device, &signature)
            }
            Request::PublishAuthority(cert) => self.publish_authority(cert).await,
            Request::PublishRecord { record, prekeys } => {
                self.publish_record(record, prekeys).await
            }
            Request::PublishRole(role) => self.publish_role(role).await,
            Request::Subscribe => Err(err(
                ErrorCode::Malformed,
                "Subscribe is only valid as the first frame of its own stream",
            )),
            Request::GetCheckpoint {
                log,
                min_cosignatures,
            } => self.get_checkpoint(session, log, min_cosignatures).await,
            Request::GetConsistency { log, old, new } => {
                let proof = self
                    .blocking(move |s| s.consistency_proof(log, old, new))
                    .await?
                    .ok_or_else(|| {
                        err(
                            ErrorCode::NotFound,
                            format!("no consistency proof from {old} to {new}: sizes out of range"),
                        )
                    })?;
                Ok(Response::Proof {
                    hashes: proof.into_iter().map(|h| h.0).collect(),
                })
            }
            Request::GetInclusion { log, index, size } => {
                let proof = self
                    .blocking(move |s| s.inclusion_proof(log, index, size))
                    .await?
                    .ok_or_else(|| {
                        err(
                            ErrorCode::NotFound,
                            format!("no leaf {index} in a tree of size {size}"),
                        )
                    })?;
                Ok(Response::Proof {
                    hashes: proof.into_iter().map(|h| h.0).collect(),
                })
            }
            Request::AddCosignature { log, note } => {
                let cp = self.checkpointer.clone();
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || cp.add_cosignature(store.as_ref(), log, &note))
                    .await
                    .map_err(|_| err(ErrorCode::Internal, "relay task failed"))?
                    .map_err(|e| match e {
                        CosignError::Store(e) => internal(&self.health, &e),
                        e => err(ErrorCode::InvalidSignature, e.to_string()),
                    })?;
                Ok(Response::Ok)
            }
            Request::GetDirectory
                if session.authority().is_some() || session.auditor().is_some() =>
            {
                let d = self.directory();
                Ok(Response::Directory {
                    authorities: d.authorities.clone(),
                    records: d.records.clone(),
                    roles: d.roles.clone(),
                })
            }
            Request::GetEntries { log, start, count } if session.auditor().is_some() => {
                self.get_entries(log, start, count, true).await
            }
            Request::GetEntries {
                log: LogId::Directory,
                start,
                count,
            } if session.refused_device().is_some() => {
                self.get_entries(LogId::Directory, start, count, false)
                    .await
            }
            Request::GetMessageEvents { message_id } if session.auditor().is_some() => {
                self.message_events(None, message_id).await
            }
            request => {
                let device = self.require_device(session)?;
                self.dispatch_authenticated(device, request).await
            }
        }
    }

    async fn dispatch_authenticated(
        self: &Arc<Self>,
        device: PublicKey,
        request: Request,
    ) -> Result<Response, WireError> {
        match request {
            Request::GetDirectory => {
                let d = self.directory();
                #[allow(unused_mut)]
                let mut records = d.records.clone();
                #[cfg(feature = "test-hooks")]
                {
                    if self.hooks.needs_log() {
                        let log = self
                            .blocking(|s| s.log_entries(LogId::Directory, 0, u64::MAX))
                            .await?;
                        self.hooks.roll_back(&mut records, &log);
                    }
                    self.hooks.tamper_directory(&mut records);
                }
                Ok(Response::Directory {
                    authorities: d.authorities.clone(),
                    records,
                    roles: d.roles.clone(),
                })
            }
            Request::UploadPrekeys(prekeys) => self.upload_prekeys(device, prekeys).await,
            Request::PrekeyCount => {
                let (one_time, fallback) = self.blocking(move |s| s.prekey_count(&device)).await?;
                Ok(Response::PrekeyCount { one_time, fallback })
            }
            Request::ClaimPrekey { device: target } => self.claim_prekey(target).await,
            Request::Send {
                message_id,
                envelopes,
                declare,
            } => self.send(device, message_id, envelopes, declare).await,
            Request::Fetch { after, limit } => {
                let limit = limit.min(self.limits.fetch_batch) as usize;
                let max_bytes = self.limits.max_frame;
                let (items, more) = self
                    .blocking(move |s| s.fetch(&device, after, limit, max_bytes))
                    .await?;
                tracing::debug!(device = %fp(&device), items = items.len(), more, "fetch");
                if !items.is_empty() {
                    let handed: Vec<(u64, MessageId)> = items
                        .iter()
                        .map(|q| (q.seq, q.envelope.message_id))
                        .collect();
                    let at = liaison_clock::now().0;
                    self.blocking(move |s| s.mark_delivered(&device, &handed, at))
                        .await?;
                }
                Ok(Response::Messages { items, more })
            }
            Request::GetEntries { log, start, count } => {
                self.get_entries(log, start, count, false).await
            }
            Request::GetMessageEvents { message_id } => {
                self.message_events(Some(device), message_id).await
            }
            Request::Ack { seqs } => {
                if seqs.len() > MAX_ACK {
                    return Err(err(
                        ErrorCode::Malformed,
                        format!("at most {MAX_ACK} sequence numbers per Ack"),
                    ));
                }
                let at = liaison_clock::now().0;
                let removed = self.blocking(move |s| s.ack(&device, &seqs, at)).await?;
                tracing::debug!(device = %fp(&device), removed, "ack");
                Ok(Response::Ok)
            }
            Request::BlobBegin { blob, size } => self.blob_begin(device, blob, size).await,
            Request::BlobChunk { blob, index, chunk } => {
                #[cfg(feature = "test-hooks")]
                self.hooks.hold_blob_chunk(index).await;
                #[cfg(feature = "test-hooks")]
                let one_at_a_time = self.hooks.one_chunk_at_a_time;
                #[cfg(not(feature = "test-hooks"))]
                let one_at_a_time = false;
                let put = if one_at_a_time {
                    self.blocking(move |s| s.blob_put_chunk(&blob, &device, index, &chunk))
                        .await?
                } else {
                    // Chunks sent ahead wait for those before them and are
                    // committed with them (`uploads`).
                    self.uploads
                        .put(blob, device, index, chunk, uploads::WAIT)
                        .await
                        .ok_or_else(|| {
                            err(
                                ErrorCode::Internal,
                                "relay storage task failed; retry later",
                            )
                        })?
                        .map_err(|e| internal(&self.health, &e))?
                };
                match put {
                    BlobPut::Progress(p) => Ok(progress(p)),
                    BlobPut::Unknown => Err(err(
                        ErrorCode::NotFound,
                        "no upload of this attachment was begun by this device: send BlobBegin \
                         first",
                    )),
                    BlobPut::OutOfOrder(p) => Err(err(
                        ErrorCode::Malformed,
                        format!(
                            "chunk {index} is not the next one: the relay holds {} of {} \
                             chunks, send chunk {} next",
                            p.confirmed, p.chunks, p.confirmed
                        ),
                    )),
                    BlobPut::WrongLength { expected } => Err(err(
                        ErrorCode::Malformed,
                        format!("chunk {index} must be {expected} sealed bytes long"),
                    )),
                }
            }
            Request::BlobGrant { blob, message_id } => {
                let grant = self
                    .blocking(move |s| s.blob_grant(&blob, &device, &message_id))
                    .await?;
                match grant {
                    BlobGrant::Granted { devices } => {
                        tracing::debug!(device = %fp(&device), devices, "blob granted");
                        Ok(Response::Ok)
                    }
                    BlobGrant::Unknown => Err(err(
                        ErrorCode::NotFound,
                        "no attachment of this id was uploaded by this device",
                    )),
                    BlobGrant::Incomplete(p) => Err(err(
                        ErrorCode::Malformed,
                        format!(
                            "the upload is not complete ({} of {} chunks): finish it first",
                            p.confirmed, p.chunks
                        ),
                    )),
                    BlobGrant::UnknownMessage => Err(err(
                        ErrorCode::Forbidden,
                        "this device did not send that message through this relay",
                    )),
                }
            }
            Request::BlobFetch { blob, start, count } => {
                #[cfg(feature = "test-hooks")]
                self.hooks.hold_blob_fetch(start).await;
                let max_bytes = self.limits.max_frame.saturating_sub(1024);
                let fetched = self
                    .blocking(move |s| {
                        s.blob_fetch(&blob, &device, start, u64::from(count), max_bytes)
                    })
                    .await?;
                match fetched {
                    #[cfg_attr(not(feature = "test-hooks"), allow(unused_mut))]
                    BlobFetch::Chunks(mut chunks) => {
                        let served = chunks.len() as u64;
                        if served > 0 {
                            let deleted = self
                                .blocking(move |s| s.blob_fetched(&blob, &device, start, served))
                                .await?;
                            if deleted {
                                tracing::debug!(
                                    device = %fp(&device),
                                    "attachment fetched by every recipient device: deleted"
                                );
                            }
                        }
                        #[cfg(feature = "test-hooks")]
                        self.hooks.tamper_blob_chunks(start, &mut chunks);
                        Ok(Response::BlobChunks { start, chunks })
                    }
                    BlobFetch::NotFound => Err(err(
                        ErrorCode::NotFound,
                        "no attachment of this id is held for this device (never uploaded, not \
                         granted to it, or deleted)",
                    )),
                    BlobFetch::Incomplete(p) => Err(err(
                        ErrorCode::NotFound,
                        format!(
                            "the attachment is still being uploaded ({} of {} chunks); try again \
                             later",
                            p.confirmed, p.chunks
                        ),
                    )),
                }
            }
            Request::Ping
            | Request::Challenge
            | Request::Authenticate { .. }
            | Request::PublishAuthority(_)
            | Request::PublishRecord { .. }
            | Request::PublishRole(_)
            | Request::GetCheckpoint { .. }
            | Request::GetConsistency { .. }
            | Request::GetInclusion { .. }
            | Request::AddCosignature { .. }
            | Request::Subscribe => Err(err(ErrorCode::Malformed, "unexpected request")),
        }
    }

    async fn blob_begin(
        &self,
        device: PublicKey,
        blob: [u8; 32],
        size: u64,
    ) -> Result<Response, WireError> {
        let limit = self.limits.max_attachment_bytes;
        if size > limit {
            return Err(err(
                ErrorCode::BlobTooLarge,
                format!(
                    "the attachment is {size} bytes; this relay accepts attachments of at most \
                     {limit} bytes"
                ),
            ));
        }
        let owner = self
            .directory()
            .directory
            .device_owner(&device)
            .map(|r| r.id.as_str().to_owned())
            .ok_or_else(|| err(ErrorCode::UnknownDevice, "device not in the directory"))?;
        let quota = self.limits.attachment_quota_bytes;
        let uploads = self.uploads.clone();
        let begun = self
            .blocking(move |s| {
                // What this device still has waiting from before it began
                // again is answered now, so it cannot race the resumed
                // upload.
                uploads.restart(&blob, &device);
                s.blob_begin(&blob, &device, &owner, size, quota)
            })
            .await?;
        match begun {
            BlobBegin::Progress(p) => Ok(progress(p)),
            BlobBegin::QuotaExceeded {
                used,
                needed,
                quota,
            } => Err(err(
                ErrorCode::QuotaExceeded,
                format!(
                    "attachment quota used up: your attachments held on this relay take \
                     {used} of {quota} bytes and this one needs {needed}; nothing was \
                     uploaded. Space comes back as the recipients of your earlier \
                     attachments fetch them (or when the relay's retention for them ends); \
                     try again then, or ask the relay's operator about \
                     limits.attachment_quota_bytes"
                ),
            )),
            BlobBegin::Conflict => Err(err(
                ErrorCode::Forbidden,
                "this attachment id is already taken: draw a new one",
            )),
            BlobBegin::Invalid => Err(err(
                ErrorCode::BlobTooLarge,
                format!("this relay accepts attachments of at most {limit} bytes"),
            )),
        }
    }

    fn authenticate(
        &self,
        session: &Session,
        device: PublicKey,
        signature: &Signature,
    ) -> Result<Response, WireError> {
        // The nonce is consumed whatever the outcome: one attempt per challenge.
        let nonce = session.lock().nonce.take().ok_or_else(|| {
            err(
                ErrorCode::AuthFailed,
                "no outstanding challenge: send Challenge first (each nonce is single-use)",
            )
        })?;
        let exporter = (session.exporter)(&nonce).ok_or_else(|| {
            err(
                ErrorCode::Internal,
                "TLS keying material exporter unavailable",
            )
        })?;
        // Signature first: without the device's key nobody learns whether a
        // key is enrolled.
        device
            .verify(AUTH_DOMAIN, &auth_message(&nonce, &exporter), signature)
            .map_err(|_| {
                tracing::info!(device = %fp(&device), "authentication failed: bad signature");
                err(
                    ErrorCode::AuthFailed,
                    "the signature over the challenge and this TLS session does not verify",
                )
            })?;
        if let Some(cert) = self.directory().directory.authority(&device) {
            let country = cert.country;
            session.lock().authority = Some(device);
            tracing::info!(authority = %fp(&device), %country, "authority authenticated");
            return Ok(Response::AuthorityAuthenticated { country });
        }
        if self.auditors.contains(&device) {
            session.lock().auditor = Some(device);
            tracing::info!(auditor = %fp(&device), "auditor authenticated");
            return Ok(Response::AuditorAuthenticated);
        }
        let dir = self.directory();
        let owner = dir.directory.device_owner(&device).ok_or_else(|| {
            tracing::info!(device = %fp(&device), "authentication refused: device not in directory");
            let standing = dir.standing(&device);
            if matches!(standing, Standing::Revoked | Standing::Lapsed(Some(_))) {
                session.lock().refused = Some(device);
            }
            self.not_admitted(&device, &standing)
        })?;
        session.lock().device = Some(device);
        tracing::info!(device = %fp(&device), id = %owner.id, "authenticated");
        Ok(Response::Authenticated {
            id: owner.id.clone(),
        })
    }

    async fn publish_authority(
        self: &Arc<Self>,
        signed: Signed<AuthorityCertificate>,
    ) -> Result<Response, WireError> {
        let cert = signed.verify_by(&self.root).map_err(|e| match e {
            VerifyError::Decode(_) => err(
                ErrorCode::InvalidRecord,
                format!("authority certificate body is malformed: {e}"),
            ),
            _ => err(
                ErrorCode::InvalidSignature,
                "authority certificate is not signed by this network's root key",
            ),
        })?;
        // A revocation is published whatever its validity period; any other
        // certificate must be in force now.
        if !cert.revoked {
            verify_authority(&self.root, &signed, liaison_clock::now()).map_err(|e| {
                err(
                    ErrorCode::InvalidRecord,
                    format!("authority certificate for {} refused: {e}", cert.country),
                )
            })?;
        }
        let _guard = self.publish.lock().await;
        let entry = DirectoryEntry::Authority(signed.clone());
        let (c, s) = (cert.clone(), signed);
        let outcome = self
            .blocking(move |store| store.put_authority(&c, &s))
            .await?;
        match outcome {
            PutOutcome::Stored => {
                tracing::info!(country = %cert.country, serial = cert.serial, revoked = cert.revoked, authority = %fp(&cert.key), "authority certificate published");
                self.update_directory(DirectoryUpdate::Appended(entry))
                    .await?;
                Ok(Response::Ok)
            }
            PutOutcome::Unchanged => Ok(Response::Ok),
            PutOutcome::Stale { stored } => Err(err(
                ErrorCode::StaleVersion,
                format!(
                    "authority certificate serial {} is not higher than the stored serial {stored}",
                    cert.serial
                ),
            )),
            PutOutcome::Revoked => Err(err(
                ErrorCode::InvalidRecord,
                "this authority key has been revoked by the root; a revocation is final",
            )),
            PutOutcome::TooManyPrekeys { .. } => {
                Err(err(ErrorCode::Internal, "unexpected store outcome"))
            }
        }
    }

    /// Bring the directory up to date; callers hold the publish lock, so
    /// entries are applied in the order they were appended to the log.
    /// After an append, a checkpoint covering it is signed at once: clients
    /// use a directory record only once a verified checkpoint includes it,
    /// so a new record is usable as soon as its publication returns.
    async fn update_directory(self: &Arc<Self>, update: DirectoryUpdate) -> Result<(), WireError> {
        let appended = matches!(update, DirectoryUpdate::Appended(_));
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            this.update_directory_blocking(update)?;
            // The entry is stored whatever happens here; the periodic signer
            // retries a checkpoint that could not be signed now.
            if appended
                && let Err(e) = this
                    .checkpointer
                    .sign_if_grown(this.store.as_ref(), LogId::Directory)
            {
                tracing::error!(error = %e, "directory checkpoint not signed after an append");
                this.health.check(&e);
            }
            Ok(())
        })
        .await
        .map_err(|_| err(ErrorCode::Internal, "directory rebuild task failed"))?
        .map_err(|e| internal(&self.health, &e))
    }

    async fn publish_record(
        self: &Arc<Self>,
        signed: Signed<FocalPointRecord>,
        prekeys: Vec<Prekey>,
    ) -> Result<Response, WireError> {
        let claimed_id = signed
            .decode_unverified()
            .map(|r| r.id.to_string())
            .unwrap_or_else(|_| "?".into());
        // Checked and stored under the publish lock, so two publishes cannot
        // both pass the device check against the same directory.
        let _guard = self.publish.lock().await;
        let dir = self.directory();
        let authority = dir
            .directory
            .authority(signed.signer())
            .ok_or_else(|| unknown_authority("record", &claimed_id))?;
        let record =
            verify_record(authority, &signed).map_err(|e| refused("record", &claimed_id, e))?;
        // Every device proved possession (or the same id already holds it),
        // and no device key (signing or agreement) belongs to another record
        // or was retired: a foreign authority can neither squat a device nor
        // evict a record.
        if dir.log.signed_record(&record.id) == Some(&signed) {
            return Ok(Response::Ok);
        }
        dir.log
            .admit(&DirectoryEntry::Record(signed.clone()))
            .map_err(|r| refused_entry("record", &claimed_id, r))?;
        drop(dir);
        for p in &prekeys {
            if !record.devices.iter().any(|d| d.signing == p.device) {
                return Err(err(
                    ErrorCode::InvalidRecord,
                    format!(
                        "a prekey belongs to device {}, which is not a device of record {}",
                        fp(&p.device),
                        record.id
                    ),
                ));
            }
            p.verify().map_err(|_| {
                err(
                    ErrorCode::InvalidSignature,
                    format!("a prekey of device {} is not signed by it", fp(&p.device)),
                )
            })?;
        }
        let max = self.limits.max_prekeys_per_device;
        let entry = DirectoryEntry::Record(signed.clone());
        let (r, s) = (record.clone(), signed);
        let outcome = self
            .blocking(move |store| store.put_record(&r, &s, &prekeys, max))
            .await?;
        match outcome {
            PutOutcome::Stored => {
                tracing::info!(id = %record.id, version = record.version, devices = record.devices.len(), "record published");
                self.update_directory(DirectoryUpdate::Appended(entry))
                    .await?;
                Ok(Response::Ok)
            }
            PutOutcome::Unchanged => Ok(Response::Ok),
            PutOutcome::Stale { stored } => Err(err(
                ErrorCode::StaleVersion,
                format!(
                    "record {} version {} is not higher than the stored version {stored}",
                    record.id, record.version
                ),
            )),
            PutOutcome::TooManyPrekeys { device, max } => Err(err(
                ErrorCode::Forbidden,
                format!(
                    "device {} would hold more than {max} one-time prekeys",
                    fp(&device)
                ),
            )),
            PutOutcome::Revoked => Err(err(ErrorCode::Internal, "unexpected store outcome")),
        }
    }

    async fn publish_role(
        self: &Arc<Self>,
        signed: Signed<RoleRecord>,
    ) -> Result<Response, WireError> {
        let claimed_id = signed
            .decode_unverified()
            .map(|r| r.id.to_string())
            .unwrap_or_else(|_| "?".into());
        let dir = self.directory();
        let authority = dir
            .directory
            .authority(signed.signer())
            .ok_or_else(|| unknown_authority("role", &claimed_id))?;
        let role = verify_role(authority, &signed).map_err(|e| refused("role", &claimed_id, e))?;
        if dir.directory.record(&role.id).is_some() {
            return Err(err(
                ErrorCode::InvalidRecord,
                format!("role {} collides with a focal point id", role.id),
            ));
        }
        drop(dir);
        let _guard = self.publish.lock().await;
        let entry = DirectoryEntry::Role(signed.clone());
        let (r, s) = (role.clone(), signed);
        let outcome = self.blocking(move |store| store.put_role(&r, &s)).await?;
        match outcome {
            PutOutcome::Stored => {
                tracing::info!(id = %role.id, version = role.version, holders = role.holders.len(), "role published");
                self.update_directory(DirectoryUpdate::Appended(entry))
                    .await?;
                Ok(Response::Ok)
            }
            PutOutcome::Unchanged => Ok(Response::Ok),
            PutOutcome::Stale { stored } => Err(err(
                ErrorCode::StaleVersion,
                format!(
                    "role {} version {} is not higher than the stored version {stored}",
                    role.id, role.version
                ),
            )),
            _ => Err(err(ErrorCode::Internal, "unexpected store outcome")),
        }
    }

    async fn upload_prekeys(
        &self,
        device: PublicKey,
        prekeys: Vec<Prekey>,
    ) -> Result<Response, WireError> {
        for p in &prekeys {
            if p.device != device {
                return Err(err(
                    ErrorCode::Forbidden,
                    "a device may upload only its own prekeys",
                ));
            }
            p.verify().map_err(|_| {
                err(
                    ErrorCode::InvalidSignature,
                    "a prekey is not signed by the authenticated device",
                )
            })?;
        }
        let max = self.limits.max_prekeys_per_device;
        let n = prekeys.len();
        match self
            .blocking(move |s| s.add_prekeys(&device, &prekeys, max))
            .await?
        {
            PrekeyUpload::Stored { one_time } => {
                tracing::debug!(device = %fp(&device), uploaded = n, one_time, "prekeys stored");
                Ok(Response::Ok)
            }
            PrekeyUpload::TooMany { have, max } => Err(err(
                ErrorCode::Forbidden,
                format!(
                    "the relay holds {have} one-time prekeys for this device and keeps at most \
                     {max}; upload fewer"
                ),
            )),
        }
    }

    async fn claim_prekey(&self, target: PublicKey) -> Result<Response, WireError> {
        if self.directory().directory.device_owner(&target).is_none() {
            return Err(err(
                ErrorCode::UnknownRecipient,
                format!(
                    "device {} is not an active device in the directory",
                    fp(&target)
                ),
            ));
        }
        match self.blocking(move |s| s.claim_prekey(&target)).await? {
            Some(p) => {
                tracing::debug!(device = %fp(&target), fallback = p.fallback, "prekey claimed");
                Ok(Response::Prekey(p))
            }
            None => Err(err(
                ErrorCode::NoPrekey,
                format!("no prekey is available for device {}", fp(&target)),
            )),
        }
    }

    async fn send(
        &self,
        device: PublicKey,
        message_id: MessageId,
        #[cfg_attr(not(feature = "test-hooks"), allow(unused_mut))] mut envelopes: Vec<Envelope>,
        declare: Vec<liaison_protocol::frames::Declaration>,
    ) -> Result<Response, WireError> {
        #[cfg(feature = "test-hooks")]
        self.hooks.hold_send(&device).await;
        #[cfg(feature = "test-hooks")]
        self.hooks.drop_recipient(&device, &mut envelopes);
        if declare.len() > liaison_protocol::frames::MAX_DECLARATIONS {
            return Err(err(
                ErrorCode::Malformed,
                format!(
                    "at most {} declarations per message",
                    liaison_protocol::frames::MAX_DECLARATIONS
                ),
            ));
        }
        if envelopes.is_empty() {
            return Err(err(
                ErrorCode::Malformed,
                "a Send carries at least one envelope",
            ));
        }
        let max = self.limits.max_envelopes_per_message;
        if envelopes.len() > max {
            return Err(err(
                ErrorCode::TooManyEnvelopes,
                format!(
                    "{} envelopes exceed the limit of {max} per message",
                    envelopes.len()
                ),
            ));
        }
        // Declared events are permanent log entries: a message declares at
        // most one per recipient device (a receipt or consent decision
        // answers one message; a client batching them addresses the
        // originator's devices).
        if declare.len() > envelopes.len() {
            return Err(err(
                ErrorCode::Malformed,
                format!(
                    "{} declarations for {} recipient devices; a message declares at most one \
                     event per recipient device",
                    declare.len(),
                    envelopes.len()
                ),
            ));
        }
        let dir = self.directory();
        let mut recipients = BTreeSet::new();
        let mut bytes = 0usize;
        for e in &envelopes {
            if e.message_id != message_id {
                return Err(err(
                    ErrorCode::Malformed,
                    "an envelope's message_id differs from the Send's message_id",
                ));
            }
            if e.sender_device != device {
                return Err(err(
                    ErrorCode::Forbidden,
                    "an envelope's sender_device is not the authenticated device",
                ));
            }
            if e.check_wellformed().is_err() {
                return Err(if e.ciphertext.len() > MAX_CIPHERTEXT {
                    err(
                        ErrorCode::MessageTooLarge,
                        format!("an envelope's ciphertext exceeds {MAX_CIPHERTEXT} bytes"),
                    )
                } else {
                    err(ErrorCode::Malformed, "an envelope's ciphertext is empty")
                });
            }
            if !recipients.insert(e.recipient_device) {
                return Err(err(
                    ErrorCode::Malformed,
                    format!(
                        "two envelopes for recipient device {}",
                        fp(&e.recipient_device)
                    ),
                ));
            }
            if dir.directory.device_owner(&e.recipient_device).is_none() {
                return Err(err(
                    ErrorCode::UnknownRecipient,
                    format!(
                        "recipient device {} is not an active device in the directory; \
                         refresh the directory and re-encrypt",
                        fp(&e.recipient_device)
                    ),
                ));
            }
            bytes = bytes.saturating_add(e.ciphertext.len());
        }
        drop(dir);
        let n = envelopes.len();
        let outcome = self
            .committer
            .submit(SendOp {
                message_id,
                envelopes,
                declare,
            })
            .await
            .map_err(|e| match e {
                CommitError::ShuttingDown => err(
                    ErrorCode::ShuttingDown,
                    "the relay is shutting down; the message was not stored, retry later",
                ),
                CommitError::Storage(why) => err(
                    ErrorCode::Internal,
                    format!(
                        "relay storage failure ({why}); the message was not stored, retry later"
                    ),
                ),
            })?;
        match outcome {
            SendOutcome::Accepted { .. } => {
                tracing::info!(message_id = %message_id, envelopes = n, bytes, "message accepted");
                Ok(Response::Accepted {
                    message_id,
                    duplicate: false,
                })
            }
            SendOutcome::Duplicate => {
                tracing::info!(message_id = %message_id, "duplicate message (retry)");
                Ok(Response::Accepted {
                    message_id,
                    duplicate: true,
                })
            }
            SendOutcome::UnknownReference => Err(err(
                ErrorCode::Malformed,
                "a declaration refers to a message this device neither sent nor received",
            )),
            SendOutcome::SenderShareFull { device, max } => Err(err(
                ErrorCode::QueueFull,
                format!(
                    "recipient device {} already holds {max} envelopes from this device, the \
                     most one sender may queue for it; retry once it has fetched them",
                    fp(&device),
                ),
            )),
            SendOutcome::QueueFull { device } => Err(err(
                ErrorCode::QueueFull,
                format!(
                    "the queue of recipient device {} is full ({} envelopes); retry later",
                    fp(&device),
                    self.limits.max_queue_depth
                ),
            )),
        }
    }

    /// Highest sequence number assigned so far for `device`.
    async fn get_checkpoint(
        self: &Arc<Self>,
        session: &Session,
        log: LogId,
        min_cosignatures: u8,
    ) -> Result<Response, WireError> {
        let cp = self.checkpointer.clone();
        let store = self.store.clone();
        #[cfg(feature = "test-hooks")]
        {
            // Test hook: serve a forked history to one device, to prove that
            // clients detect it.
            if session.device().is_some_and(|d| self.hooks.forks_for(&d)) {
                let note = tokio::task::spawn_blocking(move || cp.forged(store.as_ref(), log))
                    .await
                    .map_err(|_| err(ErrorCode::Internal, "relay task failed"))?
                    .map_err(|e| internal(&self.health, &e))?;
                return note
                    .map(|note| Response::Checkpoint { note })
                    .ok_or_else(|| err(ErrorCode::NotFound, "no checkpoint signed yet"));
            }
        }
        let _ = session;
        let note = tokio::task::spawn_blocking(move || {
            cp.latest(store.as_ref(), log, usize::from(min_cosignatures))
        })
        .await
        .map_err(|_| err(ErrorCode::Internal, "relay task failed"))?
        .map_err(|e| internal(&self.health, &e))?;
        note.map(|note| Response::Checkpoint { note }).ok_or_else(|| {
            err(
                ErrorCode::NotFound,
                format!(
                    "no checkpoint of the {} log with {min_cosignatures} cosignature(s) yet; retry shortly",
                    log.name()
                ),
            )
        })
    }

    async fn get_entries(
        &self,
        log: LogId,
        start: u64,
        count: u32,
        auditor: bool,
    ) -> Result<Response, WireError> {
        let raw = self
            .blocking(move |s| s.log_entries(log, start, u64::from(count)))
            .await?;
        let mut entries = Vec::with_capacity(raw.len());
        let mut bytes = 0usize;
        for e in raw {
            let entry = match log {
                LogId::Directory => LogEntry::Directory(e),
                LogId::Events if auditor => LogEntry::Event(e),
                LogId::Events => {
                    let d = DisclosedEvent::decode(&e)
                        .map_err(|_| err(ErrorCode::Internal, "stored event is corrupt"))?;
                    LogEntry::Commitment(d.commitment())
                }
            };
            bytes = bytes.saturating_add(match &entry {
                LogEntry::Directory(b) | LogEntry::Event(b) => b.len() + 8,
                LogEntry::Commitment(_) => 40,
            });
            if !entries.is_empty() && bytes > self.limits.max_frame / 2 {
                break;
            }
            entries.push(entry);
        }
        // Test hook: one more directory entry past the end of the log.
        #[cfg(feature = "test-hooks")]
        if log == LogId::Directory
            && (entries.len() as u64) < u64::from(count)
            && let Some(extra) = self.hooks.uncovered_entry()
        {
            entries.push(LogEntry::Directory(extra));
        }
        Ok(Response::Entries { entries })
    }

    /// Events of a message, for an auditor (`None`: all), its sender (all)
    /// or one of its recipients (`device`): a recipient gets the acceptance,
    /// what happened to its own copy, its own declarations and the sender's,
    /// but not the other recipients' deliveries, acknowledgements or
    /// receipts, which are none of its business.
    async fn message_events(
        &self,
        device: Option<PublicKey>,
        message_id: MessageId,
    ) -> Result<Response, WireError> {
        let raw = self
            .blocking(move |s| s.message_events(&message_id))
            .await?;
        let decoded: Vec<(u64, Vec<u8>, Option<EventKind>)> = raw
            .into_iter()
            .map(|(index, bytes)| {
                let kind = DisclosedEvent::decode(&bytes)
                    .and_then(|e| e.decode_record())
                    .ok()
                    .map(|r| r.kind);
                (index, bytes, kind)
            })
            .collect();
        let sender = decoded.iter().find_map(|(_, _, k)| match k {
            Some(EventKind::Accepted {
                sender_device,
                recipient_devices,
                ..
            }) => Some((*sender_device, recipient_devices.clone())),
            _ => None,
        });
        let involved = match (device, &sender) {
            (None, _) => true,
            (Some(d), Some((s, recipients))) => *s == d || recipients.contains(&d),
            (Some(_), None) => false,
        };
        let sees = |kind: &Option<EventKind>| -> bool {
            let (Some(d), Some((s, _))) = (device, &sender) else {
                return true;
            };
            if *s == d {
                return true;
            }
            match kind {
                Some(EventKind::Accepted { .. }) | None => true,
                Some(EventKind::Delivered {
                    recipient_device, ..
                })
                | Some(EventKind::Acknowledged {
                    recipient_device, ..
                })
                | Some(EventKind::Dropped {
                    recipient_device, ..
                }) => *recipient_device == d,
                Some(EventKind::Declared { by_device, .. }) => *by_device == d || by_device == s,
            }
        };
        let events: Vec<IndexedEvent> = decoded
            .into_iter()
            .filter(|(_, _, kind)| sees(kind))
            .map(|(index, event, _)| IndexedEvent { index, event })
            .collect();
        if !involved {
            return Err(err(
                ErrorCode::Forbidden,
                "only the sender and the recipients of a message may read its events",
            ));
        }
        #[cfg(feature = "test-hooks")]
        let events = {
            let mut events = events;
            if let Some(d) = device {
                self.hooks.omit_events(&d, &mut events);
            }
            events
        };
        Ok(Response::MessageEvents { events })
    }

    /// Sign a checkpoint of every log that grew since its last one.
    pub async fn sign_checkpoints(&self) {
        for log in LogId::ALL {
            let cp = self.checkpointer.clone();
            let store = self.store.clone();
            match tokio::task::spawn_blocking(move || cp.sign_if_grown(store.as_ref(), log)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(log = log.name(), error = %e, "checkpoint not signed");
                    self.health.check(&e);
                }
                Err(_) => tracing::error!(log = log.name(), "checkpoint task failed"),
            }
        }
    }

    pub async fn last_seq(&self, device: PublicKey) -> Result<u64, WireError> {
        self.blocking(move |s| s.last_seq(&device)).await
    }

    /// Queued entries of `device` after `after` (for subscribers catching up).
    pub async fn fetch(
        &self,
        device: PublicKey,
        after: u64,
    ) -> Result<(Vec<Queued>, bool), WireError> {
        let limit = self.limits.fetch_batch as usize;
        let max_bytes = self.limits.max_frame;
        self.blocking(move |s| s.fetch(&device, after, limit, max_bytes))
            .await
    }
}

#[cfg(test)]
mod replay_tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use liaison_protocol::directory::RecordFormat;
    use liaison_protocol::{CountryCode, DirectoryId, Timestamp};

    use super::*;
    use crate::test_support::{key, record, temp_store};

    fn cert(country: &str, k: &liaison_protocol::SecretKey) -> AuthorityCertificate {
        AuthorityCertificate {
            country: CountryCode::parse(country).unwrap(),
            name: format!("{country} authority"),
            key: k.public_key(),
            serial: 1,
            not_before: Timestamp(0),
            not_after: Timestamp(u64::MAX),
            revoked: false,
        }
    }

    fn legacy(mut r: FocalPointRecord) -> FocalPointRecord {
        r.format = RecordFormat::Legacy;
        r.device_proofs = vec![None; r.devices.len()];
        r
    }

    fn state_at(store: &dyn Store, root: &PublicKey, now: u64) -> DirectoryState {
        let (log, revoked_devices, _) = replay_directory_log(store, root).unwrap();
        let (directory, _) = log.directory(Timestamp(now));
        DirectoryState {
            directory,
            log,
            authorities: Vec::new(),
            records: Vec::new(),
            roles: Vec::new(),
            revoked_devices,
        }
    }

    /// Expiry and a revoked authority key keep a queue for the grace
    /// period; a revoked record or a removed device lose it at once.
    #[test]
    fn only_an_explicit_revocation_drops_a_queue_at_once() {
        let (_dir, store) = temp_store();
        let (root, th, ph) = (key(1), key(2), key(3));
        for (c, k) in [("TH", &th), ("PH", &ph)] {
            let c = cert(c, k);
            store.put_authority(&c, &Signed::sign(&c, &root)).unwrap();
        }
        let put = |r: &FocalPointRecord, by: &liaison_protocol::SecretKey| {
            store.put_record(r, &Signed::sign(r, by), &[], 10).unwrap();
        };
        // Alice's record expires at 1000; its second version drops device 12.
        let mut alice = record("th.dsi.alice", 1, &key(10), &[&key(11), &key(12)]);
        alice.not_after = Timestamp(1000);
        put(&alice, &th);
        let mut alice2 = record("th.dsi.alice", 2, &key(10), &[&key(11)]);
        alice2.not_after = Timestamp(1000);
        put(&alice2, &th);
        // Carol is revoked.
        let carol = record("th.dsi.carol", 1, &key(30), &[&key(31)]);
        put(&carol, &th);
        let mut carol2 = record("th.dsi.carol", 2, &key(30), &[&key(31)]);
        carol2.status = RecordStatus::Revoked {
            reason: "left the unit".into(),
        };
        put(&carol2, &th);
        // Bob's authority key is revoked by the root after signing him.
        put(&record("ph.pnp.bob", 1, &key(20), &[&key(21)]), &ph);
        let mut revocation = cert("PH", &ph);
        revocation.serial = 2;
        revocation.revoked = true;
        store
            .put_authority(&revocation, &Signed::sign(&revocation, &root))
            .unwrap();

        let d = |n: u8| key(n).public_key();
        let state = state_at(&store, &root.public_key(), 2000);
        assert_eq!(
            state.standing(&d(11)),
            Standing::Lapsed(Some(DirectoryId::parse("th.dsi.alice").unwrap()))
        );
        assert_eq!(
            state.standing(&d(21)),
            Standing::Lapsed(Some(DirectoryId::parse("ph.pnp.bob").unwrap()))
        );
        assert_eq!(state.standing(&d(12)), Standing::Revoked);
        assert_eq!(state.standing(&d(31)), Standing::Revoked);
        assert_eq!(state.standing(&d(99)), Standing::Lapsed(None));

        let limits = Limits::default();
        let grace = limits.lapsed_queue_grace_ms();
        let queued: BTreeSet<PublicKey> = [11, 12, 21, 31, 99].map(d).into_iter().collect();
        let set = |keys: &[u8]| -> BTreeSet<PublicKey> { keys.iter().map(|n| d(*n)).collect() };
        let revoked = |drop: &[(PublicKey, String)]| -> BTreeSet<PublicKey> {
            drop.iter()
                .filter(|(_, why)| why == "revoked by its authority")
                .map(|(k, _)| *k)
                .collect()
        };

        // First seen lapsed: noted, kept. Revoked: dropped.
        let first = decide_queues(&state, &queued, &Default::default(), 2000, &limits);
        assert!(first.lapsed.iter().all(|(_, since)| *since == 2000));
        let noted_now: BTreeSet<PublicKey> = first.lapsed.iter().map(|(k, _)| *k).collect();
        assert_eq!(noted_now, set(&[11, 21, 99]));
        assert_eq!(revoked(&first.drop), set(&[12, 31]));
        assert_eq!(first.drop.len(), 2);
        assert!(first.restored.is_empty());

        // Within the grace period nothing more happens; a lapse noted for a
        // device without a queue is forgotten.
        let mut noted: std::collections::BTreeMap<PublicKey, u64> =
            first.lapsed.iter().copied().collect();
        noted.insert(d(50), 2000);
        let within = decide_queues(&state, &queued, &noted, 2000 + grace - 1, &limits);
        assert!(within.lapsed.is_empty());
        assert_eq!(within.drop.len(), 2);
        assert_eq!(within.restored, vec![d(50)]);

        // After it, the lapsed queues go too, with the reason.
        let after = decide_queues(&state, &queued, &noted, 2000 + grace, &limits);
        let lapsed: Vec<&(PublicKey, String)> = after
            .drop
            .iter()
            .filter(|(_, why)| why == "lapsed for more than 30 days")
            .collect();
        assert_eq!(lapsed.len(), 3, "{:?}", after.drop);

        // Back in force (before Alice's expiry): the lapse is forgotten and
        // the queue kept.
        let earlier = state_at(&store, &root.public_key(), 500);
        assert_eq!(earlier.standing(&d(11)), Standing::InForce);
        let back = decide_queues(&earlier, &queued, &noted, 500, &limits);
        assert!(back.restored.contains(&d(11)));
        assert!(!back.drop.iter().any(|(k, _)| *k == d(11)));
    }

    /// A store as the previous release wrote it: format 1 records, and a PH
    /// record listing a Thai officer's device stored after hers (that
    /// release checked only signing keys, and only against records in force
    /// at the time). Replayed in log order, the Thai record keeps the device
    /// although "ph" sorts before "th"; the PH record is refused and named.
    #[test]
    fn a_previous_release_store_replays_in_log_order() {
        let (_dir, store) = temp_store();
        let (root, th, ph) = (key(1), key(2), key(3));
        for (c, k) in [("TH", &th), ("PH", &ph)] {
            let c = cert(c, k);
            store.put_authority(&c, &Signed::sign(&c, &root)).unwrap();
        }
        let alice = legacy(record("th.dsi.alice", 1, &key(10), &[&key(11)]));
        let squat = legacy(record("ph.pnp.mallory", 1, &key(20), &[&key(11)]));
        for (r, by) in [(&alice, &th), (&squat, &ph)] {
            let signed = Signed::sign(r, by);
            assert_ne!(signed.body_bytes().first(), Some(&0), "format 1 body");
            store.put_record(r, &signed, &[], 10).unwrap();
        }
        let (log, _, refused) = replay_directory_log(&store, &root.public_key()).unwrap();
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].subject, "ph.pnp.mallory");
        assert!(matches!(refused[0].error, Refusal::DeviceTaken { .. }));
        let (dir, _) = log.directory(Timestamp(10));
        assert_eq!(
            dir.device_owner(&key(11).public_key())
                .map(|r| r.id.as_str()),
            Some("th.dsi.alice")
        );
        // The legacy record is in force, and served (only it).
        let served: Vec<DirectoryId> = log
            .signed_records()
            .iter()
            .map(|s| s.decode_unverified().unwrap().id)
            .collect();
        assert_eq!(served, vec![DirectoryId::parse("th.dsi.alice").unwrap()]);
    }
}
