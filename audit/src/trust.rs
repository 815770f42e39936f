//! Pinned keys.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use liaison_protocol::PublicKey;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::{LogPolicy, NoteVerifier};

use liaison_protocol::log::key_label;

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

pub(crate) fn bundle_log_key(bundle: &Bundle, log: LogId) -> &str {
    match log {
        LogId::Directory => &bundle.directory_log_key,
        LogId::Events => &bundle.event_log_key,
    }
}

pub(crate) fn bundle_witnesses(bundle: &Bundle) -> Result<Vec<NoteVerifier>> {
    bundle
        .witness_keys
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| NoteVerifier::from_vkey(w).map_err(|e| anyhow!("bundle witness key {w:?}: {e}")))
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
    ) -> Result<Trust> {
        let mut keys: BTreeMap<LogId, NoteVerifier> = BTreeMap::new();
        if let Some(b) = bundle {
            for log in LogId::ALL {
                let k = bundle_log_key(b, log);
                if !k.trim().is_empty() {
                    let v = NoteVerifier::from_vkey(k.trim())
                        .map_err(|e| anyhow!("the bundle's {} log key: {e}", log.name()))?;
                    keys.insert(log, v);
                }
            }
        }
        for k in log_keys {
            let v = NoteVerifier::from_vkey(k.trim())
                .map_err(|e| anyhow!("--log-key {k:?} is not a C2SP verifier key: {e}"))?;
            let log = log_of_key_name(v.name()).ok_or_else(|| {
                anyhow!(
                    "--log-key {}: cannot tell which log it belongs to (its name must end in \
                     /directory or /events)",
                    v.name()
                )
            })?;
            keys.insert(log, v);
        }
        let witnesses = if !witness_keys.is_empty() {
            witness_keys
                .iter()
                .map(|w| {
                    NoteVerifier::from_vkey(w.trim())
                        .map_err(|e| anyhow!("--witness {w:?} is not a C2SP verifier key: {e}"))
                })
                .collect::<Result<Vec<_>>>()?
        } else if let Some(b) = bundle {
            bundle_witnesses(b)?
        } else {
            Vec::new()
        };
        let quorum = match quorum {
            Some(q) => q,
            None if !witness_keys.is_empty() => 1,
            None => match bundle {
                Some(b) => b.quorum().map_err(|e| anyhow!("bundle: {e}"))?,
                None => 0,
            },
        };
        let mut trust = Trust::default();
        for (log, v) in keys {
            let policy = LogPolicy::with_witnesses(v, witnesses.clone(), quorum)
                .map_err(|e| anyhow!("{} log: {e}", log.name()))?;
            trust.policies.insert(log, policy);
        }
        if trust.policies.is_empty() {
            bail!("no log key is pinned: pass --bundle B or --log-key VKEY");
        }
        trust.root = match (root_key, bundle) {
            (Some(r), _) => Some(
                PublicKey::from_hex(r)
                    .ok_or_else(|| anyhow!("--root-key: expected 64 hex digits"))?,
            ),
            (None, Some(b)) => Some(b.root().map_err(|e| anyhow!("bundle: {e}"))?),
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

    pub(crate) fn describe(&self) -> String {
        self.policies
            .values()
            .map(|p| key_label(p.log()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
