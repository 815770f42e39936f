//! Signing checkpoints of the relay's logs and collecting witness
//! cosignatures (C2SP tlog-checkpoint, signed-note, tlog-cosignature).
//!
//! The relay signs a new checkpoint when a log grew, at most every
//! `checkpoint_interval_ms`, and of the directory log also right after each
//! append (directory changes are rare, and a client uses a record only once
//! a checkpoint it verified covers it). Before signing it proves to itself that the new
//! tree is consistent with the last checkpoint it signed (RFC 9162 §2.1.4),
//! and refuses to sign otherwise: whatever happens to its store, this relay
//! never signs two inconsistent checkpoints.

use std::path::{Path, PathBuf};

use liaison_protocol::frames::LogId;
use liaison_protocol::log::{
    Checkpoint, CheckpointError, LogPolicy, Note, NoteError, NoteSigner, NoteVerifier,
    SignatureType, open_checkpoint, verify_consistency,
};
use serde::Deserialize;

use crate::setting::InvalidSetting;
use crate::store::{Store, StoreError};

/// `[logs]` in the relay configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Prefix of the two log origins (`NAME/directory`, `NAME/events`),
    /// which are also the log keys' names. Default `liaison.relay`.
    pub name: String,
    /// Least time between two checkpoints of a growing log. Default 1000 ms.
    pub checkpoint_interval_ms: u64,
    /// C2SP cosignature verifier keys of witnesses whose cosignatures the
    /// relay accepts and serves.
    pub witnesses: Vec<String>,
    /// Hex Ed25519 keys of auditors, who may read full event records.
    pub auditors: Vec<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            name: "liaison.relay".into(),
            checkpoint_interval_ms: 1000,
            witnesses: Vec::new(),
            auditors: Vec::new(),
        }
    }
}

impl LogConfig {
    /// Check every value.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let origin = format!("{}/directory", self.name);
        if !liaison_protocol::log::note::is_valid_key_name(&origin) {
            return Err(InvalidSetting::new(
                "logs.name",
                "must be a valid C2SP key name (no spaces or '+')",
            ));
        }
        if !(100..=60_000).contains(&self.checkpoint_interval_ms) {
            return Err(InvalidSetting::new(
                "logs.checkpoint_interval_ms",
                "must be between 100 and 60000",
            ));
        }
        self.witness_verifiers()?;
        self.auditor_keys()?;
        Ok(())
    }

    /// Parsed witness keys.
    pub fn witness_verifiers(&self) -> Result<Vec<NoteVerifier>, InvalidSetting> {
        self.witnesses
            .iter()
            .map(|w| match NoteVerifier::from_vkey(w) {
                Ok(v) if v.signature_type() == SignatureType::CosignatureV1 => Ok(v),
                _ => Err(InvalidSetting::new(
                    "logs.witnesses",
                    format!("{w:?} is not a C2SP cosignature/v1 verifier key"),
                )),
            })
            .collect()
    }

    /// Parsed auditor keys.
    pub fn auditor_keys(&self) -> Result<Vec<liaison_protocol::PublicKey>, InvalidSetting> {
        self.auditors
            .iter()
            .map(|a| {
                liaison_protocol::PublicKey::from_hex(a).ok_or_else(|| {
                    InvalidSetting::new("logs.auditors", format!("{a:?} is not 64 hex digits"))
                })
            })
            .collect()
    }

    /// The origin (and key name) of `log`.
    pub fn origin(&self, log: LogId) -> String {
        format!("{}/{}", self.name, log.name())
    }
}

/// File holding a log's signing key inside the data directory.
pub fn key_path(data_dir: &Path, log: LogId) -> PathBuf {
    data_dir.join(format!("log-{}.key", log.name()))
}

/// Why the log signing keys could not be loaded or generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogKeyError {
    /// A key file could not be read or created.
    #[error("{what} {}", path.display())]
    Io {
        /// `reading` or `creating`.
        what: &'static str,
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file does not hold a C2SP signed-note signer key.
    #[error("{}: not a signed-note signer key", path.display())]
    NotASignerKey {
        /// The key file.
        path: PathBuf,
        /// Why it does not parse.
        source: NoteError,
    },
    /// A key file holds the key of another log (another `logs.name`).
    #[error(
        "{} is the key of log {found:?}, but this relay's logs.name makes the origin {origin:?}",
        path.display()
    )]
    WrongLog {
        /// The key file.
        path: PathBuf,
        /// The log name the key is for.
        found: String,
        /// The origin this relay's configuration gives the log.
        origin: String,
    },
    /// The operating system gave no randomness for a new key.
    #[error("OS random generator failed")]
    Random(#[source] getrandom::Error),
    /// A new key could not be made for the log's origin (the configuration
    /// validates `logs.name`, so this is not expected).
    #[error("generating the key of log {origin:?}")]
    Generate {
        /// The log's origin.
        origin: String,
        /// Why.
        source: NoteError,
    },
}

