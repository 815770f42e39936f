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
//!
//! The home records its format version in clear (`meta/format`). Homes
//! written before the version existed are format 1 and are stamped on open;
//! a home written by a newer release is refused rather than misread.

use std::path::{Path, PathBuf};

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
        random_fill(&mut salt)?;
        Ok(KdfParams {
            m_cost: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
            salt,
        })
    }

    fn derive(&self, passphrase: &str) -> Result<Zeroizing<[u8; 32]>> {
        let params = argon2::Params::new(self.m_cost, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| HomeError::Kdf(format!("invalid parameters in the home: {e}")))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        a.hash_password_into(passphrase.as_bytes(), &self.salt, out.as_mut())
            .map_err(|e| HomeError::Kdf(e.to_string()))?;
        Ok(out)
    }
}

const CHECK_PLAINTEXT: &[u8] = b"liaison home key check v1";

/// The home format this release writes and reads.
pub const HOME_FORMAT: u32 = 1;

/// Why a home could not be created, opened, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HomeError {
    /// There is no home in the directory.
    #[error(
        "no Liaison home at {}: check --home (or LIAISON_HOME); to create one there, see `liaison --home {} init --help`",
        .0.display(),
        .0.display()
    )]
    Missing(PathBuf),
    /// The directory already holds a home.
    #[error("{} already holds a Liaison home; use another --home", .0.display())]
    Exists(PathBuf),
    /// Another process has the home open.
    #[error("the home {} is in use by another liaison process", .0.display())]
    InUse(PathBuf),
    /// The passphrase does not unlock the home.
    #[error("wrong passphrase for {}", .0.display())]
    WrongPassphrase(PathBuf),
    /// The home was written by a newer release.
    #[error(
        "the home {} has format {found}, newer than this release reads ({HOME_FORMAT}); install the newer liaison",
        .dir.display()
    )]
    NewerFormat {
        /// The home.
        dir: PathBuf,
        /// Its format.
        found: u32,
    },
    /// The home is damaged: a value failed authentication, is truncated,
    /// or does not decode.
    #[error("the home is damaged: {0}")]
    Corrupted(String),
    /// The KDF parameters cannot be used.
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// The operating system's random generator failed.
    #[error("the OS random generator failed: {0}")]
    Random(String),
    /// A file system operation failed.
    #[error("{what} {}: {error}", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The database failed.
    #[error("the home database: {0}")]
    Database(String),
    /// A value could not be encoded.
    #[error("encoding a value for the home: {0}")]
    Encode(postcard::Error),
}

type Result<T, E = HomeError> = std::result::Result<T, E>;

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for HomeError {
            fn from(e: $t) -> Self {
                HomeError::Database(e.to_string())
            }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<postcard::Error> for HomeError {
    fn from(e: postcard::Error) -> Self {
        HomeError::Encode(e)
    }
}

fn random_fill(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| HomeError::Random(e.to_string()))
}

fn parse_format(bytes: &[u8]) -> Result<u32> {
    <[u8; 4]>::try_from(bytes)
        .map(u32::from_be_bytes)
        .map_err(|_| HomeError::Corrupted("the home's format is malformed".into()))
}

fn decode<T: DeserializeOwned>(pt: &[u8]) -> Result<T> {
    postcard::from_bytes(pt)
        .map_err(|e| HomeError::Corrupted(format!("a stored value does not decode ({e})")))
}

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
    random_fill(&mut nonce)?;
    let ct = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| HomeError::Corrupted("a value could not be sealed".into()))?;
    let mut out = Vec::with_capacity(24 + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_with(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (nonce, ct) = sealed
        .split_first_chunk::<24>()
        .ok_or_else(|| HomeError::Corrupted("a stored value is truncated".into()))?;
    let pt = cipher
        .decrypt(&(*nonce).into(), Payload { msg: ct, aad })
        .map_err(|_| HomeError::Corrupted("a stored value failed authentication".into()))?;
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
            return Err(HomeError::Exists(dir.to_owned()));
        }
        std::fs::create_dir_all(dir).map_err(|source| HomeError::Io {
            what: "creating",
            path: dir.to_owned(),
            error: source,
        })?;
        restrict_dir(dir)?;
        let key = kdf.derive(passphrase)?;
        let cipher = XChaCha20Poly1305::new(&(*key).into());
        let db = Database::create(Self::db_path(dir))?;
        restrict_file(&Self::db_path(dir))?;
        let check = seal_with(&cipher, b"meta\0check", CHECK_PLAINTEXT)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert("kdf", postcard::to_allocvec(&kdf)?.as_slice())?;
            meta.insert("check", check.as_slice())?;
            meta.insert("format", HOME_FORMAT.to_be_bytes().as_slice())?;
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
            return Err(HomeError::Missing(dir.to_owned()));
        }
        let db = Database::open(Self::db_path(dir)).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => HomeError::InUse(dir.to_owned()),
            e => e.into(),
        })?;
        let missing = |what: &str| HomeError::Corrupted(format!("the home is missing its {what}"));
        let (kdf, check, format) = {
            let r = db.begin_read()?;
            let meta = r.open_table(META)?;
            let kdf = meta
                .get("kdf")?
                .ok_or_else(|| missing("KDF parameters"))?
                .value()
                .to_vec();
            let check = meta
                .get("check")?
                .ok_or_else(|| missing("key check"))?
                .value()
                .to_vec();
            let format = match meta.get("format")? {
                // Written before the format was recorded: format 1.
                None => None,
                Some(v) => Some(parse_format(v.value())?),
            };
            (kdf, check, format)
        };
        if let Some(found) = format.filter(|f| *f > HOME_FORMAT) {
            return Err(HomeError::NewerFormat {
                dir: dir.to_owned(),
                found,
            });
        }
        let kdf: KdfParams = postcard::from_bytes(&kdf)
            .map_err(|_| HomeError::Corrupted("its KDF parameters do not decode".into()))?;
        let key = kdf.derive(passphrase)?;
        let cipher = XChaCha20Poly1305::new(&(*key).into());
        if open_with(&cipher, b"meta\0check", &check).is_err() {
            return Err(HomeError::WrongPassphrase(dir.to_owned()));
        }
        if format.is_none() {
            let txn = db.begin_write()?;
            txn.open_table(META)?
                .insert("format", HOME_FORMAT.to_be_bytes().as_slice())?;
            txn.commit()?;
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

    /// The format recorded in the home at `dir` (`None` if it predates
    /// format records), read without unlocking it.
    pub fn format_of(dir: &Path) -> Result<Option<u32>> {
        let db = Database::open(Self::db_path(dir)).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => HomeError::InUse(dir.to_owned()),
            e => e.into(),
        })?;
        let r = db.begin_read()?;
        let meta = r.open_table(META)?;
        let format = meta.get("format")?;
        format.map(|v| parse_format(v.value())).transpose()
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
                Ok(Some(decode(&pt)?))
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
            out.push((k.value().to_vec(), decode(&pt)?));
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
        self.txn.commit()?;
        Ok(())
    }
}

