//! The auditor's side of the relay's transparency logs, behind
//! `liaison-audit`: exporting the logs, verifying an export offline,
//! per-event proof bundles, comparing two checkpoints, and the witness a
//! country authority runs.
//!
//! Everything that reads an export, a proof bundle or a checkpoint treats it
//! as hostile: files are size-bounded before they are read, symlinks and
//! unexpected files are reported, every decoder is the protocol's strict one
//! (and every entry must re-encode to its exact bytes), and nothing panics.
//! Verification never stops at the first problem: [`Report`] collects every
//! failure with the log, file, index or checkpoint it concerns.
//!
//! Export layout (also written as `README.txt` into every export):
//!
//! ```text
//! DIR/README.txt                       this description
//! DIR/keys.txt                         verifier keys copied from the bundle
//! DIR/<log>/checkpoints/<size>.note    signed checkpoints (C2SP signed note),
//!                                      cosignatures merged across exports
//! DIR/<log>/checkpoints/<size>-<n>.note a second, conflicting checkpoint of
//!                                      the same size (fork evidence)
//! DIR/<log>/proofs/<old>-<new>.proof   the relay's consistency proof between
//!                                      two held checkpoints (base64 hashes)
//! DIR/<log>/leaf-hashes.bin            leaf hashes of the newest checkpoint
//!                                      (32 bytes each), to name altered entries
//! DIR/<log>/entries/<index>.bin        one leaf entry per file
//! ```
//!
//! `<log>` is `directory` or `events`. A directory entry file holds the
//! canonical `DirectoryEntry` encoding (the leaf data itself); an events
//! entry holds the canonical `DisclosedEvent` (salt and record), whose
//! salted commitment is the leaf data.
//!
//! Non-features: tiles, the C2SP witness HTTP protocol (the witness talks to
//! the relay over the relay protocol), and incremental verification (every
//! `verify` recomputes everything from the entries).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use ed25519_dalek::Signer as _;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::codec::Wire;
use liaison_protocol::directory::{AuthorityCertificate, verify_record, verify_role};
use liaison_protocol::frames::{ErrorCode, IndexedEvent, LogEntry, LogId, Request, Response};
use liaison_protocol::log::event::{
    DirectoryEntry, DisclosedEvent, EventKind, EventRecord, SemanticsError, check_semantics,
};
use liaison_protocol::log::note::MAX_NOTE_LEN;
use liaison_protocol::log::{
    Checkpoint, CheckpointError, CompactRange, CosignatureSigner, Hash, LogPolicy, Note, NoteError,
    NoteVerifier, SignedCheckpoint, TlogProof, leaf_hash,
};
use liaison_protocol::{MessageId, PublicKey, SecretKey, Signature};

use crate::transport::{Connection, RelayError};

/// Exit code: everything verified.
pub const EXIT_VERIFIED: u8 = 0;
/// Exit code: a verification failed (the report says what and where).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or I/O error; nothing was decided.
pub const EXIT_USAGE: u8 = 2;

/// Largest bundle or `keys.txt` read.
pub const MAX_TEXT_FILE_LEN: u64 = 64 * 1024;
/// Largest key file read.
pub const MAX_KEY_FILE_LEN: u64 = 4 * 1024;
/// Most entries one exported log may hold (bounds memory: the verifier keeps
/// a leaf hash, and for the event log the decoded record, per entry).
pub const MAX_ENTRIES: u64 = 1 << 22;
/// Most checkpoint or proof files one exported log may hold.
pub const MAX_CHECKPOINTS: usize = 100_000;
/// Largest consistency proof file (64 base64 hashes and newlines).
const MAX_PROOF_FILE_LEN: u64 = 64 * 45;
/// Failures listed individually; the rest are counted.
const MAX_REPORTED: usize = 500;
/// The file holding the leaf hashes of the newest exported checkpoint.
pub const LEAF_HASHES_FILE: &str = "leaf-hashes.bin";
/// Entries asked for per request (the relay may return fewer).
const ENTRY_BATCH: u32 = 512;

// ---------------------------------------------------------------------------
// Reports

/// What a verification found: failures (each naming the log, file, index or
/// checkpoint concerned) and informational notes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    failures: Vec<String>,
    suppressed: usize,
    notes: Vec<String>,
}

impl Report {
    /// Record a failure.
    pub fn fail(&mut self, what: impl Into<String>) {
        if self.failures.len() < MAX_REPORTED {
            self.failures.push(what.into());
        } else {
            self.suppressed += 1;
        }
    }

    /// Record an informational note.
    pub fn note(&mut self, what: impl Into<String>) {
        if self.notes.len() < MAX_REPORTED {
            self.notes.push(what.into());
        }
    }

    /// The failures listed individually.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Every failure, including those not listed.
    pub fn failure_count(&self) -> usize {
        self.failures.len() + self.suppressed
    }

    /// The notes.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Whether nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failure_count() == 0
    }

    /// Whether any failure mentions `needle` (for tests and scripts).
    pub fn mentions(&self, needle: &str) -> bool {
        self.failures.iter().any(|f| f.contains(needle))
    }

    /// Human-readable rendering: notes, then failures, then a verdict line.
    pub fn render(&self) -> String {
        self.render_as("VERIFIED: no problem found")
    }

    /// Like [`Report::render`], with `ok_line` as the verdict when nothing
    /// failed.
    pub fn render_as(&self, ok_line: &str) -> String {
        let mut out = String::new();
        for n in &self.notes {
            out.push_str(n);
            out.push('\n');
        }
        if self.is_ok() {
            out.push_str(ok_line);
            out.push('\n');
            return out;
        }
        for f in &self.failures {
            out.push_str("FAILED: ");
            out.push_str(f);
            out.push('\n');
        }
        if self.suppressed > 0 {
            out.push_str(&format!(
                "FAILED: ... and {} more problems not listed\n",
                self.suppressed
            ));
        }
        out.push_str(&format!(
            "VERIFICATION FAILED: {} problem(s)\n",
            self.failure_count()
        ));
        out
    }
}

// ---------------------------------------------------------------------------
// Pinned keys

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

fn bundle_log_key(bundle: &Bundle, log: LogId) -> &str {
    match log {
        LogId::Directory => &bundle.directory_log_key,
        LogId::Events => &bundle.event_log_key,
    }
}

fn bundle_witnesses(bundle: &Bundle) -> Result<Vec<NoteVerifier>> {
    bundle
        .witness_keys
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| NoteVerifier::from_vkey(w).map_err(|e| anyhow!("bundle witness key {w:?}: {e}")))
        .collect()
}

