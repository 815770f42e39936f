//! The one error a configuration section reports about itself: which key
//! has an invalid value, and why. Each section ([`crate::limits`],
//! `[logs]`, `[logging]`) validates its own values with it, and
//! [`crate::config`] turns it into a [`crate::config::ConfigError`] that
//! also names the line.

/// A configuration key with an invalid value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {why}")]
pub struct InvalidSetting {
    /// The dotted key, such as `limits.max_frame`.
    pub key: &'static str,
    /// Why the value is refused and what is accepted instead.
    pub why: String,
}

impl InvalidSetting {
    /// `key` is refused because of `why`.
    pub fn new(key: &'static str, why: impl Into<String>) -> Self {
        InvalidSetting {
            key,
            why: why.into(),
        }
    }
}