/// Load the log signing keys, generating them on first start.
pub fn load_or_generate_keys(data_dir: &Path, config: &LogConfig) -> Result<LogKeys, LogKeyError> {
    let load = |log: LogId| -> Result<NoteSigner, LogKeyError> {
        let path = key_path(data_dir, log);
        let origin = config.origin(log);
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|source| LogKeyError::Io {
                what: "reading",
                path: path.clone(),
                source,
            })?;
            let s = NoteSigner::from_skey(text.trim()).map_err(|source| {
                LogKeyError::NotASignerKey {
                    path: path.clone(),
                    source,
                }
            })?;
            if s.name() != origin {
                return Err(LogKeyError::WrongLog {
                    path,
                    found: s.name().to_owned(),
                    origin,
                });
            }
            Ok(s)
        } else {
            let mut seed = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(seed.as_mut()).map_err(LogKeyError::Random)?;
            let s = NoteSigner::from_seed(&origin, &seed)
                .map_err(|source| LogKeyError::Generate { origin, source })?;
            let text = zeroize::Zeroizing::new(format!("{}\n", s.to_skey().as_str()));
            crate::datadir::write_new_file(&path, text.as_bytes(), true).map_err(|source| {
                LogKeyError::Io {
                    what: "creating",
                    path,
                    source,
                }
            })?;
            Ok(s)
        }
    };
    Ok(LogKeys {
        directory: load(LogId::Directory)?,
        events: load(LogId::Events)?,
    })
}

/// The two log signing keys.
pub struct LogKeys {
    directory: NoteSigner,
    events: NoteSigner,
}

impl std::fmt::Debug for LogKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKeys")
            .field("directory", &self.directory.verifier().to_vkey())
            .field("events", &self.events.verifier().to_vkey())
            .finish()
    }
}

impl LogKeys {
    /// The signer of `log`.
    pub fn signer(&self, log: LogId) -> &NoteSigner {
        match log {
            LogId::Directory => &self.directory,
            LogId::Events => &self.events,
        }
    }

    /// The verifier key string of `log`, for bundles.
    pub fn vkey(&self, log: LogId) -> String {
        self.signer(log).verifier().to_vkey()
    }
}

/// Why a cosignature was refused. Every variant but [`CosignError::Store`]
/// is the submitter's doing (a witness, or someone posing as one) and is
/// answered with `InvalidSignature`; `Store` is the relay's own failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// This relay trusts no witness, so it accepts no cosignature.
    #[error("this relay trusts no witness (logs.witnesses is empty)")]
    NoWitnesses,
    /// The note does not open as a checkpoint of this log cosigned by a
    /// trusted witness (log signature, cosignature, syntax).
    #[error(transparent)]
    Unverified(CheckpointError),
    /// The submitted note does not parse, or merging its cosignatures makes
    /// a note that cannot be encoded.
    #[error(transparent)]
    Note(NoteError),
    /// The checkpoint is not one this relay signed.
    #[error("the relay never signed a checkpoint of size {0} with this root")]
    Unknown(u64),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checkpoint signing and cosignature collection for both logs.
pub struct Checkpointer {
    keys: LogKeys,
    witnesses: Vec<NoteVerifier>,
    /// Held while signing: the periodic signer and a directory append sign
    /// one after the other, never from the same head at once.
    signing: std::sync::Mutex<()>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// How many of the stored checkpoints are searched for cosignatures.
const COSIGNED_SEARCH: usize = 64;

impl Checkpointer {
    /// Build from keys and trusted witnesses.
    pub fn new(keys: LogKeys, witnesses: Vec<NoteVerifier>) -> Self {
        Checkpointer {
            keys,
            witnesses,
            signing: std::sync::Mutex::new(()),
        }
    }

    /// The keys.
    pub fn keys(&self) -> &LogKeys {
        &self.keys
    }

    fn policy(&self, log: LogId, min: usize) -> Option<LogPolicy> {
        LogPolicy::with_witnesses(
            self.keys.signer(log).verifier(),
            self.witnesses.clone(),
            min,
        )
        .ok()
    }

