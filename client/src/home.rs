//! The client's home directory: an encrypted-at-rest store.
//!
//! Everything secret or private (identity key, Olm account and sessions,
//! messages, the cached directory) is kept in a redb database whose values are
//! sealed with XChaCha20-Poly1305 under a key derived from the user's
//! passphrase with Argon2id. redb commits are atomic and durable, so a killed
//! client never loses a ratchet step it has already used on the wire.
//!
//! Format 2 (this release):
//! - the passphrase gives a master key (Argon2id with the home's parameters),
//!   from which HKDF-SHA256 derives a value key and an index key;
//! - a row's key in the database is not the logical key (a message id, a
//!   peer's device key: together they would show the contact graph) but
//!   HKDF-Expand(index key, table ‖ 0 ‖ key), a keyed hash; the logical key
//!   travels sealed inside the value, and each value's table and stored key
//!   are its associated data, so a value cannot be moved unnoticed;
//! - the key-check value's associated data holds the format and the KDF
//!   parameters, so neither can be altered without the passphrase failing;
//!   parameters above sane bounds are refused before deriving anything;
//! - [`Home::rewrite`] copies the live rows into a fresh file and replaces the
//!   old one, so that content destroyed at the end of its retention does not
//!   survive in the database's free pages (which the passphrase would still
//!   decrypt). The client calls it after destroying content.
//!
//! Only the KDF parameters, the format and the key check are in clear. The
//! home records its format (`meta/format`). Format 1 (keys in clear, the
//! master key used directly) is migrated on open: every row is resealed into
//! a fresh file, which then replaces the old one. A home written by a newer
//! release is refused rather than misread.

use std::path::{Path, PathBuf};

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use hkdf::Hkdf;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};
use sha2::Sha256;
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
    /// Every table.
    const ALL: [Table; 6] = [
        Table::Secrets,
        Table::Sessions,
        Table::Messages,
        Table::Outbox,
        Table::Receipts,
        Table::Consents,
    ];

    /// Its place in [`Table::ALL`].
    fn index(self) -> usize {
        match self {
            Table::Secrets => 0,
            Table::Sessions => 1,
            Table::Messages => 2,
            Table::Outbox => 3,
            Table::Receipts => 4,
            Table::Consents => 5,
        }
    }

    /// Its bit in a transaction's set of changed tables.
    fn bit(self) -> u8 {
        1 << self.index()
    }

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

/// Highest Argon2 costs a home may ask for: a damaged or hostile home must
/// not make the client allocate without bound or run for hours.
const MAX_M_COST: u32 = 4 * 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 16;

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
        if self.m_cost > MAX_M_COST || self.t_cost > MAX_T_COST || self.p_cost > MAX_P_COST {
            return Err(HomeError::Kdf(format!(
                "the home asks for unreasonable key derivation costs ({} KiB, {} passes, {} lanes): it is damaged or was altered",
                self.m_cost, self.t_cost, self.p_cost
            )));
        }
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

/// The associated data of the key check: in format 2 it binds the format
/// and the encoded KDF parameters.
fn check_aad(format: u32, kdf: &[u8]) -> Vec<u8> {
    if format < 2 {
        return b"meta\0check".to_vec();
    }
    let mut a = b"meta\0check\0".to_vec();
    a.extend_from_slice(&format.to_be_bytes());
    a.extend_from_slice(kdf);
    a
}

/// The keys of a format-2 home, from the master key.
struct Keys {
    values: XChaCha20Poly1305,
    index: Hkdf<Sha256>,
}

impl Keys {
    fn derive(master: &[u8; 32]) -> Result<Keys> {
        let hk = Hkdf::<Sha256>::new(Some(b"liaison home v2"), master);
        let mut values = Zeroizing::new([0u8; 32]);
        let mut index = Zeroizing::new([0u8; 32]);
        hk.expand(b"values", values.as_mut())
            .and_then(|()| hk.expand(b"index", index.as_mut()))
            .map_err(|_| HomeError::Kdf("expanding the home key".into()))?;
        let index = Hkdf::<Sha256>::from_prk(index.as_ref())
            .map_err(|_| HomeError::Kdf("the index key".into()))?;
        Ok(Keys {
            values: XChaCha20Poly1305::new(&(*values).into()),
            index,
        })
    }

    /// The stored key of logical `key` in `table`.
    fn blind(&self, table: Table, key: &[u8]) -> Result<[u8; 32]> {
        let mut out = [0u8; 32];
        self.index
            .expand_multi_info(&[table.name().as_bytes(), &[0], key], &mut out)
            .map_err(|_| HomeError::Kdf("blinding a key".into()))?;
        Ok(out)
    }
}

