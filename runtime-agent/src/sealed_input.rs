//! Password answers that never sit readable in a document.
//!
//! An `input()` answer travels through the notebook document (editors
//! cannot write the runtime's), and a document keeps every change for
//! good and reaches every reader, viewers included. For `getpass()` the
//! agent therefore offers a one-time P-256 key with the prompt; the
//! browser seals the password to it (`schema::SealedAnswer`), and only
//! this process, holding the private key in memory for that one prompt,
//! can open it. Once the agent has read it (or died) the key is gone, so
//! the ciphertext left in history opens for no one.

use crate::error::{AgentError, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};
use ring::hkdf::{Salt, HKDF_SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use schema::{sealed_answer_info, ExecutionId, SealedAnswer};
use zeroize::Zeroizing;

/// The private half of one prompt's key.
pub struct InputSealer {
    key: EphemeralPrivateKey,
    public: String,
}

impl InputSealer {
    pub fn new() -> Result<Self> {
        let rng = SystemRandom::new();
        let key = EphemeralPrivateKey::generate(&ECDH_P256, &rng)
            .map_err(|_| AgentError::SealedAnswer("no key could be generated"))?;
        let public = key
            .compute_public_key()
            .map_err(|_| AgentError::SealedAnswer("no public key"))?;
        Ok(Self {
            public: B64.encode(public.as_ref()),
            key,
        })
    }

    /// The key offered with the prompt (SEC1 uncompressed, base64).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// Open the answer to prompt `seq` of `execution`. Consumes the key:
    /// it opens one answer, once.
    pub fn open(
        self,
        execution: &ExecutionId,
        seq: u32,
        sealed: &SealedAnswer,
    ) -> Result<Zeroizing<String>> {
        let decode =
            |what: &'static str, s: &str| B64.decode(s).map_err(|_| AgentError::SealedAnswer(what));
        let peer = decode("the answer's key is not base64", &sealed.ephemeral_key)?;
        let nonce = decode("the nonce is not base64", &sealed.nonce)?;
        let mut data = Zeroizing::new(decode("the ciphertext is not base64", &sealed.ciphertext)?);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| AgentError::SealedAnswer("the nonce is not 12 bytes"))?;
        let info = sealed_answer_info(execution, seq);
        let key = agree_ephemeral(
            self.key,
            &UnparsedPublicKey::new(&ECDH_P256, &peer),
            |shared| answer_key(shared, &info),
        )
        .map_err(|_| AgentError::SealedAnswer("the answer's key is not a P-256 point"))??;
        let plain = key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .map_err(|_| AgentError::SealedAnswer("it was not sealed to this prompt's key"))?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| AgentError::SealedAnswer("the password is not UTF-8"))
    }
}

/// HKDF-SHA256 (empty salt, `info`) of the shared secret to an
/// AES-256-GCM key: what WebCrypto's `deriveKey` with HKDF gives the page.
fn answer_key(shared: &[u8], info: &str) -> Result<LessSafeKey> {
    let info = [info.as_bytes()];
    let prk = Salt::new(HKDF_SHA256, &[]).extract(shared);
    let okm = prk
        .expand(&info, &AES_256_GCM)
        .map_err(|_| AgentError::SealedAnswer("key derivation failed"))?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

/// Seal `plain` to a prompt's key `public` (what the browser does with
/// WebCrypto; `cathode-run --stdin` answers a password so).
pub fn seal(public: &str, execution: &ExecutionId, seq: u32, plain: &str) -> Result<SealedAnswer> {
    let rng = SystemRandom::new();
    let mine = EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(fail("no key"))?;
    let my_public = mine.compute_public_key().map_err(fail("no public key"))?;
    let peer = B64
        .decode(public)
        .map_err(fail("the prompt's key is not base64"))?;
    let info = sealed_answer_info(execution, seq);
    let key = agree_ephemeral(mine, &UnparsedPublicKey::new(&ECDH_P256, &peer), |s| {
        answer_key(s, &info)
    })
    .map_err(fail("the prompt's key is not a P-256 point"))??;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(fail("no nonce"))?;
    let mut data = plain.as_bytes().to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .map_err(fail("sealing failed"))?;
    Ok(SealedAnswer {
        ephemeral_key: B64.encode(my_public.as_ref()),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(&data),
    })
}

fn fail<E>(what: &'static str) -> impl Fn(E) -> AgentError {
    move |_| AgentError::SealedAnswer(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_answer_opens_with_its_prompts_key_only() {
        let x = ExecutionId::random();
        let sealer = InputSealer::new().unwrap();
        let sealed = seal(sealer.public_key(), &x, 0, "hunter22").unwrap();
        assert!(!sealed.ciphertext.contains("hunter22"));
        assert_eq!(sealer.open(&x, 0, &sealed).unwrap().as_str(), "hunter22");

        // Another prompt's key, or the same key for another prompt, fails.
        let other = InputSealer::new().unwrap();
        assert!(other.open(&x, 0, &sealed).is_err());
        let sealer = InputSealer::new().unwrap();
        let sealed = seal(sealer.public_key(), &x, 0, "hunter22").unwrap();
        assert!(sealer.open(&x, 1, &sealed).is_err());
        let sealer = InputSealer::new().unwrap();
        let bad = SealedAnswer {
            nonce: "AAAA".into(),
            ..seal(sealer.public_key(), &x, 0, "pw").unwrap()
        };
        assert!(matches!(
            sealer.open(&x, 0, &bad),
            Err(AgentError::SealedAnswer(_))
        ));
    }
}