    /// Sign a checkpoint of `log` if it grew since the last one (or none was
    /// signed yet). Blocking (store I/O). Returns the new size when signed.
    pub fn sign_if_grown(&self, store: &dyn Store, log: LogId) -> Result<Option<u64>, StoreError> {
        let _signing = self.signing.lock().unwrap_or_else(|e| e.into_inner());
        let (size, root) = store.log_head(log)?;
        let last = store.recent_checkpoints(log, 1)?.into_iter().next();
        let previous = match &last {
            Some((last_size, note)) => {
                if *last_size >= size {
                    return Ok(None);
                }
                let cp = Note::parse(note.as_bytes())
                    .ok()
                    .and_then(|n| Checkpoint::from_text(n.text()).ok())
                    .ok_or(StoreError::Corrupt("stored checkpoint"))?;
                Some(cp)
            }
            None => None,
        };
        if let Some(prev) = previous {
            let proof = store
                .consistency_proof(log, prev.size(), size)?
                .ok_or(StoreError::Corrupt("log shrank below its last checkpoint"))?;
            let consistent = prev.size() == 0
                || verify_consistency(prev.size(), size, &proof, prev.root(), &root).is_ok();
            if !consistent {
                tracing::error!(
                    log = log.name(),
                    old = prev.size(),
                    new = size,
                    "log is inconsistent with its last checkpoint; refusing to sign"
                );
                return Err(StoreError::Corrupt(
                    "log inconsistent with its last signed checkpoint",
                ));
            }
        }
        let cp = Checkpoint::new(self.keys.signer(log).name(), size, root)
            .map_err(|_| StoreError::Corrupt("checkpoint"))?;
        let note = cp
            .sign(self.keys.signer(log))
            .and_then(|n| n.encode().map_err(Into::into))
            .map_err(|_| StoreError::Corrupt("checkpoint signing"))?;
        store.put_checkpoint(log, size, &note)?;
        tracing::debug!(log = log.name(), size, "checkpoint signed");
        Ok(Some(size))
    }

    /// The newest checkpoint with at least `min_cosignatures` witness
    /// cosignatures.
    pub fn latest(
        &self,
        store: &dyn Store,
        log: LogId,
        min_cosignatures: usize,
    ) -> Result<Option<String>, StoreError> {
        if min_cosignatures == 0 {
            return Ok(store
                .recent_checkpoints(log, 1)?
                .into_iter()
                .next()
                .map(|(_, n)| n));
        }
        let recent = store.recent_cosigned(log, COSIGNED_SEARCH)?;
        let Some(policy) = self.policy(log, min_cosignatures) else {
            return Ok(None);
        };
        Ok(recent
            .into_iter()
            .map(|(_, n)| n)
            .find(|n| policy.open(n.as_bytes()).is_ok()))
    }

    /// Merge a witness cosignature into the stored checkpoint it covers.
    pub fn add_cosignature(
        &self,
        store: &dyn Store,
        log: LogId,
        note: &str,
    ) -> Result<(), CosignError> {
        let policy = self.policy(log, 1).ok_or(CosignError::NoWitnesses)?;
        let signed = open_checkpoint(note.as_bytes(), &policy).map_err(CosignError::Unverified)?;
        let cp = signed.checkpoint();
        let stored = store
            .checkpoint_at(log, cp.size())?
            .ok_or(CosignError::Unknown(cp.size()))?;
        // What the relay stored itself: a failure to parse it is corruption.
        let mut merged =
            Note::parse(stored.as_bytes()).map_err(|_| StoreError::Corrupt("stored checkpoint"))?;
        if Checkpoint::from_text(merged.text()).ok().as_ref() != Some(cp) {
            return Err(CosignError::Unknown(cp.size()));
        }
        let incoming = Note::parse(note.as_bytes()).map_err(CosignError::Note)?;
        for sig in incoming.signatures() {
            if self
                .witnesses
                .iter()
                .any(|w| w.name() == sig.name() && w.key_id() == sig.key_id())
            {
                merged
                    .add_signature(sig.clone())
                    .map_err(CosignError::Note)?;
            }
        }
        let text = merged.encode().map_err(CosignError::Note)?;
        store.put_cosigned(log, cp.size(), &text)?;
        Ok(())
    }

    /// A checkpoint over a different tree of the same size, signed with the
    /// real log key: only for the fork-detection tests (feature
    /// `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn forged(&self, store: &dyn Store, log: LogId) -> Result<Option<String>, StoreError> {
        use liaison_protocol::log::{leaf_hash, node_hash};
        let Some(real) = self.latest(store, log, 0)? else {
            return Ok(None);
        };
        let cp = Note::parse(real.as_bytes())
            .ok()
            .and_then(|n| Checkpoint::from_text(n.text()).ok())
            .ok_or(StoreError::Corrupt("stored checkpoint"))?;
        // Same size, another root (or, for an empty log, one invented leaf).
        let fake = if cp.size() == 0 {
            Checkpoint::new(cp.origin(), 1, leaf_hash(b"forked history"))
        } else {
            Checkpoint::new(
                cp.origin(),
                cp.size(),
                node_hash(cp.root(), &leaf_hash(b"forked history")),
            )
        }
        .map_err(|_| StoreError::Corrupt("checkpoint"))?;
        let note = fake
            .sign(self.keys.signer(log))
            .and_then(|n| n.encode().map_err(Into::into))
            .map_err(|_| StoreError::Corrupt("checkpoint signing"))?;
        Ok(Some(note))
    }
}
