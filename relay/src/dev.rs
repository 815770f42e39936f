//! A throwaway development network in one directory, so that one command
//! gives a newcomer a running relay, a network root, two country authorities
//! and an enrolment bundle.
//!
//! Layout of `D` (created on first use, reused afterwards):
//! ```text
//! D/root.key               network root key file, 0600
//! D/authorities/TH.key     Thailand development authority key file, 0600
//! D/authorities/PH.key     Philippines development authority key file, 0600
//! D/relay/                 relay data dir (relay.redb, tls.crt, tls.key 0600)
//! D/relay.toml             relay configuration (paths relative to D)
//! D/bundle.toml            enrolment bundle (root key, relay address, pin,
//!                          log keys, witness keys)
//! D/auditor.key            an auditor's key (hex seed), 0600, registered
//!                          in relay.toml so `liaison-audit export` works
//! D/witnesses/TH.key       a witness cosigning key for the Thai authority
//!                          (C2SP signer key), 0600, trusted by the relay
//! ```
//! The keys are generated from the OS random number generator but live on
//! disk unencrypted: never use a development network for real traffic. The
//! root and authority key files say so in a `protection` field
//! ([`liaison_protocol::bundle::UNSEALED_DEVELOPMENT`]): that mark is the one
//! way `liaison-admin` accepts a key in the clear (a real network's keys are
//! made by `liaison-admin`, sealed under a passphrase).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use liaison_protocol::bundle::{AuthorityKeyFile, Bundle, BundleError};
use liaison_protocol::directory::{AuthorityCertificate, verify_authority};
use liaison_protocol::ids::IdError;
use liaison_protocol::log::NoteError;
use liaison_protocol::shell::quote_path as shell_quote;
use liaison_protocol::{CountryCode, PublicKey, SecretKey, Signed, Timestamp, VerifyError};

use crate::checkpoints::LogKeyError;
use crate::config::{ConfigError, RelayConfig};
use crate::store::{RedbStore, Store, StoreError};
use crate::tls::{self, TlsError};

/// Network name written into the development bundle.
pub const DEV_NETWORK: &str = "liaison-dev";
const DAY_MS: u64 = 86_400_000;
const AUTHORITIES: [(&str, &str); 2] = [
    ("TH", "Thailand (development authority)"),
    ("PH", "Philippines (development authority)"),
];

