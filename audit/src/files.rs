//! Files.

use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use liaison_protocol::SecretKey;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::log::{CosignatureSigner, Hash};

use crate::*;

pub(crate) fn io_invalid(msg: String) -> std::io::Error {
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

/// Read a text input given on the command line (bundle, key file).
pub fn read_input(path: &Path, max: u64) -> Result<String> {
    let bytes =
        read_bounded(path, max, true).with_context(|| format!("reading {}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| anyhow!("{} is not UTF-8 text", path.display()))
}

/// Load and validate an enrolment bundle.
pub fn load_bundle(path: &Path) -> Result<Bundle> {
    Bundle::from_toml(&read_input(path, MAX_TEXT_FILE_LEN)?)
        .map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// Load an auditor key file: the hex Ed25519 seed.
pub fn load_auditor_key(path: &Path) -> Result<SecretKey> {
    let text = zeroize::Zeroizing::new(read_input(path, MAX_KEY_FILE_LEN)?);
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), seed.as_mut()).map_err(|_| {
        anyhow!(
            "{}: expected an auditor key (64 hex digits of an Ed25519 seed)",
            path.display()
        )
    })?;
    Ok(SecretKey::from_seed(&seed))
}

/// Load a witness key file: a C2SP cosignature signer key
/// (`PRIVATE+KEY+name+hex8+base64`).
pub fn load_witness_key(path: &Path) -> Result<CosignatureSigner> {
    let text = zeroize::Zeroizing::new(read_input(path, MAX_KEY_FILE_LEN)?);
    CosignatureSigner::from_skey(text.trim()).map_err(|e| {
        anyhow!(
            "{}: not a C2SP cosignature signer key (PRIVATE+KEY+name+...): {e}",
            path.display()
        )
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

/// An ASCII decimal without sign or leading zeros.
pub(crate) fn parse_dec(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// `<size>.note` or `<size>-<n>.note` → size.
pub fn parse_checkpoint_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".note")?;
    match stem.split_once('-') {
        Some((size, n)) => {
            parse_dec(n).filter(|n| *n > 0)?;
            parse_dec(size)
        }
        None => parse_dec(stem),
    }
}

/// `<index>.bin` → index.
pub fn parse_entry_name(name: &str) -> Option<u64> {
    parse_dec(name.strip_suffix(".bin")?)
}

/// `<old>-<new>.proof` → (old, new).
pub fn parse_proof_name(name: &str) -> Option<(u64, u64)> {
    let (a, b) = name.strip_suffix(".proof")?.split_once('-')?;
    Some((parse_dec(a)?, parse_dec(b)?))
}

/// Hashes one per line, base64 (RFC 9162 order).
pub fn encode_proof_text(proof: &[Hash]) -> String {
    proof.iter().map(|h| h.to_base64() + "\n").collect()
}

/// Strict inverse of [`encode_proof_text`].
pub fn parse_proof_text(bytes: &[u8]) -> Result<Vec<Hash>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text
        .strip_suffix('\n')
        .ok_or_else(|| "must end with a newline".to_owned())?;
    let mut out = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        if out.len() >= liaison_protocol::log::merkle::MAX_PROOF_LEN {
            return Err("more than 64 hashes".into());
        }
        out.push(
            Hash::from_base64(line)
                .ok_or_else(|| format!("line {}: not base64 of 32 bytes", i + 1))?,
        );
    }
    Ok(out)
}
