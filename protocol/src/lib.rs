//! `liaison-protocol`: everything the Liaison relay and clients must agree on.
//!
//! This crate is pure: it performs no I/O, reads no clock and draws no
//! randomness. Time enters as a [`Timestamp`] argument and randomness as
//! caller-supplied bytes, so every behaviour is deterministic and testable.
//!
//! What it contains:
//! - [`keys`]: Ed25519 keys, domain-separated signatures, fingerprints and
//!   safety numbers;
//! - [`directory`]: network root → authority certificate → focal point record
//!   chain and its verification, device proofs of possession;
//! - [`directory_state`]: the directory applied entry by entry in log order
//!   (who holds a device key, final revocations, refusals with reasons);
//! - [`message`]: the signed payload, the per-device Olm envelope, prekeys and
//!   enrolment requests;
//! - [`handling`]: handling codes (TLP 2.0, SIENA H0–H3), their text form,
//!   the tightening order and the dissemination scope rules;
//! - [`consent`]: signed consent requests and decisions, and receipts
//!   (delivered, handling acknowledged, deleted);
//! - [`evidence`]: judicial evidence bundles (a message with its
//!   originator's logged record, event-log proofs, receipts and consents)
//!   and their offline verification;
//! - [`frames`]: request/response frames of the relay protocol, error codes;
//! - [`attachment`]: files sealed in chunks (STREAM over ChaCha20-Poly1305)
//!   and opened against the signed attachment reference;
//! - [`case`]: case conversations, the owner's signed opening and
//!   membership changes;
//! - [`codec`]: the canonical, versioned, length-limited encoding;
//! - [`log`]: RFC 6962/9162 Merkle trees and C2SP signed notes and checkpoints.
//!
//! Non-features: no transport, no storage, no Olm session handling (clients
//! drive vodozemac and hand this crate the ciphertext bytes), no clock.

pub mod armor;
pub mod attachment;
pub mod bundle;
pub mod case;
pub mod codec;
pub mod consent;
pub mod directory;
pub mod directory_state;
pub mod evidence;
pub mod frames;
pub mod handling;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod log;
pub mod message;
pub mod request;
pub mod scope;
pub mod shell;
pub mod signed;

pub use codec::{DecodeError, Wire};
pub use ids::{ConversationId, CountryCode, DirectoryId, MessageId, Timestamp};
pub use keys::{PublicKey, SecretKey, Signature, VerifyError};
pub use signed::{Signed, SignedBody};
