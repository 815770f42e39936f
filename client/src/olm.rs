//! Olm (vodozemac) account and session handling for one device.
//!
//! Sessions are kept pickled per peer device; a message is decrypted with an
//! existing session when possible, otherwise a pre-key message creates an
//! inbound session (consuming the one-time key it names). Callers persist the
//! changed account and sessions in the same transaction as the result.

use liaison_protocol::message::{OlmKind, Prekey};
use liaison_protocol::{PublicKey, Signature};
use vodozemac::olm::{Account, AccountPickle, OlmMessage, Session, SessionConfig, SessionPickle};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey};

/// Why an Olm operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OlmError {
    /// The stored account does not restore.
    #[error("Olm account state is corrupted")]
    AccountCorrupted,
    /// A stored session does not restore.
    #[error("stored Olm session is corrupted")]
    SessionCorrupted,
    /// An account or session could not be pickled.
    #[error("Olm state could not be saved: {0}")]
    Pickle(serde_json::Error),
    /// The prekey the relay served is not signed by the device it names.
    #[error("the relay served a prekey with a bad signature")]
    PrekeySignature,
    /// vodozemac refused to start an outbound session.
    #[error("cannot start an Olm session: {0}")]
    Session(String),
    /// The ciphertext is not an Olm message.
    #[error("malformed Olm message")]
    Malformed,
    /// No session opens the message (altered, replayed, or not for this
    /// device): one opaque answer whatever check failed.
    #[error("decryption failed")]
    Decrypt,
    /// vodozemac refused to encrypt.
    #[error("Olm encryption failed: {0}")]
    Encrypt(String),
}

type Result<T, E = OlmError> = std::result::Result<T, E>;

/// Most sessions kept per peer device (newest first).
const MAX_SESSIONS_PER_DEVICE: usize = 8;

/// The device's Olm account.
pub struct Device {
    account: Account,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Device({:?})", self.signing_key())
    }
}

/// The Olm configuration used on the wire (libolm-compatible, version 1).
fn config() -> SessionConfig {
    SessionConfig::version_1()
}

impl Device {
    /// A fresh account (randomness from the OS, inside vodozemac).
    pub fn generate() -> Self {
        Device {
            account: Account::new(),
        }
    }

    /// Restore from a pickle (JSON text).
    pub fn from_pickle(json: &str) -> Result<Self> {
        let p: AccountPickle =
            serde_json::from_str(json).map_err(|_| OlmError::AccountCorrupted)?;
        Ok(Device {
            account: Account::from_pickle(p),
        })
    }

    /// Pickle for storage (contains secrets: store sealed only).
    pub fn pickle(&self) -> Result<String> {
        serde_json::to_string(&self.account.pickle()).map_err(OlmError::Pickle)
    }

    /// The device's Ed25519 key: its id and relay login key.
    pub fn signing_key(&self) -> PublicKey {
        PublicKey(*self.account.identity_keys().ed25519.as_bytes())
    }

    /// The device's Curve25519 key.
    pub fn agreement_key(&self) -> [u8; 32] {
        self.account.identity_keys().curve25519.to_bytes()
    }

    /// Sign raw bytes with the device key (callers pass domain-separated
    /// messages from `liaison_protocol::keys::domain_message`).
    pub fn sign_raw(&self, message: &[u8]) -> Signature {
        Signature(self.account.sign(message).to_bytes())
    }

    /// Sign `message` for `domain`.
    pub fn sign(&self, domain: &str, message: &[u8]) -> Signature {
        self.sign_raw(&liaison_protocol::keys::domain_message(domain, message))
    }

    /// Generate `count` one-time keys (and a fallback key if none is
    /// published), sign them, and mark them published. Returns the signed
    /// prekeys to upload.
    pub fn new_prekeys(&mut self, count: usize, with_fallback: bool) -> Vec<Prekey> {
        let device = self.signing_key();
        let mut out = Vec::new();
        let result = self.account.generate_one_time_keys(count);
        for key in result.created {
            out.push(self.signed_prekey(device, key.to_bytes(), false));
        }
        if with_fallback {
            self.account.generate_fallback_key();
            if let Some(key) = self.account.fallback_key().values().next().copied() {
                out.push(self.signed_prekey(device, key.to_bytes(), true));
            }
        }
        self.account.mark_keys_as_published();
        out
    }

    fn signed_prekey(&self, device: PublicKey, key: [u8; 32], fallback: bool) -> Prekey {
        let signature = self.sign(
            Prekey::DOMAIN,
            &Prekey::signed_bytes(&device, &key, fallback),
        );
        Prekey {
            device,
            key,
            fallback,
            signature,
        }
    }

    /// Start an outbound session to a peer device from a verified prekey.
    pub fn outbound(&self, peer_agreement: [u8; 32], prekey: &Prekey) -> Result<Session> {
        prekey.verify().map_err(|_| OlmError::PrekeySignature)?;
        self.account
            .create_outbound_session(
                config(),
                Curve25519PublicKey::from_bytes(peer_agreement),
                Curve25519PublicKey::from_bytes(prekey.key),
            )
            .map_err(|e| OlmError::Session(e.to_string()))
    }