/// `name+hex8`, how reports name a key.
pub fn key_label(v: &NoteVerifier) -> String {
    format!("{}+{:08x}", v.name(), v.key_id())
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

    fn describe(&self) -> String {
        self.policies
            .values()
            .map(|p| key_label(p.log()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why a checkpoint did not open, in words that say what to look at.
pub fn explain_checkpoint_error(e: &CheckpointError, note: &[u8], policy: &LogPolicy) -> String {
    let pinned = key_label(policy.log());
    let signers = || {
        Note::parse(note)
            .map(|n| {
                n.signatures()
                    .iter()
                    .map(|s| format!("{}+{:08x}", s.name(), s.key_id()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|_| "unparseable".into())
    };
    match e {
        CheckpointError::Note(NoteError::Unverified) => format!(
            "signature by unknown key ({}): not signed by the pinned log key {pinned}",
            signers()
        ),
        CheckpointError::MissingLogSignature => format!(
            "signed only by witnesses ({}), not by the pinned log key {pinned}",
            signers()
        ),
        CheckpointError::Note(NoteError::BadSignature) => format!(
            "a signature by a pinned key ({pinned} or a pinned witness) does not verify: the \
             note was altered or forged"
        ),
        other => format!("does not verify under the pinned log key {pinned}: {other}"),
    }
}

// ---------------------------------------------------------------------------
// Files

fn io_invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

/// Read a file of at most `max` bytes. With `follow_links` false (for files
/// inside an export) anything but a regular file is refused.
pub fn read_bounded(path: &Path, max: u64, follow_links: bool) -> std::io::Result<Vec<u8>> {
    let meta = if follow_links {
        std::fs::metadata(path)?
    } else {
        std::fs::symlink_metadata(path)?
    };
    if !meta.file_type().is_file() {
        return Err(io_invalid("not a regular file".into()));
    }
    if meta.len() > max {
        return Err(io_invalid(format!(
            "{} bytes exceeds the limit of {max} bytes",
            meta.len()
        )));
    }
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(io_invalid(format!("grew beyond the limit of {max} bytes")));
    }
    Ok(buf)
}

/// Read a text input given on the command line (bundle, key file).
pub fn read_input(path: &Path, max: u64) -> Result<String> {
    let bytes =
        read_bounded(path, max, true).with_context(|| format!("reading {}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| anyhow!("{} is not UTF-8 text", path.display()))
}

/// Load and validate an enrolment bundle.
pub fn load_bundle(path: &Path) -> Result<Bundle> {
    Bundle::from_toml(&read_input(path, MAX_TEXT_FILE_LEN)?)
        .map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// Load an auditor key file: the hex Ed25519 seed.
pub fn load_auditor_key(path: &Path) -> Result<SecretKey> {
    let text = zeroize::Zeroizing::new(read_input(path, MAX_KEY_FILE_LEN)?);
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), seed.as_mut()).map_err(|_| {
        anyhow!(
            "{}: expected an auditor key (64 hex digits of an Ed25519 seed)",
            path.display()
        )
    })?;
    Ok(SecretKey::from_seed(&seed))
}

/// Load a witness key file: a C2SP cosignature signer key
/// (`PRIVATE+KEY+name+hex8+base64`).
pub fn load_witness_key(path: &Path) -> Result<CosignatureSigner> {
    let text = zeroize::Zeroizing::new(read_input(path, MAX_KEY_FILE_LEN)?);
    CosignatureSigner::from_skey(text.trim()).map_err(|e| {
        anyhow!(
            "{}: not a C2SP cosignature signer key (PRIVATE+KEY+name+...): {e}",
            path.display()
        )
    })
}

/// Write `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees a partial file; with `durable`, fsync the file and the
/// directory too.
pub fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io_invalid("path has no parent directory".into()))?;
    let name = path
        .file_name()
        .ok_or_else(|| io_invalid("path has no file name".into()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    if durable {
        // A directory fsync makes the rename itself durable (POSIX).
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
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
pub fn parse_proof_text(bytes: &[u8]) -> Result<Vec<Hash>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text
        .strip_suffix('\n')
        .ok_or_else(|| "must end with a newline".to_owned())?;
    let mut out = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        if out.len() >= liaison_protocol::log::merkle::MAX_PROOF_LEN {
            return Err("more than 64 hashes".into());
        }
        out.push(
            Hash::from_base64(line)
                .ok_or_else(|| format!("line {}: not base64 of 32 bytes", i + 1))?,
        );
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Offline verification

/// An entry's bytes, in memory or in a file read when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryData {
    /// Bytes in memory.
    Inline(Vec<u8>),
    /// A file in an export, read (size-bounded) when verified.
    File(PathBuf),
}

impl EntryData {
    fn load(&self, max: usize) -> Result<Cow<'_, [u8]>, String> {
        match self {
            EntryData::Inline(b) if b.len() > max => Err(format!(
                "{} bytes exceeds the limit of {max} bytes",
                b.len()
            )),
            EntryData::Inline(b) => Ok(Cow::Borrowed(b)),
            EntryData::File(p) => read_bounded(p, max as u64, false)
                .map(Cow::Owned)
                .map_err(|e| format!("cannot be read: {e}")),
        }
    }
}

/// One log of an export, as read from disk (or built in memory by tests).
#[derive(Debug, Default, Clone)]
pub struct LogExport {
    /// Checkpoint files: name (`12.note`) and contents.
    pub checkpoints: Vec<(String, Vec<u8>)>,
    /// Consistency proof files: name (`5-12.proof`) and contents.
    pub proofs: Vec<(String, Vec<u8>)>,
    /// Entries by index.
    pub entries: BTreeMap<u64, EntryData>,
    /// `leaf-hashes.bin`: the leaf hashes of the newest checkpoint, 32
    /// bytes each, used (once authenticated by a signed root) to name the
    /// exact entries that were altered or moved.
    pub leaf_hashes: Option<Vec<u8>>,
    /// Files that do not belong in the layout, or could not be read.
    pub problems: Vec<String>,
}

/// What one log's verification covered.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogSummary {
    /// Entries present.
    pub entries: u64,
    /// Checkpoints whose signature verified.
    pub checkpoints: usize,
    /// Checkpoints whose root matched the entries.
    pub roots_matched: usize,
    /// The largest checkpoint size whose root matched the entries.
    pub verified_size: u64,
}

/// The largest entry of `log`.
pub fn max_entry_len(log: LogId) -> usize {
    match log {
        LogId::Directory => DirectoryEntry::MAX_LEN,
        LogId::Events => DisclosedEvent::MAX_LEN,
    }
}

/// Read `<dir>/<log>/` of an export. Only I/O errors on the directories
/// themselves are errors; everything about the files is left to
/// [`verify_log`], which reports it.
pub fn read_log_export(log_dir: &Path, log: LogId) -> Result<LogExport> {
    let name = log.name();
    let mut ex = LogExport::default();
    for item in
        std::fs::read_dir(log_dir).with_context(|| format!("reading {}", log_dir.display()))?
    {
        let item = item?;
        let file = item.file_name().to_string_lossy().into_owned();
        let is_dir = item.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if file == LEAF_HASHES_FILE && !is_dir {
            match read_bounded(&item.path(), MAX_ENTRIES * 32, false) {
                Ok(b) => ex.leaf_hashes = Some(b),
                Err(e) => ex
                    .problems
                    .push(format!("{name}/{file}: cannot be read: {e}")),
            }
            continue;
        }
        if !(is_dir && matches!(file.as_str(), "checkpoints" | "entries" | "proofs")) {
            ex.problems
                .push(format!("{name}/{file}: unexpected file in the export"));
        }
    }
    let list =
        |sub: &str, limit: u64, problems: &mut Vec<String>| -> Result<Vec<(String, PathBuf)>> {
            let d = log_dir.join(sub);
            let mut out = Vec::new();
            let rd = match std::fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(e).with_context(|| format!("reading {}", d.display())),
            };
            for item in rd {
                let item = item?;
                if out.len() as u64 >= limit {
                    problems.push(format!(
                        "{name}/{sub}: more than {limit} files; the rest were not read"
                    ));
                    break;
                }
                out.push((item.file_name().to_string_lossy().into_owned(), item.path()));
            }
            Ok(out)
        };
    for (file, path) in list("checkpoints", MAX_CHECKPOINTS as u64, &mut ex.problems)? {
        if parse_checkpoint_name(&file).is_none() {
            ex.problems.push(format!(
                "{name}/checkpoints/{file}: unexpected file (names are <size>.note or <size>-<n>.note)"
            ));
            continue;
        }
        match read_bounded(&path, MAX_NOTE_LEN as u64, false) {
            Ok(b) => ex.checkpoints.push((file, b)),
            Err(e) => ex
                .problems
                .push(format!("checkpoint {name}/{file}: cannot be read: {e}")),
        }
    }
    for (file, path) in list("proofs", MAX_CHECKPOINTS as u64, &mut ex.problems)? {
        if parse_proof_name(&file).is_none() {
            ex.problems.push(format!(
                "{name}/proofs/{file}: unexpected file (names are <old>-<new>.proof)"
            ));
            continue;
        }
        match read_bounded(&path, MAX_PROOF_FILE_LEN, false) {
            Ok(b) => ex.proofs.push((file, b)),
            Err(e) => ex
                .problems
                .push(format!("{name}/proofs/{file}: cannot be read: {e}")),
        }
    }
    for (file, path) in list("entries", MAX_ENTRIES, &mut ex.problems)? {
        match parse_entry_name(&file) {
            Some(i) if i < MAX_ENTRIES => {
                ex.entries.insert(i, EntryData::File(path));
            }
            Some(_) => ex.problems.push(format!(
                "{name}/entries/{file}: index beyond the limit of {MAX_ENTRIES} entries"
            )),
            None => ex.problems.push(format!(
                "{name}/entries/{file}: unexpected file (names are <index>.bin)"
            )),
        }
    }
    ex.checkpoints.sort();
    ex.proofs.sort();
    Ok(ex)
}

/// Checks the directory chain entry by entry: authority certificates signed
/// by the pinned root (when pinned), records signed by an authority that an
/// earlier entry certified and did not revoke, for its own country, with
/// versions that only increase.
#[derive(Debug)]
struct DirectoryChain<'a> {
    root: Option<&'a PublicKey>,
    authorities: BTreeMap<PublicKey, (AuthorityCertificate, u64)>,
    revoked: BTreeMap<PublicKey, u64>,
    versions: BTreeMap<String, (u64, u64)>,
}

impl<'a> DirectoryChain<'a> {
    fn new(root: Option<&'a PublicKey>) -> Self {
        DirectoryChain {
            root,
            authorities: BTreeMap::new(),
            revoked: BTreeMap::new(),
            versions: BTreeMap::new(),
        }
    }

    fn check(&mut self, index: u64, entry: &DirectoryEntry, report: &mut Report) {
        match entry {
            DirectoryEntry::Authority(signed) => {
                let subject = signed
                    .decode_unverified()
                    .map(|c| c.country.to_string())
                    .unwrap_or_else(|_| "?".into());
                let cert = match self.root {
                    Some(root) => signed.verify_by(root),
                    None => signed.verify(),
                };
                let cert = match cert {
                    Ok(c) => c,
                    Err(e) => {
                        report.fail(format!(
                            "directory entry {index}: authority certificate for {subject} does not \
                             verify{}: {e}",
                            if self.root.is_some() {
                                " against the pinned network root"
                            } else {
                                ""
                            }
                        ));
                        return;
                    }
                };
                if let Some(at) = self.revoked.get(&cert.key) {
                    report.fail(format!(
                        "directory entry {index}: certificate for the {subject} authority key \
                         {} after its revocation at entry {at}",
                        cert.key.fingerprint()
                    ));
                    return;
                }
                if let Some((prev, at)) = self.authorities.get(&cert.key)
                    && !cert.revoked
                    && cert.serial <= prev.serial
                {
                    report.fail(format!(
                        "directory entry {index}: {subject} authority certificate serial {} does \
                         not supersede serial {} of entry {at}",
                        cert.serial, prev.serial
                    ));
                }
                if cert.revoked {
                    self.revoked.insert(cert.key, index);
                }
                self.authorities.insert(cert.key, (cert, index));
            }
            DirectoryEntry::Record(signed) => {
                let subject = signed
                    .decode_unverified()
                    .map(|r| r.id.to_string())
                    .unwrap_or_else(|_| "?".into());
                let verified = self
                    .authority_of(index, "record", &subject, signed.signer(), report)
                    .map(|a| verify_record(a, signed).map(|r| (r.id.to_string(), r.version)));
                self.check_version(index, "record", &subject, verified, report);
            }
            DirectoryEntry::Role(signed) => {
                let subject = signed
                    .decode_unverified()
                    .map(|r| r.id.to_string())
                    .unwrap_or_else(|_| "?".into());
                let verified = self
                    .authority_of(index, "role", &subject, signed.signer(), report)
                    .map(|a| verify_role(a, signed).map(|r| (format!("role {}", r.id), r.version)));
                self.check_version(index, "role", &subject, verified, report);
            }
        }
    }

    /// The certificate of the authority that signed entry `index`, if an
    /// earlier entry certified it and did not revoke it.
    fn authority_of(
        &self,
        index: u64,
        kind: &str,
        subject: &str,
        signer: &PublicKey,
        report: &mut Report,
    ) -> Option<&AuthorityCertificate> {
        if let Some(at) = self.revoked.get(signer) {
            report.fail(format!(
                "directory entry {index}: {kind} {subject} is signed by an authority key revoked \
                 at entry {at}"
            ));
            return None;
        }
        let found = self.authorities.get(signer).map(|(a, _)| a);
        if found.is_none() {
            report.fail(format!(
                "directory entry {index}: {kind} {subject} is signed by key {}, which no earlier \
                 entry certifies as an authority",
                signer.fingerprint()
            ));
        }
        found
    }

    fn check_version(
        &mut self,
        index: u64,
        kind: &str,
        subject: &str,
        verified: Option<Result<(String, u64), liaison_protocol::VerifyError>>,
        report: &mut Report,
    ) {
        match verified {
            None => {}
            Some(Err(e)) => report.fail(format!(
                "directory entry {index}: {kind} {subject} does not verify: {e}"
            )),
            Some(Ok((key, version))) => {
                if let Some((v, at)) = self.versions.get(&key)
                    && version <= *v
                {
                    report.fail(format!(
                        "directory entry {index}: {kind} {subject} version {version} does not \
                         supersede version {v} of entry {at}"
                    ));
                }
                self.versions.insert(key, (version, index));
            }
        }
    }
}

fn describe_semantics(e: &SemanticsError) -> String {
    match e {
        SemanticsError::Sequence { index, seq } => format!(
            "events entry {index}: sequence number {seq} is not its position: entries reordered, \
             renamed or missing"
        ),
        other => format!("events {other}"),
    }
}

/// Verify one exported log against `policy` (and `root` for the directory
/// chain), adding every problem to `report`.
///
/// Checks: every checkpoint's signatures (log key, and the witness quorum of
/// the policy); that its file name states its size; the root recomputed from
/// the entries (RFC 9162 §2.1.1, with the protocol's [`CompactRange`]) at
/// every checkpoint size — which also proves every pair of consecutive
/// checkpoints consistent, since both roots come from one sequence of
/// entries; forks (two checkpoints of one size with different roots); every
/// relay consistency proof kept in the export (RFC 9162 §2.1.4.2);
/// missing, extra and undecodable entries; canonical encoding (each entry
/// must re-encode to its exact bytes); the directory chain; and the event
/// log's semantics ([`check_semantics`]).
pub fn verify_log(
    log: LogId,
    export: &LogExport,
    policy: &LogPolicy,
    root: Option<&PublicKey>,
    report: &mut Report,
) -> LogSummary {
    let name = log.name();
    for p in &export.problems {
        report.fail(p.clone());
    }

    // Checkpoints (c2sp.org/tlog-checkpoint under the pinned policy).
    let mut verified: Vec<(String, SignedCheckpoint)> = Vec::new();
    for (file, bytes) in &export.checkpoints {
        let label = format!("checkpoint {name}/{file}");
        let claimed = parse_checkpoint_name(file);
        match policy.open(bytes) {
            Err(e) => report.fail(format!(
                "{label}: {}",
                explain_checkpoint_error(&e, bytes, policy)
            )),
            Ok(sc) => match claimed {
                None => report.fail(format!(
                    "{label}: file name is not <size>.note or <size>-<n>.note"
                )),
                Some(size) if size != sc.checkpoint().size() => report.fail(format!(
                    "{label}: the file name says size {size}, the signed checkpoint says {}",
                    sc.checkpoint().size()
                )),
                Some(_) => verified.push((file.clone(), sc)),
            },
        }
    }
    verified.sort_by(|a, b| (a.1.checkpoint().size(), &a.0).cmp(&(b.1.checkpoint().size(), &b.0)));
    let max_cp = verified
        .last()
        .map(|(_, s)| s.checkpoint().size())
        .unwrap_or(0);
    if verified.is_empty() {
        report.fail(format!(
            "{name} log: no checkpoint verifies under the pinned key {}; nothing in this log is \
             authenticated",
            key_label(policy.log())
        ));
    }

    // Which entries are present.
    let count = export
        .entries
        .keys()
        .next_back()
        .map(|i| i.saturating_add(1))
        .unwrap_or(0);
    let span = count.max(max_cp);
    let mut missing: Vec<(u64, u64)> = Vec::new();
    let mut expect = 0u64;
    for &i in export.entries.keys() {
        if i > expect {
            missing.push((expect, i - 1));
        }
        expect = i.saturating_add(1);
    }
    if span > expect {
        missing.push((expect, span - 1));
    }
    for (a, b) in &missing {
        if a == b {
            report.fail(format!("{name} entry {a} is missing"));
        } else {
            report.fail(format!(
                "{name} entries missing between {a} and {b} ({} entries)",
                b - a + 1
            ));
        }
    }
    let contiguous = missing.first().map(|(a, _)| *a).unwrap_or(count).min(count);

    // Decode, re-encode and hash every entry. Roots, the directory chain and
    // the event semantics use only the contiguous prefix.
    let max_len = max_entry_len(log);
    let mut leaves: Vec<Hash> = Vec::new();
    let mut leaves_ok = true;
    let mut by_index: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut records: Vec<EventRecord> = Vec::new();
    let mut records_ok = true;
    let mut chain = DirectoryChain::new(root);
    for (&index, data) in &export.entries {
        if index >= contiguous {
            leaves_ok = false;
            records_ok = false;
        }
        let bytes = match data.load(max_len) {
            Ok(b) => b,
            Err(e) => {
                report.fail(format!("{name} entry {index}: {e}"));
                leaves_ok = false;
                records_ok = false;
                continue;
            }
        };
        match log {
            LogId::Directory => {
                let leaf = leaf_hash(&bytes);
                by_index.insert(index, leaf);
                if leaves_ok {
                    leaves.push(leaf);
                }
                match DirectoryEntry::decode(&bytes) {
                    Err(e) => report.fail(format!(
                        "directory entry {index}: does not decode as a directory entry: {e}"
                    )),
                    Ok(entry) => {
                        if entry.encode() != *bytes {
                            report.fail(format!(
                                "directory entry {index}: byte-level re-encoding differs \
                                 (not the canonical encoding)"
                            ));
                        }
                        if index < contiguous {
                            chain.check(index, &entry, report);
                        }
                    }
                }
            }
            LogId::Events => match DisclosedEvent::decode(&bytes) {
                Err(e) => {
                    report.fail(format!(
                        "events entry {index}: does not decode as a disclosed event: {e}"
                    ));
                    leaves_ok = false;
                    records_ok = false;
                }
                Ok(d) => {
                    if d.encode() != *bytes {
                        report.fail(format!(
                            "events entry {index}: byte-level re-encoding differs (not the \
                             canonical encoding)"
                        ));
                    }
                    by_index.insert(index, d.leaf_hash());
                    if leaves_ok {
                        leaves.push(d.leaf_hash());
                    }
                    match d.decode_record() {
                        Err(e) => {
                            report.fail(format!(
                                "events entry {index}: event record does not decode: {e}"
                            ));
                            records_ok = false;
                        }
                        Ok(r) => {
                            if r.encode() != d.record {
                                report.fail(format!(
                                    "events entry {index}: byte-level re-encoding of the event \
                                     record differs (not the canonical encoding)"
                                ));
                            }
                            if records_ok {
                                records.push(r);
                            }
                        }
                    }
                }
            },
        }
    }
    if log == LogId::Events
        && let Err(e) = check_semantics(&records)
    {
        report.fail(describe_semantics(&e));
    }

    // Roots at every checkpoint size, in increasing order.
    let mut range = CompactRange::new();
    let mut good_up_to = 0u64;
    let mut verified_size = 0u64;
    let mut roots_matched = 0usize;
    for (file, sc) in &verified {
        let cp = sc.checkpoint();
        let size = cp.size();
        if size > leaves.len() as u64 {
            report.fail(format!(
                "{name} checkpoint {file}: the root of size {size} cannot be recomputed: only \
                 entries 0 to {} are present and decodable",
                leaves.len() as i128 - 1
            ));
            continue;
        }
        for leaf in leaves
            .get(range.size() as usize..size as usize)
            .unwrap_or_default()
        {
            // At most MAX_ENTRIES leaves: the tree cannot fill up.
            let _ = range.append(*leaf);
        }
        let got = range.root();
        if got == *cp.root() {
            roots_matched += 1;
            good_up_to = size;
            verified_size = verified_size.max(size);
        } else {
            report.fail(format!(
                "{name} checkpoint {file}: root mismatch: recomputed {} from entries 0 to {}, \
                 signed {} (entries {good_up_to} to {} differ from what the log signed: altered, \
                 reordered, replaced or removed)",
                got.to_base64(),
                size as i128 - 1,
                cp.root().to_base64(),
                size as i128 - 1
            ));
        }
    }

    if let Some(raw) = &export.leaf_hashes {
        localise(log, raw, &verified, &by_index, report);
    }

    // Forks: two valid checkpoints of one size with different roots.
    for pair in verified.windows(2) {
        if let [(fa, a), (fb, b)] = pair
            && a.checkpoint().size() == b.checkpoint().size()
            && a.checkpoint().root() != b.checkpoint().root()
        {
            report.fail(format!(
                "FORK in the {name} log: checkpoints {fa} and {fb} are both signed by the log key \
                 for size {} with different roots ({} and {}); the two signed notes are the \
                 evidence of an inconsistent log",
                a.checkpoint().size(),
                a.checkpoint().root().to_base64(),
                b.checkpoint().root().to_base64()
            ));
        }
    }

    // The relay's consistency proofs kept with the export (RFC 9162
    // §2.1.4.2), checked against the signed roots alone.
    for (file, bytes) in &export.proofs {
        let Some((old, new)) = parse_proof_name(file) else {
            report.fail(format!(
                "{name}/proofs/{file}: file name is not <old>-<new>.proof"
            ));
            continue;
        };
        let proof = match parse_proof_text(bytes) {
            Ok(p) => p,
            Err(e) => {
                report.fail(format!("{name}/proofs/{file}: malformed proof: {e}"));
                continue;
            }
        };
        let olds: Vec<_> = verified
            .iter()
            .filter(|(_, s)| s.checkpoint().size() == old)
            .collect();
        let news: Vec<_> = verified
            .iter()
            .filter(|(_, s)| s.checkpoint().size() == new)
            .collect();
        if olds.is_empty() || news.is_empty() {
            report.note(format!(
                "{name}/proofs/{file}: no verified checkpoint of size {old} and {new}; proof not used"
            ));
            continue;
        }
        for (fo, o) in &olds {
            for (fnew, n) in &news {
                if let Err(e) = o.checkpoint().verify_consistency(n.checkpoint(), &proof) {
                    report.fail(format!(
                        "INCONSISTENT {name} log: the relay's consistency proof {file} does not \
                         prove that checkpoint {fnew} (size {new}) extends checkpoint {fo} (size \
                         {old}): {e}; the two signed checkpoints are the evidence"
                    ));
                }
            }
        }
    }

    if count > max_cp && !verified.is_empty() {
        report.fail(format!(
            "{name} entries {max_cp} to {} are not covered by any verified checkpoint \
             (unauthenticated)",
            count - 1
        ));
    }
    if log == LogId::Directory && root.is_none() && contiguous > 0 {
        report.note(
            "directory: no network root pinned (--bundle or --root-key); authority certificates \
             were checked against their claimed signer only",
        );
    }

    LogSummary {
        entries: export.entries.len() as u64,
        checkpoints: verified.len(),
        roots_matched,
        verified_size,
    }
}

/// Name the exact entries that differ from what the log signed, using the
/// leaf hashes export kept, once a verified checkpoint's root authenticates
/// them (RFC 9162 §2.1.1 over the whole list).
fn localise(
    log: LogId,
    raw: &[u8],
    verified: &[(String, SignedCheckpoint)],
    by_index: &BTreeMap<u64, Hash>,
    report: &mut Report,
) {
    let name = log.name();
    if !raw.len().is_multiple_of(32) {
        report.fail(format!(
            "{name}/{LEAF_HASHES_FILE}: length is not a multiple of 32 bytes"
        ));
        return;
    }
    let list: Vec<Hash> = raw.chunks_exact(32).filter_map(Hash::from_slice).collect();
    let n = list.len() as u64;
    let list_root = liaison_protocol::log::root(&list);
    let Some((file, _)) = verified
        .iter()
        .find(|(_, s)| s.checkpoint().size() == n && *s.checkpoint().root() == list_root)
    else {
        report.fail(format!(
            "{name}/{LEAF_HASHES_FILE}: its {n} leaf hashes match no verified checkpoint \
             (altered?); not used"
        ));
        return;
    };
    let position: BTreeMap<Hash, u64> = list
        .iter()
        .enumerate()
        .map(|(i, h)| (*h, i as u64))
        .collect();
    for (i, signed) in list.iter().enumerate() {
        let i = i as u64;
        match by_index.get(&i) {
            Some(h) if h != signed => match position.get(h) {
                Some(j) => report.fail(format!(
                    "{name} entry {i} holds the entry the log signed at index {j}: entries \
                     reordered (leaf hashes authenticated by checkpoint {file})"
                )),
                None => report.fail(format!(
                    "{name} entry {i} is not the entry the log signed at index {i}: altered or \
                     replaced (leaf hashes authenticated by checkpoint {file})"
                )),
            },
            _ => {}
        }
    }
}

/// Parse `keys.txt` into (name, value) lines.
fn parse_keys_txt(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// Verify an export directory offline against `trust`. `Err` only for usage
/// and I/O problems (no log in `dir`, a log without a pinned key); every
/// verification problem is in the returned report.
pub fn verify_export(dir: &Path, trust: &Trust) -> Result<(Report, Vec<(LogId, LogSummary)>)> {
    let meta = std::fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} is not an export directory", dir.display());
    }
    let mut report = Report::default();
    for item in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let item = item?;
        let file = item.file_name().to_string_lossy().into_owned();
        let is_dir = item.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let expected = match file.as_str() {
            "README.txt" | "keys.txt" => !is_dir,
            "directory" | "events" => is_dir,
            _ => false,
        };
        if !expected {
            report.fail(format!("{file}: unexpected file in the export"));
        }
    }
    if let Ok(bytes) = read_bounded(&dir.join("keys.txt"), MAX_TEXT_FILE_LEN, false) {
        let lines = parse_keys_txt(&String::from_utf8_lossy(&bytes));
        for log in LogId::ALL {
            let field = match log {
                LogId::Directory => "directory_log_key",
                LogId::Events => "event_log_key",
            };
            if let (Some((_, listed)), Some(p)) =
                (lines.iter().find(|(k, _)| k == field), trust.policy(log))
                && *listed != p.log().to_vkey()
            {
                report.note(format!(
                    "keys.txt lists another {} log key than the pinned one ({})",
                    log.name(),
                    key_label(p.log())
                ));
            }
        }
    }
    let mut summaries = Vec::new();
    for log in LogId::ALL {
        let log_dir = dir.join(log.name());
        if !log_dir.exists() {
            continue;
        }
        let policy = trust.policy(log).ok_or_else(|| {
            anyhow!(
                "the export holds the {} log but no key is pinned for it (pinned: {}); pass \
                 --bundle or --log-key",
                log.name(),
                trust.describe()
            )
        })?;
        let ex = read_log_export(&log_dir, log)?;
        let summary = verify_log(log, &ex, policy, trust.root(), &mut report);
        report.note(if summary.checkpoints > 0 && summary.roots_matched == 0 {
            format!(
                "{}: {} entries, {} checkpoint(s) verified, no checkpoint root matches the entries",
                log.name(),
                summary.entries,
                summary.checkpoints
            )
        } else {
            format!(
                "{}: {} entries, {} checkpoint(s) verified, roots match up to size {}",
                log.name(),
                summary.entries,
                summary.checkpoints,
                summary.verified_size
            )
        });
        summaries.push((log, summary));
    }
    if summaries.is_empty() {
        bail!(
            "{} holds no exported log (expected directory/ or events/)",
            dir.display()
        );
    }
    Ok((report, summaries))
}

// ---------------------------------------------------------------------------
// Per-event proof bundles

/// The leaf a proof bundle discloses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisclosedLeaf {
    /// An event-log record and the salt of its commitment.
    Event {
        /// The salt.
        salt: [u8; 32],
        /// The record.
        record: EventRecord,
    },
    /// A directory-log entry.
    Directory(DirectoryEntry),
}

/// A proof bundle that verified.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    /// Which log.
    pub log: LogId,
    /// The verified checkpoint.
    pub checkpoint: SignedCheckpoint,
    /// The leaf index.
    pub index: u64,
    /// The disclosed leaf.
    pub leaf: DisclosedLeaf,
}