/// The directory of a home holding files only while a send or an open
/// needs them; cleared whenever the home is opened.
pub const UPLOADS_DIR: &str = "uploads";

/// The home format this release writes and reads (and migrates format 1 to).
pub const HOME_FORMAT: u32 = 2;

/// Why a home could not be created, opened, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HomeError {
    /// There is no home in the directory.
    #[error(
        "no Liaison home at {}: check --home (or LIAISON_HOME); to create one there, see `liaison --home {} init --help`",
        .0.display(),
        liaison_protocol::shell::quote_path(.0)
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

/// A home's KDF parameters and key check: whether a passphrase opens the
/// home, without the home's keys (see [`Home::passphrase_check`]).
#[derive(Clone)]
pub struct PassphraseCheck {
    format: u32,
    kdf: Vec<u8>,
    check: Vec<u8>,
}

impl std::fmt::Debug for PassphraseCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassphraseCheck")
    }
}

impl PassphraseCheck {
    /// Whether `passphrase` opens the home (runs the home's Argon2id: slow
    /// on purpose, call it off the async runtime's threads).
    pub fn matches(&self, passphrase: &str) -> bool {
        let Ok(params) = postcard::from_bytes::<KdfParams>(&self.kdf) else {
            return false;
        };
        let Ok(master) = params.derive(passphrase) else {
            return false;
        };
        let cipher = XChaCha20Poly1305::new(&(*master).into());
        open_with(&cipher, &check_aad(self.format, &self.kdf), &self.check).is_ok()
    }
}

