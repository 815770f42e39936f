//! Operating limits (`[limits]` in the configuration): each bounds a
//! resource a peer could otherwise exhaust. Enforced by the front end
//! ([`crate::server`], [`crate::tls`]), the request handler
//! ([`crate::service`]) and the abuse limits ([`crate::ratelimit`]).

use liaison_protocol::frames::{ABSOLUTE_MAX_FRAME, DEFAULT_MAX_FRAME};
use serde::Deserialize;

use crate::setting::InvalidSetting;

/// The highest `max_attachment_bytes` accepted: 100 GB.
pub const MAX_ATTACHMENT_LIMIT: u64 = 100_000_000_000;

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
    /// Share of a device's queue (percent of `max_queue_depth`) that the
    /// envelopes of one sending device may take; beyond it that sender's
    /// Sends to the device are refused with `QueueFull` while others still
    /// get through. Default 25.
    pub max_queue_share_per_sender: u8,
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
    /// Seconds a TLS handshake may take. Default 10.
    pub handshake_timeout_secs: u64,
    /// Slow clients: seconds within which a client must deliver a whole
    /// request frame once it opened its stream, and take each response or
    /// pushed message. Default 30.
    pub request_timeout_secs: u64,
    /// Most simultaneous connections from one IP address. Default 256
    /// (an agency behind one NAT address is many clients).
    pub max_connections_per_ip: usize,
    /// Most simultaneous connections from one IP address that have not
    /// authenticated yet. Default 32.
    pub max_unauthenticated_per_ip: usize,
    /// Messages (Sends) per minute per focal point, sustained; 0 disables
    /// the limit. Every Send counts, receipts and consent decisions
    /// included, and a Send that declares events counts once per
    /// declaration (at least once). Default 600.
    pub sends_per_minute: u32,
    /// Messages a focal point may send at once above the sustained rate.
    /// Default 120.
    pub send_burst: u32,
    /// Requests of any kind per minute per focal point (all its devices and
    /// connections together); 0 disables the limit. Default 3000.
    pub requests_per_minute: u32,
    /// Requests a focal point may make at once above the sustained rate.
    /// Default 600.
    pub request_burst: u32,
    /// Requests per minute per IP address before authentication
    /// (Challenge, Authenticate, Ping, an authority's Publish); 0 disables
    /// the limit. Default 1200.
    pub unauthenticated_requests_per_minute: u32,
    /// Unauthenticated requests an address may make at once. Default 300.
    pub unauthenticated_burst: u32,
    /// Log reads per minute per IP address before authentication (the
    /// checkpoints, proofs and entries auditors and witnesses fetch without
    /// a device key), counted apart from `unauthenticated_requests_per_minute`
    /// so that a flood of them never stops the address's focal points from
    /// authenticating; 0 disables the limit. Default 1200.
    pub log_reads_per_minute: u32,
    /// Unauthenticated log reads an address may make at once. Default 300.
    pub log_read_burst: u32,
    /// Days the queue of a device whose record lapsed is kept: a record
    /// past its validity, or signed by an authority key whose certificate
    /// expired or was revoked. Renewing or re-signing the record within
    /// this time delivers what was queued; after it the queue is dropped
    /// (a `dropped` event per envelope). An explicit revocation of the
    /// record or device drops its queue at once. Default 30.
    pub lapsed_queue_grace_days: u32,
    /// Largest attachment, in plaintext bytes; a larger one is refused with
    /// `BlobTooLarge` (417) before any chunk is sent, the limit named.
    /// Default 100 MB (100 000 000).
    pub max_attachment_bytes: u64,
    /// Sealed attachment bytes one focal point's uploads may hold on the
    /// relay at once (all its devices together); beyond it uploads are
    /// refused with `QuotaExceeded` (508, retryable). Default 1 GB.
    pub attachment_quota_bytes: u64,
    /// Days an attachment is kept from the beginning of its upload, fetched
    /// or not, complete or not; it is deleted sooner once every recipient
    /// device has fetched it. Default 30.
    pub attachment_retention_days: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: DEFAULT_MAX_FRAME,
            max_envelopes_per_message: 256,
            max_queue_depth: 10_000,
            max_queue_share_per_sender: 25,
            max_connections: 1024,
            fetch_batch: 256,
            max_prekeys_per_device: 200,
            idle_timeout_secs: 60,
            auth_timeout_secs: 10,
            handshake_timeout_secs: 10,
            request_timeout_secs: 30,
            max_connections_per_ip: 256,
            max_unauthenticated_per_ip: 32,
            sends_per_minute: 600,
            send_burst: 120,
            requests_per_minute: 3000,
            request_burst: 600,
            unauthenticated_requests_per_minute: 1200,
            unauthenticated_burst: 300,
            log_reads_per_minute: 1200,
            log_read_burst: 300,
            lapsed_queue_grace_days: 30,
            max_attachment_bytes: 100_000_000,
            attachment_quota_bytes: 1_000_000_000,
            attachment_retention_days: 30,
        }
    }
}

