//! The export format: file names, limits, the consistency proof text and
//! `keys.txt`. Pure: nothing here touches the file system.

use liaison_protocol::Wire as _;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::Hash;
use liaison_protocol::log::event::{DirectoryEntry, DisclosedEvent};
use liaison_protocol::log::merkle::MAX_PROOF_LEN;

/// Most entries one exported log may hold (bounds memory: the verifier keeps
/// a leaf hash, and for the event log the decoded record, per entry).
pub const MAX_ENTRIES: u64 = 1 << 22;
/// Most checkpoint or proof files one exported log may hold.
pub const MAX_CHECKPOINTS: usize = 100_000;
/// Largest consistency proof file (64 base64 hashes and newlines).
pub(crate) const MAX_PROOF_FILE_LEN: u64 = 64 * 45;
/// The file holding the leaf hashes of the newest exported checkpoint.
pub const LEAF_HASHES_FILE: &str = "leaf-hashes.bin";

/// The layout description written into every export.
pub const EXPORT_README: &str = "\
Liaison transparency log export (written by `liaison-audit export`).

Verify it offline from inside this directory, pinning keys you obtained
independently (in place of the dots: the network's enrolment bundle, or
each log's verifier key; liaison-audit refuses the dots as they are):
  liaison-audit verify . --bundle ...
  liaison-audit verify . --log-key ... --log-key ...
Exit codes: 0 all verified, 1 a verification failed (the report names the
file, index or checkpoint), 2 usage or I/O error.

Layout (<log> is `directory` or `events`):
  README.txt                          this file
  keys.txt                            verifier keys copied from the bundle at
                                      export time (informational: pin your own)
  <log>/checkpoints/<size>.note       signed checkpoints, C2SP tlog-checkpoint
                                      signed notes, one per tree size, with any
                                      witness cosignatures (c2sp.org/tlog-cosignature)
                                      merged across exports. Earlier exports'
                                      checkpoints are kept: the history grows.
  <log>/checkpoints/<size>-<n>.note   a second checkpoint of the same size with
                                      another root: evidence of a fork
  <log>/proofs/<old>-<new>.proof      the relay's RFC 9162 consistency proof
                                      between two held checkpoints, one base64
                                      hash per line
  <log>/leaf-hashes.bin               the RFC 6962 leaf hashes of the newest
                                      checkpoint, 32 bytes each; used only once
                                      a signed root authenticates them, to name
                                      the exact entries altered or reordered
  <log>/entries/<index>.bin           leaf <index>, one file per entry:
      directory: the canonical DirectoryEntry encoding; it is the leaf data,
                 leaf hash = SHA-256(0x00 || bytes)
      events:    the canonical DisclosedEvent encoding, byte by byte:
                   1 byte    format version (0x01)
                   32 bytes  salt
                   LEB128    length L of the record (unsigned, 7 bits per
                             byte, low group first)
                   L bytes   record: the canonical EventRecord encoding
                             (itself a 0x01 version byte, then postcard:
                             seq, time in ms, kind)
                 The leaf data is the salted commitment
                 SHA-256(\"liaison/1 event-commitment\" || 0x00 || salt ||
                 record), over the L record bytes exactly as stored, and the
                 leaf hash is SHA-256(0x00 || commitment).
Encodings are the versioned postcard encodings of liaison-protocol; every
entry must re-encode to its exact bytes.
";

/// Why a consistency proof file does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofTextError {
    /// The file is not UTF-8.
    #[error("not UTF-8")]
    NotText,
    /// The last line is not terminated.
    #[error("must end with a newline")]
    NoFinalNewline,
    /// More hashes than any proof of a `u64`-sized tree has.
    #[error("more than 64 hashes")]
    TooLong,
    /// A line is not one hash.
    #[error("line {line}: not base64 of 32 bytes")]
    BadHash {
        /// The line number, from 1.
        line: usize,
    },
}

/// The largest entry of `log`.
pub fn max_entry_len(log: LogId) -> usize {
    match log {
        LogId::Directory => DirectoryEntry::MAX_LEN,
        LogId::Events => DisclosedEvent::MAX_LEN,
    }
}

/// An ASCII decimal without sign or leading zeros.
fn parse_dec(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// `<size>.note` or `<size>-<n>.note` → size.
pub fn parse_checkpoint_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".note")?;
    match stem.split_once('-') {
        Some((size, n)) => {
            parse_dec(n).filter(|n| *n > 0)?;
            parse_dec(size)
        }
        None => parse_dec(stem),
    }
}

/// `<index>.bin` → index.
pub fn parse_entry_name(name: &str) -> Option<u64> {
    parse_dec(name.strip_suffix(".bin")?)
}

/// `<old>-<new>.proof` → (old, new).
pub fn parse_proof_name(name: &str) -> Option<(u64, u64)> {
    let (a, b) = name.strip_suffix(".proof")?.split_once('-')?;
    Some((parse_dec(a)?, parse_dec(b)?))
}

/// Hashes one per line, base64 (RFC 9162 order).
pub fn encode_proof_text(proof: &[Hash]) -> String {
    proof.iter().map(|h| h.to_base64() + "\n").collect()
}

/// Strict inverse of [`encode_proof_text`].
pub fn parse_proof_text(bytes: &[u8]) -> Result<Vec<Hash>, ProofTextError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ProofTextError::NotText)?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text
        .strip_suffix('\n')
        .ok_or(ProofTextError::NoFinalNewline)?;
    let mut out = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        if out.len() >= MAX_PROOF_LEN {
            return Err(ProofTextError::TooLong);
        }
        out.push(Hash::from_base64(line).ok_or(ProofTextError::BadHash { line: i + 1 })?);
    }
    Ok(out)
}

/// The `keys.txt` field naming the verifier key of `log`.
pub(crate) fn keys_txt_field(log: LogId) -> &'static str {
    match log {
        LogId::Directory => "directory_log_key",
        LogId::Events => "event_log_key",
    }
}

/// Parse `keys.txt` into (name, value) lines.
pub(crate) fn parse_keys_txt(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}
