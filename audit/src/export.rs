//! Export.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use liaison_protocol::SecretKey;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::codec::Wire;
use liaison_protocol::frames::{LogEntry, LogId};
use liaison_protocol::log::event::DisclosedEvent;
use liaison_protocol::log::note::MAX_NOTE_LEN;
use liaison_protocol::log::{LogPolicy, Note, NoteVerifier, SignedCheckpoint, leaf_hash};

use liaison_net::{Link, LinkError};
use liaison_protocol::log::explain_checkpoint_error;

use crate::*;

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

pub(crate) fn keys_txt(bundle: &Bundle) -> Result<String> {
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
pub(crate) fn export_policy(bundle: &Bundle, log: LogId) -> Result<LogPolicy> {
    let v = NoteVerifier::from_vkey(bundle_log_key(bundle, log).trim())
        .map_err(|e| anyhow!("the bundle has no usable {} log key: {e}", log.name()))?;
    LogPolicy::with_witnesses(v, bundle_witnesses(bundle)?, 0).map_err(|e| anyhow!("{e}"))
}

/// Held checkpoints of one log: file name and verified checkpoint.
pub(crate) fn load_history(
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
pub(crate) fn store_checkpoint(
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
pub(crate) fn held_entries(entries_dir: &Path) -> Result<u64> {
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

pub(crate) async fn export_log(
    conn: &Link,
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
