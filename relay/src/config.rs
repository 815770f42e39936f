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
use serde::Deserialize;

use crate::checkpoints::LogConfig;
use crate::datadir::{CONTROL_SOCKET_FILE, STORE_FILE, TLS_CERT_FILE, TLS_KEY_FILE};
use crate::limits::Limits;
use crate::logging::{LogFormat, LoggingConfig};
use crate::metrics::MetricsConfig;
use crate::setting::InvalidSetting;

/// The `root_key` of the example production configuration
/// (`deploy/relay.prod.toml`): it belongs to no network, so a configuration
/// that still holds it is refused rather than run with nobody enrollable.
pub const EXAMPLE_ROOT_KEY: &str =
    "5f94e10e0ac7dd9bdc2e53f0294856235b98b7ab8a44012dc66daa3336f55c6a";

/// Why a configuration was refused. Every message names the offending key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not TOML of the expected shape (unknown key, wrong type).
    #[error(transparent)]
    Toml(TomlError),
    /// A key has an invalid value.
    #[error("{key}: {why}")]
    Invalid {
        /// The key, such as `limits.max_frame`.
        key: &'static str,
        /// Why.
        why: String,
    },
    /// A key has an invalid value, set at `line` of the file.
    #[error("{key}: {why} (line {line})")]
    InvalidAt {
        /// The key, such as `limits.max_frame`.
        key: &'static str,
        /// The 1-based line where the key is set.
        line: usize,
        /// Why.
        why: String,
    },
    /// A file holding a secret key is readable or writable by others.
    #[error(
        "{key}: {path} is accessible to group or others (mode {mode:04o}); \
         restrict it with `chmod 600 {path}` (and own it by the relay's user)"
    )]
    InsecureKeyFile {
        /// The key naming the file, such as `tls_key`.
        key: &'static str,
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
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

/// A TOML syntax or shape error (unknown key, wrong type, missing key),
/// located as precisely as toml's spans allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.located())]
pub struct TomlError {
    /// The dotted key the error is about, when the error's span names one.
    pub key: Option<String>,
    /// The 1-based line of the error, when it has a place in the text.
    pub line: Option<usize>,
    /// toml's description, such as ``unknown field `colour` ``.
    pub message: String,
}

impl TomlError {
    fn located(&self) -> String {
        match (&self.key, self.line) {
            (Some(key), Some(line)) => format!("{key} (line {line}): {}", self.message),
            (Some(key), None) => format!("{key}: {}", self.message),
            (None, Some(line)) => format!("line {line}: {}", self.message),
            (None, None) => self.message.clone(),
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
    pub logs: LogConfig,
    /// Unix socket through which `liaison-relay backup` asks the running
    /// relay for a snapshot. Default `data_dir/control.sock`.
    pub control_socket: PathBuf,
    /// Metrics and health endpoint (`[metrics]`).
    pub metrics: MetricsConfig,
    /// Log output (`[logging]`).
    pub logging: LoggingConfig,
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
    logs: LogConfig,
    control_socket: Option<PathBuf>,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default)]
    logging: LoggingConfig,
}

/// The command that prints the certificate pin, as a note names it; the
/// tool that knows the configuration file adds `--config FILE`.
pub const PIN_COMMAND: &str = "liaison-relay cert-fingerprint";

impl RelayConfig {
    /// A configuration with default limits and TLS paths under `data_dir`.
    pub fn new(listen: SocketAddr, data_dir: PathBuf, root_key: PublicKey) -> Self {
        RelayConfig {
            listen,
            control_socket: data_dir.join(CONTROL_SOCKET_FILE),
            tls_cert: data_dir.join(TLS_CERT_FILE),
            tls_key: data_dir.join(TLS_KEY_FILE),
            data_dir,
            root_key,
            limits: Limits::default(),
            logs: LogConfig::default(),
            metrics: MetricsConfig::default(),
            logging: LoggingConfig::default(),
        }
    }

    /// Parse and validate (the example `root_key` of
    /// `deploy/relay.prod.toml` is refused). Relative paths are kept as written. Errors name
    /// the key and, where it is set in `text`, its line.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text).map_err(|e| e.locate(text))
    }

    fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let root_key = PublicKey::from_hex(&raw.root_key).ok_or(ConfigError::Invalid {
            key: "root_key",
            why: "expected 64 hex digits (the network root's Ed25519 public key)".into(),
        })?;
        if raw.root_key.eq_ignore_ascii_case(EXAMPLE_ROOT_KEY) {
            return Err(ConfigError::Invalid {
                key: "root_key",
                why: "this is the example value of deploy/relay.prod.toml, which belongs to no \
                      network: put your network root's public key here (on the machine that \
                      holds the root key, `liaison-admin root show --root ...` prints it, with \
                      the root key file in place of the dots)"
                    .into(),
            });
        }
        if raw.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "data_dir",
                why: "must not be empty".into(),
            });
        }
        raw.limits.validate()?;
        raw.logs.validate()?;
        raw.logging.validate()?;
        if raw
            .control_socket
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(ConfigError::Invalid {
                key: "control_socket",
                why: "must not be empty".into(),
            });
        }
        Ok(RelayConfig {
            control_socket: raw
                .control_socket
                .unwrap_or_else(|| raw.data_dir.join(CONTROL_SOCKET_FILE)),
            metrics: raw.metrics,
            logging: raw.logging,
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
            &mut config.control_socket,
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

    /// Apply command-line overrides (flags override the file) and check the
    /// result again.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        if let Some(listen) = o.listen {
            self.listen = listen;
        }
        if let Some(m) = o.metrics_listen {
            self.metrics.listen = Some(m);
        }
        if o.no_metrics {
            self.metrics.listen = None;
        }
        if let Some(f) = o.log_format {
            self.logging.format = f;
        }
        Ok(self.limits.validate()?)
    }

    /// Check the files the configuration names, as far as they exist: a
    /// secret key must not be accessible to group or others, and the data
    /// directory must not be writable by them. Returns notes for the
    /// operator (files that will be created on first start).
    pub fn check_files(&self) -> Result<Vec<String>, ConfigError> {
        let mut notes = Vec::new();
        match (self.tls_cert.exists(), self.tls_key.exists()) {
            (true, true) => check_secret_file("tls_key", &self.tls_key)?,
            (false, false) => notes.push(format!(
                "tls_cert {} and tls_key {} do not exist yet: a new pair is generated on first \
                 start (then pin it with `{PIN_COMMAND}`)",
                self.tls_cert.display(),
                self.tls_key.display()
            )),
            (true, false) => {
                return Err(ConfigError::Invalid {
                    key: "tls_key",
                    why: format!(
                        "{} does not exist but the certificate {} does; restore the key",
                        self.tls_key.display(),
                        self.tls_cert.display()
                    ),
                });
            }
            (false, true) => {
                check_secret_file("tls_key", &self.tls_key)?;
                return Err(ConfigError::Invalid {
                    key: "tls_cert",
                    why: format!(
                        "{} does not exist but the key {} does; restore the certificate",
                        self.tls_cert.display(),
                        self.tls_key.display()
                    ),
                });
            }
        }
        for log in liaison_protocol::frames::LogId::ALL {
            let path = crate::checkpoints::key_path(&self.data_dir, log);
            if path.exists() {
                check_secret_file("logs (log signing key)", &path)?;
            }
        }
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(&self.data_dir) {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o022 != 0 {
                return Err(ConfigError::Invalid {
                    key: "data_dir",
                    why: format!(
                        "{} is writable by group or others (mode {mode:04o}); run `chmod 700 {}`",
                        self.data_dir.display(),
                        self.data_dir.display()
                    ),
                });
            }
        } else {
            notes.push(format!(
                "data_dir {} does not exist yet: it is created (mode 0700) on first start",
                self.data_dir.display()
            ));
        }
        Ok(notes)
    }
}

