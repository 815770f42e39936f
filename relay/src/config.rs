//! Relay configuration: a TOML file parsed into validated, typed values.
//!
//! ```toml
//! listen = "0.0.0.0:7443"
//! data_dir = "/var/lib/liaison-relay"
//! root_key = "<64 hex digits: the network root's Ed25519 public key>"
//! # tls_cert = "/var/lib/liaison-relay/tls.crt"   (default: data_dir/tls.crt)
//! # tls_key = "/var/lib/liaison-relay/tls.key"    (default: data_dir/tls.key)
//!
//! [limits]            # every key optional; defaults shown in `Limits`
//! max_frame = 1048576
//! ```
//!
//! [`RelayConfig::from_toml`] is pure; [`RelayConfig::load`] reads a file and
//! resolves relative paths against the file's directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use liaison_protocol::PublicKey;
use liaison_protocol::frames::{ABSOLUTE_MAX_FRAME, DEFAULT_MAX_FRAME};
use serde::Deserialize;

/// Why a configuration was refused. Every message names the offending key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not TOML of the expected shape (unknown key, wrong type).
    #[error("{0}")]
    Toml(String),
    /// A key has an invalid value.
    #[error("{key}: {why}")]
    Invalid {
        /// The key, such as `limits.max_frame`.
        key: &'static str,
        /// Why.
        why: String,
    },
    /// The file could not be read.
    #[error("reading {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Operating limits. Each bounds a resource a peer could otherwise exhaust.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request frame in bytes, after the 4-byte length prefix.
    /// Default 1 MiB; at most 64 MiB.
    pub max_frame: usize,
    /// Most envelopes (recipient devices) in one Send. Default 256.
    pub max_envelopes_per_message: usize,
    /// Most envelopes queued for one device before Sends to it are refused
    /// with `QueueFull`. Default 10 000.
    pub max_queue_depth: u64,
    /// Most simultaneous QUIC connections. Default 1024.
    pub max_connections: usize,
    /// Most envelopes returned by one Fetch. Default 256.
    pub fetch_batch: u32,
    /// Most unclaimed one-time prekeys stored per device. Default 200.
    pub max_prekeys_per_device: u32,
    /// Seconds of silence after which a connection is dropped. Default 60.
    pub idle_timeout_secs: u64,
    /// Seconds a connection may stay unauthenticated. Default 10.
    pub auth_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: DEFAULT_MAX_FRAME,
            max_envelopes_per_message: 256,
            max_queue_depth: 10_000,
            max_connections: 1024,
            fetch_batch: 256,
            max_prekeys_per_device: 200,
            idle_timeout_secs: 60,
            auth_timeout_secs: 10,
        }
    }
}

/// The relay's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayConfig {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Directory holding the store (`relay.redb`) and, by default, the TLS
    /// certificate and key.
    pub data_dir: PathBuf,
    /// The pinned network root key.
    pub root_key: PublicKey,
    /// TLS certificate (PEM). Generated on first start if absent.
    pub tls_cert: PathBuf,
    /// TLS private key (PEM, PKCS#8). Generated on first start if absent.
    pub tls_key: PathBuf,
    /// Limits.
    pub limits: Limits,
    /// Transparency logs (`[logs]`).
    pub logs: crate::checkpoints::LogConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: SocketAddr,
    data_dir: PathBuf,
    root_key: String,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    logs: crate::checkpoints::LogConfig,
}

/// Name of the store file inside `data_dir`.
pub const STORE_FILE: &str = "relay.redb";
/// Default certificate file name inside `data_dir`.
pub const TLS_CERT_FILE: &str = "tls.crt";
/// Default key file name inside `data_dir`.
pub const TLS_KEY_FILE: &str = "tls.key";

impl RelayConfig {
    /// A configuration with default limits and TLS paths under `data_dir`.
    pub fn new(listen: SocketAddr, data_dir: PathBuf, root_key: PublicKey) -> Self {
        RelayConfig {
            listen,
            tls_cert: data_dir.join(TLS_CERT_FILE),
            tls_key: data_dir.join(TLS_KEY_FILE),
            data_dir,
            root_key,
            limits: Limits::default(),
            logs: crate::checkpoints::LogConfig::default(),
        }
    }

    /// Parse and validate. Relative paths are kept as written.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let root_key = PublicKey::from_hex(&raw.root_key).ok_or(ConfigError::Invalid {
            key: "root_key",
            why: "expected 64 hex digits (the network root's Ed25519 public key)".into(),
        })?;
        if raw.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "data_dir",
                why: "must not be empty".into(),
            });
        }
        raw.limits.validate()?;
        raw.logs.validate()?;
        Ok(RelayConfig {
            listen: raw.listen,
            tls_cert: raw
                .tls_cert
                .unwrap_or_else(|| raw.data_dir.join(TLS_CERT_FILE)),
            tls_key: raw
                .tls_key
                .unwrap_or_else(|| raw.data_dir.join(TLS_KEY_FILE)),
            data_dir: raw.data_dir,
            root_key,
            limits: raw.limits,
            logs: raw.logs,
        })
    }

    /// Read `path` and parse it; relative paths inside are resolved against
    /// the directory containing `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_toml(&text)?;
        let base = path.parent().unwrap_or(Path::new(""));
        for p in [
            &mut config.data_dir,
            &mut config.tls_cert,
            &mut config.tls_key,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// The store file.
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join(STORE_FILE)
    }
}

