//! Exporting the relay's logs into a directory an auditor verifies
//! offline, extending an earlier export there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use liaison_net::{Link, LinkError};
use liaison_protocol::SecretKey;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::codec::Wire;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::DisclosedEvent;
use liaison_protocol::log::note::MAX_NOTE_LEN;
use liaison_protocol::log::{
    CheckpointRelation, LogPolicy, Note, SignedCheckpoint, compare_checkpoints,
    explain_checkpoint_error, leaf_hash,
};

use crate::error::{AuditError, RelayFault};
use crate::files::{MAX_TEXT_FILE_LEN, read_bounded, write_atomic};
use crate::layout::{
    EXPORT_README, LEAF_HASHES_FILE, MAX_CHECKPOINTS, MAX_ENTRIES, encode_proof_text,
    max_entry_len, parse_checkpoint_name, parse_entry_name,
};
use crate::relay::{authenticate_auditor, connect, entry_bytes, fetch_checkpoint, fetch_entries};
use crate::report::Report;
use crate::trust::{bundle_log_key, bundle_witnesses};

/// Entries asked for per request (the relay may return fewer).
const ENTRY_BATCH: u32 = 512;

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

/// Held checkpoints of one log: file name and verified checkpoint, by
/// increasing size.
type History = Vec<(String, SignedCheckpoint)>;

fn sort_history(history: &mut History) {
    history.sort_by(|a, b| (a.1.checkpoint().size(), &a.0).cmp(&(b.1.checkpoint().size(), &b.0)));
}

fn keys_txt(bundle: &Bundle) -> Result<String, AuditError> {
    let mut out = String::from(
        "# Verifier keys copied from the enrolment bundle at export time.\n\
         # Pin keys you obtained independently when verifying:\n\
         #   liaison-audit verify . --bundle ...   or   --log-key ... --log-key ...\n\
         # (from inside this directory; the bundle or keys in place of the dots)\n",
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
        bundle.quorum().map_err(AuditError::Bundle)?
    ));
    Ok(out)
}

/// The policy export verifies with: the bundle's log key and witnesses, no
/// quorum (a checkpoint is exported whatever its cosignatures).
fn export_policy(bundle: &Bundle, log: LogId) -> Result<LogPolicy, AuditError> {
    Ok(LogPolicy::with_witnesses(
        bundle_log_key(bundle, log)?,
        bundle_witnesses(bundle)?,
        0,
    )?)
}

