//! The keys an auditor pins, from the bundle and the command line.

use std::collections::BTreeMap;

use liaison_protocol::PublicKey;
use liaison_protocol::bundle::{Bundle, BundleError};
use liaison_protocol::evidence::Pins;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::{CheckpointError, LogPolicy, NoteError, NoteVerifier, key_label};

/// Why the keys to pin are unusable: bad input, nothing was verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The bundle's key of a log does not parse.
    #[error("the bundle has no usable {} log key: {error}", log.name())]
    BundleLogKey {
        /// The log.
        log: LogId,
        /// What the key parser said.
        error: NoteError,
    },
    /// A witness key of the bundle does not parse.
    #[error("bundle witness key {key:?}: {error}")]
    BundleWitnessKey {
        /// The key as written.
        key: String,
        /// What the key parser said.
        error: NoteError,
    },
    /// Another bundle field (quorum, root key) is invalid.
    #[error("bundle: {0}")]
    Bundle(BundleError),
    /// A `--log-key` does not parse.
    #[error("--log-key {key:?} is not a C2SP verifier key: {error}")]
    LogKey {
        /// The key as given.
        key: String,
        /// What the key parser said.
        error: NoteError,
    },
    /// A `--log-key` names neither log.
    #[error(
        "--log-key {name}: cannot tell which log it belongs to (its name must end in /directory \
         or /events)"
    )]
    UnknownLog {
        /// The key's name.
        name: String,
    },
    /// A `--witness` key does not parse.
    #[error("--witness {key:?} is not a C2SP verifier key: {error}")]
    WitnessKey {
        /// The key as given.
        key: String,
        /// What the key parser said.
        error: NoteError,
    },
    /// The keys make no usable policy (such as a quorum above the number of
    /// witnesses).
    #[error("{} log: {error}", log.name())]
    Policy {
        /// The log.
        log: LogId,
        /// Why the policy is unusable.
        error: CheckpointError,
    },
    /// Neither the bundle nor the flags give a log key.
    #[error("no log key is pinned: pass --bundle B or --log-key VKEY")]
    NothingPinned,
    /// `--root-key` is not a public key.
    #[error("--root-key: expected 64 hex digits")]
    RootKey,
    /// Verifying evidence needs the network root, and none is pinned.
    #[error("no network root key is pinned: pass --root-key HEX or --bundle B")]
    NoRoot,
    /// Verifying evidence needs both logs' keys, and this one is not pinned.
    #[error("no {} log key is pinned: pass --log-key or --bundle", log.name())]
    NoLogKey {
        /// The log.
        log: LogId,
    },
}

/// The keys an auditor pins: one policy per log (log key, witnesses,
/// quorum) and optionally the network root, to check the directory chain.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    policies: BTreeMap<LogId, LogPolicy>,
    root: Option<PublicKey>,
}

/// The log a verifier key belongs to, from its name (`<network>/<log>`).
pub fn log_of_key_name(name: &str) -> Option<LogId> {
    name.rsplit('/').next().and_then(LogId::parse)
}

/// The bundle's verifier key of `log`, parsed.
pub(crate) fn bundle_log_key(bundle: &Bundle, log: LogId) -> Result<NoteVerifier, TrustError> {
    let key = match log {
        LogId::Directory => &bundle.directory_log_key,
        LogId::Events => &bundle.event_log_key,
    };
    NoteVerifier::from_vkey(key.trim()).map_err(|error| TrustError::BundleLogKey { log, error })
}

/// The bundle's witness keys, parsed.
pub(crate) fn bundle_witnesses(bundle: &Bundle) -> Result<Vec<NoteVerifier>, TrustError> {
    bundle
        .witness_keys
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            NoteVerifier::from_vkey(w).map_err(|error| TrustError::BundleWitnessKey {
                key: w.to_owned(),
                error,
            })
        })
        .collect()
}

impl Trust {
    /// Pin `policy` for `log`.
    pub fn with_policy(mut self, log: LogId, policy: LogPolicy) -> Self {
        self.policies.insert(log, policy);
        self
    }

