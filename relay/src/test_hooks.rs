//! Misbehaviour on demand, so that integration tests can prove that clients
//! catch a malicious relay. Compiled only with the cargo feature
//! `test-hooks`, which release builds never enable (the `liaison-relay`
//! binary says so in its readiness output when it is compiled in, and logs
//! the hooks in force at start).
//!
//! Driven by environment variables, read once when the relay starts:
//! - `LIAISON_RELAY_TEST_FORK_DEVICE=<device key hex>`: answer that
//!   device's GetCheckpoint with a forked checkpoint (same size, another
//!   root, signed with the real log key);
//! - `LIAISON_RELAY_TEST_SUBSTITUTE_KEY=<id>`: serve that focal point's
//!   record with another identity key (the authority's signature is left as
//!   it was);
//! - `LIAISON_RELAY_TEST_INJECT_RECORD=<file>`: also serve the encoded
//!   signed record in that file, whatever signed it;
//! - `LIAISON_RELAY_TEST_OMIT_EVENTS=<device key hex>`: serve that device
//!   no event of any message it asks about, as if the relay had never
//!   logged them;
//! - `LIAISON_RELAY_TEST_OMIT_DELIVERED=<device key hex>`: serve that
//!   device every event but the delivery ones;
//! - `LIAISON_RELAY_TEST_DROP_RECIPIENT=<device key hex>`: of each message
//!   that device sends to several devices, store, deliver and log all but
//!   the last envelope (the event log then shows fewer recipient devices
//!   and bytes than the sender sent).
//! - `LIAISON_RELAY_TEST_UNCOVERED_RECORD=<file>`: serve the encoded signed
//!   record in that file in the directory and as one more directory log
//!   entry after the last, which no checkpoint ever covers;
//! - `LIAISON_RELAY_TEST_SERVE_OLD_RECORD=<id>`: serve, instead of that
//!   focal point's record in force, the version before it in the directory
//!   log (a rollback: a revocation or a device removal undone).
//! - `LIAISON_RELAY_TEST_HOLD_SEND=<device key hex>`: never answer a
//!   message that device sends (neither store nor refuse it), as a relay
//!   whose link dies mid-request; with
//!   `LIAISON_RELAY_TEST_HOLD_SEND_MARKER=<file>`, create that file when a
//!   message is held.
//! - `LIAISON_RELAY_TEST_FLIP_BLOB_CHUNK=<chunk index>`: flip one byte in
//!   the middle of that sealed attachment chunk whenever it is served
//!   (what is stored stays intact).
//! - `LIAISON_RELAY_TEST_HOLD_BLOB_CHUNK=<chunk index>`: the first time an
//!   uploader sends that chunk of an attachment, never answer (nor store
//!   it), as a link that dies mid-file; later uploads pass.
//! - `LIAISON_RELAY_TEST_ONE_CHUNK_AT_A_TIME=1`: take attachment chunks as
//!   the release before group commits did: only the next one, each in a
//!   commit of its own; a chunk sent ahead is refused at once.
//! - `LIAISON_RELAY_TEST_HOLD_BLOB_FETCH=<chunk index>`: the first time a
//!   device fetches an attachment's chunks from that index or beyond, never
//!   answer; later fetches pass. With
//!   `LIAISON_RELAY_TEST_HOLD_BLOB_MARKER=<file>`, either creates that file
//!   when it holds a request.
//!
//! The time of the relay is shifted with `LIAISON_TEST_CLOCK_OFFSET_MS`
//! (see `liaison-clock`, whose `test-hooks` feature this one enables).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use liaison_protocol::codec::decode_versioned;
use liaison_protocol::directory::FocalPointRecord;
use liaison_protocol::frames::IndexedEvent;
use liaison_protocol::log::event::{DirectoryEntry, DisclosedEvent, EventKind};
use liaison_protocol::message::Envelope;
use liaison_protocol::{PublicKey, Signed};
use liaison_protocol::{SignedBody, Wire};

