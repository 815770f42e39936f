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
//! store itself and takes the same snapshot. (The client side, and
//! `liaison-relay restore`, belong to the binary, `relay/cli`; this module
//! is what a running relay and both sides share.)
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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTableMetadata};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::datadir::{TempFile, create_private_dir, create_secret_file, parent_dir};
use crate::metrics::Metrics;
use crate::store::RedbStore;

/// What a client sends to ask for a backup.
pub const BACKUP_COMMAND: &str = "backup";
/// How the relay's answer starts when it sends a backup: `ok <bytes>`.
pub const OK_PREFIX: &str = "ok ";
/// How the relay's answer starts when it refuses: `error <reason>`.
pub const ERROR_PREFIX: &str = "error ";
/// The line after the backup's bytes: `sha256 <hex>`.
pub const SHA256_PREFIX: &str = "sha256 ";
/// Longest command line accepted on the control socket.
const MAX_COMMAND: usize = 64;
/// Time a control client gets to send its command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a snapshot, the check of a store file or the control socket failed.
/// These are failures of the relay's host (disk, permissions, a damaged
/// file), never a peer's doing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The database refused an operation of the snapshot or the check.
    #[error("{doing}")]
    Store {
        /// What was being done, such as `starting the backup transaction`.
        doing: String,
        /// The cause.
        source: redb::Error,
    },
    /// A file could not be read, written or copied.
    #[error("{doing}")]
    Io {
        /// What was being done, such as `copying A to B`.
        doing: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a redb store that can be opened.
    #[error("{} is not a usable redb store", path.display())]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: redb::DatabaseError,
    },
    /// A page checksum of the store does not match.
    #[error("{} failed the integrity check", path.display())]
    Integrity {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: redb::DatabaseError,
    },
    /// Something other than a socket is where the control socket goes.
    #[error(
        "control_socket {} exists and is not a socket; refusing to replace it",
        path.display()
    )]
    NotASocket {
        /// The configured `control_socket`.
        path: PathBuf,
    },
    /// The control socket could not be bound.
    #[error(
        "binding the control socket {} (set `control_socket` to a shorter or writable path)",
        path.display()
    )]
    BindControl {
        /// The configured `control_socket`.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The blocking snapshot task panicked or was cancelled.
    #[error("the snapshot task failed")]
    TaskFailed,
}

impl BackupError {
    fn store<E: Into<redb::Error>>(doing: impl Into<String>) -> impl FnOnce(E) -> BackupError {
        let doing = doing.into();
        move |e| BackupError::Store {
            doing,
            source: e.into(),
        }
    }

    fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
        let doing = doing.into();
        move |source| BackupError::Io { doing, source }
    }
}

/// `e` and its causes, as `error: cause: cause` (for the control socket's
/// one-line refusal and the log).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

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

/// Copy the database file at `store_path` (opened as `db`) to `out` (a new
/// file, mode 0600) while no writer can commit. Returns how long writers
/// were held.
pub fn snapshot(db: &Database, store_path: &Path, out: &Path) -> Result<Duration, BackupError> {
    const BEGIN: &str = "starting the backup transaction";
    // Make every earlier commit durable (the relay's already are; this keeps
    // the procedure sound should a non-durable commit ever be added).
    let mut flush = db.begin_write().map_err(BackupError::store(BEGIN))?;
    flush
        .set_durability(redb::Durability::Immediate)
        .map_err(BackupError::store(BEGIN))?;
    flush
        .commit()
        .map_err(BackupError::store("flushing the store before the backup"))?;
    // Held for the copy: redb admits one write transaction at a time, so no
    // commit can start, and none is in flight, until it ends.
    let guard = db.begin_write().map_err(BackupError::store(BEGIN))?;
    let started = Instant::now();
    let copied = (|| -> std::io::Result<()> {
        let mut src = std::fs::File::open(store_path)?;
        let mut dst = create_secret_file(out)?;
        std::io::copy(&mut src, &mut dst)?;
        dst.sync_all()
    })();
    let pause = started.elapsed();
    guard
        .abort()
        .map_err(BackupError::store("ending the backup transaction"))?;
    copied.map_err(BackupError::io(format!(
        "copying {} to {}",
        store_path.display(),
        out.display()
    )))?;
    Ok(pause)
}