/// An open, unlocked home.
pub struct Home {
    dir: PathBuf,
    db: Database,
    keys: Keys,
    /// Per table (in [`Table::ALL`] order): commits that changed it since
    /// the home was opened (what an in-memory view of a table, such as the
    /// search index, checks to know it is stale).
    commits: [std::sync::atomic::AtomicU64; Table::ALL.len()],
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

/// Associated data of a value: its table and its stored key.
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
    /// The tables this transaction changes (bit `i`: [`Table::ALL`]`[i]`).
    changed: u8,
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
        let master = kdf.derive(passphrase)?;
        let db = Self::create_db(&Self::db_path(dir), &kdf, &master)?;
        Ok(Home {
            dir: dir.to_owned(),
            db,
            keys: Keys::derive(&master)?,
            commits: Default::default(),
        })
    }

    /// A new, empty format-2 database at `path` (owner-only) for `master`.
    fn create_db(path: &Path, kdf: &KdfParams, master: &[u8; 32]) -> Result<Database> {
        let db = Database::create(path)?;
        restrict_file(path)?;
        let kdf_bytes = postcard::to_allocvec(kdf)?;
        let cipher = XChaCha20Poly1305::new(&(*master).into());
        let check = seal_with(
            &cipher,
            &check_aad(HOME_FORMAT, &kdf_bytes),
            CHECK_PLAINTEXT,
        )?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert("kdf", kdf_bytes.as_slice())?;
            meta.insert("check", check.as_slice())?;
            meta.insert("format", HOME_FORMAT.to_be_bytes().as_slice())?;
            for table in Table::ALL {
                txn.open_table(Self::def(table))?;
            }
        }
        txn.commit()?;
        Ok(db)
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
        // Written before the format was recorded: format 1.
        let format = format.unwrap_or(1);
        if format > HOME_FORMAT {
            return Err(HomeError::NewerFormat {
                dir: dir.to_owned(),
                found: format,
            });
        }
        let kdf_params: KdfParams = postcard::from_bytes(&kdf)
            .map_err(|_| HomeError::Corrupted("its KDF parameters do not decode".into()))?;
        let master = kdf_params.derive(passphrase)?;
        let cipher = XChaCha20Poly1305::new(&(*master).into());
        if open_with(&cipher, &check_aad(format, &kdf), &check).is_err() {
            return Err(HomeError::WrongPassphrase(dir.to_owned()));
        }
        let keys = Keys::derive(&master)?;
        // Files written only for the length of a send or of showing one
        // (`uploads/`: files attached in the web app, a long text) that a
        // stopped or killed program left behind. Whoever wrote them held
        // the home open, which is now ours alone.
        let _ = std::fs::remove_dir_all(dir.join(UPLOADS_DIR));
        if format == 1 {
            // Reseal every row into a fresh format-2 file, then replace the
            // old file (whose free pages held what format 1 left there).
            let path = Self::db_path(dir);
            let fresh = Self::fresh_path(dir);
            remove_if_exists(&fresh)?;
            let new_db = Self::create_db(&fresh, &kdf_params, &master)?;
            Self::copy_rows(&db, &new_db, |table, key, sealed| {
                let pt = open_with(&cipher, &aad(table, key), sealed)?;
                seal_row(&keys, table, key, &pt)
            })?;
            drop(new_db);
            Self::replace(dir, &fresh, &path)?;
            drop(db);
            let db = Database::open(&path)?;
            return Ok(Home {
                dir: dir.to_owned(),
                db,
                keys,
                commits: Default::default(),
            });
        }
        Ok(Home {
            dir: dir.to_owned(),
            db,
            keys,
            commits: Default::default(),
        })
    }

    /// What checks a passphrase against this home without opening it a
    /// second time (the web app asks for the passphrase again after it
    /// locked itself while the agent keeps the home open).
    pub fn passphrase_check(&self) -> Result<PassphraseCheck> {
        let missing = |what: &str| HomeError::Corrupted(format!("the home is missing its {what}"));
        let r = self.db.begin_read()?;
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
            None => 1,
            Some(v) => parse_format(v.value())?,
        };
        Ok(PassphraseCheck { format, kdf, check })
    }

    /// Where a fresh copy of the database is built before it replaces the
    /// old one.
    fn fresh_path(dir: &Path) -> PathBuf {
        dir.join("home.redb.fresh")
    }

    /// Copy every row of every table of `from` into `to`, mapping each
    /// (table, stored key, sealed value) to a new (stored key, sealed value).
    fn copy_rows(
        from: &Database,
        to: &Database,
        mut map: impl FnMut(Table, &[u8], &[u8]) -> Result<([u8; 32], Vec<u8>)>,
    ) -> Result<()> {
        let r = from.begin_read()?;
        let w = to.begin_write()?;
        for table in Table::ALL {
            let src = match r.open_table(Self::def(table)) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut dst = w.open_table(Self::def(table))?;
            for item in src.iter()? {
                let (k, v) = item?;
                let (key, sealed) = map(table, k.value(), v.value())?;
                dst.insert(key.as_slice(), sealed.as_slice())?;
            }
        }
        w.commit()?;
        Ok(())
    }

    /// Make `fresh` the home's database: synced, renamed over `path`, and
    /// the directory synced, so a crash leaves either the old or the new.
    fn replace(dir: &Path, fresh: &Path, path: &Path) -> Result<()> {
        let io = |what: &'static str, path: &Path| {
            let path = path.to_owned();
            move |error| HomeError::Io { what, path, error }
        };
        std::fs::File::open(fresh)
            .and_then(|f| f.sync_all())
            .map_err(io("syncing", fresh))?;
        std::fs::rename(fresh, path).map_err(io("replacing", path))?;
        std::fs::File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(io("syncing", dir))
    }

    /// Rewrite the database into a fresh file holding only the live rows,
    /// and replace the old file with it: what was removed or overwritten
    /// (content destroyed at the end of its retention) no longer survives
    /// in free pages of the file. Costs a copy of the home.
    pub fn rewrite(&mut self) -> Result<()> {
        let path = Self::db_path(&self.dir);
        let fresh = Self::fresh_path(&self.dir);
        remove_if_exists(&fresh)?;
        let (kdf, check) = {
            let r = self.db.begin_read()?;
            let meta = r.open_table(META)?;
            let get = |k: &str| -> Result<Vec<u8>> {
                Ok(meta
                    .get(k)?
                    .ok_or_else(|| HomeError::Corrupted(format!("the home is missing its {k}")))?
                    .value()
                    .to_vec())
            };
            (get("kdf")?, get("check")?)
        };
        let new_db = Database::create(&fresh)?;
        restrict_file(&fresh)?;
        {
            let txn = new_db.begin_write()?;
            {
                let mut meta = txn.open_table(META)?;
                meta.insert("kdf", kdf.as_slice())?;
                meta.insert("check", check.as_slice())?;
                meta.insert("format", HOME_FORMAT.to_be_bytes().as_slice())?;
            }
            txn.commit()?;
        }
        Self::copy_rows(&self.db, &new_db, |_, key, sealed| {
            let key = <[u8; 32]>::try_from(key)
                .map_err(|_| HomeError::Corrupted("a stored key has the wrong size".into()))?;
            Ok((key, sealed.to_vec()))
        })?;
        drop(new_db);
        Self::replace(&self.dir, &fresh, &path)?;
        self.db = Database::open(&path)?;
        Ok(())
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

    /// Commits that changed the messages table since this home was opened
    /// (through this handle: one process owns a home at a time).
    pub fn message_commits(&self) -> u64 {
        self.commits(Table::Messages)
    }

    /// Commits that changed `table` since this home was opened (through
    /// this handle).
    pub fn commits(&self, table: Table) -> u64 {
        self.commits
            .get(table.index())
            .map_or(0, |c| c.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Begin a write transaction.
    pub fn write(&self) -> Result<HomeTxn<'_>> {
        Ok(HomeTxn {
            home: self,
            txn: self.db.begin_write()?,
            changed: 0,
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
        let stored = self.keys.blind(table, key)?;
        let r = self.db.begin_read()?;
        let t = r.open_table(Self::def(table))?;
        match t.get(stored.as_slice())? {
            None => Ok(None),
            Some(v) => {
                let (logical, pt) = open_row(&self.keys, table, &stored, v.value())?;
                if logical.as_slice() != key {
                    return Err(HomeError::Corrupted(
                        "a stored value is under another key".into(),
                    ));
                }
                Ok(Some(decode(&pt)?))
            }
        }
    }

    /// Whether a key exists in a table (no decryption).
    pub fn contains(&self, table: Table, key: &[u8]) -> Result<bool> {
        let stored = self.keys.blind(table, key)?;
        let r = self.db.begin_read()?;
        let t = r.open_table(Self::def(table))?;
        Ok(t.get(stored.as_slice())?.is_some())
    }

    /// Every value of a table, in (logical) key order.
    pub fn all<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(Vec<u8>, T)>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(Self::def(table))?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            let (logical, pt) = open_row(&self.keys, table, k.value(), v.value())?;
            if self.keys.blind(table, &logical)?.as_slice() != k.value() {
                return Err(HomeError::Corrupted(
                    "a stored value is under another key".into(),
                ));
            }
            out.push((logical.to_vec(), decode(&pt)?));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Seal logical `key` and plaintext `pt` as a row of `table`: its stored
/// key and sealed value.
fn seal_row(keys: &Keys, table: Table, key: &[u8], pt: &[u8]) -> Result<([u8; 32], Vec<u8>)> {
    let stored = keys.blind(table, key)?;
    let row = Zeroizing::new(postcard::to_allocvec(&(key, pt))?);
    let sealed = seal_with(&keys.values, &aad(table, &stored), &row)?;
    Ok((stored, sealed))
}

/// A row opened: its logical key and its plaintext.
type OpenedRow = (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>);

/// Open a row: its logical key and plaintext.
fn open_row(keys: &Keys, table: Table, stored: &[u8], sealed: &[u8]) -> Result<OpenedRow> {
    let row = open_with(&keys.values, &aad(table, stored), sealed)?;
    let (key, pt): (Vec<u8>, Vec<u8>) = decode(&row)?;
    Ok((Zeroizing::new(key), Zeroizing::new(pt)))
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HomeError::Io {
            what: "removing",
            path: path.to_owned(),
            error: e,
        }),
        _ => Ok(()),
    }
}

impl HomeTxn<'_> {
    /// Seal and store a singleton.
    pub fn put_secret<T: Serialize>(&mut self, name: &str, value: &T) -> Result<()> {
        self.put(Table::Secrets, name.as_bytes(), value)
    }

    /// Seal and store a value.
    pub fn put<T: Serialize>(&mut self, table: Table, key: &[u8], value: &T) -> Result<()> {
        self.changed |= table.bit();
        let pt = Zeroizing::new(postcard::to_allocvec(value)?);
        let (stored, sealed) = seal_row(&self.home.keys, table, key, &pt)?;
        let mut t = self.txn.open_table(Home::def(table))?;
        t.insert(stored.as_slice(), sealed.as_slice())?;
        Ok(())
    }

    /// Remove a value.
    pub fn remove(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.changed |= table.bit();
        let stored = self.home.keys.blind(table, key)?;
        let mut t = self.txn.open_table(Home::def(table))?;
        t.remove(stored.as_slice())?;
        Ok(())
    }

    /// Commit durably.
    pub fn commit(self) -> Result<()> {
        self.txn.commit()?;
        for (i, count) in self.home.commits.iter().enumerate() {
            if self.changed & (1 << i) != 0 {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
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
    fn the_passphrase_check_of_an_open_home() {
        let dir = tempdir();
        let home = Home::create(&dir, "correct horse", fast_kdf()).unwrap();
        let check = home.passphrase_check().unwrap();
        assert!(check.matches("correct horse"));
        assert!(!check.matches("wrong"));
        assert!(!check.matches(""));
        assert_eq!(format!("{check:?}"), "PassphraseCheck");
        drop(home);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn each_table_counts_the_commits_that_changed_it() {
        for (i, t) in Table::ALL.iter().enumerate() {
            assert_eq!(t.index(), i, "{}", t.name());
        }
        let dir = tempdir();
        let home = Home::create(&dir, "pw", fast_kdf()).unwrap();
        let counts = |h: &Home| Table::ALL.map(|t| h.commits(t));
        let before = counts(&home);
        let mut w = home.write().unwrap();
        w.put(Table::Receipts, b"r", &1u8).unwrap();
        w.put(Table::Receipts, b"s", &2u8).unwrap();
        w.remove(Table::Messages, b"m").unwrap();
        w.commit().unwrap();
        let after = counts(&home);
        for (i, t) in Table::ALL.iter().enumerate() {
            let bumped = matches!(t, Table::Receipts | Table::Messages);
            assert_eq!(after[i], before[i] + u64::from(bumped), "{}", t.name());
        }
        // A transaction dropped without committing changes no count.
        let mut w = home.write().unwrap();
        w.put(Table::Consents, b"c", &3u8).unwrap();
        drop(w);
        assert_eq!(counts(&home), after);
        assert_eq!(home.message_commits(), after[Table::Messages.index()]);
        drop(home);
        std::fs::remove_dir_all(&dir).unwrap();
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
    fn the_format_is_recorded_authenticated_and_a_newer_one_refused() {
        let dir = tempdir();
        drop(Home::create(&dir, "pw", fast_kdf()).unwrap());
        assert_eq!(
            stored_format(&dir),
            Some(HOME_FORMAT.to_be_bytes().to_vec())
        );

        // The format is bound to the key check: passing a format-2 home off
        // as format 1 (to have it "migrated" again) fails like a wrong
        // passphrase.
        set_format(&dir, None);
        assert!(matches!(
            Home::open(&dir, "pw"),
            Err(HomeError::WrongPassphrase(_))
        ));

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

    fn set_kdf(dir: &Path, kdf: &KdfParams) {
        let db = Database::open(Home::db_path(dir)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("kdf", postcard::to_allocvec(kdf).unwrap().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }

    #[test]
    fn altered_kdf_parameters_are_refused() {
        let dir = tempdir();
        drop(Home::create(&dir, "pw", fast_kdf()).unwrap());
        // Cheaper parameters (to make a stolen home easier to attack) do not
        // open it ...
        set_kdf(
            &dir,
            &KdfParams {
                t_cost: 2,
                ..fast_kdf()
            },
        );
        assert!(matches!(
            Home::open(&dir, "pw"),
            Err(HomeError::WrongPassphrase(_))
        ));
        // ... and unreasonable ones are refused before any work.
        set_kdf(
            &dir,
            &KdfParams {
                m_cost: u32::MAX,
                ..fast_kdf()
            },
        );
        let err = Home::open(&dir, "pw").unwrap_err();
        assert!(err.to_string().contains("unreasonable"), "{err}");
        set_kdf(&dir, &fast_kdf());
        drop(Home::open(&dir, "pw").unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn raw_contains(dir: &Path, needle: &[u8]) -> bool {
        let raw = std::fs::read(dir.join("home.redb")).unwrap();
        raw.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn keys_are_not_stored_in_clear() {
        let dir = tempdir();
        let peer = b"peer device key 7f3a9c";
        {
            let home = Home::create(&dir, "pw", fast_kdf()).unwrap();
            let mut w = home.write().unwrap();
            w.put(Table::Sessions, peer, &1u8).unwrap();
            w.put(Table::Sessions, b"another peer", &2u8).unwrap();
            w.commit().unwrap();
            assert!(home.contains(Table::Sessions, peer).unwrap());
            assert_eq!(home.get::<u8>(Table::Sessions, peer).unwrap(), Some(1));
            let all: Vec<_> = home.all::<u8>(Table::Sessions).unwrap();
            assert_eq!(
                all,
                vec![(b"another peer".to_vec(), 2), (peer.to_vec(), 1)],
                "in logical key order"
            );
            let mut w = home.write().unwrap();
            w.remove(Table::Sessions, b"another peer").unwrap();
            w.commit().unwrap();
            assert_eq!(home.all::<u8>(Table::Sessions).unwrap().len(), 1);
        }
        assert!(!raw_contains(&dir, peer));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The sealed bytes stored for logical `key` of `table`, read directly.
    fn stored_value(home: &Home, table: Table, key: &[u8]) -> Vec<u8> {
        let stored = home.keys.blind(table, key).unwrap();
        let r = home.db.begin_read().unwrap();
        let t = r.open_table(Home::def(table)).unwrap();
        t.get(stored.as_slice()).unwrap().unwrap().value().to_vec()
    }

    #[test]
    fn rewrite_leaves_nothing_of_destroyed_values_in_the_file() {
        let dir = tempdir();
        let mut home = Home::create(&dir, "pw", fast_kdf()).unwrap();
        let mut w = home.write().unwrap();
        w.put(Table::Messages, b"m1", &"the content".to_owned())
            .unwrap();
        w.put(Table::Messages, b"m2", &"kept".to_owned()).unwrap();
        w.commit().unwrap();
        let old = stored_value(&home, Table::Messages, b"m1");
        let mut w = home.write().unwrap();
        w.put(Table::Messages, b"m1", &String::new()).unwrap();
        w.commit().unwrap();
        home.rewrite().unwrap();
        assert!(!raw_contains(&dir, &old[..40]));
        assert!(!Home::fresh_path(&dir).exists());
        assert_eq!(
            home.get::<String>(Table::Messages, b"m2").unwrap(),
            Some("kept".into())
        );
        // Still a working home: written, reopened.
        let mut w = home.write().unwrap();
        w.put(Table::Messages, b"m3", &"new".to_owned()).unwrap();
        w.commit().unwrap();
        drop(home);
        let home = Home::open(&dir, "pw").unwrap();
        assert_eq!(home.all::<String>(Table::Messages).unwrap().len(), 3);
        drop(home);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A home as format 1 wrote it: keys in clear, values sealed under the
    /// master key, no format record.
    fn write_format_1(dir: &Path, passphrase: &str, rows: &[(Table, &[u8], &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        let kdf = fast_kdf();
        let master = kdf.derive(passphrase).unwrap();
        let cipher = XChaCha20Poly1305::new(&(*master).into());
        let db = Database::create(Home::db_path(dir)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(META).unwrap();
            meta.insert("kdf", postcard::to_allocvec(&kdf).unwrap().as_slice())
                .unwrap();
            let check = seal_with(&cipher, b"meta\0check", CHECK_PLAINTEXT).unwrap();
            meta.insert("check", check.as_slice()).unwrap();
            for (table, key, value) in rows {
                let pt = postcard::to_allocvec(&(*value).to_owned()).unwrap();
                let sealed = seal_with(&cipher, &aad(*table, key), &pt).unwrap();
                txn.open_table(Home::def(*table))
                    .unwrap()
                    .insert(*key, sealed.as_slice())
                    .unwrap();
            }
        }
        txn.commit().unwrap();
    }

    #[test]
    fn a_format_1_home_is_migrated_and_its_keys_leave_the_file() {
        let dir = tempdir();
        let peer: &[u8] = b"peer device key 7f3a9c";
        write_format_1(
            &dir,
            "pw",
            &[
                (Table::Sessions, peer, "session"),
                (Table::Messages, b"m1", "a message"),
                (Table::Secrets, b"profile", "Bob"),
            ],
        );
        assert!(raw_contains(&dir, peer), "format 1 kept keys in clear");
        assert!(matches!(
            Home::open(&dir, "wrong"),
            Err(HomeError::WrongPassphrase(_))
        ));
        let home = Home::open(&dir, "pw").unwrap();
        assert_eq!(
            home.get::<String>(Table::Sessions, peer).unwrap(),
            Some("session".into())
        );
        assert_eq!(
            home.get_secret::<String>("profile").unwrap(),
            Some("Bob".into())
        );
        assert_eq!(home.all::<String>(Table::Messages).unwrap().len(), 1);
        drop(home);
        assert_eq!(stored_format(&dir), Some(2u32.to_be_bytes().to_vec()));
        assert!(!raw_contains(&dir, peer));
        // And it opens again as format 2.
        let home = Home::open(&dir, "pw").unwrap();
        assert_eq!(
            home.get::<String>(Table::Messages, b"m1").unwrap(),
            Some("a message".into())
        );
        drop(home);
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