/// Verify a c2sp.org/tlog-proof bundle whose `extra` line carries the leaf:
/// the encoded `DisclosedEvent` (salt and record) for the event log, the
/// encoded `DirectoryEntry` for the directory log. The checkpoint must open
/// under the pinned policy of the log its origin names, the extra data must
/// be canonical, an event record's sequence number must be the proof's index,
/// and the leaf must be included at that index (RFC 9162 §2.1.3.2).
pub fn verify_proof_bundle(bytes: &[u8], trust: &Trust) -> Result<VerifiedProof, String> {
    let proof = TlogProof::parse(bytes).map_err(|e| format!("not a valid tlog-proof: {e}"))?;
    let note = Note::parse(proof.signed_checkpoint().as_bytes())
        .map_err(|e| format!("embedded checkpoint: {e}"))?;
    let cp = Checkpoint::from_text(note.text()).map_err(|e| format!("embedded checkpoint: {e}"))?;
    let (log, policy) = trust.policy_for_origin(cp.origin()).ok_or_else(|| {
        format!(
            "the checkpoint's origin {} matches no pinned log key (pinned: {})",
            cp.origin(),
            trust.describe()
        )
    })?;
    let extra = proof.extra().ok_or_else(|| {
        "the bundle has no `extra` line carrying the entry, so its leaf cannot be checked"
            .to_owned()
    })?;
    let (leaf_hash_value, leaf) = match log {
        LogId::Events => {
            let d = DisclosedEvent::decode(extra)
                .map_err(|e| format!("extra data is not a disclosed event: {e}"))?;
            if d.encode() != extra {
                return Err("extra data: byte-level re-encoding differs".into());
            }
            let record = d
                .decode_record()
                .map_err(|e| format!("the disclosed event record does not decode: {e}"))?;
            if record.encode() != d.record {
                return Err("the event record's byte-level re-encoding differs".into());
            }
            if record.seq != proof.index() {
                return Err(format!(
                    "the record says sequence number {} but the proof is for index {}",
                    record.seq,
                    proof.index()
                ));
            }
            (
                d.leaf_hash(),
                DisclosedLeaf::Event {
                    salt: d.salt,
                    record,
                },
            )
        }
        LogId::Directory => {
            let entry = DirectoryEntry::decode(extra)
                .map_err(|e| format!("extra data is not a directory entry: {e}"))?;
            if entry.encode() != extra {
                return Err("extra data: byte-level re-encoding differs".into());
            }
            (leaf_hash(extra), DisclosedLeaf::Directory(entry))
        }
    };
    let checkpoint = proof.verify(&leaf_hash_value, policy).map_err(|e| match e {
        CheckpointError::Proof(p) => format!(
            "the inclusion proof does not verify: the entry is not leaf {} of the checkpoint of \
             size {} ({p})",
            proof.index(),
            cp.size()
        ),
        other => format!(
            "checkpoint: {}",
            explain_checkpoint_error(&other, proof.signed_checkpoint().as_bytes(), policy)
        ),
    })?;
    Ok(VerifiedProof {
        log,
        checkpoint,
        index: proof.index(),
        leaf,
    })
}

fn short(k: &PublicKey) -> String {
    k.to_hex()
}