    /// Decrypt an envelope's ciphertext from a peer device. `sessions` are
    /// the stored sessions with that device (newest first) and are updated
    /// in place (a new inbound session is put first).
    pub fn decrypt(
        &mut self,
        peer_agreement: [u8; 32],
        kind: OlmKind,
        ciphertext: &[u8],
        sessions: &mut Vec<Session>,
    ) -> Result<Vec<u8>> {
        let msg_type = match kind {
            OlmKind::PreKey => 0,
            OlmKind::Normal => 1,
        };
        let message =
            OlmMessage::from_parts(msg_type, ciphertext).map_err(|_| OlmError::Malformed)?;
        // Existing sessions first, whichever message kind.
        for i in 0..sessions.len() {
            let matches = match &message {
                OlmMessage::PreKey(m) => sessions
                    .get(i)
                    .is_some_and(|s| s.session_id() == m.session_id()),
                OlmMessage::Normal(_) => true,
            };
            if !matches {
                continue;
            }
            if let Some(s) = sessions.get_mut(i)
                && let Ok(pt) = s.decrypt(&message)
            {
                return Ok(pt);
            }
        }
        match &message {
            OlmMessage::PreKey(m) => {
                let their = Curve25519PublicKey::from_bytes(peer_agreement);
                let created = self
                    .account
                    .create_inbound_session(config(), their, m)
                    .map_err(|_| OlmError::Decrypt)?;
                sessions.insert(0, created.session);
                sessions.truncate(MAX_SESSIONS_PER_DEVICE);
                Ok(created.plaintext)
            }
            OlmMessage::Normal(_) => Err(OlmError::Decrypt),
        }
    }

    /// Number of unpublished+published one-time keys held locally.
    pub fn stored_one_time_keys(&self) -> usize {
        self.account.stored_one_time_key_count()
    }
}

/// Encrypt with a session; returns the envelope kind and bytes.
pub fn encrypt(session: &mut Session, plaintext: &[u8]) -> Result<(OlmKind, Vec<u8>)> {
    let m = session
        .encrypt(plaintext)
        .map_err(|e| OlmError::Encrypt(e.to_string()))?;
    let (t, bytes) = m.to_parts();
    let kind = if t == 0 {
        OlmKind::PreKey
    } else {
        OlmKind::Normal
    };
    Ok((kind, bytes))
}

/// Pickle sessions as JSON strings.
pub fn pickle_sessions(sessions: &[Session]) -> Result<Vec<String>> {
    sessions
        .iter()
        .map(|s| serde_json::to_string(&s.pickle()).map_err(OlmError::Pickle))
        .collect()
}

/// Restore pickled sessions.
pub fn unpickle_sessions(pickles: &[String]) -> Result<Vec<Session>> {
    pickles
        .iter()
        .map(|p| {
            let sp: SessionPickle =
                serde_json::from_str(p).map_err(|_| OlmError::SessionCorrupted)?;
            Ok(Session::from_pickle(sp))
        })
        .collect()
}

/// Verify an Ed25519 signature with vodozemac's types (used only in tests to
/// check interoperability with the protocol crate).
pub fn verify_with_vodozemac(key: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
    let Ok(k) = Ed25519PublicKey::from_slice(&key.0) else {
        return false;
    };
    let Ok(s) = vodozemac::Ed25519Signature::from_slice(&sig.0) else {
        return false;
    };
    k.verify(msg, &s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_signatures_verify_in_protocol_crate() {
        let d = Device::generate();
        let sig = d.sign("device-auth", b"nonce");
        assert!(
            d.signing_key()
                .verify("device-auth", b"nonce", &sig)
                .is_ok()
        );
        let msg = liaison_protocol::keys::domain_message("device-auth", b"nonce");
        assert!(verify_with_vodozemac(&d.signing_key(), &msg, &sig));
    }

    #[test]
    fn olm_round_trip_with_prekeys() -> anyhow::Result<()> {
        let alice = Device::generate();
        let mut bob = Device::generate();
        let pks = bob.new_prekeys(2, true);
        assert_eq!(pks.len(), 3);
        let otk = pks
            .iter()
            .find(|p| !p.fallback)
            .ok_or_else(|| anyhow::anyhow!("no otk"))?;
        let mut s = alice.outbound(bob.agreement_key(), otk)?;
        let (kind, ct) = encrypt(&mut s, b"hello bob")?;
        assert_eq!(kind, OlmKind::PreKey);
        let mut bob_sessions = Vec::new();
        let pt = bob.decrypt(alice.agreement_key(), kind, &ct, &mut bob_sessions)?;
        assert_eq!(pt, b"hello bob");
        // Replaying the pre-key message fails (one-time key consumed, message key used).
        assert!(
            bob.decrypt(alice.agreement_key(), kind, &ct, &mut bob_sessions)
                .is_err()
        );
        // A tampered prekey signature is refused.
        let mut bad = otk.clone();
        bad.key[0] ^= 1;
        assert!(alice.outbound(bob.agreement_key(), &bad).is_err());
        Ok(())
    }
}
