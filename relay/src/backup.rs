//! Online backup and restore of the relay's store, and the local control
//! socket through which a running relay hands out a backup.
//!
//! # How a backup is consistent
//!
//! redb writes copy-on-write: a commit writes new pages, then a header that
//! points at them, and fsyncs (every relay commit is
//! `Durability::Immediate`). The file is therefore, between two commits,
//! exactly the image a crash at that instant would leave, and redb is built
//! to open such an image with nothing committed lost. [`snapshot`] first
//! makes every earlier commit durable, then opens a write transaction,
//! which excludes every other writer of the database (redb allows one at a
//! time, and the relay is the only process with the file open), copies the
//! whole file while holding it, and aborts it. No commit can start or be in
//! flight during the copy, so the copy is the last committed state — every
//! table, including tables added to the store later, with nothing to list.
//! Writers wait for the length of the copy (a local `copy_file_range`,
//! typically well under a second per GiB); readers are never blocked.
//! [`verify_store_file`] then opens the copy with redb (which recovers it as
//! after a clean crash), runs a full integrity check of every page checksum
//! and counts every table's rows, so a backup file is known to be
//! restorable before it is kept.
//!
//! # Why a control socket
//!
//! redb lets one process open a database file, and copying the file from
//! another process while the relay writes would not be consistent. So
//! `liaison-relay backup` asks the running relay, over a Unix stream socket
//! (`control_socket`, default `DATA_DIR/control.sock`, mode 0600 in a 0700
//! directory, so only the relay's user and root can connect), to take the
//! snapshot and stream it back. When no relay is running, `backup` opens the
//! store itself and takes the same snapshot.
//!
//! Control protocol, one exchange per connection: the client sends
//! `backup\n`; the relay answers `ok <bytes>\n`, then exactly `<bytes>`
//! bytes of redb file, then `sha256 <hex>\n`; or `error <reason>\n`.
//!
//! # What a backup contains
//!
//! The store only: queued envelopes, the directory, prekeys, seen message
//! ids and the transparency logs. Key material (the TLS key and the log
//! signing keys) is deliberately not in it; it is backed up separately,
//! offline (see `deploy/OPERATIONS.md`).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use redb::{Database, ReadableDatabase, ReadableTableMetadata};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::datadir::STORE_FILE;
use crate::metrics::Metrics;
use crate::store::RedbStore;

/// Longest command line accepted on the control socket.
const MAX_COMMAND: usize = 64;
/// Time a control client gets to send its command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`verify_store_file`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreSummary {
    /// Every table and multimap table with its number of rows.
    pub tables: Vec<(String, u64)>,
    /// Whether redb had to recover the file when opening it (expected for
    /// an online snapshot, which is a crash-consistent image).
    pub recovered: bool,
}

impl std::fmt::Display for StoreSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, rows)) in self.tables.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}={rows}")?;
        }
        Ok(())
    }
}

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

fn create_secret_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

