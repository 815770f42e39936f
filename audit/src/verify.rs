//! Offline verification of an export: every check recomputed from the
//! entries, every problem reported with the file, index or checkpoint it
//! concerns.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use liaison_protocol::PublicKey;
use liaison_protocol::codec::Wire;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::{
    DirectoryEntry, DisclosedEvent, EventRecord, SemanticsError, check_semantics,
};
use liaison_protocol::log::note::MAX_NOTE_LEN;
use liaison_protocol::log::{
    CheckpointRelation, CompactRange, Hash, LogPolicy, SignedCheckpoint, compare_checkpoints,
    explain_checkpoint_error, key_label, leaf_hash,
};

use crate::chain::DirectoryChain;
use crate::error::AuditError;
use crate::files::{MAX_TEXT_FILE_LEN, read_bounded};
use crate::layout::{
    LEAF_HASHES_FILE, MAX_CHECKPOINTS, MAX_ENTRIES, MAX_PROOF_FILE_LEN, keys_txt_field,
    max_entry_len, parse_checkpoint_name, parse_entry_name, parse_keys_txt, parse_proof_name,
    parse_proof_text,
};
use crate::report::Report;
use crate::trust::Trust;

/// An entry's bytes, in memory or in a file read when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryData {
    /// Bytes in memory.
    Inline(Vec<u8>),
    /// A file in an export, read (size-bounded) when verified.
    File(PathBuf),
}

