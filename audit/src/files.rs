//! Reading the auditor's inputs (bundle, key files, checkpoints, proof
//! bundles) with a size bound, and writing files so that a reader never
//! sees half of one.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use liaison_protocol::SecretKey;
use liaison_protocol::bundle::{Bundle, BundleError};
use liaison_protocol::log::{CosignatureSigner, NoteError};

/// Largest bundle or `keys.txt` read.
pub const MAX_TEXT_FILE_LEN: u64 = 64 * 1024;
/// Largest key file read.
pub const MAX_KEY_FILE_LEN: u64 = 4 * 1024;

/// Why an input named on the command line could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read (missing, not a regular file, too large).
    #[error("reading {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A text input is not UTF-8.
    #[error("{} is not UTF-8 text", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// The enrolment bundle does not parse or validate.
    #[error("{}: {error}", path.display())]
    Bundle {
        /// The bundle file.
        path: PathBuf,
        /// What is wrong with it.
        error: BundleError,
    },
    /// The auditor key file is not a hex Ed25519 seed.
    #[error("{}: expected an auditor key (64 hex digits of an Ed25519 seed)", path.display())]
    AuditorKey {
        /// The key file.
        path: PathBuf,
    },
    /// The witness key file is not a C2SP cosignature signer key.
    #[error(
        "{}: not a C2SP cosignature signer key (PRIVATE+KEY+name+...): {error}",
        path.display()
    )]
    WitnessKey {
        /// The key file.
        path: PathBuf,
        /// What the key parser said.
        error: NoteError,
    },
}

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

/// Read an input given on the command line (symbolic links followed), of at
/// most `max` bytes.
pub fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, LoadError> {
    read_bounded(path, max, true).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Read a text input given on the command line (bundle, key file).
pub fn read_input(path: &Path, max: u64) -> Result<String, LoadError> {
    String::from_utf8(read_file(path, max)?).map_err(|_| LoadError::NotText {
        path: path.to_owned(),
    })
}

/// Load and validate an enrolment bundle.
pub fn load_bundle(path: &Path) -> Result<Bundle, LoadError> {
    Bundle::from_toml(&read_input(path, MAX_TEXT_FILE_LEN)?).map_err(|error| LoadError::Bundle {
        path: path.to_owned(),
        error,
    })
}

/// Load an auditor key file: the hex Ed25519 seed.
pub fn load_auditor_key(path: &Path) -> Result<SecretKey, LoadError> {
    let text = zeroize::Zeroizing::new(read_input(path, MAX_KEY_FILE_LEN)?);
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), seed.as_mut()).map_err(|_| LoadError::AuditorKey {
        path: path.to_owned(),
    })?;
    Ok(SecretKey::from_seed(&seed))
}

/// Load a witness key file: a C2SP cosignature signer key
/// (`PRIVATE+KEY+name+hex8+base64`).
pub fn load_witness_key(path: &Path) -> Result<CosignatureSigner, LoadError> {
    let text = zeroize::Zeroizing::new(read_input(path, MAX_KEY_FILE_LEN)?);
    CosignatureSigner::from_skey(text.trim()).map_err(|error| LoadError::WitnessKey {
        path: path.to_owned(),
        error,
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