/// See the module documentation.
pub const FORK_DEVICE_ENV: &str = "LIAISON_RELAY_TEST_FORK_DEVICE";
/// See the module documentation.
pub const SUBSTITUTE_KEY_ENV: &str = "LIAISON_RELAY_TEST_SUBSTITUTE_KEY";
/// See the module documentation.
pub const INJECT_RECORD_ENV: &str = "LIAISON_RELAY_TEST_INJECT_RECORD";
/// See the module documentation.
pub const UNCOVERED_RECORD_ENV: &str = "LIAISON_RELAY_TEST_UNCOVERED_RECORD";
/// See the module documentation.
pub const SERVE_OLD_RECORD_ENV: &str = "LIAISON_RELAY_TEST_SERVE_OLD_RECORD";

/// See the module documentation.
pub const OMIT_EVENTS_ENV: &str = "LIAISON_RELAY_TEST_OMIT_EVENTS";
/// See the module documentation.
pub const OMIT_DELIVERED_ENV: &str = "LIAISON_RELAY_TEST_OMIT_DELIVERED";
/// See the module documentation.
pub const DROP_RECIPIENT_ENV: &str = "LIAISON_RELAY_TEST_DROP_RECIPIENT";
/// See the module documentation.
pub const HOLD_SEND_ENV: &str = "LIAISON_RELAY_TEST_HOLD_SEND";
/// See the module documentation.
pub const HOLD_SEND_MARKER_ENV: &str = "LIAISON_RELAY_TEST_HOLD_SEND_MARKER";

/// See the module documentation.
pub const FLIP_BLOB_CHUNK_ENV: &str = "LIAISON_RELAY_TEST_FLIP_BLOB_CHUNK";

/// See the module documentation.
pub const HOLD_BLOB_CHUNK_ENV: &str = "LIAISON_RELAY_TEST_HOLD_BLOB_CHUNK";
/// See the module documentation.
pub const HOLD_BLOB_FETCH_ENV: &str = "LIAISON_RELAY_TEST_HOLD_BLOB_FETCH";
/// See the module documentation.
pub const HOLD_BLOB_MARKER_ENV: &str = "LIAISON_RELAY_TEST_HOLD_BLOB_MARKER";
/// See the module documentation.
pub const ONE_CHUNK_AT_A_TIME_ENV: &str = "LIAISON_RELAY_TEST_ONE_CHUNK_AT_A_TIME";

/// The hooks in force, from the environment.
#[derive(Debug, Default)]
pub(crate) struct TestHooks {
    fork_device: Option<String>,
    substitute_key: Option<String>,
    inject_record: Option<PathBuf>,
    omit_events: Option<String>,
    omit_delivered: Option<String>,
    drop_recipient: Option<String>,
    serve_old_record: Option<String>,
    uncovered_record: Option<PathBuf>,
    hold_send: Option<String>,
    hold_send_marker: Option<PathBuf>,
    flip_blob_chunk: Option<u64>,
    hold_blob_chunk: Option<u64>,
    hold_blob_fetch: Option<u64>,
    hold_blob_marker: Option<PathBuf>,
    /// Chunks are taken one at a time, as by the release before.
    pub(crate) one_chunk_at_a_time: bool,
    /// Whether a blob request was held already (each hook holds once).
    held_blob_chunk: AtomicBool,
    held_blob_fetch: AtomicBool,
}

impl TestHooks {
    /// Flip a byte of the chunk [`FLIP_BLOB_CHUNK_ENV`] names, if `chunks`
    /// (starting at index `start`) holds it.
    pub(crate) fn tamper_blob_chunks(&self, start: u64, chunks: &mut [Vec<u8>]) {
        let Some(target) = self.flip_blob_chunk else {
            return;
        };
        let Some(offset) = target.checked_sub(start) else {
            return;
        };
        let Some(chunk) = usize::try_from(offset).ok().and_then(|i| chunks.get_mut(i)) else {
            return;
        };
        let middle = chunk.len() / 2;
        if let Some(b) = chunk.get_mut(middle) {
            *b ^= 0x40;
        }
    }

