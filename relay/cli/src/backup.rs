//! `liaison-relay backup` and `liaison-relay restore`: the client side of
//! the control socket and the installation of a backup. How a backup is
//! consistent, and the control protocol, are described in
//! [`liaison_relay::backup`], which serves the other side.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use liaison_relay::backup::{
    BACKUP_COMMAND, ERROR_PREFIX, OK_PREFIX, SHA256_PREFIX, StoreSummary, snapshot,
    verify_store_file,
};
use liaison_relay::datadir::{
    STORE_FILE, TempFile, create_private_dir, create_secret_file, parent_dir, sync_dir,
};
use redb::Database;
use sha2::{Digest, Sha256};

/// What a finished backup is.
#[derive(Clone, Debug)]
pub struct BackupReport {
    /// The backup file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
    /// Whether a running relay took it (else the store was opened offline).
    pub online: bool,
    /// Its tables.
    pub summary: StoreSummary,
}

fn sha256_file(path: &Path) -> Result<([u8; 32], u64)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf)?;
        if r == 0 {
            break;
        }
        hasher.update(buf.get(..r).unwrap_or_default());
        n = n.saturating_add(r as u64);
    }
    Ok((hasher.finalize().into(), n))
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// Verify the received file `partial`, then move it to `out`.
fn finish_backup(partial: TempFile, out: &Path, online: bool) -> Result<BackupReport> {
    let summary = verify_store_file(partial.path())?;
    // Verification may have rewritten the header (recovery): hash the final bytes.
    let (sha256, bytes) = sha256_file(partial.path())?;
    std::fs::rename(partial.path(), out)
        .with_context(|| format!("moving the backup into place at {}", out.display()))?;
    partial.keep();
    sync_dir(parent_dir(out));
    Ok(BackupReport {
        path: out.to_owned(),
        bytes,
        sha256,
        online,
        summary,
    })
}

/// Take a backup of the relay whose control socket is `socket` and whose
/// store is `store_path`, into the new file `out`: through the running
/// relay if it answers on `socket`, else by opening the store directly.
pub fn backup(socket: &Path, store_path: &Path, out: &Path) -> Result<BackupReport> {
    if out.exists() {
        bail!(
            "{} already exists; choose a new file name (backups are never overwritten)",
            out.display()
        );
    }
    match std::os::unix::net::UnixStream::connect(socket) {
        Ok(stream) => backup_online(stream, out),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            backup_offline(store_path, out, socket)
        }
        Err(e) => Err(anyhow!(
            "cannot reach the relay's control socket {}: {e} (run the backup as the relay's user or root)",
            socket.display()
        )),
    }
}