fn sync_dir(dir: &Path) {
    // Makes a rename durable; best effort (some filesystems refuse it).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Copy the database file at `store_path` (opened as `db`) to `out` (a new
/// file, mode 0600) while no writer can commit. Returns how long writers
/// were held.
pub fn snapshot(db: &Database, store_path: &Path, out: &Path) -> Result<Duration> {
    // Make every earlier commit durable (the relay's already are; this keeps
    // the procedure sound should a non-durable commit ever be added).
    let mut flush = db
        .begin_write()
        .context("starting the backup transaction")?;
    flush
        .set_durability(redb::Durability::Immediate)
        .context("starting the backup transaction")?;
    flush
        .commit()
        .context("flushing the store before the backup")?;
    // Held for the copy: redb admits one write transaction at a time, so no
    // commit can start, and none is in flight, until it ends.
    let guard = db
        .begin_write()
        .context("starting the backup transaction")?;
    let started = Instant::now();
    let copied = (|| -> std::io::Result<()> {
        let mut src = std::fs::File::open(store_path)?;
        let mut dst = create_secret_file(out)?;
        std::io::copy(&mut src, &mut dst)?;
        dst.sync_all()
    })();
    let pause = started.elapsed();
    guard.abort().context("ending the backup transaction")?;
    copied.with_context(|| format!("copying {} to {}", store_path.display(), out.display()))?;
    Ok(pause)
}

/// Open a store file with redb (recovering it if it is a crash-consistent
/// image), check every page's checksum and count every table's rows. The
/// file is left closed cleanly.
pub fn verify_store_file(path: &Path) -> Result<StoreSummary> {
    let mut db = Database::open(path)
        .with_context(|| format!("{} is not a usable redb store", path.display()))?;
    let passed = db
        .check_integrity()
        .with_context(|| format!("{} failed the integrity check", path.display()))?;
    let mut tables = Vec::new();
    {
        let txn = db.begin_read().context("reading the store")?;
        for handle in txn.list_tables().context("listing tables")? {
            let name = redb::TableHandle::name(&handle).to_owned();
            let rows = txn
                .open_untyped_table(handle)
                .and_then(|t| t.len().map_err(redb::TableError::from))
                .with_context(|| format!("reading table {name}"))?;
            tables.push((name, rows));
        }
        for handle in txn
            .list_multimap_tables()
            .context("listing multimap tables")?
        {
            let name = redb::MultimapTableHandle::name(&handle).to_owned();
            let rows = txn
                .open_untyped_multimap_table(handle)
                .and_then(|t| t.len().map_err(redb::TableError::from))
                .with_context(|| format!("reading table {name}"))?;
            tables.push((name, rows));
        }
    }
    db.close().context("closing the verified store")?;
    tables.sort();
    Ok(StoreSummary {
        tables,
        recovered: !passed,
    })
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

/// Removes a temporary file on drop unless disarmed.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
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
    sync_dir(parent_of(out));
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
        .write_all(b"backup\n")
        .context("asking the relay for a backup")?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader
        .by_ref()
        .take(256)
        .read_line(&mut header)
        .context("reading the relay's answer")?;
    let header = header.trim_end();
    let len: u64 = match header.split_once(' ') {
        Some(("ok", n)) => n
            .parse()
            .map_err(|_| anyhow!("the relay sent a malformed answer: {header:?}"))?,
        Some(("error", why)) => bail!("the relay refused the backup: {why}"),
        _ => bail!("the relay sent a malformed answer: {header:?}"),
    };
    let partial = TempFile(Some(partial_path(out)));
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
        .strip_prefix("sha256 ")
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
    let partial = TempFile(Some(partial_path(out)));
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
    crate::datadir::create_private_dir(data_dir)
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
    let tmp = TempFile(Some(data_dir.join(format!("{STORE_FILE}.restoring"))));
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

/// Bind the control socket at `path` (replacing a stale one), mode 0600.
pub fn bind_control(path: &Path) -> Result<std::os::unix::net::UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::datadir::create_private_dir(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
    }
    // The caller holds the store open (redb's lock), so no other relay of
    // this store is using the socket: a leftover file is stale.
    match std::fs::symlink_metadata(path) {
        Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
            std::fs::remove_file(path)
                .with_context(|| format!("removing the stale control socket {}", path.display()))?;
        }
        Ok(_) => bail!(
            "control_socket {} exists and is not a socket; refusing to replace it",
            path.display()
        ),
        Err(_) => {}
    }
    let listener = std::os::unix::net::UnixListener::bind(path).with_context(|| {
        format!(
            "binding the control socket {} (set `control_socket` to a shorter or writable path)",
            path.display()
        )
    })?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))?;
    listener
        .set_nonblocking(true)
        .context("configuring the control socket")?;
    Ok(listener)
}

/// Serve the control socket until `stop` becomes true. One backup runs at
/// a time; a second request waits for the first.
pub async fn serve_control(
    listener: tokio::net::UnixListener,
    store: Arc<RedbStore>,
    store_path: PathBuf,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let busy = Arc::new(tokio::sync::Mutex::new(()));
    let counter = Arc::new(AtomicU64::new(0));
    loop {
        tokio::select! {
            () = crate::metrics::stopped(&mut stop) => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let job = ControlJob {
                    store: store.clone(),
                    store_path: store_path.clone(),
                    metrics: metrics.clone(),
                    busy: busy.clone(),
                    n: counter.fetch_add(1, Ordering::Relaxed),
                };
                let mut stop = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = crate::metrics::stopped(&mut stop) => {}
                        () = job.run(stream) => {}
                    }
                });
            }
        }
    }
}

struct ControlJob {
    store: Arc<RedbStore>,
    store_path: PathBuf,
    metrics: Arc<Metrics>,
    busy: Arc<tokio::sync::Mutex<()>>,
    n: u64,
}

