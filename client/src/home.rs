//! The client's home directory: an encrypted-at-rest store.
//!
//! Everything secret or private (identity key, Olm account and sessions,
//! messages, the cached directory) is kept in a redb database whose values are
//! sealed with XChaCha20-Poly1305 under a key derived from the user's
//! passphrase with Argon2id. Each value's table and key are bound as
//! associated data, so a value cannot be moved to another slot unnoticed.
//! Only the KDF parameters and a key-check value are stored in clear.
//! redb commits are atomic and durable, so a killed client never loses a
//! ratchet step it has already used on the wire.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};
use zeroize::Zeroizing;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SECRETS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("secrets");
const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");
const MESSAGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("messages");
const OUTBOX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("outbox");
const RECEIPTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("receipts");
const CONSENTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("consents");

/// Names of the sealed tables, for associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// Singletons: identity, account, profile, directory.
    Secrets,
    /// Olm sessions per peer device.
    Sessions,
    /// Received and sent messages.
    Messages,
    /// Encrypted envelopes awaiting the relay's acknowledgement.
    Outbox,
    /// Receipts received for our messages and sent for others'.
    Receipts,
    /// Consent requests and decisions.
    Consents,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Secrets => "secrets",
            Table::Sessions => "sessions",
            Table::Messages => "messages",
            Table::Outbox => "outbox",
            Table::Receipts => "receipts",
            Table::Consents => "consents",
        }
    }
}

/// Argon2id parameters, stored in clear beside the salt.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
    /// Random salt.
    pub salt: [u8; 16],
}

impl KdfParams {
    /// Defaults: 64 MiB, 3 passes, 1 lane (above OWASP's Argon2id minimum).
    pub fn new_default() -> Result<Self> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| anyhow!("OS random generator failed: {e}"))?;
        Ok(KdfParams {
            m_cost: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
            salt,
        })
    }

    fn derive(&self, passphrase: &str) -> Result<Zeroizing<[u8; 32]>> {
        let params = argon2::Params::new(self.m_cost, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| anyhow!("invalid KDF parameters in home: {e}"))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        a.hash_password_into(passphrase.as_bytes(), &self.salt, out.as_mut())
            .map_err(|e| anyhow!("key derivation failed: {e}"))?;
        Ok(out)
    }
}

const CHECK_PLAINTEXT: &[u8] = b"liaison home key check v1";

/// An open, unlocked home.
pub struct Home {
    dir: PathBuf,
    db: Database,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Home {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Home")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn seal_with(cipher: &XChaCha20Poly1305, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(|e| anyhow!("OS random generator failed: {e}"))?;
    let ct = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| anyhow!("encryption failed"))?;
    let mut out = Vec::with_capacity(24 + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_with(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (nonce, ct) = sealed
        .split_first_chunk::<24>()
        .ok_or_else(|| anyhow!("stored value is truncated"))?;
    let pt = cipher
        .decrypt(&(*nonce).into(), Payload { msg: ct, aad })
        .map_err(|_| {
            anyhow!("stored value failed authentication (wrong passphrase or corrupted home)")
        })?;
    Ok(Zeroizing::new(pt))
}

fn aad(table: Table, key: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(16 + key.len());
    a.extend_from_slice(table.name().as_bytes());
    a.push(0);
    a.extend_from_slice(key);
    a
}

/// A write transaction over a home; commit to make every change durable at
/// once.
pub struct HomeTxn<'h> {
    home: &'h Home,
    txn: redb::WriteTransaction,
}

impl std::fmt::Debug for HomeTxn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HomeTxn")
    }
}

impl Home {
    fn db_path(dir: &Path) -> PathBuf {
        dir.join("home.redb")
    }

    /// Whether `dir` already holds a home.
    pub fn exists(dir: &Path) -> bool {
        Self::db_path(dir).exists()
    }