fn backup_online(mut stream: std::os::unix::net::UnixStream, out: &Path) -> Result<BackupReport> {
    stream
        .write_all(format!("{BACKUP_COMMAND}\n").as_bytes())
        .context("asking the relay for a backup")?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader
        .by_ref()
        .take(256)
        .read_line(&mut header)
        .context("reading the relay's answer")?;
    let header = header.trim_end();
    let len: u64 = if let Some(n) = header.strip_prefix(OK_PREFIX) {
        n.parse()
            .map_err(|_| anyhow!("the relay sent a malformed answer: {header:?}"))?
    } else if let Some(why) = header.strip_prefix(ERROR_PREFIX) {
        bail!("the relay refused the backup: {why}")
    } else {
        bail!("the relay sent a malformed answer: {header:?}")
    };
    let partial = TempFile::new(partial_path(out));
    let mut file = create_secret_file(partial.path())
        .with_context(|| format!("creating {}", partial.path().display()))?;
    let mut hasher = Sha256::new();
    let mut remaining = len;
    let mut buf = vec![0u8; 1 << 16];
    while remaining > 0 {
        let want = usize::try_from(remaining.min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = reader.read(chunk).context("receiving the backup")?;
        if n == 0 {
            bail!(
                "the relay closed the connection after {} of {len} bytes (did it stop?); nothing was kept",
                len - remaining
            );
        }
        let got = chunk.get(..n).unwrap_or_default();
        hasher.update(got);
        file.write_all(got)
            .with_context(|| format!("writing {}", partial.path().display()))?;
        remaining -= n as u64;
    }
    let mut trailer = String::new();
    reader
        .by_ref()
        .take(128)
        .read_line(&mut trailer)
        .context("reading the backup's checksum")?;
    let expected = trailer
        .trim_end()
        .strip_prefix(SHA256_PREFIX)
        .ok_or_else(|| anyhow!("the relay sent no checksum after the backup"))?;
    let got: [u8; 32] = hasher.finalize().into();
    if hex::encode(got) != expected {
        bail!("the backup was damaged in transit (SHA-256 mismatch); nothing was kept");
    }
    file.sync_all().context("syncing the backup")?;
    drop(file);
    finish_backup(partial, out, true)
}

fn backup_offline(store_path: &Path, out: &Path, socket: &Path) -> Result<BackupReport> {
    if !store_path.exists() {
        bail!(
            "no relay answers on {} and there is no store at {}",
            socket.display(),
            store_path.display()
        );
    }
    let db = match Database::open(store_path) {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => bail!(
            "the store {} is in use by a running relay, but its control socket {} does not \
             answer; check `control_socket` in the configuration",
            store_path.display(),
            socket.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("opening {}", store_path.display())),
    };
    let partial = TempFile::new(partial_path(out));
    snapshot(&db, store_path, partial.path())?;
    drop(db);
    finish_backup(partial, out, false)
}

/// What [`restore`] did.
#[derive(Clone, Debug)]
pub struct RestoreReport {
    /// The restored store file.
    pub store: PathBuf,
    /// The store it replaced (kept, renamed), with `--force`.
    pub replaced: Option<PathBuf>,
    /// Its tables.
    pub summary: StoreSummary,
}

/// Install the backup `from` as the store of `data_dir` (created 0700 if
/// missing). Refuses to replace an existing store unless `force`, and never
/// deletes one: with `force` it is kept as `relay.redb.replaced-UNIXTIME`.
/// The backup is verified (integrity check) before it is moved into place.
pub fn restore(from: &Path, data_dir: &Path, force: bool) -> Result<RestoreReport> {
    create_private_dir(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let target = data_dir.join(STORE_FILE);
    if target.exists() {
        if !force {
            bail!(
                "{} already exists; stop the relay and move it away, or pass --force to keep it \
                 as {STORE_FILE}.replaced-<time> and restore over it",
                target.display()
            );
        }
        // A damaged store is what a restore is for: only a store in use stops it.
        if let Err(redb::DatabaseError::DatabaseAlreadyOpen) = Database::open(&target) {
            bail!(
                "{} is in use by a running relay; stop the relay before restoring",
                target.display()
            );
        }
    }
    let tmp = TempFile::new(data_dir.join(format!("{STORE_FILE}.restoring")));
    let _ = std::fs::remove_file(tmp.path());
    {
        let mut src =
            std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
        let mut dst = create_secret_file(tmp.path())
            .with_context(|| format!("creating {}", tmp.path().display()))?;
        std::io::copy(&mut src, &mut dst)
            .with_context(|| format!("copying {} into {}", from.display(), data_dir.display()))?;
        dst.sync_all()?;
    }
    let summary = verify_store_file(tmp.path())
        .with_context(|| format!("{} is not a restorable backup", from.display()))?;
    let replaced = if target.exists() {
        let secs = liaison_clock::now().as_secs();
        let aside = data_dir.join(format!("{STORE_FILE}.replaced-{secs}"));
        std::fs::rename(&target, &aside)
            .with_context(|| format!("moving {} aside", target.display()))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(tmp.path(), &target)
        .with_context(|| format!("moving the restored store to {}", target.display()))?;
    tmp.keep();
    sync_dir(data_dir);
    Ok(RestoreReport {
        store: target,
        replaced,
        summary,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use liaison_relay::backup::testing::{LATER, fill};
    use redb::ReadableDatabase;

    fn marker(store: &Path) -> u64 {
        let db = Database::open(store).unwrap();
        let txn = db.begin_read().unwrap();
        txn.open_table(LATER)
            .unwrap()
            .get("k")
            .unwrap()
            .unwrap()
            .value()
    }

    /// A snapshot taken while a writer commits (see the library's test of
    /// snapshots) restores to exactly its commit.
    #[test]
    fn a_snapshot_restores_and_a_replaced_store_is_kept() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.redb");
        let db = Arc::new(Database::create(&path).unwrap());
        fill(&db, 0, 1000);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut round = 1u64;
                while !stop.load(Ordering::SeqCst) {
                    fill(&db, round * 1000, round * 1000 + 100);
                    round += 1;
                }
            })
        };
        let snap = dir.path().join("snap.redb");
        snapshot(&db, &path, &snap).unwrap();
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap();
        verify_store_file(&snap).unwrap();
        let taken = marker(&snap);

        let restored_dir = dir.path().join("restored");
        let report = restore(&snap, &restored_dir, false).unwrap();
        assert!(report.replaced.is_none());
        assert_eq!(report.summary.tables.len(), 2);
        assert_eq!(marker(&report.store), taken);
        // Restoring over an existing store needs --force and keeps the old one.
        assert!(restore(&snap, &restored_dir, false).is_err());
        let again = restore(&snap, &restored_dir, true).unwrap();
        assert!(again.replaced.unwrap().exists());
    }

    #[test]
    fn restore_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"not a database at all").unwrap();
        let e = restore(&junk, &dir.path().join("d"), false).unwrap_err();
        assert!(
            format!("{e:#}").contains("not a restorable backup"),
            "{e:#}"
        );
        assert!(!dir.path().join("d").join(STORE_FILE).exists());
    }

    #[test]
    fn offline_backup_and_refusal_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.redb");
        {
            let db = Database::create(&path).unwrap();
            fill(&db, 0, 10);
        }
        let out = dir.path().join("b.redb");
        let report = backup(&dir.path().join("no.sock"), &path, &out).unwrap();
        assert!(!report.online);
        assert!(report.summary.tables.contains(&("t".to_owned(), 10)));
        assert!(backup(&dir.path().join("no.sock"), &path, &out).is_err());
        // While the store is open elsewhere (a relay without its socket), refuse.
        let _held = Database::open(&path).unwrap();
        let e = backup(
            &dir.path().join("no.sock"),
            &path,
            &dir.path().join("c.redb"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("in use"), "{e}");
    }
}
