//! The files an authority and the root keep: bundles, key files, the
//! root key. Secret files are created owner-only and never overwritten in
//! place.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use liaison_protocol::SecretKey;
use liaison_protocol::Signed;
use liaison_protocol::bundle::{AuthorityKeyFile, Bundle};
use liaison_protocol::message::EnrolmentRequest;

use crate::error::AdminError;

/// Read a text file, naming it (`what`, such as "bundle") in the error.
pub fn read_text(path: &Path, what: &'static str) -> Result<String, AdminError> {
    std::fs::read_to_string(path).map_err(|source| AdminError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn write_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AdminError {
    let path = path.to_owned();
    move |source| AdminError::Write {
        action,
        path,
        source,
    }
}

/// Create `path` (never overwriting) with `text`; owner-only (0600) if
/// `secret`. Synced before returning.
pub fn write_new_file(path: &Path, text: &str, secret: bool) -> Result<(), AdminError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts.open(path).map_err(write_error("creating", path))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(write_error("writing", path))
}

/// Refuse before doing anything if one of `paths` exists: nothing is
/// overwritten, and nothing is half written.
pub fn check_absent(paths: &[&Path]) -> Result<(), AdminError> {
    match paths.iter().find(|p| p.exists()) {
        Some(p) => Err(AdminError::Exists {
            path: p.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// Replace the secret file `path` with `text` atomically (a 0600 temporary
/// file beside it, synced, then renamed over it).
pub fn replace_secret_file(path: &Path, text: &str) -> Result<(), AdminError> {
    let name = path.file_name().ok_or_else(|| AdminError::NotAFilePath {
        path: path.to_owned(),
    })?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".new");
    let tmp = path.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    write_new_file(&tmp, text, true)?;
    std::fs::rename(&tmp, path).map_err(write_error("replacing", path))
}

/// Load a bundle.
pub fn load_bundle(path: &Path) -> Result<Bundle, AdminError> {
    Bundle::from_toml(&read_text(path, "bundle")?).map_err(|source| AdminError::BundleFile {
        path: path.to_owned(),
        source,
    })
}

/// Load an authority key file (certified).
pub fn load_authority(path: &Path) -> Result<AuthorityKeyFile, AdminError> {
    let text = zeroize::Zeroizing::new(read_text(path, "authority key")?);
    AuthorityKeyFile::from_toml(&text).map_err(|source| AdminError::AuthorityKeyFile {
        path: path.to_owned(),
        source,
    })
}

/// Load and verify a focal point's armoured enrolment request.
pub fn load_enrolment_request(
    path: &Path,
) -> Result<(Signed<EnrolmentRequest>, EnrolmentRequest), AdminError> {
    Ok(EnrolmentRequest::from_armored(&read_text(
        path,
        "enrolment request",
    )?)?)
}

/// Fresh key material from the operating system.
pub fn new_secret_key() -> Result<SecretKey, AdminError> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(AdminError::Random)?;
    Ok(SecretKey::from_seed(&seed))
}

/// The root key file: the hex seed and a newline (as `liaison-relay dev`
/// writes `root.key`).
pub fn root_key_text(root: &SecretKey) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(format!("{}\n", hex::encode(*root.to_seed())))
}

/// Parse [`root_key_text`].
pub fn parse_root_key(text: &str) -> Result<SecretKey, AdminError> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), seed.as_mut()).map_err(|_| AdminError::RootKey)?;
    Ok(SecretKey::from_seed(&seed))
}

/// Load the root key.
pub fn load_root(path: &Path) -> Result<SecretKey, AdminError> {
    let text = zeroize::Zeroizing::new(read_text(path, "root key")?);
    parse_root_key(&text).map_err(|_| AdminError::RootKeyFile {
        path: path.to_owned(),
    })
}

/// `KEY.request`, where `authority keygen` writes the request beside the
/// key `KEY`.
pub fn request_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_os_string();
    name.push(".request");
    PathBuf::from(name)
}
