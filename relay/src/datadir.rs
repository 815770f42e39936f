//! The relay's files: the names of what its data directory holds, and how
//! the relay creates directories (owner-only) and secret files (0600).

use std::io::Write;
use std::path::Path;

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