/// Command-line settings that override the configuration file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--metrics-listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `--no-metrics`.
    pub no_metrics: bool,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
}

/// Refuse a secret key file that group or others may read or write. (On
/// other platforms than Unix nothing is checked.)
pub fn check_secret_file(key: &'static str, path: &Path) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(ConfigError::InsecureKeyFile {
                key,
                path: path.display().to_string(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (key, path);
    Ok(())
}

impl From<InvalidSetting> for ConfigError {
    fn from(e: InvalidSetting) -> Self {
        ConfigError::Invalid {
            key: e.key,
            why: e.why,
        }
    }
}

impl ConfigError {
    /// Attach the line where the offending key is set in `text`, if found.
    fn locate(self, text: &str) -> ConfigError {
        match self {
            ConfigError::Invalid { key, why } => match line_of_key(text, key) {
                Some(line) => ConfigError::InvalidAt { key, line, why },
                None => ConfigError::Invalid { key, why },
            },
            other => other,
        }
    }
}

/// 1-based line of byte `offset` in `text`.
fn line_of_offset(text: &str, offset: usize) -> usize {
    let upto = text.get(..offset.min(text.len())).unwrap_or(text);
    upto.matches('\n').count() + 1
}

/// The line where the dotted `key` (such as `limits.max_frame`) is set.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (k, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part)?;
        if parts.peek().is_none() {
            return Some(line_of_offset(text, k.span().start));
        }
        match v.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    None
}