/// Why a development network could not be created, reused or described.
/// Most are a damaged or foreign network directory: the hint is to remove
/// it and start afresh.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevError {
    /// A file or directory of the network could not be read or written.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done, such as `writing`.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An authority key file of the network is missing or unreadable.
    #[error("reading {} (remove {} to start a fresh network)", path.display(), dir.display())]
    AuthorityMissing {
        /// The key file.
        path: PathBuf,
        /// The network directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `root.key` does not hold a key.
    #[error("{}: expected 64 hex digits", path.display())]
    RootKey {
        /// `D/root.key`.
        path: PathBuf,
    },
    /// `relay.toml` pins another root than `root.key`.
    #[error(
        "{} pins a different root key than {}; remove {} to start a fresh network",
        config.display(),
        root.display(),
        dir.display()
    )]
    RootMismatch {
        /// `D/relay.toml`.
        config: PathBuf,
        /// `D/root.key`.
        root: PathBuf,
        /// The network directory.
        dir: PathBuf,
    },
    /// `relay.toml` is not a valid relay configuration.
    #[error("in {}", path.display())]
    Config {
        /// `D/relay.toml`.
        path: PathBuf,
        /// What is wrong with it.
        source: ConfigError,
    },
    /// An authority key file does not parse.
    #[error("in {}", path.display())]
    AuthorityFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        source: BundleError,
    },
    /// An authority certificate no longer verifies under the network root
    /// (expired, most likely).
    #[error(
        "{}: certificate does not verify against {} (expired? remove {} to start afresh)",
        path.display(),
        root.display(),
        dir.display()
    )]
    AuthorityCertificate {
        /// The key file.
        path: PathBuf,
        /// `D/root.key`.
        root: PathBuf,
        /// The network directory.
        dir: PathBuf,
        /// Why it does not verify.
        source: VerifyError,
    },
    /// The relay's store could not be opened or written.
    #[error("{what}")]
    Store {
        /// What was being done, such as `opening D/relay/relay.redb`.
        what: String,
        /// The cause.
        source: StoreError,
    },
    /// The operating system gave no randomness for a new key.
    #[error("no OS randomness")]
    Random(#[source] getrandom::Error),
    /// A development country code or witness name was refused (not expected:
    /// they are constants).
    #[error("the development network's constants are invalid")]
    Constants(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The relay's TLS certificate could not be loaded or generated.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The relay's log keys could not be loaded or generated.
    #[error(transparent)]
    LogKeys(#[from] LogKeyError),
}

impl From<IdError> for DevError {
    fn from(e: IdError) -> Self {
        DevError::Constants(Box::new(e))
    }
}

impl From<NoteError> for DevError {
    fn from(e: NoteError) -> Self {
        DevError::Constants(Box::new(e))
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DevError {
    let path = path.to_owned();
    move |source| DevError::Io { what, path, source }
}

/// A prepared development network.
#[derive(Debug)]
pub struct DevNetwork {
    /// The directory `D`.
    pub dir: PathBuf,
    /// The relay configuration (loaded from `D/relay.toml`).
    pub config: RelayConfig,
    /// The network root's public key.
    pub root_key: PublicKey,
    /// Whether this run created the network (rather than reusing it).
    pub created: bool,
}

impl DevNetwork {
    /// `D/root.key`.
    pub fn root_key_path(&self) -> PathBuf {
        self.dir.join("root.key")
    }
    /// `D/authorities/<CC>.key`.
    pub fn authority_path(&self, country: &str) -> PathBuf {
        self.dir.join("authorities").join(format!("{country}.key"))
    }
    /// `D/relay.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("relay.toml")
    }
    /// `D/bundle.toml`.
    pub fn bundle_path(&self) -> PathBuf {
        self.dir.join("bundle.toml")
    }
}

fn random_seed() -> Result<zeroize::Zeroizing<[u8; 32]>, DevError> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(DevError::Random)?;
    Ok(seed)
}

fn random_key() -> Result<SecretKey, DevError> {
    Ok(SecretKey::from_seed(&*random_seed()?))
}

fn write_secret(path: &Path, text: &str) -> Result<(), DevError> {
    crate::datadir::write_new_file(path, text.as_bytes(), true).map_err(io("writing", path))
}

fn private_dir(dir: &Path) -> Result<(), DevError> {
    crate::datadir::create_private_dir(dir).map_err(io("creating data directory", dir))
}

fn read_root(path: &Path) -> Result<SecretKey, DevError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(io("reading", path))?);
    liaison_protocol::bundle::parse_root_key_file(&text).map_err(|_| DevError::RootKey {
        path: path.to_owned(),
    })
}

fn relay_toml(listen: SocketAddr, root: &PublicKey, logs: &str) -> String {
    format!(
        "# Liaison relay configuration of a development network (liaison-relay dev).\n\
         # Relative paths are resolved against this file's directory.\n\
         listen = \"{listen}\"\n\
         data_dir = \"relay\"\n\
         root_key = \"{root}\"\n\
         \n\
         [limits]\n\
         # Defaults: max_frame = 1048576, max_envelopes_per_message = 256,\n\
         # max_queue_depth = 10000, max_connections = 1024, fetch_batch = 256,\n\
         # max_prekeys_per_device = 200, idle_timeout_secs = 60, auth_timeout_secs = 10\n\
         # (all limits: deploy/relay.prod.toml). A development network drives many\n\
         # messages from few focal points (tests, benchmarks), so the per-focal-point\n\
         # rate limits are off here; production: sends_per_minute = 600,\n\
         # requests_per_minute = 3000.\n\
         sends_per_minute = 0\n\
         requests_per_minute = 0\n\
         \n\
         [metrics]\n\
         # Prometheus /metrics, /healthz, /readyz; port 0 picks a free port, printed at start.\n\
         listen = \"127.0.0.1:0\"\n\
         \n\
         {logs}",
        root = root.to_hex()
    )
}

