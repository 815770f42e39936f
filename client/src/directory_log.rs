//! The client's copy of the relay's directory log, kept in the home, and
//! the evidence kept when the relay serves directory records its signed log
//! does not hold. The rules are in [`crate::core::directory`].
//!
//! In the home (format 2, new keys beside the old ones): `directory-log`
//! holds the size applied and the right edge of its Merkle tree, and
//! `directory-log-entry-N` each applied entry as served, so the directory
//! is rebuilt from them when the home opens. A home of the previous release
//! has neither; its directory is built from the whole log on its first
//! sync.

use std::path::{Path, PathBuf};

use liaison_protocol::codec::encode_versioned;
use liaison_protocol::directory::FocalPointRecord;
use liaison_protocol::log::{CompactRange, Hash};
use liaison_protocol::{PublicKey, Signed, Timestamp};
use serde::{Deserialize, Serialize};

use crate::core::directory::{BatchError, DirectoryLog, Served};
use crate::home::{Home, HomeError, HomeTxn};

const META: &str = "directory-log";

fn entry_key(index: u64) -> String {
    format!("directory-log-entry-{index}")
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    size: u64,
    range: Vec<[u8; 32]>,
}

/// What the home holds of the directory log.
#[derive(Debug)]
pub enum Loaded {
    /// Nothing yet (a new home, or one of the previous release).
    Nothing,
    /// The log as applied.
    Log(Box<DirectoryLog>),
    /// What is stored does not fit together; the next sync starts over.
    Damaged,
}

/// Read the directory log kept in `home`.
pub fn load(home: &Home, root: PublicKey) -> Result<Loaded, HomeError> {
    let Some(meta) = home.get_secret::<Stored>(META)? else {
        return Ok(Loaded::Nothing);
    };
    let Ok(range) = CompactRange::from_parts(meta.size, meta.range.into_iter().map(Hash).collect())
    else {
        return Ok(Loaded::Damaged);
    };
    let mut entries = Vec::new();
    for index in 0..meta.size {
        match home.get_secret::<Vec<u8>>(&entry_key(index))? {
            Some(e) => entries.push(e),
            None => return Ok(Loaded::Damaged),
        }
    }
    Ok(match DirectoryLog::restore(root, &entries, &range) {
        Ok(log) => Loaded::Log(Box::new(log)),
        Err(_) => Loaded::Damaged,
    })
}

/// Store `entries` (the batch just applied, from index `start`) and the new
/// edge of `log`, in the caller's transaction.
pub fn store(
    w: &mut HomeTxn<'_>,
    log: &DirectoryLog,
    start: u64,
    entries: &[Vec<u8>],
) -> Result<(), HomeError> {
    for (i, e) in entries.iter().enumerate() {
        w.put_secret(&entry_key(start + i as u64), e)?;
    }
    w.put_secret(
        META,
        &Stored {
            size: log.size(),
            range: log.range().hashes().iter().map(|h| h.0).collect(),
        },
    )
}

/// Write what the relay served against its own signed log to
/// `home/evidence/`: what happened, the record served, the version in force
/// in the log, and the verified checkpoint. The same record served again
/// finds the file already there. Returns the file, or why it could not be
/// written.
pub fn save_evidence(
    home: &Path,
    served: &Served,
    record: Option<&Signed<FocalPointRecord>>,
    in_log: Option<&Signed<FocalPointRecord>>,
    checkpoint: Option<&str>,
    at: Timestamp,
) -> Result<PathBuf, String> {
    let dir = home.join("evidence");
    let hex = |r: &Signed<FocalPointRecord>| hex::encode(encode_versioned(r));
    let served_hex = record.map(hex);
    // Named after what was served, so a relay that keeps serving it does
    // not fill the folder.
    let tag = liaison_protocol::log::leaf_hash(
        format!(
            "{}{}",
            served.describe(),
            served_hex.as_deref().unwrap_or("")
        )
        .as_bytes(),
    )
    .to_hex();
    let name = format!(
        "directory-{}-{}-{}.txt",
        served.kind(),
        served.id().replace(['/', '\\'], "_"),
        tag.get(..16).unwrap_or(&tag)
    );
    let path = dir.join(name);
    if path.exists() {
        return Ok(path);
    }
    let text = format!(
        "Liaison directory discrepancy\nwhat: {}\nfirst seen (ms since the Unix epoch): {}\n\n\
         --- record the relay served (versioned encoding, hex) ---\n{}\n\
         --- version in force in the relay's signed directory log (hex) ---\n{}\n\
         --- the relay's signed directory checkpoint this client verified ---\n{}\n",
        served.describe(),
        at.0,
        served_hex.as_deref().unwrap_or("(none)"),
        in_log.map(hex).as_deref().unwrap_or("(none)"),
        checkpoint.unwrap_or("(none)"),
    );
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// The relay served directory log entries that do not match the checkpoint
/// it signed: none of them is used, and the signed checkpoint and the
/// entries are kept as evidence.
#[derive(Debug, Clone)]
pub struct DirectoryLogMismatch {
    /// What does not match.
    pub error: BatchError,
    /// The evidence file (the checkpoint's signed note is kept beside it,
    /// with the extension `.note`), or why it could not be written.
    pub evidence: Result<PathBuf, String>,
    /// The signed checkpoint the entries were checked against.
    pub checkpoint: String,
}

impl std::fmt::Display for DirectoryLogMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RELAY LOG INCONSISTENCY on the directory log: {}; none of these entries is used. ",
            self.error
        )?;
        match &self.evidence {
            Ok(path) => write!(
                f,
                "Evidence (the signed checkpoint and the entries served) saved to {}.",
                path.display()
            )?,
            Err(why) => write!(
                f,
                "The evidence could NOT be saved ({why}), so keep this text: the signed \
                 checkpoint:\n{}\n",
                self.checkpoint
            )?,
        }
        f.write_str(" Report this to your network authority.")
    }
}

impl std::error::Error for DirectoryLogMismatch {}

/// Keep the signed `checkpoint` and the `entries` from `start` that do not
/// match it in `home/evidence/`, and build the error.
pub fn record_mismatch(
    home: &Path,
    error: BatchError,
    checkpoint: &str,
    start: u64,
    entries: &[Vec<u8>],
    at: Timestamp,
) -> DirectoryLogMismatch {
    let dir = home.join("evidence");
    let stem = format!("directory-entries-{}", at.0);
    let text = format!(
        "Liaison directory log inconsistency\nwhat: {error}\n\n--- the relay's signed checkpoint ---\n{checkpoint}\n--- the entries it served from index {start} (hex) ---\n{}\n",
        entries
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{}: {}", start + i as u64, hex::encode(e)))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let path = dir.join(format!("{stem}.txt"));
    let evidence = std::fs::create_dir_all(&dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))
        .and_then(|()| {
            std::fs::write(dir.join(format!("{stem}.note")), checkpoint)
                .and_then(|()| std::fs::write(&path, text))
                .map_err(|e| format!("writing {}: {e}", path.display()))
        })
        .map(|()| path);
    DirectoryLogMismatch {
        error,
        evidence,
        checkpoint: checkpoint.to_owned(),
    }
}