    /// Pin the network root, so directory records are chained to it.
    pub fn with_root(mut self, root: PublicKey) -> Self {
        self.root = Some(root);
        self
    }

    /// Build from command-line material. Flags override the bundle:
    /// `log_keys` replace the bundle's key of the log their name ends with;
    /// `witness_keys` replace the bundle's witnesses; `quorum` defaults to 1
    /// when witnesses are given on the command line, else to the bundle's.
    pub fn from_args(
        bundle: Option<&Bundle>,
        log_keys: &[String],
        witness_keys: &[String],
        quorum: Option<usize>,
        root_key: Option<&str>,
    ) -> Result<Trust, TrustError> {
        let mut keys: BTreeMap<LogId, NoteVerifier> = BTreeMap::new();
        if let Some(b) = bundle {
            for log in LogId::ALL {
                let listed = match log {
                    LogId::Directory => &b.directory_log_key,
                    LogId::Events => &b.event_log_key,
                };
                if !listed.trim().is_empty() {
                    keys.insert(log, bundle_log_key(b, log)?);
                }
            }
        }
        for k in log_keys {
            let v = NoteVerifier::from_vkey(k.trim()).map_err(|error| TrustError::LogKey {
                key: k.clone(),
                error,
            })?;
            let log = log_of_key_name(v.name()).ok_or_else(|| TrustError::UnknownLog {
                name: v.name().to_owned(),
            })?;
            keys.insert(log, v);
        }
        let witnesses = if !witness_keys.is_empty() {
            witness_keys
                .iter()
                .map(|w| {
                    NoteVerifier::from_vkey(w.trim()).map_err(|error| TrustError::WitnessKey {
                        key: w.clone(),
                        error,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        } else if let Some(b) = bundle {
            bundle_witnesses(b)?
        } else {
            Vec::new()
        };
        let quorum = match quorum {
            Some(q) => q,
            None if !witness_keys.is_empty() => 1,
            None => match bundle {
                Some(b) => b.quorum().map_err(TrustError::Bundle)?,
                None => 0,
            },
        };
        let mut trust = Trust::default();
        for (log, v) in keys {
            let policy = LogPolicy::with_witnesses(v, witnesses.clone(), quorum)
                .map_err(|error| TrustError::Policy { log, error })?;
            trust.policies.insert(log, policy);
        }
        if trust.policies.is_empty() {
            return Err(TrustError::NothingPinned);
        }
        trust.root = match (root_key, bundle) {
            (Some(r), _) => Some(PublicKey::from_hex(r).ok_or(TrustError::RootKey)?),
            (None, Some(b)) => Some(b.root().map_err(TrustError::Bundle)?),
            (None, None) => None,
        };
        Ok(trust)
    }

    /// The policy pinned for `log`.
    pub fn policy(&self, log: LogId) -> Option<&LogPolicy> {
        self.policies.get(&log)
    }

    /// The pinned network root.
    pub fn root(&self) -> Option<&PublicKey> {
        self.root.as_ref()
    }

    /// The log whose pinned key is named `origin`.
    pub fn policy_for_origin(&self, origin: &str) -> Option<(LogId, &LogPolicy)> {
        self.policies
            .iter()
            .find(|(_, p)| p.log().name() == origin)
            .map(|(l, p)| (*l, p))
    }

    /// What verifying a judicial evidence bundle pins: the root and both
    /// logs' keys, all required.
    pub fn evidence_pins(&self) -> Result<Pins, TrustError> {
        let policy = |log| {
            self.policy(log)
                .cloned()
                .ok_or(TrustError::NoLogKey { log })
        };
        Ok(Pins {
            root: *self.root().ok_or(TrustError::NoRoot)?,
            directory_log: policy(LogId::Directory)?,
            event_log: policy(LogId::Events)?,
        })
    }

    /// The pinned log keys, for messages.
    pub(crate) fn describe(&self) -> String {
        self.policies
            .values()
            .map(|p| key_label(p.log()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