/// `text` (a relay.toml) with its top-level `listen` (the relay's QUIC
/// address) set to `listen`. The `listen` keys of tables such as
/// `[metrics]` are left alone: the metrics endpoint keeps its own port.
fn with_top_level_listen(text: &str, listen: SocketAddr) -> String {
    let mut in_table = false;
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            in_table |= t.starts_with('[');
            let is_listen = t
                .split_once('=')
                .is_some_and(|(k, _)| k.trim() == "listen" && !t.starts_with('#'));
            if !in_table && is_listen {
                format!("listen = \"{listen}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// Create the network in `dir` if it holds none, or reuse it (updating the
/// listen address if it changed). The authority certificates are stored in
/// the relay's store as if published.
pub fn prepare(dir: &Path, listen: SocketAddr) -> Result<DevNetwork, DevError> {
    let root_path = dir.join("root.key");
    let created = !root_path.exists();
    let root = if created {
        create(dir, listen)?
    } else {
        read_root(&root_path)?
    };
    let root_key = root.public_key();
    let config_path = dir.join("relay.toml");
    if config_path.exists() {
        let text = std::fs::read_to_string(&config_path).map_err(io("reading", &config_path))?;
        let existing = RelayConfig::from_toml(&text).map_err(|source| DevError::Config {
            path: config_path.clone(),
            source,
        })?;
        if existing.root_key != root_key {
            return Err(DevError::RootMismatch {
                config: config_path,
                root: root_path,
                dir: dir.to_owned(),
            });
        }
        if existing.listen != listen {
            let updated = with_top_level_listen(&text, listen);
            std::fs::write(&config_path, updated).map_err(io("updating", &config_path))?;
        }
    } else {
        std::fs::write(&config_path, relay_toml(listen, &root_key, ""))
            .map_err(io("writing", &config_path))?;
    }
    let config = RelayConfig::load(&config_path).map_err(|source| DevError::Config {
        path: config_path.clone(),
        source,
    })?;
    let net = DevNetwork {
        dir: dir.to_owned(),
        config,
        root_key,
        created,
    };
    // The store must exist with the authorities before the relay opens it.
    private_dir(&net.config.data_dir)?;
    let store_path = net.config.store_path();
    let store = RedbStore::open(&store_path).map_err(|source| DevError::Store {
        what: format!("opening {}", store_path.display()),
        source,
    })?;
    let now = liaison_clock::now();
    for (country, _) in AUTHORITIES {
        let path = net.authority_path(country);
        let text = std::fs::read_to_string(&path).map_err(|source| DevError::AuthorityMissing {
            path: path.clone(),
            dir: dir.to_owned(),
            source,
        })?;
        let file =
            AuthorityKeyFile::from_toml(&text).map_err(|source| DevError::AuthorityFile {
                path: path.clone(),
                source,
            })?;
        let cert = verify_authority(&root_key, &file.certificate, now).map_err(|source| {
            DevError::AuthorityCertificate {
                path: path.clone(),
                root: root_path.clone(),
                dir: dir.to_owned(),
                source,
            }
        })?;
        store
            .put_authority(&cert, &file.certificate)
            .map_err(|source| DevError::Store {
                what: "storing an authority certificate".into(),
                source,
            })?;
    }
    drop(store);
    tls::load_or_generate(&net.config.tls_cert, &net.config.tls_key)?;
    Ok(net)
}

fn create(dir: &Path, listen: SocketAddr) -> Result<SecretKey, DevError> {
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    private_dir(&dir.join("authorities"))?;
    let root = random_key()?;
    write_secret(
        &dir.join("root.key"),
        &liaison_protocol::bundle::root_key_toml(&root, true),
    )?;
    let now = liaison_clock::now();
    for (country, name) in AUTHORITIES {
        let key = random_key()?;
        let country = CountryCode::parse(country)?;
        let cert = AuthorityCertificate {
            country,
            name: name.to_owned(),
            key: key.public_key(),
            serial: 1,
            not_before: Timestamp(now.0.saturating_sub(DAY_MS)),
            not_after: now.plus_millis(730 * DAY_MS),
            revoked: false,
        };
        let file = AuthorityKeyFile {
            certificate: Signed::sign(&cert, &root),
            key,
            country,
        };
        write_secret(
            &dir.join("authorities")
                .join(format!("{}.key", country.as_str())),
            &file.to_development_toml(),
        )?;
    }
    // An auditor and a witness, so the audit tools work out of the box.
    let auditor = random_key()?;
    write_secret(
        &dir.join("auditor.key"),
        &format!("{}\n", hex::encode(*auditor.to_seed())),
    )?;
    private_dir(&dir.join("witnesses"))?;
    let witness = liaison_protocol::log::CosignatureSigner::from_seed(
        "witness.th.liaison-dev",
        &*random_seed()?,
    )?;
    write_secret(
        &dir.join("witnesses").join("TH.key"),
        &format!("{}\n", witness.to_skey().as_str()),
    )?;
    let logs = format!(
        "[logs]\n\
         name = \"{DEV_NETWORK}\"\n\
         witnesses = [\"{}\"]\n\
         auditors = [\"{}\"]\n",
        witness.verifier().to_vkey(),
        auditor.public_key().to_hex()
    );
    let config_path = dir.join("relay.toml");
    std::fs::write(&config_path, relay_toml(listen, &root.public_key(), &logs))
        .map_err(io("writing", &config_path))?;
    Ok(root)
}

/// The address clients should dial for a relay bound to `bound`: an
/// unspecified address becomes loopback.
pub fn dial_addr(bound: SocketAddr) -> SocketAddr {
    match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), bound.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), bound.port())
        }
        _ => bound,
    }
}