/// One line describing an event record.
pub fn describe_event(r: &EventRecord) -> String {
    let at = r.time.to_rfc3339();
    match &r.kind {
        EventKind::Accepted {
            message_id,
            sender_device,
            recipient_devices,
            bytes,
        } => format!(
            "seq {} at {at}: message {message_id} accepted from device {} for {} device(s) [{}], \
             {bytes} bytes",
            r.seq,
            short(sender_device),
            recipient_devices.len(),
            recipient_devices
                .iter()
                .map(short)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        EventKind::Declared {
            message_id,
            refers_to,
            kind,
            by_device,
            ..
        } => format!(
            "seq {} at {at}: message {message_id} from device {} declared a {} about message {refers_to}",
            r.seq,
            short(by_device),
            kind.name()
        ),
        EventKind::Delivered {
            message_id,
            recipient_device,
        } => format!(
            "seq {} at {at}: message {message_id} delivered to device {}",
            r.seq,
            short(recipient_device)
        ),
        EventKind::Acknowledged {
            message_id,
            recipient_device,
        } => format!(
            "seq {} at {at}: message {message_id} acknowledged by device {}",
            r.seq,
            short(recipient_device)
        ),
        EventKind::Dropped {
            message_id,
            recipient_device,
            reason,
        } => format!(
            "seq {} at {at}: message {message_id} dropped for device {} ({})",
            r.seq,
            short(recipient_device),
            reason.escape_debug()
        ),
    }
}

/// One line describing a directory entry.
pub fn describe_directory_entry(e: &DirectoryEntry) -> String {
    match e {
        DirectoryEntry::Authority(s) => match s.decode_unverified() {
            Ok(c) => format!(
                "authority certificate for {} ({}), key {}, serial {}{}",
                c.country,
                c.name.escape_debug(),
                c.key.fingerprint(),
                c.serial,
                if c.revoked { ", REVOKED" } else { "" }
            ),
            Err(_) => "authority certificate (undecodable body)".into(),
        },
        DirectoryEntry::Record(s) => match s.decode_unverified() {
            Ok(r) => format!(
                "focal point record {} version {} ({}), identity {}, {} device(s), signed by {}",
                r.id,
                r.version,
                r.name.escape_debug(),
                r.identity_key.fingerprint(),
                r.devices.len(),
                s.signer().fingerprint()
            ),
            Err(_) => "focal point record (undecodable body)".into(),
        },
        DirectoryEntry::Role(s) => match s.decode_unverified() {
            Ok(r) => format!(
                "role {} version {} ({}), holders [{}], signed by {}",
                r.id,
                r.version,
                r.name.escape_debug(),
                r.holders
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.signer().fingerprint()
            ),
            Err(_) => "role record (undecodable body)".into(),
        },
    }
}

// ---------------------------------------------------------------------------
// Comparing two checkpoints

/// The offline verdict on two verified checkpoints of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// Same size, same root.
    Identical,
    /// One is the empty tree: every tree extends it.
    Extends,
    /// Same size, different roots.
    Fork,
    /// Different sizes: only a consistency proof can decide.
    NeedsProof {
        /// The smaller size.
        old: u64,
        /// The larger size.
        new: u64,
    },
}

/// Compare two checkpoints of one log without a proof.
pub fn compare_offline(a: &Checkpoint, b: &Checkpoint) -> Comparison {
    let (old, new) = if a.size() <= b.size() { (a, b) } else { (b, a) };
    if old.size() == new.size() {
        if old.root() == new.root() {
            Comparison::Identical
        } else {
            Comparison::Fork
        }
    } else if old.size() == 0 {
        Comparison::Extends
    } else {
        Comparison::NeedsProof {
            old: old.size(),
            new: new.size(),
        }
    }
}

// ---------------------------------------------------------------------------
// Talking to the relay

/// Connect to the bundle's relay, pinning its certificate.
pub async fn connect(bundle: &Bundle) -> Result<Connection> {
    let pin = bundle.cert_pins().map_err(|e| anyhow!("bundle: {e}"))?;
    Connection::connect(&bundle.relay_addr, pin).await
}

/// Authenticate as an auditor: sign the relay's challenge, bound to this TLS
/// session, with the auditor's Ed25519 key (domain `device-auth`).
///
/// The relay answers an auditor with `AuditorAuthenticated`, which
/// [`Connection::authenticate`] (written for devices) does not expect, so
/// whether the relay granted auditor access is established by asking for
/// something only auditors may read.
pub async fn authenticate_auditor(conn: &Connection, key: &SecretKey) -> Result<()> {
    let signing = ed25519_dalek::SigningKey::from_bytes(&key.to_seed());
    // `authenticate` hands over the domain-separated message already.
    let outcome = conn
        .authenticate(key.public_key(), |msg| {
            Signature(signing.sign(msg).to_bytes())
        })
        .await;
    let probe = conn
        .request(&Request::GetMessageEvents {
            message_id: MessageId([0; 16]),
        })
        .await;
    match (probe, outcome) {
        (Ok(Response::MessageEvents { .. }), _) => Ok(()),
        (_, Ok(id)) => bail!(
            "the relay authenticated this key as a device of {id}, not as an auditor: use a key \
             listed in the relay's [logs] auditors"
        ),
        (_, Err(e)) => Err(e.context(format!(
            "the relay did not accept auditor key {} (is it listed in the relay's [logs] \
             auditors?)",
            key.public_key().to_hex()
        ))),
    }
}

fn unexpected(what: &str, r: &Response) -> anyhow::Error {
    let mut s = format!("{r:?}");
    s.truncate(120);
    anyhow!("unexpected answer to {what}: {s}")
}

/// The relay's newest checkpoint of `log` with at least `min` cosignatures,
/// or `None` if it has none.
pub async fn fetch_checkpoint(conn: &Connection, log: LogId, min: u8) -> Result<Option<String>> {
    match conn
        .request(&Request::GetCheckpoint {
            log,
            min_cosignatures: min,
        })
        .await
    {
        Ok(Response::Checkpoint { note }) => Ok(Some(note)),
        Ok(other) => Err(unexpected("GetCheckpoint", &other)),
        Err(RelayError::Refused(e)) if e.code == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(anyhow!(e).context(format!("fetching the {} checkpoint", log.name()))),
    }
}

async fn fetch_proof(conn: &Connection, req: Request, what: &str) -> Result<Vec<Hash>, RelayError> {
    match conn.request(&req).await? {
        Response::Proof { hashes } => Ok(hashes.into_iter().map(Hash).collect()),
        other => Err(RelayError::Protocol(unexpected(what, &other).to_string())),
    }
}

async fn fetch_entries(
    conn: &Connection,
    log: LogId,
    start: u64,
    count: u32,
) -> Result<Vec<LogEntry>> {
    match conn
        .request(&Request::GetEntries { log, start, count })
        .await
        .with_context(|| format!("fetching {} entries from {start}", log.name()))?
    {
        Response::Entries { entries } => Ok(entries),
        other => Err(unexpected("GetEntries", &other)),
    }
}

// ---------------------------------------------------------------------------
// Export

/// The layout description written into every export.
pub const EXPORT_README: &str = "\
Liaison transparency log export (written by `liaison-audit export`).

Verify it offline, pinning keys you obtained independently:
  liaison-audit verify DIR --bundle bundle.toml
  liaison-audit verify DIR --log-key <directory vkey> --log-key <events vkey>
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
      events:    the canonical DisclosedEvent encoding (32-byte salt and the
                 canonical EventRecord); the leaf data is the salted
                 commitment SHA-256(\"liaison/1 event-commitment\" || 0x00 ||
                 salt || record), leaf hash = SHA-256(0x00 || commitment)
Encodings are the versioned postcard encodings of liaison-protocol; every
entry must re-encode to its exact bytes.
";

/// What to export.
#[derive(Debug)]
pub struct ExportOptions<'a> {
    /// The network's bundle (relay address, pin, log keys).
    pub bundle: &'a Bundle,
    /// The auditor's key, registered in the relay's `[logs] auditors`.
    pub key: &'a SecretKey,
    /// The export directory (created; an earlier export there is extended).
    pub out: &'a Path,
    /// The logs to export.
    pub logs: &'a [LogId],
}

fn keys_txt(bundle: &Bundle) -> Result<String> {
    let mut out = String::from(
        "# Verifier keys copied from the enrolment bundle at export time.\n\
         # Pin keys you obtained independently when verifying:\n\
         #   liaison-audit verify DIR --bundle B   or   --log-key VKEY ...\n",
    );
    out.push_str(&format!("network {}\n", bundle.network.escape_debug()));
    out.push_str(&format!("root_key {}\n", bundle.root_key));
    out.push_str(&format!("directory_log_key {}\n", bundle.directory_log_key));
    out.push_str(&format!("event_log_key {}\n", bundle.event_log_key));
    for w in bundle_witnesses(bundle)? {
        out.push_str(&format!("witness_key {}\n", w.to_vkey()));
    }
    out.push_str(&format!(
        "witness_quorum {}\n",
        bundle.quorum().map_err(|e| anyhow!("bundle: {e}"))?
    ));
    Ok(out)
}

/// The policy export verifies with: the bundle's log key and witnesses, no
/// quorum (a checkpoint is exported whatever its cosignatures).
fn export_policy(bundle: &Bundle, log: LogId) -> Result<LogPolicy> {
    let v = NoteVerifier::from_vkey(bundle_log_key(bundle, log).trim())
        .map_err(|e| anyhow!("the bundle has no usable {} log key: {e}", log.name()))?;
    LogPolicy::with_witnesses(v, bundle_witnesses(bundle)?, 0).map_err(|e| anyhow!("{e}"))
}

/// Held checkpoints of one log: file name and verified checkpoint.
fn load_history(
    cps_dir: &Path,
    policy: &LogPolicy,
    log: LogId,
    report: &mut Report,
) -> Result<Vec<(String, SignedCheckpoint)>> {
    let mut out = Vec::new();
    for item in
        std::fs::read_dir(cps_dir).with_context(|| format!("reading {}", cps_dir.display()))?
    {
        let item = item?;
        let file = item.file_name().to_string_lossy().into_owned();
        if parse_checkpoint_name(&file).is_none() {
            continue;
        }
        if out.len() >= MAX_CHECKPOINTS {
            bail!(
                "{} holds more than {MAX_CHECKPOINTS} checkpoints",
                cps_dir.display()
            );
        }
        let opened = read_bounded(&item.path(), MAX_NOTE_LEN as u64, false)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                policy
                    .open(&b)
                    .map_err(|e| explain_checkpoint_error(&e, &b, policy))
            });
        match opened {
            Ok(sc) => out.push((file, sc)),
            Err(e) => report.note(format!(
                "{}/checkpoints/{file} from an earlier export does not verify ({e}); kept as is, \
                 `verify` will report it",
                log.name()
            )),
        }
    }
    out.sort_by(|a, b| (a.1.checkpoint().size(), &a.0).cmp(&(b.1.checkpoint().size(), &b.0)));
    Ok(out)
}

/// Add a served checkpoint to the held history: a new size gets its file;
/// the same checkpoint again has its verified signatures merged in; another
/// root for a held size is a fork, kept as `<size>-<n>.note`.
fn store_checkpoint(
    log: LogId,
    cps_dir: &Path,
    served: &SignedCheckpoint,
    history: &mut Vec<(String, SignedCheckpoint)>,
    policy: &LogPolicy,
    report: &mut Report,
) -> Result<()> {
    let cp = served.checkpoint();
    let size = cp.size();
    if let Some((file, held)) = history.iter_mut().find(|(_, h)| h.checkpoint() == cp) {
        let mut merged = Note::parse(held.signed_note().as_bytes()).map_err(|e| anyhow!("{e}"))?;
        let before = merged.signatures().len();
        for sig in served.note().verified() {
            if !merged
                .signatures()
                .iter()
                .any(|s| s.name() == sig.name() && s.key_id() == sig.key_id())
            {
                merged
                    .add_signature(sig.clone())
                    .map_err(|e| anyhow!("{e}"))?;
            }
        }
        if merged.signatures().len() != before {
            let text = merged.encode().map_err(|e| anyhow!("{e}"))?;
            let reopened = policy.open(text.as_bytes()).map_err(|e| anyhow!("{e}"))?;
            write_atomic(&cps_dir.join(&*file), text.as_bytes(), true)?;
            *held = reopened;
        }
        return Ok(());
    }
    let same_size: Vec<String> = history
        .iter()
        .filter(|(_, h)| h.checkpoint().size() == size)
        .map(|(f, _)| f.clone())
        .collect();
    let file = if same_size.is_empty() {
        format!("{size}.note")
    } else {
        let mut n = 1u64;
        while cps_dir.join(format!("{size}-{n}.note")).exists() {
            n += 1;
        }
        let file = format!("{size}-{n}.note");
        report.fail(format!(
            "FORK in the {} log: the relay now serves a checkpoint of size {size} with root {}, \
             but {} from an earlier export signs another root for that size; both kept as \
             evidence ({}/checkpoints/{file})",
            log.name(),
            cp.root().to_base64(),
            same_size.join(", "),
            log.name()
        ));
        file
    };
    write_atomic(&cps_dir.join(&file), served.signed_note().as_bytes(), true)?;
    history.push((file, served.clone()));
    history.sort_by(|a, b| (a.1.checkpoint().size(), &a.0).cmp(&(b.1.checkpoint().size(), &b.0)));
    Ok(())
}

/// Contiguous entries already held, from index 0.
fn held_entries(entries_dir: &Path) -> Result<u64> {
    let mut held = BTreeSet::new();
    for item in std::fs::read_dir(entries_dir)
        .with_context(|| format!("reading {}", entries_dir.display()))?
    {
        if let Some(i) = parse_entry_name(&item?.file_name().to_string_lossy()) {
            held.insert(i);
        }
    }
    let mut n = 0u64;
    while held.contains(&n) {
        n += 1;
    }
    Ok(n)
}

