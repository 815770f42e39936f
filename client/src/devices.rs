//! Adding a second device (a desk machine and a laptop) to a focal point.
//!
//! 1. On the new device: `liaison device request` makes its Olm account and
//!    an X25519 transfer key, and writes a request signed by the device key.
//! 2. On a device holding the identity key: `liaison device approve` checks
//!    the request, endorses the device with the identity key, and seals the
//!    identity key to the request's transfer key (X25519, HKDF-SHA256,
//!    ChaCha20-Poly1305), writing an approval.
//! 3. On the new device: `liaison device link APPROVAL` opens the sealed
//!    identity key with the transfer secret, signs the device's proof of
//!    possession (id, identity key, device keys) and writes the completed
//!    approval to `NEW_HOME/device.approval`.
//! 4. The authority countersigns the completed approval (`liaison-admin
//!    add-device`): a new record version lists the device with its
//!    endorsement and proof. Every contact sees the change on its next sync.
//!
//! The identity key never leaves a device unencrypted; only the holder of
//! the identity key can endorse a device, and only the device can prove it
//! agreed: an authority alone cannot add a device to anybody's record.

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use hkdf::Hkdf;
use liaison_protocol::message::DeviceApproval;
use liaison_protocol::{PublicKey, SecretKey};
use sha2::Sha256;
use zeroize::Zeroizing;

const INFO: &[u8] = b"liaison/1 identity-transfer";

/// Why adding a device failed: a request or approval that is not what it
/// claims, or this home in the wrong state for the step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The confirmation code typed is not the request's.
    #[error(
        "the confirmation code does not match this device request: nothing was approved. Compare it with the code the new device printed when it made the request; if they differ, the request file is not the one that device made (it may have been replaced on its way): make a new request on the new device"
    )]
    CodeMismatch,
    /// The text is not an armoured device request.
    #[error("not a device request: {0}")]
    NotARequest(liaison_protocol::armor::ArmorError),
    /// The device request's signature or contents do not verify.
    #[error("the device request does not verify: {0}")]
    RequestInvalid(liaison_protocol::VerifyError),
    /// The request names another focal point.
    #[error("this request is for {request}, not for you ({you})")]
    NotYours {
        /// The id the request names.
        request: liaison_protocol::DirectoryId,
        /// This home's id.
        you: liaison_protocol::DirectoryId,
    },
    /// The request carries a transfer key no shared secret comes from.
    #[error("the device request carries an invalid transfer key")]
    TransferKey,
    /// The text is not an armoured device approval.
    #[error("not a device approval: {0}")]
    NotAnApproval(liaison_protocol::armor::ArmorError),
    /// The approval carries a request that does not verify.
    #[error("approval carries a bad request: {0}")]
    ApprovalRequestInvalid(liaison_protocol::VerifyError),
    /// The approval is for another device.
    #[error("this approval is for another device")]
    OtherDevice,
    /// The approval carries an ephemeral key no shared secret comes from.
    #[error("the approval carries an invalid ephemeral key")]
    EphemeralKey,
    /// The sealed identity does not open with this device's transfer
    /// secret: one opaque answer whatever check failed.
    #[error("the approval was not made for this device (or was altered)")]
    NotForThisDevice,
    /// The sealed identity is not the key the approval names.
    #[error("the sealed identity key does not match the endorsing identity")]
    IdentityMismatch,
    /// The identity key's endorsement of this device does not verify.
    #[error("the approval's endorsement does not verify")]
    Endorsement,
    /// This home holds an identity key already: nothing to link.
    #[error("this home already holds an identity key")]
    AlreadyLinked,
    /// This home made no device request (no transfer secret).
    #[error("this home made no device request")]
    NoRequest,
    /// Key derivation or sealing failed (never with valid inputs).
    #[error("{0} failed")]
    Crypto(&'static str),
    /// The operating system's random generator failed.
    #[error("OS random generator failed: {0}")]
    Random(getrandom::Error),
}

type Result<T, E = DeviceError> = std::result::Result<T, E>;