impl EntryData {
    /// The bytes, or why they are unusable (for the report).
    pub(crate) fn load(&self, max: usize) -> Result<Cow<'_, [u8]>, String> {
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

/// Checkpoints that verified, with their file names, by increasing size.
type Verified = Vec<(String, SignedCheckpoint)>;

/// Read `<dir>/<log>/` of an export. Only I/O errors on the directories
/// themselves are errors; everything about the files is left to
/// [`verify_log`], which reports it.
pub fn read_log_export(log_dir: &Path, log: LogId) -> Result<LogExport, AuditError> {
    let name = log.name();
    let mut ex = LogExport::default();
    let unreadable = || AuditError::io("reading", log_dir);
    for item in std::fs::read_dir(log_dir).map_err(unreadable())? {
        let item = item.map_err(unreadable())?;
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
    for (file, path) in list_files(log_dir, log, "checkpoints", MAX_CHECKPOINTS as u64, &mut ex)? {
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
    for (file, path) in list_files(log_dir, log, "proofs", MAX_CHECKPOINTS as u64, &mut ex)? {
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
    for (file, path) in list_files(log_dir, log, "entries", MAX_ENTRIES, &mut ex)? {
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

/// The files of `<log_dir>/<sub>` (none if it is absent), at most `limit`
/// of them; more is a problem of the export.
fn list_files(
    log_dir: &Path,
    log: LogId,
    sub: &str,
    limit: u64,
    ex: &mut LogExport,
) -> Result<Vec<(String, PathBuf)>, AuditError> {
    let d = log_dir.join(sub);
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(AuditError::io("reading", &d)(e)),
    };
    for item in rd {
        let item = item.map_err(AuditError::io("reading", &d))?;
        if out.len() as u64 >= limit {
            ex.problems.push(format!(
                "{}/{sub}: more than {limit} files; the rest were not read",
                log.name()
            ));
            break;
        }
        out.push((item.file_name().to_string_lossy().into_owned(), item.path()));
    }
    Ok(out)
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
    for p in &export.problems {
        report.fail(p.clone());
    }
    let verified = open_checkpoints(log, &export.checkpoints, policy, report);
    let max_cp = verified
        .last()
        .map(|(_, s)| s.checkpoint().size())
        .unwrap_or(0);
    let presence = report_missing_entries(log, &export.entries, max_cp, report);
    let hashed = check_entries(log, &export.entries, presence.contiguous, root, report);
    let roots = check_roots(log, &verified, &hashed.prefix, report);
    if let Some(raw) = &export.leaf_hashes {
        localise(log, raw, &verified, &hashed.by_index, report);
    }
    report_forks(log, &verified, report);
    check_relay_proofs(log, &export.proofs, &verified, report);

    let name = log.name();
    if presence.count > max_cp && !verified.is_empty() {
        report.fail(format!(
            "{name} entries {max_cp} to {} are not covered by any verified checkpoint \
             (unauthenticated)",
            presence.count - 1
        ));
    }
    if log == LogId::Directory && root.is_none() && presence.contiguous > 0 {
        report.note(
            "directory: no network root pinned (--bundle or --root-key); authority certificates \
             were checked against their claimed signer only",
        );
    }
    LogSummary {
        entries: export.entries.len() as u64,
        checkpoints: verified.len(),
        roots_matched: roots.matched,
        verified_size: roots.verified_size,
    }
}

/// Open every checkpoint file under the pinned policy
/// (c2sp.org/tlog-checkpoint) and check that its name states its size.
/// Returns those that verified, by increasing size.
fn open_checkpoints(
    log: LogId,
    files: &[(String, Vec<u8>)],
    policy: &LogPolicy,
    report: &mut Report,
) -> Verified {
    let name = log.name();
    let mut verified = Verified::new();
    for (file, bytes) in files {
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
    if verified.is_empty() {
        report.fail(format!(
            "{name} log: no checkpoint verifies under the pinned key {}; nothing in this log is \
             authenticated",
            key_label(policy.log())
        ));
    }
    verified
}

/// Which entries an export holds.
struct Presence {
    /// One past the highest index present.
    count: u64,
    /// Entries `0..contiguous` are all present.
    contiguous: u64,
}

/// Report every gap in the entries, up to the largest verified checkpoint
/// size.
fn report_missing_entries(
    log: LogId,
    entries: &BTreeMap<u64, EntryData>,
    max_cp: u64,
    report: &mut Report,
) -> Presence {
    let name = log.name();
    let count = entries
        .keys()
        .next_back()
        .map(|i| i.saturating_add(1))
        .unwrap_or(0);
    let span = count.max(max_cp);
    let mut missing: Vec<(u64, u64)> = Vec::new();
    let mut expect = 0u64;
    for &i in entries.keys() {
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
    Presence { count, contiguous }
}

/// The leaf hashes of an export's entries.
struct Hashed {
    /// Of the contiguous, usable prefix, in order: the roots are recomputed
    /// from these.
    prefix: Vec<Hash>,
    /// Of every entry that could be hashed, by index.
    by_index: BTreeMap<u64, Hash>,
}

/// Decode, re-encode and hash every entry. Roots, the directory chain and
/// the event semantics use only the contiguous prefix.
fn check_entries(
    log: LogId,
    entries: &BTreeMap<u64, EntryData>,
    contiguous: u64,
    root: Option<&PublicKey>,
    report: &mut Report,
) -> Hashed {
    let max_len = max_entry_len(log);
    let mut walk = EntryWalk {
        hashed: Hashed {
            prefix: Vec::new(),
            by_index: BTreeMap::new(),
        },
        leaves_ok: true,
        records: Vec::new(),
        records_ok: true,
        chain: DirectoryChain::new(root),
    };
    for (&index, data) in entries {
        if index >= contiguous {
            walk.end_prefix();
        }
        let bytes = match data.load(max_len) {
            Ok(b) => b,
            Err(e) => {
                report.fail(format!("{} entry {index}: {e}", log.name()));
                walk.end_prefix();
                continue;
            }
        };
        match log {
            LogId::Directory => walk.directory_entry(index, &bytes, index < contiguous, report),
            LogId::Events => walk.event_entry(index, &bytes, report),
        }
    }
    if log == LogId::Events
        && let Err(e) = check_semantics(&walk.records)
    {
        report.fail(describe_semantics(&e));
    }
    walk.hashed
}

/// The state of [`check_entries`] as it walks the entries in index order.
struct EntryWalk<'a> {
    hashed: Hashed,
    /// Whether every entry so far extended the prefix of leaves.
    leaves_ok: bool,
    /// Decoded event records of the prefix, for the semantic checks.
    records: Vec<EventRecord>,
    /// Whether every event record so far was decoded.
    records_ok: bool,
    chain: DirectoryChain<'a>,
}

impl EntryWalk<'_> {
    /// Nothing from here on belongs to the contiguous prefix.
    fn end_prefix(&mut self) {
        self.leaves_ok = false;
        self.records_ok = false;
    }

    fn add_leaf(&mut self, index: u64, leaf: Hash) {
        self.hashed.by_index.insert(index, leaf);
        if self.leaves_ok {
            self.hashed.prefix.push(leaf);
        }
    }

    /// A directory entry is its own leaf data, so it is hashed even when
    /// it does not decode; it joins the chain only inside the prefix.
    fn directory_entry(&mut self, index: u64, bytes: &[u8], chained: bool, report: &mut Report) {
        self.add_leaf(index, leaf_hash(bytes));
        match DirectoryEntry::decode(bytes) {
            Err(e) => report.fail(format!(
                "directory entry {index}: does not decode as a directory entry: {e}"
            )),
            Ok(entry) => {
                if entry.encode() != bytes {
                    report.fail(format!(
                        "directory entry {index}: byte-level re-encoding differs (not the \
                         canonical encoding)"
                    ));
                }
                if chained {
                    self.chain.check(index, &entry, report);
                }
            }
        }
    }

    /// An events entry is a salt and a record whose commitment is the leaf
    /// data: one that does not decode cannot be hashed.
    fn event_entry(&mut self, index: u64, bytes: &[u8], report: &mut Report) {
        let d = match DisclosedEvent::decode(bytes) {
            Ok(d) => d,
            Err(e) => {
                report.fail(format!(
                    "events entry {index}: does not decode as a disclosed event: {e}"
                ));
                self.end_prefix();
                return;
            }
        };
        if d.encode() != bytes {
            report.fail(format!(
                "events entry {index}: byte-level re-encoding differs (not the canonical encoding)"
            ));
        }
        self.add_leaf(index, d.leaf_hash());
        match d.decode_record() {
            Err(e) => {
                report.fail(format!(
                    "events entry {index}: event record does not decode: {e}"
                ));
                self.records_ok = false;
            }
            Ok(r) => {
                if r.encode() != d.record {
                    report.fail(format!(
                        "events entry {index}: byte-level re-encoding of the event record \
                         differs (not the canonical encoding)"
                    ));
                }
                if self.records_ok {
                    self.records.push(r);
                }
            }
        }
    }
}

/// Which verified checkpoints the entries reproduce.
struct RootsMatched {
    /// How many.
    matched: usize,
    /// The largest size among them.
    verified_size: u64,
}

/// Recompute the root at every verified checkpoint's size, in increasing
/// order, from the prefix of leaves (RFC 9162 §2.1.1).
fn check_roots(
    log: LogId,
    verified: &Verified,
    leaves: &[Hash],
    report: &mut Report,
) -> RootsMatched {
    let name = log.name();
    let mut range = CompactRange::new();
    let mut good_up_to = 0u64;
    let mut roots = RootsMatched {
        matched: 0,
        verified_size: 0,
    };
    for (file, sc) in verified {
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
            roots.matched += 1;
            good_up_to = size;
            roots.verified_size = roots.verified_size.max(size);
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
    roots
}

/// Forks: two verified checkpoints of one size with different roots.
fn report_forks(log: LogId, verified: &Verified, report: &mut Report) {
    for pair in verified.windows(2) {
        if let [(fa, a), (fb, b)] = pair
            && let CheckpointRelation::Fork { size } =
                compare_checkpoints(a.checkpoint(), b.checkpoint())
        {
            report.fail(format!(
                "FORK in the {} log: checkpoints {fa} and {fb} are both signed by the log key \
                 for size {size} with different roots ({} and {}); the two signed notes are the \
                 evidence of an inconsistent log",
                log.name(),
                a.checkpoint().root().to_base64(),
                b.checkpoint().root().to_base64()
            ));
        }
    }
}

/// The relay's consistency proofs kept with the export (RFC 9162
/// §2.1.4.2), checked against the signed roots alone: each must prove that
/// every verified checkpoint of the size its name gives second extends
/// every one of the size it gives first.
fn check_relay_proofs(
    log: LogId,
    proofs: &[(String, Vec<u8>)],
    verified: &Verified,
    report: &mut Report,
) {
    let name = log.name();
    for (file, bytes) in proofs {
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
        let of_size = |size: u64| {
            verified
                .iter()
                .filter(move |(_, s)| s.checkpoint().size() == size)
        };
        if of_size(old).next().is_none() || of_size(new).next().is_none() {
            report.note(format!(
                "{name}/proofs/{file}: no verified checkpoint of size {old} and {new}; proof not used"
            ));
            continue;
        }
        for (fo, o) in of_size(old) {
            for (fnew, n) in of_size(new) {
                // The direction is the file's: a proof named the wrong way
                // round proves nothing.
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
}

/// Name the exact entries that differ from what the log signed, using the
/// leaf hashes export kept, once a verified checkpoint's root authenticates
/// them (RFC 9162 §2.1.1 over the whole list).
fn localise(
    log: LogId,
    raw: &[u8],
    verified: &Verified,
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

/// Verify an export directory offline against `trust`. `Err` only for usage
/// and I/O problems (no log in `dir`, a log without a pinned key); every
/// verification problem is in the returned report.
pub fn verify_export(
    dir: &Path,
    trust: &Trust,
) -> Result<(Report, Vec<(LogId, LogSummary)>), AuditError> {
    let unreadable = || AuditError::io("reading", dir);
    let meta = std::fs::metadata(dir).map_err(unreadable())?;
    if !meta.is_dir() {
        return Err(AuditError::NotAnExport {
            path: dir.to_owned(),
        });
    }
    let mut report = Report::default();
    for item in std::fs::read_dir(dir).map_err(unreadable())? {
        let item = item.map_err(unreadable())?;
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
    note_other_keys(dir, trust, &mut report);
    let mut summaries = Vec::new();
    for log in LogId::ALL {
        let log_dir = dir.join(log.name());
        if !log_dir.exists() {
            continue;
        }
        let policy = trust.policy(log).ok_or_else(|| AuditError::UnpinnedLog {
            log,
            pinned: trust.describe(),
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
        return Err(AuditError::EmptyExport {
            path: dir.to_owned(),
        });
    }
    Ok((report, summaries))
}

/// `keys.txt` is informational, but a log key in it other than the pinned
/// one is worth a note.
fn note_other_keys(dir: &Path, trust: &Trust, report: &mut Report) {
    let Ok(bytes) = read_bounded(&dir.join("keys.txt"), MAX_TEXT_FILE_LEN, false) else {
        return;
    };
    let lines = parse_keys_txt(&String::from_utf8_lossy(&bytes));
    for log in LogId::ALL {
        let field = keys_txt_field(log);
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