impl Limits {
    /// Envelopes one sender may have queued for one device:
    /// `max_queue_share_per_sender` percent of `max_queue_depth`, at least 1.
    pub fn max_queued_per_sender(&self) -> u64 {
        let share = u64::from(self.max_queue_share_per_sender.clamp(1, 100));
        (self.max_queue_depth.saturating_mul(share) / 100).max(1)
    }

    /// [`Limits::lapsed_queue_grace_days`] in milliseconds.
    pub fn lapsed_queue_grace_ms(&self) -> u64 {
        u64::from(self.lapsed_queue_grace_days).saturating_mul(86_400_000)
    }

    /// [`Limits::attachment_retention_days`] in milliseconds.
    pub fn attachment_retention_ms(&self) -> u64 {
        u64::from(self.attachment_retention_days).saturating_mul(86_400_000)
    }

    /// Check every value's range.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        fn check(ok: bool, key: &'static str, why: String) -> Result<(), InvalidSetting> {
            if ok {
                Ok(())
            } else {
                Err(InvalidSetting { key, why })
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
            (1..=100).contains(&self.max_queue_share_per_sender),
            "limits.max_queue_share_per_sender",
            "must be between 1 and 100 (percent of max_queue_depth)".into(),
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
        check(
            (1..=300).contains(&self.handshake_timeout_secs),
            "limits.handshake_timeout_secs",
            "must be between 1 and 300 seconds".into(),
        )?;
        check(
            (1..=3_600).contains(&self.request_timeout_secs),
            "limits.request_timeout_secs",
            "must be between 1 and 3600 seconds".into(),
        )?;
        // Either per-address limit above max_connections is harmless: the
        // lowest limit applies.
        check(
            (1..=1_000_000).contains(&self.max_connections_per_ip),
            "limits.max_connections_per_ip",
            "must be between 1 and 1000000".into(),
        )?;
        check(
            (1..=1_000_000).contains(&self.max_unauthenticated_per_ip),
            "limits.max_unauthenticated_per_ip",
            "must be between 1 and 1000000".into(),
        )?;
        check(
            (1..=3_650).contains(&self.lapsed_queue_grace_days),
            "limits.lapsed_queue_grace_days",
            "must be between 1 and 3650 days".into(),
        )?;
        check(
            (1..=MAX_ATTACHMENT_LIMIT).contains(&self.max_attachment_bytes),
            "limits.max_attachment_bytes",
            format!("must be between 1 and {MAX_ATTACHMENT_LIMIT} bytes"),
        )?;
        check(
            (1..=3_650).contains(&self.attachment_retention_days),
            "limits.attachment_retention_days",
            "must be between 1 and 3650 days".into(),
        )?;
        check(
            self.attachment_quota_bytes >= self.max_attachment_bytes,
            "limits.attachment_quota_bytes",
            "must be at least limits.max_attachment_bytes, or no attachment of the largest \
             size could ever be uploaded"
                .into(),
        )?;
        for (rate, burst, rate_key, burst_key) in [
            (
                self.sends_per_minute,
                self.send_burst,
                "limits.sends_per_minute",
                "limits.send_burst",
            ),
            (
                self.requests_per_minute,
                self.request_burst,
                "limits.requests_per_minute",
                "limits.request_burst",
            ),
            (
                self.unauthenticated_requests_per_minute,
                self.unauthenticated_burst,
                "limits.unauthenticated_requests_per_minute",
                "limits.unauthenticated_burst",
            ),
            (
                self.log_reads_per_minute,
                self.log_read_burst,
                "limits.log_reads_per_minute",
                "limits.log_read_burst",
            ),
        ] {
            check(
                rate <= 6_000_000,
                rate_key,
                "must be at most 6000000 (100000 a second); 0 disables the limit".into(),
            )?;
            check(
                rate == 0 || (1..=1_000_000).contains(&burst),
                burst_key,
                "must be between 1 and 1000000".into(),
            )?;
        }
        Ok(())
    }
}