impl Limits {
    /// Check every value's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn check(ok: bool, key: &'static str, why: String) -> Result<(), ConfigError> {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Invalid { key, why })
            }
        }
        // A frame must hold at least one maximal envelope's worth of framing
        // overhead; below 4 KiB nothing useful fits.
        check(
            (4096..=ABSOLUTE_MAX_FRAME).contains(&self.max_frame),
            "limits.max_frame",
            format!("must be between 4096 and {ABSOLUTE_MAX_FRAME} bytes"),
        )?;
        check(
            (1..=4096).contains(&self.max_envelopes_per_message),
            "limits.max_envelopes_per_message",
            "must be between 1 and 4096".into(),
        )?;
        check(
            self.max_queue_depth >= 1,
            "limits.max_queue_depth",
            "must be at least 1".into(),
        )?;
        check(
            (1..=1_000_000).contains(&self.max_connections),
            "limits.max_connections",
            "must be between 1 and 1000000".into(),
        )?;
        check(
            (1..=65_536).contains(&self.fetch_batch),
            "limits.fetch_batch",
            "must be between 1 and 65536".into(),
        )?;
        check(
            self.max_prekeys_per_device <= 100_000,
            "limits.max_prekeys_per_device",
            "must be at most 100000".into(),
        )?;
        check(
            (1..=86_400).contains(&self.idle_timeout_secs),
            "limits.idle_timeout_secs",
            "must be between 1 and 86400 seconds".into(),
        )?;
        check(
            (1..=3_600).contains(&self.auth_timeout_secs),
            "limits.auth_timeout_secs",
            "must be between 1 and 3600 seconds".into(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ROOT: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn minimal() -> String {
        format!(
            "listen = \"127.0.0.1:7443\"\ndata_dir = \"/var/lib/relay\"\nroot_key = \"{ROOT}\"\n"
        )
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = RelayConfig::from_toml(&minimal()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:7443".parse().unwrap());
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.limits.max_frame, 1024 * 1024);
        assert_eq!(c.limits.max_envelopes_per_message, 256);
        assert_eq!(c.limits.max_queue_depth, 10_000);
        assert_eq!(c.limits.max_connections, 1024);
        assert_eq!(c.limits.fetch_batch, 256);
        assert_eq!(c.limits.max_prekeys_per_device, 200);
        assert_eq!(c.limits.idle_timeout_secs, 60);
        assert_eq!(c.limits.auth_timeout_secs, 10);
        assert_eq!(c.tls_cert, PathBuf::from("/var/lib/relay/tls.crt"));
        assert_eq!(c.tls_key, PathBuf::from("/var/lib/relay/tls.key"));
        assert_eq!(c.store_path(), PathBuf::from("/var/lib/relay/relay.redb"));
        assert_eq!(c.root_key.to_hex(), ROOT);
    }

    #[test]
    fn limits_and_tls_paths_override() {
        let text = format!(
            "{}tls_cert = \"/etc/c.pem\"\ntls_key = \"/etc/k.pem\"\n[limits]\nmax_frame = 65536\nfetch_batch = 10\n",
            minimal()
        );
        let c = RelayConfig::from_toml(&text).unwrap();
        assert_eq!(c.limits.max_frame, 65536);
        assert_eq!(c.limits.fetch_batch, 10);
        assert_eq!(c.limits.max_queue_depth, 10_000);
        assert_eq!(c.tls_cert, PathBuf::from("/etc/c.pem"));
        assert_eq!(c.tls_key, PathBuf::from("/etc/k.pem"));
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = format!("{}colour = \"blue\"\n", minimal());
        let e = RelayConfig::from_toml(&unknown).unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");

        let unknown_limit = format!("{}[limits]\nmax_frams = 5\n", minimal());
        let e = RelayConfig::from_toml(&unknown_limit)
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_frams"), "{e}");

        let wrong_type = format!("{}[limits]\nmax_frame = \"big\"\n", minimal());
        let e = RelayConfig::from_toml(&wrong_type).unwrap_err().to_string();
        assert!(e.contains("max_frame"), "{e}");

        let too_big = format!("{}[limits]\nmax_frame = 999999999\n", minimal());
        let e = RelayConfig::from_toml(&too_big).unwrap_err().to_string();
        assert!(e.starts_with("limits.max_frame:"), "{e}");

        let zero = format!("{}[limits]\nauth_timeout_secs = 0\n", minimal());
        let e = RelayConfig::from_toml(&zero).unwrap_err().to_string();
        assert!(e.starts_with("limits.auth_timeout_secs:"), "{e}");

        let negative = format!("{}[limits]\nmax_queue_depth = -1\n", minimal());
        let e = RelayConfig::from_toml(&negative).unwrap_err().to_string();
        assert!(e.contains("max_queue_depth"), "{e}");

        let bad_root = minimal().replace(ROOT, "abc");
        let e = RelayConfig::from_toml(&bad_root).unwrap_err().to_string();
        assert!(e.starts_with("root_key:"), "{e}");

        let bad_listen = minimal().replace("127.0.0.1:7443", "localhost");
        let e = RelayConfig::from_toml(&bad_listen).unwrap_err().to_string();
        assert!(e.contains("listen"), "{e}");

        let missing = "listen = \"127.0.0.1:1\"\ndata_dir = \"x\"\n";
        let e = RelayConfig::from_toml(missing).unwrap_err().to_string();
        assert!(e.contains("root_key"), "{e}");
    }

    #[test]
    fn load_resolves_relative_paths_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.toml");
        std::fs::write(
            &path,
            format!("listen = \"127.0.0.1:1\"\ndata_dir = \"data\"\nroot_key = \"{ROOT}\"\n"),
        )
        .unwrap();
        let c = RelayConfig::load(&path).unwrap();
        assert_eq!(c.data_dir, dir.path().join("data"));
        assert_eq!(c.tls_cert, dir.path().join("data").join("tls.crt"));
        let e = RelayConfig::load(&dir.path().join("missing.toml")).unwrap_err();
        assert!(e.to_string().contains("missing.toml"));
    }
}