impl ControlJob {
    async fn run(self, stream: tokio::net::UnixStream) {
        let (read, mut write) = stream.into_split();
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(read).take(MAX_COMMAND as u64);
        let got = tokio::time::timeout(COMMAND_TIMEOUT, reader.read_line(&mut line)).await;
        if !matches!(got, Ok(Ok(_))) {
            return;
        }
        match line.trim() {
            "backup" => {
                if let Err(e) = self.backup(&mut write).await {
                    tracing::error!(error = %format!("{e:#}"), "backup failed");
                    let _ = write
                        .write_all(
                            format!("error {}\n", format!("{e:#}").replace('\n', " ")).as_bytes(),
                        )
                        .await;
                }
            }
            other => {
                let _ = write
                    .write_all(
                        format!(
                            "error unknown command {:?} (known: backup)\n",
                            other.chars().take(32).collect::<String>()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        }
        let _ = write.shutdown().await;
    }

    async fn backup(&self, write: &mut tokio::net::unix::OwnedWriteHalf) -> Result<()> {
        let _one_at_a_time = self.busy.lock().await;
        let dir = parent_of(&self.store_path).to_owned();
        let tmp = TempFile(Some(dir.join(format!(
            ".backup-{}-{}.redb.tmp",
            std::process::id(),
            self.n
        ))));
        let (store, src, dst) = (
            self.store.clone(),
            self.store_path.clone(),
            tmp.path().to_owned(),
        );
        tracing::info!("online backup: taking a snapshot");
        let taken = tokio::task::spawn_blocking(move || snapshot(store.database(), &src, &dst))
            .await
            .map_err(|_| anyhow!("the snapshot task failed"))?;
        let pause = match taken {
            Ok(p) => p,
            Err(e) => {
                self.metrics.backup_done(false, Duration::ZERO);
                return Err(e);
            }
        };
        let sent = async {
            let mut file = tokio::fs::File::open(tmp.path()).await?;
            let len = file.metadata().await?.len();
            write.write_all(format!("ok {len}\n").as_bytes()).await?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf).await?;
                if n == 0 {
                    break;
                }
                let chunk = buf.get(..n).unwrap_or_default();
                hasher.update(chunk);
                write.write_all(chunk).await?;
            }
            let digest: [u8; 32] = hasher.finalize().into();
            write
                .write_all(format!("sha256 {}\n", hex::encode(digest)).as_bytes())
                .await?;
            std::io::Result::Ok(len)
        }
        .await;
        match sent {
            Ok(len) => {
                self.metrics.backup_done(true, pause);
                tracing::info!(
                    bytes = len,
                    pause_ms = pause.as_millis() as u64,
                    "online backup sent"
                );
                Ok(())
            }
            Err(e) => {
                self.metrics.backup_done(false, pause);
                // The client is gone; nothing to tell it.
                tracing::warn!(error = %e, "online backup not delivered");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use redb::TableDefinition;

    const T: TableDefinition<u64, &[u8]> = TableDefinition::new("t");
    const LATER: TableDefinition<&str, u64> = TableDefinition::new("added_later");

    fn fill(db: &Database, from: u64, to: u64) {
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(T).unwrap();
            for i in from..to {
                t.insert(i, vec![7u8; 100].as_slice()).unwrap();
            }
            txn.open_table(LATER).unwrap().insert("k", to).unwrap();
        }
        txn.commit().unwrap();
    }

    /// Rows of `T` committed after the first `fill(0, 1000)` and rounds
    /// `fill(r * 1000, r * 1000 + 100)` whose marker says `last`.
    fn rows_for(last: u64) -> u64 {
        let rounds = if last == 1000 { 0 } else { (last - 100) / 1000 };
        1000 + 100 * rounds
    }

    #[test]
    fn snapshots_while_writing_are_whole_commits_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.redb");
        let db = Arc::new(Database::create(&path).unwrap());
        fill(&db, 0, 1000);
        // A writer keeps committing while snapshots are taken.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut round = 1u64;
                while !stop.load(Ordering::SeqCst) {
                    fill(&db, round * 1000, round * 1000 + 100);
                    round += 1;
                }
                round
            })
        };
        let mut seen = Vec::new();
        for k in 0..5 {
            let snap = dir.path().join(format!("snap{k}.redb"));
            snapshot(&db, &path, &snap).unwrap();
            let summary = verify_store_file(&snap).unwrap();
            let rows: std::collections::BTreeMap<_, _> = summary.tables.iter().cloned().collect();
            let db2 = Database::open(&snap).unwrap();
            let txn = db2.begin_read().unwrap();
            let last = txn
                .open_table(LATER)
                .unwrap()
                .get("k")
                .unwrap()
                .unwrap()
                .value();
            // One whole commit: the marker written in the same transaction
            // as the rows agrees with them.
            assert_eq!(rows["t"], rows_for(last), "snapshot {k}");
            let t = txn.open_table(T).unwrap();
            assert!(t.get(999).unwrap().is_some());
            assert!(t.get(last - 1).unwrap().is_some());
            assert!(t.get(last).unwrap().is_none());
            seen.push(last);
        }
        stop.store(true, Ordering::SeqCst);
        let rounds = writer.join().unwrap();
        assert!(rounds > 1, "the writer never ran");
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");

        let snap = dir.path().join("snap4.redb");
        let restored_dir = dir.path().join("restored");
        let report = restore(&snap, &restored_dir, false).unwrap();
        assert!(report.replaced.is_none());
        assert_eq!(report.summary.tables.len(), 2);
        {
            let db2 = Database::open(&report.store).unwrap();
            let txn = db2.begin_read().unwrap();
            let last = txn
                .open_table(LATER)
                .unwrap()
                .get("k")
                .unwrap()
                .unwrap()
                .value();
            assert_eq!(last, seen[4]);
        }
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