    /// Create a new home in `dir` (created with owner-only permissions).
    pub fn create(dir: &Path, passphrase: &str, kdf: KdfParams) -> Result<Home> {
        if Self::exists(dir) {
            bail!(
                "{} already holds a Liaison home; use another --home",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        restrict_dir(dir)?;
        let key = kdf.derive(passphrase)?;
        let cipher = XChaCha20Poly1305::new(&(*key).into());
        let db = Database::create(Self::db_path(dir)).context("creating the home database")?;
        restrict_file(&Self::db_path(dir))?;
        let check = seal_with(&cipher, b"meta\0check", CHECK_PLAINTEXT)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert("kdf", postcard::to_allocvec(&kdf)?.as_slice())?;
            meta.insert("check", check.as_slice())?;
            txn.open_table(SECRETS)?;
            txn.open_table(SESSIONS)?;
            txn.open_table(MESSAGES)?;
            txn.open_table(OUTBOX)?;
            txn.open_table(RECEIPTS)?;
            txn.open_table(CONSENTS)?;
        }
        txn.commit()?;
        Ok(Home {
            dir: dir.to_owned(),
            db,
            cipher,
        })
    }

    /// Open and unlock an existing home.
    pub fn open(dir: &Path, passphrase: &str) -> Result<Home> {
        if !Self::exists(dir) {
            bail!(
                "no Liaison home at {} (run `liaison --home {} init ...` first)",
                dir.display(),
                dir.display()
            );
        }
        let db = Database::open(Self::db_path(dir)).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                anyhow!(
                    "the home {} is in use by another liaison process",
                    dir.display()
                )
            }
            e => anyhow!("opening the home database: {e}"),
        })?;
        let (kdf, check) = {
            let r = db.begin_read()?;
            let meta = r.open_table(META)?;
            let kdf = meta
                .get("kdf")?
                .ok_or_else(|| anyhow!("home is missing its KDF parameters"))?
                .value()
                .to_vec();
            let check = meta
                .get("check")?
                .ok_or_else(|| anyhow!("home is missing its key check"))?
                .value()
                .to_vec();
            (kdf, check)
        };
        let kdf: KdfParams =
            postcard::from_bytes(&kdf).context("home KDF parameters are corrupted")?;
        let key = kdf.derive(passphrase)?;
        let cipher = XChaCha20Poly1305::new(&(*key).into());
        if open_with(&cipher, b"meta\0check", &check).is_err() {
            bail!("wrong passphrase for {}", dir.display());
        }
        Ok(Home {
            dir: dir.to_owned(),
            db,
            cipher,
        })
    }

    /// The home directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Begin a write transaction.
    pub fn write(&self) -> Result<HomeTxn<'_>> {
        Ok(HomeTxn {
            home: self,
            txn: self.db.begin_write()?,
        })
    }

    fn def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
        match table {
            Table::Sessions => SESSIONS,
            Table::Messages => MESSAGES,
            Table::Outbox => OUTBOX,
            Table::Secrets => SECRETS,
            Table::Receipts => RECEIPTS,
            Table::Consents => CONSENTS,
        }
    }

    /// Read a sealed singleton.
    pub fn get_secret<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        self.get(Table::Secrets, name.as_bytes())
    }

    /// Read a sealed value.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &[u8]) -> Result<Option<T>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(Self::def(table))?;
        match t.get(key)? {
            None => Ok(None),
            Some(v) => {
                let pt = open_with(&self.cipher, &aad(table, key), v.value())?;
                Ok(Some(
                    postcard::from_bytes(&pt).context("decoding a stored value")?,
                ))
            }
        }
    }

    /// Whether a key exists in a table (no decryption).
    pub fn contains(&self, table: Table, key: &[u8]) -> Result<bool> {
        let r = self.db.begin_read()?;
        let t = r.open_table(Self::def(table))?;
        Ok(t.get(key)?.is_some())
    }

    /// Every value of a table, in key order.
    pub fn all<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(Vec<u8>, T)>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(Self::def(table))?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            let pt = open_with(&self.cipher, &aad(table, k.value()), v.value())?;
            out.push((
                k.value().to_vec(),
                postcard::from_bytes(&pt).context("decoding a stored value")?,
            ));
        }
        Ok(out)
    }
}

impl HomeTxn<'_> {
    /// Seal and store a singleton.
    pub fn put_secret<T: Serialize>(&mut self, name: &str, value: &T) -> Result<()> {
        self.put(Table::Secrets, name.as_bytes(), value)
    }

    /// Seal and store a value.
    pub fn put<T: Serialize>(&mut self, table: Table, key: &[u8], value: &T) -> Result<()> {
        let pt = Zeroizing::new(postcard::to_allocvec(value)?);
        let sealed = seal_with(&self.home.cipher, &aad(table, key), &pt)?;
        let mut t = self.txn.open_table(Home::def(table))?;
        t.insert(key, sealed.as_slice())?;
        Ok(())
    }

    /// Remove a value.
    pub fn remove(&mut self, table: Table, key: &[u8]) -> Result<()> {
        let mut t = self.txn.open_table(Home::def(table))?;
        t.remove(key)?;
        Ok(())
    }

    /// Commit durably.
    pub fn commit(self) -> Result<()> {
        self.txn
            .commit()
            .context("committing to the home database")?;
        Ok(())
    }
}

#[cfg(unix)]
fn restrict_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting permissions of {}", dir.display()))
}

#[cfg(unix)]
fn restrict_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting permissions of {}", path.display()))
}

#[cfg(not(unix))]
fn restrict_dir(_: &Path) -> Result<()> {
    Ok(())
}

#[cfg(not(unix))]
fn restrict_file(_: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast_kdf() -> KdfParams {
        KdfParams {
            m_cost: 8,
            t_cost: 1,
            p_cost: 1,
            salt: [3; 16],
        }
    }

    #[test]
    fn seal_open_and_wrong_passphrase() -> Result<()> {
        let dir = tempdir()?;
        {
            let home = Home::create(&dir, "correct horse", fast_kdf())?;
            let mut w = home.write()?;
            w.put_secret("profile", &"Alice".to_string())?;
            w.put(Table::Messages, b"m1", &42u32)?;
            w.commit()?;
        }
        let home = Home::open(&dir, "correct horse")?;
        assert_eq!(home.get_secret::<String>("profile")?, Some("Alice".into()));
        assert_eq!(home.get::<u32>(Table::Messages, b"m1")?, Some(42));
        drop(home);
        let err = Home::open(&dir, "wrong")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("wrong passphrase"), "{err}");
        // The plaintext never reaches the disk.
        let raw = std::fs::read(dir.join("home.redb"))?;
        assert!(!raw.windows(5).any(|w| w == b"Alice"));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    fn tempdir() -> Result<PathBuf> {
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).map_err(|e| anyhow!("{e}"))?;
        Ok(std::env::temp_dir().join(format!("liaison-home-test-{}", hex::encode(r))))
    }
}