/// Held checkpoints of one log: file name and verified checkpoint.
fn load_history(
    cps_dir: &Path,
    policy: &LogPolicy,
    log: LogId,
    report: &mut Report,
) -> Result<History, AuditError> {
    let mut out = History::new();
    let unreadable = || AuditError::io("reading", cps_dir);
    for item in std::fs::read_dir(cps_dir).map_err(unreadable())? {
        let item = item.map_err(unreadable())?;
        let file = item.file_name().to_string_lossy().into_owned();
        if parse_checkpoint_name(&file).is_none() {
            continue;
        }
        if out.len() >= MAX_CHECKPOINTS {
            return Err(AuditError::TooManyCheckpoints {
                path: cps_dir.to_owned(),
            });
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
    sort_history(&mut out);
    Ok(out)
}

/// Add a served checkpoint to the held history: a new size gets its file;
/// the same checkpoint again has its verified signatures merged in; another
/// root for a held size is a fork, kept as `<size>-<n>.note`.
fn store_checkpoint(
    log: LogId,
    cps_dir: &Path,
    served: &SignedCheckpoint,
    history: &mut History,
    policy: &LogPolicy,
    report: &mut Report,
) -> Result<(), AuditError> {
    let cp = served.checkpoint();
    let size = cp.size();
    if let Some((file, held)) = history.iter_mut().find(|(_, h)| h.checkpoint() == cp) {
        let mut merged = Note::parse(held.signed_note().as_bytes())?;
        let before = merged.signatures().len();
        for sig in served.note().verified() {
            if !merged
                .signatures()
                .iter()
                .any(|s| s.name() == sig.name() && s.key_id() == sig.key_id())
            {
                merged.add_signature(sig.clone())?;
            }
        }
        if merged.signatures().len() != before {
            let text = merged.encode()?;
            let reopened = policy.open(text.as_bytes())?;
            let path = cps_dir.join(&*file);
            write_atomic(&path, text.as_bytes(), true).map_err(AuditError::io("writing", &path))?;
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
    let path = cps_dir.join(&file);
    write_atomic(&path, served.signed_note().as_bytes(), true)
        .map_err(AuditError::io("writing", &path))?;
    history.push((file, served.clone()));
    sort_history(history);
    Ok(())
}

/// Contiguous entries already held, from index 0.
fn held_entries(entries_dir: &Path) -> Result<u64, AuditError> {
    let mut held = BTreeSet::new();
    let unreadable = || AuditError::io("reading", entries_dir);
    for item in std::fs::read_dir(entries_dir).map_err(unreadable())? {
        let item = item.map_err(unreadable())?;
        if let Some(i) = parse_entry_name(&item.file_name().to_string_lossy()) {
            held.insert(i);
        }
    }
    let mut n = 0u64;
    while held.contains(&n) {
        n += 1;
    }
    Ok(n)
}

/// The directories of one exported log.
struct LogDirs {
    log: PathBuf,
    checkpoints: PathBuf,
    entries: PathBuf,
    proofs: PathBuf,
}

impl LogDirs {
    fn create(out: &Path, log: LogId) -> Result<LogDirs, AuditError> {
        let dir = out.join(log.name());
        let dirs = LogDirs {
            checkpoints: dir.join("checkpoints"),
            entries: dir.join("entries"),
            proofs: dir.join("proofs"),
            log: dir,
        };
        for d in [&dirs.checkpoints, &dirs.entries, &dirs.proofs] {
            std::fs::create_dir_all(d).map_err(AuditError::io("creating", d))?;
        }
        Ok(dirs)
    }
}

async fn export_log(
    conn: &Link,
    bundle: &Bundle,
    log: LogId,
    out: &Path,
    report: &mut Report,
) -> Result<(), AuditError> {
    let name = log.name();
    let dirs = LogDirs::create(out, log)?;
    let policy = export_policy(bundle, log)?;
    let Some((latest, served)) = served_checkpoints(conn, bundle, log, &policy, report).await?
    else {
        return Ok(());
    };
    let mut history = load_history(&dirs.checkpoints, &policy, log, report)?;
    if let Some((file, held)) = history.last()
        && let CheckpointRelation::Older(e) =
            compare_checkpoints(held.checkpoint(), latest.checkpoint())
    {
        report.fail(format!(
            "ROLLBACK of the {name} log: the relay's latest checkpoint has size {}, but {name}/\
             checkpoints/{file} from an earlier export has size {}",
            e.old, e.new
        ));
    }
    for sc in &served {
        store_checkpoint(log, &dirs.checkpoints, sc, &mut history, &policy, report)?;
    }
    store_consistency_proofs(conn, log, &dirs.proofs, &history, report).await?;
    let target = latest.checkpoint().size();
    if target > MAX_ENTRIES {
        return Err(AuditError::TooManyEntries { log, size: target });
    }
    let first = held_entries(&dirs.entries)?;
    let next = fetch_new_entries(conn, log, &dirs.entries, first, target).await?;
    if record_leaf_hashes(log, &dirs, &latest, report)? {
        report.note(format!(
            "{name}: checkpoint size {target}, {} checkpoint(s) held, {} new entries fetched",
            history.len(),
            next.saturating_sub(first)
        ));
    }
    Ok(())
}

/// Every checkpoint the relay serves, verified: the newest, and the newest
/// with 1 and with the bundle's quorum of cosignatures. `None` if the relay
/// has none or its newest does not verify (reported).
async fn served_checkpoints(
    conn: &Link,
    bundle: &Bundle,
    log: LogId,
    policy: &LogPolicy,
    report: &mut Report,
) -> Result<Option<(SignedCheckpoint, Vec<SignedCheckpoint>)>, AuditError> {
    let name = log.name();
    let Some(latest) = fetch_checkpoint(conn, log, 0).await? else {
        report.note(format!("{name}: the relay has not signed a checkpoint yet"));
        return Ok(None);
    };
    let latest = match policy.open(latest.as_bytes()) {
        Ok(sc) => sc,
        Err(e) => {
            report.fail(format!(
                "the relay's latest {name} checkpoint: {}",
                explain_checkpoint_error(&e, latest.as_bytes(), policy)
            ));
            return Ok(None);
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
                        explain_checkpoint_error(&e, n.as_bytes(), policy)
                    )),
                }
            }
        }
    }
    Ok(Some((latest, served)))
}

