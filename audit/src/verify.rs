//! Offline verification.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use liaison_protocol::PublicKey;
use liaison_protocol::codec::Wire;
use liaison_protocol::directory::{AuthorityCertificate, verify_record, verify_role};
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::{
    DirectoryEntry, DisclosedEvent, EventRecord, SemanticsError, check_semantics,
};
use liaison_protocol::log::note::MAX_NOTE_LEN;
use liaison_protocol::log::{CompactRange, Hash, LogPolicy, SignedCheckpoint, leaf_hash};

use liaison_protocol::log::{explain_checkpoint_error, key_label};

use crate::*;

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
pub(crate) struct DirectoryChain<'a> {
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

pub(crate) fn describe_semantics(e: &SemanticsError) -> String {
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
pub(crate) fn localise(
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
pub(crate) fn parse_keys_txt(text: &str) -> Vec<(String, String)> {
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