/// Write `D/bundle.toml` for the relay bound at `bound` with certificate pin
/// `cert_sha256`.
pub fn write_bundle(
    net: &DevNetwork,
    bound: SocketAddr,
    cert_sha256: [u8; 32],
) -> Result<Bundle, DevError> {
    let keys = crate::checkpoints::load_or_generate_keys(&net.config.data_dir, &net.config.logs)?;
    let bundle = Bundle {
        network: DEV_NETWORK.to_owned(),
        root_key: net.root_key.to_hex(),
        relay_addr: dial_addr(bound).to_string(),
        relay_cert_sha256: hex::encode(cert_sha256),
        directory_log_key: keys.vkey(liaison_protocol::frames::LogId::Directory),
        event_log_key: keys.vkey(liaison_protocol::frames::LogId::Events),
        witness_keys: net.config.logs.witnesses.join(","),
        witness_quorum: "0".to_owned(),
    };
    let path = net.bundle_path();
    std::fs::write(&path, bundle.to_toml()).map_err(io("writing", &path))?;
    Ok(bundle)
}

/// What a newcomer types next, with the real paths.
pub fn instructions(net: &DevNetwork) -> String {
    let state = if net.created { "created" } else { "reused" };
    format!(
        "Development network {state} in {dir} (throwaway keys: never use it for real traffic).\n\
         \n\
         Next, in another terminal (the passphrase is read without echo, so it stays\n\
         out of your shell history):\n\
         \n\
         {steps}",
        dir = shell_quote(&net.dir),
        steps = next_steps(
            &shell_quote(&net.bundle_path()),
            &shell_quote(&net.authority_path("TH")),
            &shell_quote(&net.authority_path("PH")),
        ),
    )
}

