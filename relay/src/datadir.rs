//! The relay's files: the names of what its data directory holds, and how
//! the relay creates directories (owner-only), secret files (0600) and
//! files written under a temporary name (backups, restores).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Name of the store file inside `data_dir`.
pub const STORE_FILE: &str = "relay.redb";
/// Default certificate file name inside `data_dir`.
pub const TLS_CERT_FILE: &str = "tls.crt";
/// Default key file name inside `data_dir`.
pub const TLS_KEY_FILE: &str = "tls.key";
/// Default name of the control socket inside the data directory.
pub const CONTROL_SOCKET_FILE: &str = "control.sock";

/// Create `dir` (and parents) owner-only (0700) if it does not exist.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Create `path` (failing if it exists), write `bytes` and sync. With
/// `secret`, the file is created owner-read/write only (0600).
pub fn write_new_file(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Create `path` for writing, owner-read/write only (0600), failing if it
/// exists.
pub fn create_secret_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Make a rename into `dir` durable; best effort (some filesystems refuse
/// to sync a directory).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The directory containing `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A file being written under a temporary name: removed when dropped,
/// unless [`TempFile::keep`] was called after it was moved into place.
#[derive(Debug)]
pub struct TempFile(Option<PathBuf>);

impl TempFile {
    /// Take charge of `path` (which need not exist yet).
    pub fn new(path: PathBuf) -> Self {
        TempFile(Some(path))
    }

    /// The temporary path.
    pub fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    /// Do not remove the file (it was renamed into place).
    pub fn keep(mut self) {
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