fn key(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    transfer: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>> {
    let hk = Hkdf::<Sha256>::new(Some(INFO), shared);
    let mut info = Vec::with_capacity(64 + INFO.len());
    info.extend_from_slice(INFO);
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(transfer);
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand(&info, out.as_mut())
        .map_err(|_| DeviceError::Crypto("key derivation"))?;
    Ok(out)
}

/// Seal an identity seed to `transfer_key`. Returns (ephemeral public key,
/// ciphertext). Each seal uses a fresh ephemeral key, so the zero nonce is
/// never reused under one key.
pub fn seal_identity(
    identity: &SecretKey,
    transfer_key: &[u8; 32],
    identity_key: &PublicKey,
) -> Result<([u8; 32], Vec<u8>)> {
    let mut eph_bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(eph_bytes.as_mut()).map_err(DeviceError::Random)?;
    let eph = x25519_dalek::StaticSecret::from(*eph_bytes);
    let eph_pub = x25519_dalek::PublicKey::from(&eph).to_bytes();
    let shared = eph.diffie_hellman(&x25519_dalek::PublicKey::from(*transfer_key));
    if !shared.was_contributory() {
        return Err(DeviceError::TransferKey);
    }
    let k = key(shared.as_bytes(), &eph_pub, transfer_key)?;
    let cipher = ChaCha20Poly1305::new(&(*k).into());
    let seed = identity.to_seed();
    let ct = cipher
        .encrypt(
            &[0u8; 12].into(),
            Payload {
                msg: seed.as_ref(),
                aad: &identity_key.0,
            },
        )
        .map_err(|_| DeviceError::Crypto("sealing"))?;
    Ok((eph_pub, ct))
}

/// Open a sealed identity with the transfer secret; checks that it is the
/// identity key the approval claims.
pub fn open_identity(
    approval: &DeviceApproval,
    transfer_secret: &[u8; 32],
    identity_key: &PublicKey,
) -> Result<SecretKey> {
    let secret = x25519_dalek::StaticSecret::from(*transfer_secret);
    let transfer_pub = x25519_dalek::PublicKey::from(&secret).to_bytes();
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(approval.ephemeral));
    if !shared.was_contributory() {
        return Err(DeviceError::EphemeralKey);
    }
    let k = key(shared.as_bytes(), &approval.ephemeral, &transfer_pub)?;
    let cipher = ChaCha20Poly1305::new(&(*k).into());
    let seed = Zeroizing::new(
        cipher
            .decrypt(
                &[0u8; 12].into(),
                Payload {
                    msg: &approval.sealed_identity,
                    aad: &identity_key.0,
                },
            )
            .map_err(|_| DeviceError::NotForThisDevice)?,
    );
    let arr: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| DeviceError::NotForThisDevice)?;
    let key = SecretKey::from_seed(&arr);
    if &key.public_key() != identity_key {
        return Err(DeviceError::IdentityMismatch);
    }
    Ok(key)
}

/// A fresh X25519 transfer secret and its public key.
pub fn transfer_keypair() -> Result<(Zeroizing<[u8; 32]>, [u8; 32])> {
    let mut s = Zeroizing::new([0u8; 32]);
    getrandom::fill(s.as_mut()).map_err(DeviceError::Random)?;
    let p = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*s)).to_bytes();
    Ok((s, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use liaison_protocol::Signed;
    use liaison_protocol::message::DeviceRequest;

    #[test]
    fn seal_open_round_trip_and_wrong_device() -> anyhow::Result<()> {
        let identity = SecretKey::from_seed(&[7; 32]);
        let (secret, public) = transfer_keypair()?;
        let (eph, sealed) = seal_identity(&identity, &public, &identity.public_key())?;
        let dev = SecretKey::from_seed(&[8; 32]);
        let req = DeviceRequest {
            id: liaison_protocol::DirectoryId::parse("th.dsi.a")
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            device: liaison_protocol::directory::DeviceKeys {
                signing: dev.public_key(),
                agreement: [1; 32],
            },
            transfer_key: public,
            prekeys: vec![],
            created_at: liaison_protocol::Timestamp(1),
        };
        let approval = DeviceApproval {
            request: Signed::sign(&req, &dev),
            identity_key: identity.public_key(),
            known_devices: vec![],
            endorsement: liaison_protocol::Signature([0; 64]),
            ephemeral: eph,
            sealed_identity: sealed,
            device_proof: None,
        };
        let back = open_identity(&approval, &secret, &identity.public_key())?;
        assert_eq!(back.public_key(), identity.public_key());
        let (other, _) = transfer_keypair()?;
        assert!(open_identity(&approval, &other, &identity.public_key()).is_err());
        Ok(())
    }
}
