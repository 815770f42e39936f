//! Structured logs: the `[logging]` configuration and the subscriber the
//! binaries install.
//!
//! Events are emitted with `tracing` throughout the relay; one span per
//! connection (`conn{id, remote}`) carries the peer address. What is never
//! logged: keys (secret or public — devices are named by fingerprint),
//! ciphertext or payloads, handling text, signatures, nonces. Message ids,
//! directory ids, sizes, counts and error codes are logged.
//!
//! ```toml
//! [logging]
//! format = "json"     # "text" (default) or "json": one JSON object per line
//! level = "info"      # a tracing EnvFilter directive; RUST_LOG overrides it
//! ```

use std::io::IsTerminal;

use serde::Deserialize;

use crate::setting::InvalidSetting;

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line (for journald, Loki, Elasticsearch, ...).
    Json,
}

/// The `[logging]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// `text` or `json`. Default `text`; `--log-format` overrides it.
    pub format: LogFormat,
    /// Filter directive such as `info` or `info,liaison_relay=debug`.
    /// Default `info`; the `RUST_LOG` environment variable overrides it.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

impl LoggingConfig {
    /// Check the filter directive.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        tracing_subscriber::EnvFilter::try_new(&self.level)
            .map(|_| ())
            .map_err(|e| {
                InvalidSetting::new(
                    "logging.level",
                    format!("not a valid filter directive: {e}"),
                )
            })
    }
}

/// Install the process-wide subscriber writing to stderr. `RUST_LOG`, when
/// set and valid, replaces `level`. Call once, from a binary.
pub fn init(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (tests, or a library user who installed their own) is
    // harmless: the first subscriber stays.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn level_is_validated() {
        assert!(LoggingConfig::default().validate().is_ok());
        let bad = LoggingConfig {
            level: "info,[=".into(),
            ..LoggingConfig::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.starts_with("logging.level:"), "{e}");
    }
}