    /// Hold for ever (the caller awaits this before storing) the first
    /// upload of chunk `index` [`HOLD_BLOB_CHUNK_ENV`] names.
    pub(crate) async fn hold_blob_chunk(&self, index: u64) {
        if self.hold_blob_chunk == Some(index) {
            Self::hold_once(&self.held_blob_chunk, self.hold_blob_marker.as_ref()).await;
        }
    }

    /// Hold for ever the first fetch from `start` at or beyond the index
    /// [`HOLD_BLOB_FETCH_ENV`] names.
    pub(crate) async fn hold_blob_fetch(&self, start: u64) {
        if self.hold_blob_fetch.is_some_and(|at| start >= at) {
            Self::hold_once(&self.held_blob_fetch, self.hold_blob_marker.as_ref()).await;
        }
    }

    async fn hold_once(held: &AtomicBool, marker: Option<&PathBuf>) {
        if held.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::warn!("test hook: holding an attachment transfer without answering");
        if let Some(m) = marker {
            let _ = std::fs::write(m, b"held\n");
        }
        std::future::pending::<()>().await;
    }

    pub(crate) fn from_env() -> Self {
        let hooks = TestHooks {
            fork_device: std::env::var(FORK_DEVICE_ENV).ok(),
            substitute_key: std::env::var(SUBSTITUTE_KEY_ENV).ok(),
            inject_record: std::env::var_os(INJECT_RECORD_ENV).map(PathBuf::from),
            omit_events: std::env::var(OMIT_EVENTS_ENV).ok(),
            omit_delivered: std::env::var(OMIT_DELIVERED_ENV).ok(),
            drop_recipient: std::env::var(DROP_RECIPIENT_ENV).ok(),
            serve_old_record: std::env::var(SERVE_OLD_RECORD_ENV).ok(),
            uncovered_record: std::env::var_os(UNCOVERED_RECORD_ENV).map(PathBuf::from),
            hold_send: std::env::var(HOLD_SEND_ENV).ok(),
            hold_send_marker: std::env::var_os(HOLD_SEND_MARKER_ENV).map(PathBuf::from),
            flip_blob_chunk: std::env::var(FLIP_BLOB_CHUNK_ENV)
                .ok()
                .and_then(|v| v.parse().ok()),
            hold_blob_chunk: std::env::var(HOLD_BLOB_CHUNK_ENV)
                .ok()
                .and_then(|v| v.parse().ok()),
            hold_blob_fetch: std::env::var(HOLD_BLOB_FETCH_ENV)
                .ok()
                .and_then(|v| v.parse().ok()),
            hold_blob_marker: std::env::var_os(HOLD_BLOB_MARKER_ENV).map(PathBuf::from),
            one_chunk_at_a_time: std::env::var_os(ONE_CHUNK_AT_A_TIME_ENV).is_some(),
            held_blob_chunk: AtomicBool::new(false),
            held_blob_fetch: AtomicBool::new(false),
        };
        let clock_offset_ms = liaison_clock::test_hooks::offset_ms();
        let set = hooks.fork_device.is_some()
            || hooks.substitute_key.is_some()
            || hooks.inject_record.is_some()
            || hooks.omit_events.is_some()
            || hooks.omit_delivered.is_some()
            || hooks.drop_recipient.is_some()
            || hooks.serve_old_record.is_some()
            || hooks.uncovered_record.is_some()
            || hooks.hold_send.is_some()
            || hooks.flip_blob_chunk.is_some()
            || hooks.hold_blob_chunk.is_some()
            || hooks.hold_blob_fetch.is_some()
            || hooks.one_chunk_at_a_time
            || clock_offset_ms != 0;
        if set {
            tracing::warn!(
                ?hooks,
                clock_offset_ms,
                "test hooks in force: this relay misbehaves on purpose"
            );
        } else {
            tracing::info!("built with test hooks (none set): never use this build in production");
        }
        hooks
    }

    /// Whether `device` is served a forked log.
    pub(crate) fn forks_for(&self, device: &PublicKey) -> bool {
        self.fork_device
            .as_deref()
            .is_some_and(|target| device.to_hex() == target)
    }

