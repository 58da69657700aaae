//! Envelope encryption with AES-256-GCM.
//!
//! Each value is sealed under its own random data key, and the data key is
//! sealed under the master key. Rotating the master key then means
//! re-wrapping 32-byte keys, not re-encrypting values, and a database copied
//! without the master key holds only ciphertext. The row's identity (notebook
//! and name) is the associated data of both layers, so a sealed value moved
//! to another row fails to open instead of leaking into another notebook.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

const NONCE_BYTES: usize = 12;
pub const KEY_BYTES: usize = 32;

/// A 256-bit key, wiped from memory when dropped.
pub struct Key(Zeroizing<[u8; KEY_BYTES]>);

impl Key {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        Key(Zeroizing::new(bytes))
    }

    pub fn random() -> Self {
        let mut bytes = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Key::from_bytes(bytes)
    }

    pub fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.as_ref().into())
    }
}

/// Authentication failed: wrong key, wrong row, or tampered bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct OpenFailed;

/// `nonce || ciphertext-with-tag` under `key`.
pub fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut nonce);
    let mut out = nonce.to_vec();
    // Encryption with a valid key and a 12-byte nonce cannot fail for
    // inputs under GCM's 64 GiB limit; values are capped far below it.
    match key.cipher().encrypt(
        Nonce::from_slice(&nonce),
        Payload {
            msg: plaintext,
            aad,
        },
    ) {
        Ok(ciphertext) => out.extend_from_slice(&ciphertext),
        Err(_) => unreachable!("AES-GCM encryption of a bounded value"),
    }
    out
}

pub fn open(key: &Key, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenFailed> {
    if sealed.len() < NONCE_BYTES {
        return Err(OpenFailed);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
    key.cipher()
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| OpenFailed)
}

/// A value sealed under a fresh data key, and that key wrapped.
pub struct Envelope {
    pub wrapped_key: Vec<u8>,
    pub sealed_value: Vec<u8>,
}

pub fn seal_envelope(master: &Key, aad: &[u8], value: &[u8]) -> Envelope {
    let data_key = Key::random();
    Envelope {
        wrapped_key: seal(master, aad, data_key.bytes()),
        sealed_value: seal(&data_key, aad, value),
    }
}

pub fn open_envelope(
    master: &Key,
    aad: &[u8],
    envelope: &Envelope,
) -> Result<Zeroizing<Vec<u8>>, OpenFailed> {
    let raw = open(master, aad, &envelope.wrapped_key)?;
    let bytes: [u8; KEY_BYTES] = raw.as_slice().try_into().map_err(|_| OpenFailed)?;
    open(&Key::from_bytes(bytes), aad, &envelope.sealed_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_and_binds_its_row() {
        let master = Key::random();
        let e = seal_envelope(&master, b"nb-1/API_KEY", b"sk-live-123456789");
        assert_eq!(
            open_envelope(&master, b"nb-1/API_KEY", &e)
                .unwrap()
                .as_slice(),
            b"sk-live-123456789"
        );
        assert_eq!(
            open_envelope(&master, b"nb-2/API_KEY", &e).err(),
            Some(OpenFailed)
        );
        assert_eq!(
            open_envelope(&Key::random(), b"nb-1/API_KEY", &e).err(),
            Some(OpenFailed)
        );
        assert!(!e.sealed_value.windows(8).any(|w| w == b"sk-live-"));
    }

    #[test]
    fn tampering_is_detected() {
        let master = Key::random();
        let mut e = seal_envelope(&master, b"a", b"value-value");
        let last = e.sealed_value.len() - 1;
        e.sealed_value[last] ^= 1;
        assert_eq!(open_envelope(&master, b"a", &e).err(), Some(OpenFailed));
        assert_eq!(open(&master, b"a", &[1, 2, 3]).err(), Some(OpenFailed));
    }
}