#[cfg(unix)]
fn restrict_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
        HomeError::Io {
            what: "restricting permissions of",
            path: dir.to_owned(),
            error: source,
        }
    })
}

#[cfg(unix)]
fn restrict_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        HomeError::Io {
            what: "restricting permissions of",
            path: path.to_owned(),
            error: source,
        }
    })
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
#[allow(clippy::unwrap_used)]
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
    fn seal_open_and_wrong_passphrase() {
        let dir = tempdir();
        {
            let home = Home::create(&dir, "correct horse", fast_kdf()).unwrap();
            let mut w = home.write().unwrap();
            w.put_secret("profile", &"Alice".to_string()).unwrap();
            w.put(Table::Messages, b"m1", &42u32).unwrap();
            w.commit().unwrap();
        }
        let home = Home::open(&dir, "correct horse").unwrap();
        assert_eq!(
            home.get_secret::<String>("profile").unwrap(),
            Some("Alice".into())
        );
        assert_eq!(home.get::<u32>(Table::Messages, b"m1").unwrap(), Some(42));
        assert!(matches!(
            Home::open(&dir, "correct horse"),
            Err(HomeError::InUse(_))
        ));
        drop(home);
        let err = Home::open(&dir, "wrong").unwrap_err();
        assert!(matches!(err, HomeError::WrongPassphrase(_)), "{err}");
        assert!(err.to_string().contains("wrong passphrase"), "{err}");
        // The plaintext never reaches the disk.
        let raw = std::fs::read(dir.join("home.redb")).unwrap();
        assert!(!raw.windows(5).any(|w| w == b"Alice"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn stored_format(dir: &Path) -> Option<Vec<u8>> {
        let db = Database::open(Home::db_path(dir)).unwrap();
        let r = db.begin_read().unwrap();
        let meta = r.open_table(META).unwrap();
        meta.get("format").unwrap().map(|v| v.value().to_vec())
    }

    fn set_format(dir: &Path, format: Option<u32>) {
        let db = Database::open(Home::db_path(dir)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(META).unwrap();
            match format {
                Some(f) => meta.insert("format", f.to_be_bytes().as_slice()).unwrap(),
                None => meta.remove("format").unwrap(),
            };
        }
        txn.commit().unwrap();
    }

    #[test]
    fn the_format_is_recorded_and_a_newer_one_refused() {
        let dir = tempdir();
        drop(Home::create(&dir, "pw", fast_kdf()).unwrap());
        assert_eq!(
            stored_format(&dir),
            Some(HOME_FORMAT.to_be_bytes().to_vec())
        );

        // A home written before the format was recorded opens as format 1
        // and is stamped.
        set_format(&dir, None);
        drop(Home::open(&dir, "pw").unwrap());
        assert_eq!(stored_format(&dir), Some(1u32.to_be_bytes().to_vec()));

        // A newer release's home is refused, before the passphrase is tried.
        set_format(&dir, Some(HOME_FORMAT + 1));
        let err = Home::open(&dir, "not even the passphrase").unwrap_err();
        assert!(
            matches!(err, HomeError::NewerFormat { found, .. } if found == HOME_FORMAT + 1),
            "{err}"
        );
        assert!(
            err.to_string().contains("install the newer liaison"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_and_existing_homes_are_named() {
        let dir = tempdir();
        assert!(matches!(
            Home::open(&dir, "pw"),
            Err(HomeError::Missing(d)) if d == dir
        ));
        drop(Home::create(&dir, "pw", fast_kdf()).unwrap());
        assert!(matches!(
            Home::create(&dir, "pw", fast_kdf()),
            Err(HomeError::Exists(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        let mut r = [0u8; 8];
        random_fill(&mut r).unwrap();
        std::env::temp_dir().join(format!("liaison-home-test-{}", hex::encode(r)))
    }
}