    /// Leave out of `events` (a message's events as served to `device`)
    /// what the hooks omit for it.
    pub(crate) fn omit_events(&self, device: &PublicKey, events: &mut Vec<IndexedEvent>) {
        let is = |target: &Option<String>| target.as_deref() == Some(device.to_hex().as_str());
        if is(&self.omit_events) {
            events.clear();
        } else if is(&self.omit_delivered) {
            events.retain(|e| {
                !DisclosedEvent::decode(&e.event)
                    .and_then(|d| d.decode_record())
                    .is_ok_and(|r| matches!(r.kind, EventKind::Delivered { .. }))
            });
        }
    }

    /// Hold a message `device` sends for ever (the caller awaits this
    /// before storing it), after creating the marker file.
    pub(crate) async fn hold_send(&self, device: &PublicKey) {
        if self.hold_send.as_deref() == Some(device.to_hex().as_str()) {
            tracing::warn!("test hook: holding a message without answering");
            if let Some(m) = &self.hold_send_marker {
                let _ = std::fs::write(m, b"held\n");
            }
            std::future::pending::<()>().await;
        }
    }

    /// Drop the last of several envelopes `device` sends, before they are
    /// stored and logged.
    pub(crate) fn drop_recipient(&self, device: &PublicKey, envelopes: &mut Vec<Envelope>) {
        if self.drop_recipient.as_deref() == Some(device.to_hex().as_str()) && envelopes.len() > 1 {
            envelopes.pop();
        }
    }

    /// The record to serve as a directory log entry past the last one.
    fn uncovered(&self) -> Option<Signed<FocalPointRecord>> {
        let bytes = std::fs::read(self.uncovered_record.as_ref()?).ok()?;
        decode_versioned::<Signed<FocalPointRecord>>(&bytes, 1 << 16).ok()
    }

    /// The encoded directory log entry served after the last one, if any.
    pub(crate) fn uncovered_entry(&self) -> Option<Vec<u8>> {
        self.uncovered().map(|r| DirectoryEntry::Record(r).encode())
    }

    /// Whether the directory log's entries are needed by
    /// [`TestHooks::tamper_directory`].
    pub(crate) fn needs_log(&self) -> bool {
        self.serve_old_record.is_some()
    }

    /// Replace the record in force of the rolled-back id by the version
    /// before it in `log` (the directory log's entries, in order).
    pub(crate) fn roll_back(&self, records: &mut [Signed<FocalPointRecord>], log: &[Vec<u8>]) {
        let Some(id) = &self.serve_old_record else {
            return;
        };
        let versions: Vec<Signed<FocalPointRecord>> = log
            .iter()
            .filter_map(|e| match DirectoryEntry::decode(e) {
                Ok(DirectoryEntry::Record(r))
                    if r.decode_unverified().is_ok_and(|v| v.id.as_str() == id) =>
                {
                    Some(r)
                }
                _ => None,
            })
            .collect();
        let [.., older, current] = versions.as_slice() else {
            return;
        };
        for r in records.iter_mut() {
            if r == current {
                *r = older.clone();
            }
        }
    }

    /// Substitute a key in, or add a record to, the directory served to a
    /// device.
    pub(crate) fn tamper_directory(&self, records: &mut Vec<Signed<FocalPointRecord>>) {
        if let Some(id) = &self.substitute_key {
            for r in records.iter_mut() {
                if let Ok(mut body) = r.decode_unverified()
                    && body.id.as_str() == id
                {
                    body.identity_key = PublicKey([0x5a; 32]);
                    *r = Signed::from_parts(body.to_body(), *r.signer(), *r.signature());
                }
            }
        }
        if let Some(r) = self.uncovered() {
            records.push(r);
        }
        // Read when served, as the test may write the file after the start.
        if let Some(path) = &self.inject_record
            && let Ok(bytes) = std::fs::read(path)
            && let Ok(extra) = decode_versioned::<Signed<FocalPointRecord>>(&bytes, 1 << 16)
        {
            records.push(extra);
        }
    }
}