/// The dotted key set on the line containing `offset` (`[table]` headers
/// above it give the prefix), for type errors whose span is the value.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let upto = text.get(..offset.min(text.len()))?;
    let line_start = upto.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text.get(line_start..)?.lines().next()?;
    let (name, _) = line.split_once('=')?;
    let name = name.trim().trim_matches('"');
    if name.is_empty() || name.starts_with('#') || name.starts_with('[') {
        return None;
    }
    let header = upto
        .get(..line_start)?
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    Some(match header {
        Some(h) if !h.is_empty() => format!("{h}.{name}"),
        _ => name.to_owned(),
    })
}

/// A TOML error as `key (line N): message`: toml's spans give the line.
fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().to_owned();
    // A missing key has no location worth naming (its span is the start).
    let span = e.span().filter(|_| !message.starts_with("missing field"));
    ConfigError::Toml(TomlError {
        // Unknown keys are named in the message; values need the key.
        key: span.as_ref().and_then(|span| key_at(text, span.start)),
        line: span.as_ref().map(|span| line_of_offset(text, span.start)),
        message,
    })
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
    fn errors_name_the_line() {
        // minimal() is three lines; [limits] is line 4.
        let cases = [
            (
                "colour = \"blue\"\n",
                "colour (line 4): unknown field `colour`",
            ),
            (
                "[limits]\nmax_frams = 5\n",
                "limits.max_frams (line 5): unknown field `max_frams`",
            ),
            (
                "[limits]\nfetch_batch = 1\nmax_frame = \"big\"\n",
                "limits.max_frame (line 6): invalid type: string \"big\"",
            ),
            (
                "[limits]\n\nmax_frame = 999999999\n",
                "limits.max_frame: must be between 4096 and",
            ),
            (
                "[metrics]\nlisten = \"nowhere\"\n",
                "metrics.listen (line 5):",
            ),
            ("[logging]\nformat = \"xml\"\n", "logging.format (line 5):"),
            (
                "[logging]\nlevel = \"info,[=\"\n",
                "logging.level: not a valid filter",
            ),
            (
                "control_socket = \"\"\n",
                "control_socket: must not be empty (line 4)",
            ),
        ];
        for (extra, expected) in cases {
            let text = format!("{}{extra}", minimal());
            let e = RelayConfig::from_toml(&text).unwrap_err().to_string();
            assert!(e.starts_with(expected), "{extra:?}: {e}");
        }
        let e =
            RelayConfig::from_toml(&format!("{}[limits]\n\nmax_frame = 999999999\n", minimal()))
                .unwrap_err()
                .to_string();
        assert!(e.ends_with("(line 6)"), "{e}");
        let e = RelayConfig::from_toml(&format!("{}[logging]\nlevel = \"info,[=\"\n", minimal()))
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("(line 5)"), "{e}");
        // A key given in an inline table is still found.
        let e = RelayConfig::from_toml(&format!("{}limits = {{ fetch_batch = 0 }}\n", minimal()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "limits.fetch_batch: must be between 1 and 65536 (line 4)"
        );
    }

    #[test]
    fn operations_settings_and_their_defaults() {
        let c = RelayConfig::from_toml(&minimal()).unwrap();
        assert_eq!(
            c.control_socket,
            PathBuf::from("/var/lib/relay/control.sock")
        );
        assert_eq!(c.metrics.listen, None);
        assert_eq!(c.logging.format, LogFormat::Text);
        assert_eq!(c.logging.level, "info");
        let l = &c.limits;
        assert_eq!(l.handshake_timeout_secs, 10);
        assert_eq!(l.request_timeout_secs, 30);
        assert_eq!(l.max_connections_per_ip, 256);
        assert_eq!(l.max_unauthenticated_per_ip, 32);
        assert_eq!((l.sends_per_minute, l.send_burst), (600, 120));
        assert_eq!((l.requests_per_minute, l.request_burst), (3000, 600));
        assert_eq!(
            (
                l.unauthenticated_requests_per_minute,
                l.unauthenticated_burst
            ),
            (1200, 300)
        );

        let text = format!(
            "{}control_socket = \"/run/liaison-relay/control.sock\"\n\
             [metrics]\nlisten = \"127.0.0.1:9464\"\n\
             [logging]\nformat = \"json\"\nlevel = \"warn,liaison_relay=info\"\n\
             [limits]\nsends_per_minute = 0\nsend_burst = 0\n",
            minimal()
        );
        let mut c = RelayConfig::from_toml(&text).unwrap();
        assert_eq!(
            c.control_socket,
            PathBuf::from("/run/liaison-relay/control.sock")
        );
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(c.logging.format, LogFormat::Json);
        assert_eq!(c.limits.sends_per_minute, 0);

        // Flags override the file.
        c.apply(&Overrides {
            listen: Some("0.0.0.0:1".parse().unwrap()),
            metrics_listen: Some("127.0.0.1:1".parse().unwrap()),
            log_format: Some(LogFormat::Text),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:1".parse().unwrap());
        assert_eq!(c.metrics.listen, Some("127.0.0.1:1".parse().unwrap()));
        assert_eq!(c.logging.format, LogFormat::Text);
        c.apply(&Overrides {
            no_metrics: true,
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(c.metrics.listen, None);

        assert_eq!(l.lapsed_queue_grace_days, 30);
        let grace = format!("{}[limits]\nlapsed_queue_grace_days = 7\n", minimal());
        let c = RelayConfig::from_toml(&grace).unwrap();
        assert_eq!(c.limits.lapsed_queue_grace_ms(), 7 * 86_400_000);
        for bad in ["0", "3651"] {
            let text = format!("{}[limits]\nlapsed_queue_grace_days = {bad}\n", minimal());
            let e = RelayConfig::from_toml(&text).unwrap_err().to_string();
            assert!(e.starts_with("limits.lapsed_queue_grace_days:"), "{e}");
        }

        assert_eq!(l.max_attachment_bytes, 100_000_000);
        let small = format!(
            "{}[limits]\nmax_attachment_bytes = 50000000\nattachment_quota_bytes = 50000000\n",
            minimal()
        );
        let c = RelayConfig::from_toml(&small).unwrap();
        assert_eq!(c.limits.max_attachment_bytes, 50_000_000);
        let below = format!("{}[limits]\nattachment_quota_bytes = 10\n", minimal());
        let e = RelayConfig::from_toml(&below).unwrap_err().to_string();
        assert!(e.starts_with("limits.attachment_quota_bytes:"), "{e}");
        let zero = format!("{}[limits]\nmax_attachment_bytes = 0\n", minimal());
        let e = RelayConfig::from_toml(&zero).unwrap_err().to_string();
        assert!(e.starts_with("limits.max_attachment_bytes:"), "{e}");
        assert_eq!(l.attachment_retention_days, 30);
        let week = format!("{}[limits]\nattachment_retention_days = 7\n", minimal());
        let c = RelayConfig::from_toml(&week).unwrap();
        assert_eq!(c.limits.attachment_retention_ms(), 7 * 86_400_000);
        let none = format!("{}[limits]\nattachment_retention_days = 0\n", minimal());
        let e = RelayConfig::from_toml(&none).unwrap_err().to_string();
        assert!(e.starts_with("limits.attachment_retention_days:"), "{e}");

        let bad_burst = format!("{}[limits]\nrequest_burst = 0\n", minimal());
        let e = RelayConfig::from_toml(&bad_burst).unwrap_err().to_string();
        assert!(e.starts_with("limits.request_burst:"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn key_files_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let c = RelayConfig::new(
            "127.0.0.1:1".parse().unwrap(),
            data.clone(),
            PublicKey([1; 32]),
        );
        // Nothing exists yet: fine, with notes.
        let notes = c.check_files().unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(&c.tls_cert, "cert").unwrap();
        std::fs::write(&c.tls_key, "key").unwrap();
        std::fs::set_permissions(&c.tls_key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = c.check_files().unwrap_err().to_string();
        assert!(
            e.starts_with("tls_key:") && e.contains("0644") && e.contains("chmod 600"),
            "{e}"
        );
        std::fs::set_permissions(&c.tls_key, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(c.check_files().is_err());
        std::fs::set_permissions(&c.tls_key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(c.check_files().unwrap().is_empty());
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = c.check_files().unwrap_err().to_string();
        assert!(e.starts_with("data_dir:"), "{e}");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::remove_file(&c.tls_key).unwrap();
        assert!(
            c.check_files()
                .unwrap_err()
                .to_string()
                .starts_with("tls_key:")
        );
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