/// Open a store file with redb (recovering it if it is a crash-consistent
/// image), check every page's checksum and count every table's rows. The
/// file is left closed cleanly.
pub fn verify_store_file(path: &Path) -> Result<StoreSummary, BackupError> {
    let mut db = Database::open(path).map_err(|source| BackupError::NotAStore {
        path: path.to_owned(),
        source,
    })?;
    let passed = db
        .check_integrity()
        .map_err(|source| BackupError::Integrity {
            path: path.to_owned(),
            source,
        })?;
    let mut tables = Vec::new();
    {
        let txn = db
            .begin_read()
            .map_err(BackupError::store("reading the store"))?;
        for handle in txn
            .list_tables()
            .map_err(BackupError::store("listing tables"))?
        {
            let name = redb::TableHandle::name(&handle).to_owned();
            let rows = txn
                .open_untyped_table(handle)
                .and_then(|t| t.len().map_err(redb::TableError::from))
                .map_err(BackupError::store(format!("reading table {name}")))?;
            tables.push((name, rows));
        }
        for handle in txn
            .list_multimap_tables()
            .map_err(BackupError::store("listing multimap tables"))?
        {
            let name = redb::MultimapTableHandle::name(&handle).to_owned();
            let rows = txn
                .open_untyped_multimap_table(handle)
                .and_then(|t| t.len().map_err(redb::TableError::from))
                .map_err(BackupError::store(format!("reading table {name}")))?;
            tables.push((name, rows));
        }
    }
    db.close()
        .map_err(BackupError::store("closing the verified store"))?;
    tables.sort();
    Ok(StoreSummary {
        tables,
        recovered: !passed,
    })
}

/// Bind the control socket at `path` (replacing a stale one), mode 0600.
pub fn bind_control(path: &Path) -> Result<std::os::unix::net::UnixListener, BackupError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(BackupError::io(format!(
            "creating data directory {}",
            dir.display()
        )))?;
    }
    // The caller holds the store open (redb's lock), so no other relay of
    // this store is using the socket: a leftover file is stale.
    match std::fs::symlink_metadata(path) {
        Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
            std::fs::remove_file(path).map_err(BackupError::io(format!(
                "removing the stale control socket {}",
                path.display()
            )))?;
        }
        Ok(_) => {
            return Err(BackupError::NotASocket {
                path: path.to_owned(),
            });
        }
        Err(_) => {}
    }
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(|source| {
        BackupError::BindControl {
            path: path.to_owned(),
            source,
        }
    })?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(BackupError::io(format!("restricting {}", path.display())))?;
    listener
        .set_nonblocking(true)
        .map_err(BackupError::io("configuring the control socket"))?;
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
            BACKUP_COMMAND => {
                if let Err(e) = self.backup(&mut write).await {
                    let why = error_chain(&e);
                    tracing::error!(error = %why, "backup failed");
                    let _ = write
                        .write_all(format!("{ERROR_PREFIX}{}\n", why.replace('\n', " ")).as_bytes())
                        .await;
                }
            }
            other => {
                let _ = write
                    .write_all(
                        format!(
                            "{ERROR_PREFIX}unknown command {:?} (known: {BACKUP_COMMAND})\n",
                            other.chars().take(32).collect::<String>()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        }
        let _ = write.shutdown().await;
    }

    async fn backup(
        &self,
        write: &mut tokio::net::unix::OwnedWriteHalf,
    ) -> Result<(), BackupError> {
        let _one_at_a_time = self.busy.lock().await;
        let dir = parent_dir(&self.store_path).to_owned();
        let tmp = TempFile::new(dir.join(format!(
            ".backup-{}-{}.redb.tmp",
            std::process::id(),
            self.n
        )));
        let (store, src, dst) = (
            self.store.clone(),
            self.store_path.clone(),
            tmp.path().to_owned(),
        );
        tracing::info!("online backup: taking a snapshot");
        let taken = tokio::task::spawn_blocking(move || snapshot(store.database(), &src, &dst))
            .await
            .map_err(|_| BackupError::TaskFailed)?;
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
            write
                .write_all(format!("{OK_PREFIX}{len}\n").as_bytes())
                .await?;
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
                .write_all(format!("{SHA256_PREFIX}{}\n", hex::encode(digest)).as_bytes())
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

/// A store for the backup tests of this crate and of the relay's command
/// line (`relay/cli`, through its dev-dependency on `test-hooks`).
#[cfg(any(test, feature = "test-hooks"))]
pub mod testing {
    #![allow(clippy::unwrap_used)]
    use redb::{Database, TableDefinition};

    /// Rows of 100 bytes.
    pub const T: TableDefinition<u64, &[u8]> = TableDefinition::new("t");
    /// A table whose one row `"k"` marks the last commit.
    pub const LATER: TableDefinition<&str, u64> = TableDefinition::new("added_later");

    /// Commit rows `from..to` of [`T`] and `to` as [`LATER`]'s marker in one
    /// transaction.
    pub fn fill(db: &Database, from: u64, to: u64) {
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::testing::{LATER, T, fill};
    use super::*;

    /// Rows of `T` committed after the first `fill(0, 1000)` and rounds
    /// `fill(r * 1000, r * 1000 + 100)` whose marker says `last`.
    fn rows_for(last: u64) -> u64 {
        let rounds = if last == 1000 { 0 } else { (last - 100) / 1000 };
        1000 + 100 * rounds
    }

    #[test]
    fn snapshots_while_writing_are_whole_commits() {
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
    }
}