async fn export_log(
    conn: &Connection,
    bundle: &Bundle,
    log: LogId,
    out: &Path,
    report: &mut Report,
) -> Result<()> {
    let name = log.name();
    let dir = out.join(name);
    let (cps_dir, entries_dir, proofs_dir) = (
        dir.join("checkpoints"),
        dir.join("entries"),
        dir.join("proofs"),
    );
    for d in [&cps_dir, &entries_dir, &proofs_dir] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let policy = export_policy(bundle, log)?;

    // Every checkpoint the relay serves: the newest, and the newest with 1
    // and with the bundle's quorum of cosignatures.
    let Some(latest) = fetch_checkpoint(conn, log, 0).await? else {
        report.note(format!("{name}: the relay has not signed a checkpoint yet"));
        return Ok(());
    };
    let latest = match policy.open(latest.as_bytes()) {
        Ok(sc) => sc,
        Err(e) => {
            report.fail(format!(
                "the relay's latest {name} checkpoint: {}",
                explain_checkpoint_error(&e, latest.as_bytes(), &policy)
            ));
            return Ok(());
        }
    };
    let mut served = vec![latest.clone()];
    if !policy.witnesses().is_empty() {
        let quorum = bundle.quorum().unwrap_or(0).max(1);
        let mut levels = vec![1u8, u8::try_from(quorum).unwrap_or(u8::MAX)];
        levels.dedup();
        for min in levels {
            if let Some(n) = fetch_checkpoint(conn, log, min).await? {
                match policy.open(n.as_bytes()) {
                    Ok(sc) => served.push(sc),
                    Err(e) => report.fail(format!(
                        "the relay's {name} checkpoint with {min} cosignature(s): {}",
                        explain_checkpoint_error(&e, n.as_bytes(), &policy)
                    )),
                }
            }
        }
    }

    let mut history = load_history(&cps_dir, &policy, log, report)?;
    if let Some((file, held)) = history.last()
        && held.checkpoint().size() > latest.checkpoint().size()
    {
        report.fail(format!(
            "ROLLBACK of the {name} log: the relay's latest checkpoint has size {}, but {name}/\
             checkpoints/{file} from an earlier export has size {}",
            latest.checkpoint().size(),
            held.checkpoint().size()
        ));
    }
    for sc in &served {
        store_checkpoint(log, &cps_dir, sc, &mut history, &policy, report)?;
    }

    // Consistency proofs between consecutive held sizes.
    let sizes: BTreeSet<u64> = history.iter().map(|(_, s)| s.checkpoint().size()).collect();
    let sizes: Vec<u64> = sizes.into_iter().collect();
    for pair in sizes.windows(2) {
        let [old, new] = pair else { continue };
        let (old, new) = (*old, *new);
        let path = proofs_dir.join(format!("{old}-{new}.proof"));
        if old == 0 || path.exists() {
            continue;
        }
        let proof = match fetch_proof(
            conn,
            Request::GetConsistency { log, old, new },
            "GetConsistency",
        )
        .await
        {
            Ok(p) => p,
            Err(RelayError::Refused(e)) => {
                report.fail(format!(
                    "INCONSISTENT {name} log: the relay cannot prove that its checkpoint of size \
                     {new} extends the held checkpoint of size {old}: {e}"
                ));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        write_atomic(&path, encode_proof_text(&proof).as_bytes(), false)?;
        for (fo, o) in history.iter().filter(|(_, s)| s.checkpoint().size() == old) {
            for (fnew, n) in history.iter().filter(|(_, s)| s.checkpoint().size() == new) {
                if let Err(e) = o.checkpoint().verify_consistency(n.checkpoint(), &proof) {
                    report.fail(format!(
                        "INCONSISTENT {name} log: the relay's proof does not show that \
                         {name}/checkpoints/{fnew} extends {name}/checkpoints/{fo}: {e}"
                    ));
                }
            }
        }
    }

    // Entries up to the newest checkpoint.
    let target = latest.checkpoint().size();
    if target > MAX_ENTRIES {
        bail!(
            "the relay's {name} checkpoint has {target} entries, more than this tool exports \
             ({MAX_ENTRIES})"
        );
    }
    let mut next = held_entries(&entries_dir)?;
    let first = next;
    let max_len = max_entry_len(log);
    while next < target {
        let want =
            u32::try_from((target - next).min(u64::from(ENTRY_BATCH))).unwrap_or(ENTRY_BATCH);
        let batch = fetch_entries(conn, log, next, want).await?;
        if batch.is_empty() {
            bail!(
                "the relay returned no {name} entries from index {next}, below its checkpoint \
                 size {target}"
            );
        }
        for entry in batch
            .into_iter()
            .take(usize::try_from(target - next).unwrap_or(usize::MAX))
        {
            let bytes = match (log, entry) {
                (LogId::Directory, LogEntry::Directory(b))
                | (LogId::Events, LogEntry::Event(b)) => b,
                (_, LogEntry::Commitment(_)) => bail!(
                    "the relay disclosed only commitments of the {name} log: this key is not \
                     treated as an auditor"
                ),
                _ => bail!("the relay answered with entries of another log"),
            };
            if bytes.len() > max_len {
                bail!("{name} entry {next} from the relay exceeds {max_len} bytes");
            }
            write_atomic(&entries_dir.join(format!("{next}.bin")), &bytes, false)?;
            next += 1;
        }
    }
    // Recompute the newest root from every held entry: the relay's entries
    // must match its own checkpoint, and the leaf list lets `verify` name
    // the exact entry that is later altered.
    let mut leaves = Vec::new();
    for index in 0..target {
        let path = entries_dir.join(format!("{index}.bin"));
        let bytes = read_bounded(&path, max_len as u64, false)
            .with_context(|| format!("reading {}", path.display()))?;
        leaves.push(match log {
            LogId::Directory => leaf_hash(&bytes),
            LogId::Events => match DisclosedEvent::decode(&bytes) {
                Ok(d) => d.leaf_hash(),
                Err(e) => {
                    report.fail(format!("{name} entry {index}: does not decode: {e}"));
                    return Ok(());
                }
            },
        });
    }
    if liaison_protocol::log::root(&leaves) != *latest.checkpoint().root() {
        report.fail(format!(
            "{name}: the entries held in {} do not hash to the root of the relay's checkpoint of \
             size {target} (the relay serves entries its checkpoint does not sign, or held \
             entries were altered); run `verify` for details",
            entries_dir.display()
        ));
    } else {
        let raw: Vec<u8> = leaves.iter().flat_map(|h| h.0).collect();
        write_atomic(&dir.join(LEAF_HASHES_FILE), &raw, false)?;
    }
    report.note(format!(
        "{name}: checkpoint size {target}, {} checkpoint(s) held, {} new entries fetched",
        history.len(),
        next.saturating_sub(first)
    ));
    Ok(())
}

/// Export the logs into `opts.out`, extending an earlier export there.
/// `Err` for usage, network and I/O problems; a rollback, fork or failing
/// relay proof is a failure in the returned report (the files are kept as
/// evidence).
pub async fn export(opts: &ExportOptions<'_>) -> Result<Report> {
    let conn = connect(opts.bundle).await?;
    authenticate_auditor(&conn, opts.key).await?;
    std::fs::create_dir_all(opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let mut report = Report::default();
    for &log in opts.logs {
        export_log(&conn, opts.bundle, log, opts.out, &mut report).await?;
    }
    write_atomic(
        &opts.out.join("README.txt"),
        EXPORT_README.as_bytes(),
        false,
    )?;
    let keys = keys_txt(opts.bundle)?;
    let keys_path = opts.out.join("keys.txt");
    if let Ok(old) = read_bounded(&keys_path, MAX_TEXT_FILE_LEN, false)
        && old != keys.as_bytes()
    {
        report.note(
            "keys.txt changed since the previous export (the bundle's keys differ); the new \
             keys were written",
        );
    }
    write_atomic(&keys_path, keys.as_bytes(), false)?;
    conn.close().await;
    Ok(report)
}

// ---------------------------------------------------------------------------
// Proofs for one message

/// Fetch the events of `message`, wait (up to `wait`) until a checkpoint of
/// the event log covers them, and write one verified tlog-proof per event
/// into `out_dir` as `<message>-<index>-<kind>.tlog-proof`.
pub async fn message_proofs(
    bundle: &Bundle,
    key: &SecretKey,
    message: MessageId,
    out_dir: &Path,
    wait: Duration,
) -> Result<Vec<(PathBuf, EventRecord)>> {
    let conn = connect(bundle).await?;
    authenticate_auditor(&conn, key).await?;
    let events = match conn
        .request(&Request::GetMessageEvents {
            message_id: message,
        })
        .await?
    {
        Response::MessageEvents { events } => events,
        other => return Err(unexpected("GetMessageEvents", &other)),
    };
    if events.is_empty() {
        bail!("the relay's event log holds no event of message {message}");
    }
    let policy = bundle
        .log_policy(LogId::Events)
        .map_err(|e| anyhow!("bundle: {e}"))?;
    let quorum = u8::try_from(policy.min_cosignatures()).unwrap_or(u8::MAX);
    let last = events.iter().map(|e| e.index).max().unwrap_or(0);
    let deadline = tokio::time::Instant::now() + wait;
    let note = loop {
        if let Some(note) = fetch_checkpoint(&conn, LogId::Events, quorum).await? {
            let signed = policy.open(note.as_bytes()).map_err(|e| {
                anyhow!(
                    "the relay's events checkpoint: {}",
                    explain_checkpoint_error(&e, note.as_bytes(), &policy)
                )
            })?;
            if signed.checkpoint().size() > last {
                break note;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "no events checkpoint covering index {last} within {} s; retry later",
                wait.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let proofs = event_proofs(
        async |req| Ok(conn.request(&req).await?),
        &events,
        &note,
        &policy,
    )
    .await?;
    let mut written = Vec::new();
    for (proof, record) in proofs {
        let path = out_dir.join(format!(
            "{message}-{}-{}.tlog-proof",
            proof.index(),
            record.kind.name()
        ));
        write_atomic(&path, proof.encode().as_bytes(), false)?;
        written.push((path, record));
    }
    conn.close().await;
    Ok(written)
}

/// One c2sp.org/tlog-proof per event of a message, each carrying the
/// disclosed event (salt and record) in its `extra` line, relative to the
/// signed checkpoint `note`. `request` asks the relay (an auditor's
/// connection, or a client's authenticated one) for the inclusion proofs;
/// the checkpoint must open under `policy` and cover every event, and each
/// proof is verified before it is returned.
pub async fn event_proofs(
    request: impl AsyncFn(Request) -> Result<Response>,
    events: &[IndexedEvent],
    note: &str,
    policy: &LogPolicy,
) -> Result<Vec<(TlogProof, EventRecord)>> {
    let signed = policy.open(note.as_bytes()).map_err(|e| {
        anyhow!(
            "the events checkpoint: {}",
            explain_checkpoint_error(&e, note.as_bytes(), policy)
        )
    })?;
    let size = signed.checkpoint().size();
    let mut out = Vec::with_capacity(events.len());
    for ev in events {
        if ev.index >= size {
            bail!(
                "event {} is not covered by the events checkpoint of size {size}; retry when the \
                 relay has signed a newer one",
                ev.index
            );
        }
        let d = DisclosedEvent::decode(&ev.event)
            .map_err(|e| anyhow!("event {} from the relay does not decode: {e}", ev.index))?;
        let record = d
            .decode_record()
            .map_err(|e| anyhow!("event {} from the relay does not decode: {e}", ev.index))?;
        let req = Request::GetInclusion {
            log: LogId::Events,
            index: ev.index,
            size,
        };
        let proof = match request(req).await? {
            Response::Proof { hashes } => hashes.into_iter().map(Hash).collect(),
            other => return Err(unexpected("GetInclusion", &other)),
        };
        let bundle_proof = TlogProof::new(ev.index, proof, note)
            .and_then(|p| p.with_extra(ev.event.clone()))
            .map_err(|e| anyhow!("event {}: cannot build a proof bundle: {e}", ev.index))?;
        bundle_proof.verify(&d.leaf_hash(), policy).map_err(|e| {
            anyhow!(
                "the relay's inclusion proof for event {} does not verify: {e}",
                ev.index
            )
        })?;
        out.push((bundle_proof, record));
    }
    Ok(out)
}

/// Compare two checkpoints whose sizes differ by asking the relay for a
/// consistency proof (RFC 9162 §2.1.4). `Ok(Ok(()))`: the larger extends the
/// smaller; `Ok(Err(why))`: proven or unprovable inconsistency.
pub async fn compare_with_relay(
    bundle: &Bundle,
    log: LogId,
    a: &Checkpoint,
    b: &Checkpoint,
) -> Result<std::result::Result<(), String>> {
    let (old, new) = if a.size() <= b.size() { (a, b) } else { (b, a) };
    let conn = connect(bundle).await?;
    let proof = fetch_proof(
        &conn,
        Request::GetConsistency {
            log,
            old: old.size(),
            new: new.size(),
        },
        "GetConsistency",
    )
    .await;
    conn.close().await;
    match proof {
        Ok(p) => Ok(old.verify_consistency(new, &p).map_err(|e| {
            format!(
                "the relay's consistency proof from size {} to {} does not verify ({e})",
                old.size(),
                new.size()
            )
        })),
        Err(RelayError::Refused(e)) => Ok(Err(format!(
            "the relay cannot prove that size {} extends size {} ({})",
            new.size(),
            old.size(),
            e.message
        ))),
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Witness

/// A witness's configuration.
#[derive(Debug)]
pub struct Witness<'a> {
    /// The bundle: relay address, pin, log keys.
    pub bundle: &'a Bundle,
    /// The witness's cosigning key.
    pub signer: &'a CosignatureSigner,
    /// The state directory: `<log>.note` holds the last checkpoint this
    /// witness cosigned, `evidence/` what it refused.
    pub state: &'a Path,
}

/// The state file of `log` in a witness state directory.
pub fn witness_state_path(state: &Path, log: LogId) -> PathBuf {
    state.join(format!("{}.note", log.name()))
}

fn write_evidence(
    state: &Path,
    log: LogId,
    what: &str,
    held: &str,
    served: &str,
    now: u64,
) -> Result<PathBuf> {
    let dir = state.join("evidence");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!("{}-{now}", log.name());
    write_atomic(
        &dir.join(format!("{stem}.held.note")),
        held.as_bytes(),
        true,
    )?;
    write_atomic(
        &dir.join(format!("{stem}.served.note")),
        served.as_bytes(),
        true,
    )?;
    let text = format!(
        "Liaison witness refusal\nlog: {}\nwhat: {what}\n\n--- checkpoint this witness cosigned before ---\n{held}\n--- checkpoint the relay served ---\n{served}",
        log.name()
    );
    let path = dir.join(format!("{stem}.txt"));
    write_atomic(&path, text.as_bytes(), true)?;
    Ok(path)
}

impl Witness<'_> {
    /// One round over both logs at `now` (seconds since the epoch, the
    /// cosignature timestamp). `Err` for usage, state, network and relay
    /// problems; a refusal (rollback, fork, failed consistency proof, bad
    /// log signature) is a failure in the report, with both checkpoints kept
    /// in `state/evidence/`.
    pub async fn round(&self, now: u64) -> Result<Report> {
        std::fs::create_dir_all(self.state)
            .with_context(|| format!("creating {}", self.state.display()))?;
        let conn = connect(self.bundle).await?;
        let mut report = Report::default();
        for log in LogId::ALL {
            self.witness_log(&conn, log, now, &mut report).await?;
        }
        conn.close().await;
        Ok(report)
    }

    async fn witness_log(
        &self,
        conn: &Connection,
        log: LogId,
        now: u64,
        report: &mut Report,
    ) -> Result<()> {
        let name = log.name();
        let key = NoteVerifier::from_vkey(bundle_log_key(self.bundle, log).trim())
            .map_err(|e| anyhow!("the bundle has no usable {name} log key: {e}"))?;
        let log_only = LogPolicy::new(key.clone()).map_err(|e| anyhow!("{e}"))?;
        let with_me = LogPolicy::with_witnesses(key, vec![self.signer.verifier()], 0)
            .map_err(|e| anyhow!("{e}"))?;
        let state_path = witness_state_path(self.state, log);
        let held = match read_bounded(&state_path, MAX_NOTE_LEN as u64, false) {
            Ok(bytes) => {
                let sc = log_only.open(&bytes).map_err(|e| {
                    anyhow!(
                        "witness state {} does not verify under the {name} log key: {e}; \
                         restore it from a backup",
                        state_path.display()
                    )
                })?;
                Some(sc)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
        };
        let Some(note) = fetch_checkpoint(conn, log, 0).await? else {
            report.note(format!("{name}: the relay has no checkpoint yet"));
            return Ok(());
        };
        let served = match with_me.open(note.as_bytes()) {
            Ok(sc) => sc,
            Err(e) => {
                let what = format!(
                    "the served checkpoint {}",
                    explain_checkpoint_error(&e, note.as_bytes(), &with_me)
                );
                let held_note = held.as_ref().map(|h| h.signed_note()).unwrap_or("");
                let ev = write_evidence(self.state, log, &what, held_note, &note, now)?;
                report.fail(format!(
                    "REFUSED to cosign the {name} log: {what}; evidence in {}",
                    ev.display()
                ));
                return Ok(());
            }
        };
        let new = served.checkpoint();
        if let Some(h) = &held {
            let old = h.checkpoint();
            let refusal = if new.size() < old.size() {
                Some(format!(
                    "rollback: the relay serves size {} after this witness cosigned size {}",
                    new.size(),
                    old.size()
                ))
            } else if new.size() == old.size() {
                (new.root() != old.root()).then(|| {
                    format!(
                        "inconsistent checkpoints (fork): size {} with root {}, but this witness \
                         cosigned root {}",
                        new.size(),
                        new.root().to_base64(),
                        old.root().to_base64()
                    )
                })
            } else if old.size() == 0 {
                None
            } else {
                match fetch_proof(
                    conn,
                    Request::GetConsistency {
                        log,
                        old: old.size(),
                        new: new.size(),
                    },
                    "GetConsistency",
                )
                .await
                {
                    Ok(p) => old.verify_consistency(new, &p).err().map(|e| {
                        format!(
                            "inconsistent checkpoints: the relay's proof that size {} extends the \
                             cosigned size {} does not verify ({e})",
                            new.size(),
                            old.size()
                        )
                    }),
                    Err(RelayError::Refused(e)) => Some(format!(
                        "inconsistent checkpoints: the relay cannot prove that size {} extends \
                         the cosigned size {} ({})",
                        new.size(),
                        old.size(),
                        e.message
                    )),
                    Err(e) => return Err(e.into()),
                }
            };
            if let Some(what) = refusal {
                let ev = write_evidence(self.state, log, &what, h.signed_note(), &note, now)?;
                report.fail(format!(
                    "REFUSED to cosign the {name} log: {what}; both signed checkpoints kept as \
                     evidence in {}",
                    ev.display()
                ));
                return Ok(());
            }
        }
        if !served.cosignatures().is_empty()
            && held
                .as_ref()
                .is_some_and(|h| h.checkpoint() == served.checkpoint())
        {
            report.note(format!(
                "{name}: size {} already cosigned by this witness",
                new.size()
            ));
            return Ok(());
        }
        let cosig = self
            .signer
            .cosign(new, now)
            .map_err(|e| anyhow!("cosigning: {e}"))?;
        let mut cosigned = Note::parse(note.as_bytes()).map_err(|e| anyhow!("{e}"))?;
        cosigned.add_signature(cosig).map_err(|e| anyhow!("{e}"))?;
        let cosigned = cosigned.encode().map_err(|e| anyhow!("{e}"))?;
        // Remember what was signed before anyone can see it: the state must
        // never lag behind a cosignature given out.
        write_atomic(&state_path, cosigned.as_bytes(), true)
            .with_context(|| format!("writing {}", state_path.display()))?;
        match conn
            .request(&Request::AddCosignature {
                log,
                note: cosigned,
            })
            .await
        {
            Ok(Response::Ok) => {}
            Ok(other) => return Err(unexpected("AddCosignature", &other)),
            Err(e) => {
                return Err(anyhow!(e).context(format!(
                    "the relay did not take the cosignature of the {name} checkpoint of size {}",
                    new.size()
                )));
            }
        }
        report.note(format!(
            "{name}: cosigned size {} (root {}) at {now}",
            new.size(),
            new.root().to_base64()
        ));
        Ok(())
    }
}

/// Seconds since the epoch from the system clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]
mod tests {
    use super::*;
    use liaison_protocol::directory::{DeviceKeys, FocalPointRecord, RecordStatus, endorse_device};
    use liaison_protocol::log::{NoteSigner, inclusion_proof, root};
    use liaison_protocol::{CountryCode, DirectoryId, Signed, Timestamp};

    const NET: &str = "test.liaison";

    fn signer(log: LogId, seed: u8) -> NoteSigner {
        NoteSigner::from_seed(&format!("{NET}/{}", log.name()), &[seed; 32]).unwrap()
    }

    fn policy(log: LogId) -> LogPolicy {
        LogPolicy::new(signer(log, 1).verifier()).unwrap()
    }

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32])
    }

    fn authority(
        root: &SecretKey,
        auth: &SecretKey,
        cc: &str,
        serial: u64,
        revoked: bool,
    ) -> DirectoryEntry {
        DirectoryEntry::Authority(Signed::sign(
            &AuthorityCertificate {
                country: CountryCode::parse(cc).unwrap(),
                name: format!("{cc} authority"),
                key: auth.public_key(),
                serial,
                not_before: Timestamp(0),
                not_after: Timestamp(u64::MAX / 2),
                revoked,
            },
            root,
        ))
    }

    fn record(auth: &SecretKey, id: &str, version: u64, device: u8) -> DirectoryEntry {
        let id = DirectoryId::parse(id).unwrap();
        let dk = DeviceKeys {
            signing: key(device).public_key(),
            agreement: [device; 32],
        };
        let endorsement = endorse_device(&key(100 + device), &id, &dk);
        DirectoryEntry::Record(Signed::sign(
            &FocalPointRecord {
                country: id.country(),
                id,
                version,
                name: "Officer".into(),
                agency: "DSI".into(),
                unit: String::new(),
                roles: vec![],
                languages: vec!["en".into()],
                time_zone: "UTC".into(),
                working_hours: String::new(),
                notes: String::new(),
                identity_key: key(100 + device).public_key(),
                device_endorsements: vec![endorsement],
                devices: vec![dk],
                not_before: Timestamp(0),
                not_after: Timestamp(u64::MAX / 2),
                status: RecordStatus::Active,
            },
            auth,
        ))
    }

    fn directory_entries() -> Vec<Vec<u8>> {
        let (root, th, ph) = (key(1), key(2), key(3));
        [
            authority(&root, &th, "TH", 1, false),
            authority(&root, &ph, "PH", 1, false),
            record(&th, "th.dsi.alice", 1, 10),
            record(&ph, "ph.pnp.bob", 1, 11),
            record(&th, "th.dsi.alice", 2, 12),
        ]
        .iter()
        .map(Wire::encode)
        .collect()
    }

    fn mid(n: u8) -> MessageId {
        MessageId([n; 16])
    }

    fn event_records() -> Vec<EventRecord> {
        let (a, b) = (key(10).public_key(), key(11).public_key());
        let kinds = vec![
            EventKind::Accepted {
                message_id: mid(1),
                sender_device: a,
                recipient_devices: vec![b],
                bytes: 120,
            },
            EventKind::Accepted {
                message_id: mid(2),
                sender_device: a,
                recipient_devices: vec![b],
                bytes: 80,
            },
            EventKind::Delivered {
                message_id: mid(1),
                recipient_device: b,
            },
            EventKind::Delivered {
                message_id: mid(2),
                recipient_device: b,
            },
            EventKind::Acknowledged {
                message_id: mid(1),
                recipient_device: b,
            },
            EventKind::Acknowledged {
                message_id: mid(2),
                recipient_device: b,
            },
            EventKind::Accepted {
                message_id: mid(3),
                sender_device: b,
                recipient_devices: vec![a],
                bytes: 64,
            },
        ];
        kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| EventRecord {
                seq: i as u64,
                time: Timestamp(1_700_000_000_000 + 10 * i as u64),
                kind,
            })
            .collect()
    }

    fn event_entries(records: &[EventRecord]) -> Vec<Vec<u8>> {
        records
            .iter()
            .enumerate()
            .map(|(i, r)| DisclosedEvent::new([i as u8 + 1; 32], r).encode())
            .collect()
    }

    fn leaves_of(log: LogId, entries: &[Vec<u8>]) -> Vec<Hash> {
        entries
            .iter()
            .map(|e| match log {
                LogId::Directory => leaf_hash(e),
                LogId::Events => DisclosedEvent::decode(e)
                    .map(|d| d.leaf_hash())
                    .unwrap_or_else(|_| leaf_hash(e)),
            })
            .collect()
    }

    fn note_at(log: LogId, leaves: &[Hash], size: usize, seed: u8) -> Vec<u8> {
        let s = signer(log, seed);
        Checkpoint::new(s.name(), size as u64, root(&leaves[..size]))
            .unwrap()
            .sign(&s)
            .unwrap()
            .encode()
            .unwrap()
            .into_bytes()
    }

    /// An export with checkpoints at `sizes` (all signed by the real key).
    fn export_of(log: LogId, entries: &[Vec<u8>], sizes: &[usize]) -> LogExport {
        let leaves = leaves_of(log, entries);
        LogExport {
            checkpoints: sizes
                .iter()
                .map(|&n| (format!("{n}.note"), note_at(log, &leaves, n, 1)))
                .collect(),
            proofs: Vec::new(),
            entries: entries
                .iter()
                .enumerate()
                .map(|(i, e)| (i as u64, EntryData::Inline(e.clone())))
                .collect(),
            leaf_hashes: None,
            problems: Vec::new(),
        }
    }

    fn run(log: LogId, ex: &LogExport) -> Report {
        let root_key = key(1).public_key();
        let mut report = Report::default();
        verify_log(log, ex, &policy(log), Some(&root_key), &mut report);
        report
    }

    fn inline(ex: &mut LogExport, i: u64) -> &mut Vec<u8> {
        match ex.entries.get_mut(&i).unwrap() {
            EntryData::Inline(b) => b,
            EntryData::File(_) => unreachable!(),
        }
    }

    #[test]
    fn a_good_directory_log_verifies() {
        let entries = directory_entries();
        let ex = export_of(LogId::Directory, &entries, &[2, 4, 5]);
        let report = run(LogId::Directory, &ex);
        assert!(report.is_ok(), "{}", report.render());
        let mut r = Report::default();
        let summary = verify_log(
            LogId::Directory,
            &ex,
            &policy(LogId::Directory),
            None,
            &mut r,
        );
        assert!(r.is_ok(), "{}", r.render());
        assert_eq!(summary.verified_size, 5);
        assert_eq!(summary.checkpoints, 3);
        assert!(
            r.notes()
                .iter()
                .any(|n| n.contains("no network root pinned"))
        );
    }

    #[test]
    fn a_good_event_log_verifies() {
        let entries = event_entries(&event_records());
        let ex = export_of(LogId::Events, &entries, &[1, 3, 7]);
        let report = run(LogId::Events, &ex);
        assert!(report.is_ok(), "{}", report.render());
    }

    #[test]
    fn a_flipped_byte_is_named() {
        let entries = directory_entries();
        for i in 0..entries.len() as u64 {
            for pos in [0usize, 1, 7, 40] {
                let mut ex = export_of(LogId::Directory, &entries, &[5]);
                let b = inline(&mut ex, i);
                let pos = pos % b.len();
                b[pos] ^= 0x01;
                let report = run(LogId::Directory, &ex);
                assert!(!report.is_ok());
                assert!(report.mentions("root mismatch"), "{}", report.render());
                assert!(
                    report.mentions("directory checkpoint 5.note"),
                    "{}",
                    report.render()
                );
            }
        }
        let records = event_records();
        let entries = event_entries(&records);
        let mut ex = export_of(LogId::Events, &entries, &[7]);
        let b = inline(&mut ex, 4);
        let last = b.len() - 1;
        b[last] ^= 0x01;
        let report = run(LogId::Events, &ex);
        assert!(
            report.mentions("events entry 4") || report.mentions("root mismatch"),
            "{}",
            report.render()
        );
        assert!(!report.is_ok());
        // The salt: still decodes, but the commitment changes.
        let mut ex = export_of(LogId::Events, &entries, &[7]);
        inline(&mut ex, 2)[3] ^= 0x80;
        let report = run(LogId::Events, &ex);
        assert!(
            report.mentions("root mismatch: recomputed"),
            "{}",
            report.render()
        );
        assert!(report.mentions("entries 0 to 6"), "{}", report.render());
    }

    #[test]
    fn missing_reordered_and_extra_entries_are_named() {
        let entries = event_entries(&event_records());
        let mut ex = export_of(LogId::Events, &entries, &[7]);
        ex.entries.remove(&3);
        ex.entries.remove(&4);
        let report = run(LogId::Events, &ex);
        assert!(
            report.mentions("events entries missing between 3 and 4"),
            "{}",
            report.render()
        );
        assert!(
            report.mentions("cannot be recomputed"),
            "{}",
            report.render()
        );

        let mut ex = export_of(LogId::Events, &entries, &[7]);
        ex.entries.remove(&6);
        let report = run(LogId::Events, &ex);
        assert!(
            report.mentions("events entry 6 is missing"),
            "{}",
            report.render()
        );

        let mut ex = export_of(LogId::Events, &entries, &[7]);
        let a = ex.entries.remove(&2).unwrap();
        let b = ex.entries.remove(&3).unwrap();
        ex.entries.insert(2, b);
        ex.entries.insert(3, a);
        let report = run(LogId::Events, &ex);
        assert!(
            report.mentions("events entry 2: sequence number 3 is not its position"),
            "{}",
            report.render()
        );
        assert!(report.mentions("reordered"), "{}", report.render());
        assert!(report.mentions("root mismatch"), "{}", report.render());

        let dir = directory_entries();
        let mut ex = export_of(LogId::Directory, &dir, &[5]);
        let a = ex.entries.remove(&0).unwrap();
        let b = ex.entries.remove(&1).unwrap();
        ex.entries.insert(0, b);
        ex.entries.insert(1, a);
        let report = run(LogId::Directory, &ex);
        assert!(report.mentions("root mismatch"), "{}", report.render());

        // Entries beyond every checkpoint are unauthenticated.
        let ex = export_of(LogId::Events, &entries, &[5]);
        let report = run(LogId::Events, &ex);
        assert!(
            report.mentions("entries 5 to 6 are not covered"),
            "{}",
            report.render()
        );
    }

    #[test]
    fn authenticated_leaf_hashes_name_the_exact_entry() {
        let entries = event_entries(&event_records());
        let leaves = leaves_of(LogId::Events, &entries);
        let with_list = |ex: &mut LogExport| {
            ex.leaf_hashes = Some(leaves.iter().flat_map(|h| h.0).collect());
        };
        let mut ex = export_of(LogId::Events, &entries, &[3, 7]);
        with_list(&mut ex);
        assert!(run(LogId::Events, &ex).is_ok());

        inline(&mut ex, 5)[2] ^= 0x01;
        let r = run(LogId::Events, &ex);
        assert!(
            r.mentions("events entry 5 is not the entry the log signed at index 5: altered"),
            "{}",
            r.render()
        );
        assert!(!r.mentions("events entry 4 "), "{}", r.render());

        let mut ex = export_of(LogId::Events, &entries, &[7]);
        with_list(&mut ex);
        let a = ex.entries.remove(&1).unwrap();
        let b = ex.entries.remove(&5).unwrap();
        ex.entries.insert(1, b);
        ex.entries.insert(5, a);
        let r = run(LogId::Events, &ex);
        assert!(
            r.mentions(
                "events entry 1 holds the entry the log signed at index 5: entries reordered"
            ),
            "{}",
            r.render()
        );
        assert!(
            r.mentions("events entry 5 holds the entry the log signed at index 1"),
            "{}",
            r.render()
        );

        // A deleted entry: the rest still match their signed leaves.
        let mut ex = export_of(LogId::Events, &entries, &[7]);
        with_list(&mut ex);
        ex.entries.remove(&2);
        let r = run(LogId::Events, &ex);
        assert!(r.mentions("events entry 2 is missing"), "{}", r.render());
        assert!(!r.mentions("events entry 3 "), "{}", r.render());

        // A list that no checkpoint authenticates is not used.
        let mut ex = export_of(LogId::Events, &entries, &[7]);
        with_list(&mut ex);
        ex.leaf_hashes.as_mut().unwrap()[40] ^= 1;
        let r = run(LogId::Events, &ex);
        assert!(
            r.mentions("leaf-hashes.bin: its 7 leaf hashes match no verified checkpoint"),
            "{}",
            r.render()
        );
        ex.leaf_hashes = Some(vec![0; 33]);
        assert!(run(LogId::Events, &ex).mentions("not a multiple of 32"));
    }

    #[test]
    fn checkpoints_by_other_keys_forks_and_bad_names() {
        let entries = directory_entries();
        let leaves = leaves_of(LogId::Directory, &entries);
        let mut ex = export_of(LogId::Directory, &entries, &[3, 5]);
        ex.checkpoints[0].1 = note_at(LogId::Directory, &leaves, 3, 9);
        let report = run(LogId::Directory, &ex);
        assert!(
            report.mentions("checkpoint directory/3.note: signature by unknown key"),
            "{}",
            report.render()
        );
        assert_eq!(report.failure_count(), 1, "{}", report.render());

        // A fork: the log key signed two roots for size 5.
        let mut ex = export_of(LogId::Directory, &entries, &[5]);
        let mut other = leaves.clone();
        other[4] = leaf_hash(b"another history");
        ex.checkpoints
            .push(("5-1.note".into(), note_at(LogId::Directory, &other, 5, 1)));
        let report = run(LogId::Directory, &ex);
        assert!(
            report.mentions("FORK in the directory log: checkpoints 5-1.note and 5.note"),
            "{}",
            report.render()
        );
        assert!(
            report.mentions("checkpoint 5-1.note: root mismatch"),
            "{}",
            report.render()
        );

        // A file name lying about the size.
        let mut ex = export_of(LogId::Directory, &entries, &[5]);
        ex.checkpoints[0].0 = "4.note".into();
        let report = run(LogId::Directory, &ex);
        assert!(
            report.mentions("the file name says size 4, the signed checkpoint says 5"),
            "{}",
            report.render()
        );

        // A flipped byte in the note.
        let mut ex = export_of(LogId::Directory, &entries, &[5]);
        let n = ex.checkpoints[0].1.len();
        ex.checkpoints[0].1[n - 10] ^= 1;
        let report = run(LogId::Directory, &ex);
        assert!(
            report.mentions("checkpoint directory/5.note"),
            "{}",
            report.render()
        );

        // No checkpoint at all.
        let mut ex = export_of(LogId::Directory, &entries, &[]);
        ex.checkpoints.clear();
        let report = run(LogId::Directory, &ex);
        assert!(
            report.mentions("no checkpoint verifies"),
            "{}",
            report.render()
        );
    }

    #[test]
    fn witness_quorum_is_enforced() {
        let entries = directory_entries();
        let leaves = leaves_of(LogId::Directory, &entries);
        let w = CosignatureSigner::from_seed("witness.test", &[5; 32]).unwrap();
        let s = signer(LogId::Directory, 1);
        let cp = Checkpoint::new(s.name(), 5, root(&leaves)).unwrap();
        let mut note = cp.sign(&s).unwrap();
        let plain = note.encode().unwrap();
        note.add_signature(w.cosign(&cp, 1_700_000_000).unwrap())
            .unwrap();
        let cosigned = note.encode().unwrap();
        let quorum = LogPolicy::with_witnesses(s.verifier(), vec![w.verifier()], 1).unwrap();
        let mut ex = export_of(LogId::Directory, &entries, &[]);
        ex.checkpoints = vec![("5.note".into(), cosigned.into_bytes())];
        let mut r = Report::default();
        verify_log(LogId::Directory, &ex, &quorum, None, &mut r);
        assert!(r.is_ok(), "{}", r.render());
        ex.checkpoints = vec![("5.note".into(), plain.into_bytes())];
        let mut r = Report::default();
        verify_log(LogId::Directory, &ex, &quorum, None, &mut r);
        assert!(
            r.mentions("0 trusted cosignatures, policy requires 1"),
            "{}",
            r.render()
        );
    }

    #[test]
    fn directory_chain_is_checked() {
        let (root_k, th, rogue) = (key(1), key(2), key(7));
        let build = |entries: Vec<DirectoryEntry>| {
            let bytes: Vec<Vec<u8>> = entries.iter().map(Wire::encode).collect();
            let n = bytes.len();
            run(LogId::Directory, &export_of(LogId::Directory, &bytes, &[n]))
        };
        // Certified by a key that is not the pinned root.
        let r = build(vec![authority(&rogue, &th, "TH", 1, false)]);
        assert!(r.mentions("directory entry 0: authority certificate for TH does not verify against the pinned network root"), "{}", r.render());
        // A record from an authority never certified.
        let r = build(vec![
            authority(&root_k, &th, "TH", 1, false),
            record(&rogue, "th.dsi.eve", 1, 20),
        ]);
        assert!(
            r.mentions("directory entry 1: record th.dsi.eve is signed by key"),
            "{}",
            r.render()
        );
        // An authority signing for another country.
        let r = build(vec![
            authority(&root_k, &th, "TH", 1, false),
            record(&th, "ph.pnp.bob", 1, 20),
        ]);
        assert!(
            r.mentions("directory entry 1: record ph.pnp.bob does not verify"),
            "{}",
            r.render()
        );
        // A record after its authority's revocation.
        let r = build(vec![
            authority(&root_k, &th, "TH", 1, false),
            authority(&root_k, &th, "TH", 2, true),
            record(&th, "th.dsi.alice", 1, 20),
        ]);
        assert!(r.mentions("directory entry 2: record th.dsi.alice is signed by an authority key revoked at entry 1"), "{}", r.render());
        // A version that does not increase.
        let r = build(vec![
            authority(&root_k, &th, "TH", 1, false),
            record(&th, "th.dsi.alice", 2, 20),
            record(&th, "th.dsi.alice", 2, 21),
        ]);
        assert!(r.mentions("directory entry 2: record th.dsi.alice version 2 does not supersede version 2 of entry 1"), "{}", r.render());
    }

    #[test]
    fn event_semantics_are_checked() {
        let records = event_records();
        let check = |records: &[EventRecord]| {
            let entries = event_entries(records);
            run(
                LogId::Events,
                &export_of(LogId::Events, &entries, &[entries.len()]),
            )
        };
        let mut orphan = records.clone();
        orphan.swap(0, 2);
        orphan[0].seq = 0;
        orphan[2].seq = 2;
        let r = check(&orphan);
        assert!(
            r.mentions("events entry 0: delivered of message"),
            "{}",
            r.render()
        );
        let mut back = records.clone();
        back[5].time = Timestamp(1);
        let r = check(&back);
        assert!(r.mentions("events entry 5: time"), "{}", r.render());
        let mut twice = records.clone();
        twice[6].kind = twice[0].kind.clone();
        let r = check(&twice);
        assert!(r.mentions("accepted twice"), "{}", r.render());
        let mut gap = records.clone();
        gap[3].seq = 9;
        let r = check(&gap);
        assert!(
            r.mentions("events entry 3: sequence number 9"),
            "{}",
            r.render()
        );
    }

    #[test]
    fn non_canonical_entries_are_named() {
        let records = event_records();
        let mut entries = event_entries(&records);
        // Trailing bytes after a valid disclosed event.
        entries[1].push(0);
        let r = run(LogId::Events, &export_of(LogId::Events, &entries, &[]));
        assert!(
            r.mentions("events entry 1: does not decode as a disclosed event"),
            "{}",
            r.render()
        );
        // A record with a non-minimal varint for `seq` (0 as 0x80 0x00),
        // committed to and signed as such.
        let mut entries = event_entries(&records);
        let mut rec = records[0].encode();
        assert_eq!(rec[1], 0);
        rec.splice(1..2, [0x80, 0x00]);
        entries[0] = DisclosedEvent {
            salt: [1; 32],
            record: rec,
        }
        .encode();
        let r = run(LogId::Events, &export_of(LogId::Events, &entries, &[7]));
        assert!(!r.is_ok());
        assert!(r.mentions("events entry 0"), "{}", r.render());
        assert!(!r.mentions("root mismatch"), "{}", r.render());
    }

    #[test]
    fn relay_consistency_proofs_are_checked() {
        let entries = directory_entries();
        let leaves = leaves_of(LogId::Directory, &entries);
        let mut ex = export_of(LogId::Directory, &entries, &[3, 5]);
        let proof = liaison_protocol::log::consistency_proof(&leaves, 3, 5).unwrap();
        ex.proofs
            .push(("3-5.proof".into(), encode_proof_text(&proof).into_bytes()));
        assert!(run(LogId::Directory, &ex).is_ok());
        let mut bad = proof.clone();
        bad[0] = leaf_hash(b"x");
        ex.proofs[0].1 = encode_proof_text(&bad).into_bytes();
        let r = run(LogId::Directory, &ex);
        assert!(
            r.mentions("INCONSISTENT directory log: the relay's consistency proof 3-5.proof"),
            "{}",
            r.render()
        );
        ex.proofs[0].1 = b"not base64\n".to_vec();
        assert!(run(LogId::Directory, &ex).mentions("malformed proof"));
        assert_eq!(parse_proof_text(b"").unwrap(), vec![]);
        assert!(parse_proof_text(encode_proof_text(&proof).trim_end().as_bytes()).is_err());
    }

    #[test]
    fn names_are_strict() {
        assert_eq!(parse_checkpoint_name("12.note"), Some(12));
        assert_eq!(parse_checkpoint_name("12-1.note"), Some(12));
        assert_eq!(parse_checkpoint_name("0.note"), Some(0));
        for bad in [
            "012.note",
            "12-0.note",
            "12-01.note",
            "12.notes",
            "a.note",
            "-1.note",
            "12",
        ] {
            assert_eq!(parse_checkpoint_name(bad), None, "{bad}");
        }
        assert_eq!(parse_entry_name("0.bin"), Some(0));
        assert_eq!(parse_entry_name("00.bin"), None);
        assert_eq!(parse_entry_name("1.bin.tmp"), None);
        assert_eq!(parse_proof_name("3-5.proof"), Some((3, 5)));
        assert_eq!(parse_proof_name("3-05.proof"), None);
        assert_eq!(log_of_key_name("liaison-dev/events"), Some(LogId::Events));
        assert_eq!(log_of_key_name("liaison-dev/other"), None);
    }

    /// Deterministic xorshift bytes, for the no-panic test.
    fn noise(state: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                *state as u8
            })
            .collect()
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let entries = directory_entries();
        let leaves = leaves_of(LogId::Directory, &entries);
        let good_note = note_at(LogId::Directory, &leaves, 5, 1);
        let mut s = 0x1234_5678_9abc_def0u64;
        for round in 0..300 {
            let len = (round * 7) % 300;
            for log in LogId::ALL {
                let mut ex = export_of(log, &[], &[]);
                ex.entries.insert(0, EntryData::Inline(noise(&mut s, len)));
                ex.entries
                    .insert(2, EntryData::Inline(noise(&mut s, len / 2)));
                let mut note = good_note.clone();
                if !note.is_empty() {
                    let i = round % note.len();
                    note[i] = noise(&mut s, 1)[0];
                }
                ex.checkpoints.push(("5.note".into(), note));
                ex.checkpoints.push(("1.note".into(), noise(&mut s, len)));
                ex.proofs.push(("1-5.proof".into(), noise(&mut s, len)));
                let r = run(log, &ex);
                assert!(!r.is_ok());
            }
            let trust = Trust::default().with_policy(LogId::Events, policy(LogId::Events));
            assert!(verify_proof_bundle(&noise(&mut s, len), &trust).is_err());
        }
        // Oversized inline entries are refused before decoding.
        let mut ex = export_of(LogId::Events, &[], &[]);
        ex.entries
            .insert(0, EntryData::Inline(vec![1; DisclosedEvent::MAX_LEN + 1]));
        assert!(run(LogId::Events, &ex).mentions("exceeds the limit"));
    }

    fn trust_events() -> Trust {
        Trust::default()
            .with_policy(LogId::Events, policy(LogId::Events))
            .with_policy(LogId::Directory, policy(LogId::Directory))
    }

    #[test]
    fn proof_bundles_verify_and_tampering_fails() {
        let records = event_records();
        let entries = event_entries(&records);
        let leaves = leaves_of(LogId::Events, &entries);
        let note = String::from_utf8(note_at(LogId::Events, &leaves, 7, 1)).unwrap();
        let bundle = |i: usize, extra: Vec<u8>| {
            TlogProof::new(
                i as u64,
                inclusion_proof(&leaves, i as u64, 7).unwrap(),
                &note,
            )
            .unwrap()
            .with_extra(extra)
            .unwrap()
            .encode()
        };
        let ok =
            verify_proof_bundle(bundle(4, entries[4].clone()).as_bytes(), &trust_events()).unwrap();
        assert_eq!(ok.index, 4);
        assert_eq!(ok.log, LogId::Events);
        assert_eq!(ok.checkpoint.checkpoint().size(), 7);
        match &ok.leaf {
            DisclosedLeaf::Event { record, .. } => {
                assert_eq!(record, &records[4]);
                assert!(describe_event(record).contains("acknowledged by device"));
            }
            other => panic!("{other:?}"),
        }
        // Another event's data at this index.
        let e = verify_proof_bundle(bundle(4, entries[5].clone()).as_bytes(), &trust_events())
            .unwrap_err();
        assert!(
            e.contains("sequence number 5 but the proof is for index 4"),
            "{e}"
        );
        // Salt changed: the leaf is not in the tree.
        let mut d = DisclosedEvent::decode(&entries[4]).unwrap();
        d.salt[0] ^= 1;
        let e = verify_proof_bundle(bundle(4, d.encode()).as_bytes(), &trust_events()).unwrap_err();
        assert!(e.contains("inclusion proof does not verify"), "{e}");
        // No extra.
        let plain = TlogProof::new(4, inclusion_proof(&leaves, 4, 7).unwrap(), &note)
            .unwrap()
            .encode();
        assert!(
            verify_proof_bundle(plain.as_bytes(), &trust_events())
                .unwrap_err()
                .contains("no `extra`")
        );
        // Another log key.
        let other = Trust::default().with_policy(
            LogId::Events,
            LogPolicy::new(signer(LogId::Events, 9).verifier()).unwrap(),
        );
        let e = verify_proof_bundle(bundle(4, entries[4].clone()).as_bytes(), &other).unwrap_err();
        assert!(e.contains("signature by unknown key"), "{e}");
        // No key for the origin.
        let e = verify_proof_bundle(bundle(4, entries[4].clone()).as_bytes(), &Trust::default())
            .unwrap_err();
        assert!(e.contains("matches no pinned log key"), "{e}");

        // A directory entry.
        let dir = directory_entries();
        let dl = leaves_of(LogId::Directory, &dir);
        let dnote = String::from_utf8(note_at(LogId::Directory, &dl, 5, 1)).unwrap();
        let p = TlogProof::new(2, inclusion_proof(&dl, 2, 5).unwrap(), &dnote)
            .unwrap()
            .with_extra(dir[2].clone())
            .unwrap()
            .encode();
        let ok = verify_proof_bundle(p.as_bytes(), &trust_events()).unwrap();
        match ok.leaf {
            DisclosedLeaf::Directory(e) => {
                assert!(describe_directory_entry(&e).contains("th.dsi.alice version 1"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn offline_comparison() {
        let leaves: Vec<Hash> = (0..9u8).map(|i| leaf_hash(&[i])).collect();
        let at =
            |n: usize| Checkpoint::new("o.example/events", n as u64, root(&leaves[..n])).unwrap();
        assert_eq!(compare_offline(&at(5), &at(5)), Comparison::Identical);
        assert_eq!(compare_offline(&at(0), &at(5)), Comparison::Extends);
        assert_eq!(
            compare_offline(&at(9), &at(5)),
            Comparison::NeedsProof { old: 5, new: 9 }
        );
        let fork = Checkpoint::new("o.example/events", 5, leaf_hash(b"f")).unwrap();
        assert_eq!(compare_offline(&at(5), &fork), Comparison::Fork);
    }

    #[test]
    fn trust_from_flags() {
        let d = signer(LogId::Directory, 1).verifier().to_vkey();
        let e = signer(LogId::Events, 1).verifier().to_vkey();
        let t = Trust::from_args(None, &[d.clone(), e.clone()], &[], None, None).unwrap();
        assert_eq!(t.policy(LogId::Events).unwrap().log().to_vkey(), e);
        assert!(t.root().is_none());
        assert_eq!(
            t.policy_for_origin("test.liaison/directory").unwrap().0,
            LogId::Directory
        );
        let w = CosignatureSigner::from_seed("w.example", &[3; 32])
            .unwrap()
            .verifier()
            .to_vkey();
        let t = Trust::from_args(
            None,
            std::slice::from_ref(&d),
            std::slice::from_ref(&w),
            None,
            None,
        )
        .unwrap();
        assert_eq!(t.policy(LogId::Directory).unwrap().min_cosignatures(), 1);
        assert!(Trust::from_args(None, std::slice::from_ref(&d), &[w], Some(2), None).is_err());
        assert!(Trust::from_args(None, &[], &[], None, None).is_err());
        let odd = NoteSigner::from_seed("test.liaison/other", &[1; 32])
            .unwrap()
            .verifier()
            .to_vkey();
        assert!(Trust::from_args(None, &[odd], &[], None, None).is_err());
        assert!(Trust::from_args(None, &["nonsense".into()], &[], None, None).is_err());
    }

    struct Scratch(PathBuf);
    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let p = std::env::temp_dir().join(format!(
                "liaison-audit-unit-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Scratch(p)
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write_export(dir: &Path, log: LogId, ex: &LogExport) {
        let ld = dir.join(log.name());
        for sub in ["checkpoints", "entries", "proofs"] {
            std::fs::create_dir_all(ld.join(sub)).unwrap();
        }
        for (n, b) in &ex.checkpoints {
            write_atomic(&ld.join("checkpoints").join(n), b, false).unwrap();
        }
        for (i, d) in &ex.entries {
            let EntryData::Inline(b) = d else {
                unreachable!()
            };
            write_atomic(&ld.join("entries").join(format!("{i}.bin")), b, false).unwrap();
        }
    }

    #[test]
    fn export_directories_on_disk() {
        let scratch = Scratch::new("disk");
        let dir = scratch.0.join("export");
        let dentries = directory_entries();
        let eentries = event_entries(&event_records());
        write_export(
            &dir,
            LogId::Directory,
            &export_of(LogId::Directory, &dentries, &[2, 5]),
        );
        write_export(
            &dir,
            LogId::Events,
            &export_of(LogId::Events, &eentries, &[7]),
        );
        std::fs::write(dir.join("README.txt"), EXPORT_README).unwrap();
        let trust = trust_events().with_root(key(1).public_key());
        let (report, summaries) = verify_export(&dir, &trust).unwrap();
        assert!(report.is_ok(), "{}", report.render());
        assert_eq!(summaries.len(), 2);

        // Hostile files: an oversized entry, a directory and a symlink where
        // entries belong, a stray file, a leftover temporary file.
        let entries = dir.join("events").join("entries");
        std::fs::write(
            entries.join("3.bin"),
            vec![0u8; DisclosedEvent::MAX_LEN + 1],
        )
        .unwrap();
        std::fs::remove_file(entries.join("4.bin")).unwrap();
        std::fs::create_dir(entries.join("4.bin")).unwrap();
        #[cfg(unix)]
        {
            std::fs::remove_file(entries.join("5.bin")).unwrap();
            std::os::unix::fs::symlink("/etc/passwd", entries.join("5.bin")).unwrap();
        }
        std::fs::write(entries.join(".6.bin.tmp1"), b"x").unwrap();
        std::fs::write(dir.join("notes.txt"), b"x").unwrap();
        let (report, _) = verify_export(&dir, &trust).unwrap();
        let text = report.render();
        assert!(report.mentions("events entry 3: cannot be read"), "{text}");
        assert!(report.mentions("exceeds the limit"), "{text}");
        assert!(
            report.mentions("events entry 4: cannot be read: not a regular file"),
            "{text}"
        );
        #[cfg(unix)]
        assert!(
            report.mentions("events entry 5: cannot be read: not a regular file"),
            "{text}"
        );
        assert!(
            report.mentions("events/entries/.6.bin.tmp1: unexpected file"),
            "{text}"
        );
        assert!(report.mentions("notes.txt: unexpected file"), "{text}");

        // Usage errors: nothing to verify, or no key for a log present.
        let empty = scratch.0.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(verify_export(&empty, &trust).is_err());
        assert!(verify_export(&scratch.0.join("absent"), &trust).is_err());
        let only_dir = Trust::default().with_policy(LogId::Directory, policy(LogId::Directory));
        assert!(
            verify_export(&dir, &only_dir)
                .unwrap_err()
                .to_string()
                .contains("no key is pinned")
        );
    }

    #[test]
    fn atomic_writes_and_bounded_reads() {
        let scratch = Scratch::new("io");
        let p = scratch.0.join("state.note");
        write_atomic(&p, b"one", true).unwrap();
        write_atomic(&p, b"two", true).unwrap();
        assert_eq!(read_bounded(&p, 3, false).unwrap(), b"two");
        assert!(read_bounded(&p, 2, false).is_err());
        assert_eq!(std::fs::read_dir(&scratch.0).unwrap().count(), 1);
    }
}