/// Fetch and keep the relay's consistency proofs between consecutive held
/// sizes (RFC 9162 §2.1.4), checking each against the held checkpoints.
async fn store_consistency_proofs(
    conn: &Link,
    log: LogId,
    proofs_dir: &Path,
    history: &History,
    report: &mut Report,
) -> Result<(), AuditError> {
    let name = log.name();
    let sizes: BTreeSet<u64> = history.iter().map(|(_, s)| s.checkpoint().size()).collect();
    let sizes: Vec<u64> = sizes.into_iter().collect();
    for pair in sizes.windows(2) {
        let [old, new] = pair else { continue };
        let (old, new) = (*old, *new);
        let path = proofs_dir.join(format!("{old}-{new}.proof"));
        if old == 0 || path.exists() {
            continue;
        }
        let proof = match conn.consistency(log, old, new).await {
            Ok(p) => p,
            Err(LinkError::Refused(e)) => {
                report.fail(format!(
                    "INCONSISTENT {name} log: the relay cannot prove that its checkpoint of size \
                     {new} extends the held checkpoint of size {old}: {e}"
                ));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        write_atomic(&path, encode_proof_text(&proof).as_bytes(), false)
            .map_err(AuditError::io("writing", &path))?;
        let of_size = |size: u64| {
            history
                .iter()
                .filter(move |(_, s)| s.checkpoint().size() == size)
        };
        for (fo, o) in of_size(old) {
            for (fnew, n) in of_size(new) {
                if let Err(e) = o.checkpoint().verify_consistency(n.checkpoint(), &proof) {
                    report.fail(format!(
                        "INCONSISTENT {name} log: the relay's proof does not show that \
                         {name}/checkpoints/{fnew} extends {name}/checkpoints/{fo}: {e}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Fetch the entries from `next` up to `target` into `entries_dir`, one
/// file each. Returns the index after the last one written.
async fn fetch_new_entries(
    conn: &Link,
    log: LogId,
    entries_dir: &Path,
    mut next: u64,
    target: u64,
) -> Result<u64, AuditError> {
    let max = max_entry_len(log);
    while next < target {
        let want =
            u32::try_from((target - next).min(u64::from(ENTRY_BATCH))).unwrap_or(ENTRY_BATCH);
        let batch = fetch_entries(conn, log, next, want).await?;
        if batch.is_empty() {
            return Err(RelayFault::MissingEntries {
                log,
                start: next,
                size: target,
            }
            .into());
        }
        for entry in batch
            .into_iter()
            .take(usize::try_from(target - next).unwrap_or(usize::MAX))
        {
            let bytes = entry_bytes(log, entry)?;
            if bytes.len() > max {
                return Err(RelayFault::EntryTooLong {
                    log,
                    index: next,
                    max,
                }
                .into());
            }
            let path = entries_dir.join(format!("{next}.bin"));
            write_atomic(&path, &bytes, false).map_err(AuditError::io("writing", &path))?;
            next += 1;
        }
    }
    Ok(next)
}

/// Recompute the newest root from every held entry: the relay's entries
/// must match its own checkpoint, and the leaf list lets `verify` name the
/// exact entry that is later altered. `Ok(false)` if an entry does not
/// decode (reported).
fn record_leaf_hashes(
    log: LogId,
    dirs: &LogDirs,
    latest: &SignedCheckpoint,
    report: &mut Report,
) -> Result<bool, AuditError> {
    let name = log.name();
    let target = latest.checkpoint().size();
    let max = max_entry_len(log);
    let mut leaves = Vec::new();
    for index in 0..target {
        let path = dirs.entries.join(format!("{index}.bin"));
        let bytes =
            read_bounded(&path, max as u64, false).map_err(AuditError::io("reading", &path))?;
        leaves.push(match log {
            LogId::Directory => leaf_hash(&bytes),
            LogId::Events => match DisclosedEvent::decode(&bytes) {
                Ok(d) => d.leaf_hash(),
                Err(e) => {
                    report.fail(format!("{name} entry {index}: does not decode: {e}"));
                    return Ok(false);
                }
            },
        });
    }
    if liaison_protocol::log::root(&leaves) != *latest.checkpoint().root() {
        report.fail(format!(
            "{name}: the entries held in {} do not hash to the root of the relay's checkpoint of \
             size {target} (the relay serves entries its checkpoint does not sign, or held \
             entries were altered); run `verify` for details",
            dirs.entries.display()
        ));
    } else {
        let raw: Vec<u8> = leaves.iter().flat_map(|h| h.0).collect();
        let path = dirs.log.join(LEAF_HASHES_FILE);
        write_atomic(&path, &raw, false).map_err(AuditError::io("writing", &path))?;
    }
    Ok(true)
}

/// Export the logs into `opts.out`, extending an earlier export there.
/// `Err` for usage, network and I/O problems; a rollback, fork or failing
/// relay proof is a failure in the returned report (the files are kept as
/// evidence).
pub async fn export(opts: &ExportOptions<'_>) -> Result<Report, AuditError> {
    let conn = connect(opts.bundle).await?;
    authenticate_auditor(&conn, opts.key).await?;
    std::fs::create_dir_all(opts.out).map_err(AuditError::io("creating", opts.out))?;
    let mut report = Report::default();
    for &log in opts.logs {
        export_log(&conn, opts.bundle, log, opts.out, &mut report).await?;
    }
    let readme = opts.out.join("README.txt");
    write_atomic(&readme, EXPORT_README.as_bytes(), false)
        .map_err(AuditError::io("writing", &readme))?;
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
    write_atomic(&keys_path, keys.as_bytes(), false)
        .map_err(AuditError::io("writing", &keys_path))?;
    conn.close().await;
    Ok(report)
}