/// The commands a newcomer runs next: two focal points, their enrolment,
/// and one message read after acknowledging its handling. The README's
/// quickstart shows the same lines (a test checks it).
fn next_steps(bundle: &str, th: &str, ph: &str) -> String {
    [
        "printf 'Passphrase for the test homes (12 characters or more): '; stty -echo; read -r LIAISON_PASSPHRASE; stty echo; echo".to_owned(),
        "export LIAISON_PASSPHRASE".to_owned(),
        "# Alice, Thai DSI, and Bob, Philippine National Police, make their keys ...".to_owned(),
        format!("liaison --home ./alice init --bundle {bundle} --id th.dsi.alice --name \"Alice\" --country TH --agency DSI"),
        format!("liaison --home ./bob init --bundle {bundle} --id ph.pnp.bob --name \"Bob\" --country PH --agency PNP"),
        "# ... and each State's authority enrols its own focal point.".to_owned(),
        format!("liaison-admin enrol --authority {th} --bundle {bundle} ./alice/enrolment.request"),
        format!("liaison-admin enrol --authority {ph} --bundle {bundle} ./bob/enrolment.request"),
        "# Alice writes to Bob, who is offline; Bob picks it up later.".to_owned(),
        "id=$(liaison --home ./alice send --to ph.pnp.bob \"Two victims identified at the pier; details follow.\")".to_owned(),
        "liaison --home ./bob sync".to_owned(),
        "liaison --home ./bob inbox                  # the handling; the text waits for acknowledgement".to_owned(),
        "liaison --home ./bob read \"$id\" --accept   # acknowledge the handling (Alice gets a receipt), read the text".to_owned(),
        "liaison --home ./alice sync                # Alice collects Bob's receipts ...".to_owned(),
        "liaison --home ./alice receipts \"$id\"      # ... delivered and acknowledged".to_owned(),
    ]
    .iter()
    .map(|l| format!("  {l}\n"))
    .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Restarting a development network on another port moved the metrics
    /// endpoint onto the relay's port number too (every `listen` line was
    /// rewritten), so a TCP socket already on that number stopped the relay.
    #[test]
    fn a_new_listen_address_leaves_the_metrics_port_alone() {
        let root = SecretKey::from_seed(&[7; 32]).public_key();
        let text = relay_toml("127.0.0.1:7443".parse().unwrap(), &root, "");
        let moved = with_top_level_listen(&text, "127.0.0.1:40001".parse().unwrap());
        let toml: toml::Table = moved.parse().unwrap();
        assert_eq!(toml["listen"].as_str(), Some("127.0.0.1:40001"));
        assert_eq!(toml["metrics"]["listen"].as_str(), Some("127.0.0.1:0"));
        assert_eq!(moved.lines().count(), text.lines().count());
    }

    #[test]
    fn the_readme_quickstart_is_what_the_relay_prints() {
        let readme = include_str!("../../README.md");
        let steps = next_steps(
            "./devnet/bundle.toml",
            "./devnet/authorities/TH.key",
            "./devnet/authorities/PH.key",
        );
        let block: String = steps
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
            .collect();
        assert!(
            readme.contains(&format!("```sh\n{block}```")),
            "the README quickstart differs from what `liaison-relay dev` prints:\n{block}"
        );
    }

    #[test]
    fn create_then_reuse_with_a_new_address() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("net");
        let a: SocketAddr = "127.0.0.1:7443".parse().unwrap();
        let net = prepare(&d, a).unwrap();
        assert!(net.created);
        for f in [
            "root.key",
            "authorities/TH.key",
            "authorities/PH.key",
            "relay.toml",
            "relay/relay.redb",
            "relay/tls.crt",
            "relay/tls.key",
        ] {
            assert!(d.join(f).exists(), "{f}");
        }
        #[cfg(unix)]
        for f in [
            "root.key",
            "authorities/TH.key",
            "authorities/PH.key",
            "relay/tls.key",
        ] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        #[cfg(unix)]
        for f in ["authorities", "relay"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{f}");
        }
        let th = AuthorityKeyFile::from_toml(
            &std::fs::read_to_string(d.join("authorities/TH.key")).unwrap(),
        )
        .unwrap();
        let cert = verify_authority(&net.root_key, &th.certificate, liaison_clock::now()).unwrap();
        assert_eq!(cert.name, "Thailand (development authority)");
        assert_eq!(cert.serial, 1);
        let store = RedbStore::open(&net.config.store_path()).unwrap();
        assert_eq!(store.load_directory().unwrap().0.len(), 2);
        drop(store);

        let pin = tls::load(&net.config.tls_cert, &net.config.tls_key)
            .unwrap()
            .cert_sha256();
        let b = write_bundle(&net, "0.0.0.0:7443".parse().unwrap(), pin).unwrap();
        assert_eq!(b.relay_addr, "127.0.0.1:7443");
        let text = instructions(&net);
        assert!(text.contains(&format!("--bundle {}", d.join("bundle.toml").display())));
        assert!(text.contains(&format!(
            "--authority {}",
            d.join("authorities/PH.key").display()
        )));

        let b2: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let again = prepare(&d, b2).unwrap();
        assert!(!again.created);
        assert_eq!(again.root_key, net.root_key);
        assert_eq!(again.config.listen, b2);
        let pin2 = tls::load(&again.config.tls_cert, &again.config.tls_key)
            .unwrap()
            .cert_sha256();
        assert_eq!(pin, pin2);
        let b = write_bundle(&again, b2, pin2).unwrap();
        let parsed =
            Bundle::from_toml(&std::fs::read_to_string(again.bundle_path()).unwrap()).unwrap();
        assert_eq!(parsed, b);
        assert_eq!(parsed.relay_addr, "127.0.0.1:9000");
    }
}
