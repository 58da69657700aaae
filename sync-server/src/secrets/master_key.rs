//! Where the master key comes from: a key file or a passphrase, never the
//! database. A database backup alone therefore decrypts nothing; the key
//! file (or passphrase) must be kept, and backed up, separately.

use super::crypto::{Key, KEY_BYTES};
use crate::error::{Result, ServerError};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

#[derive(Clone)]
pub enum MasterKeySource {
    /// 64 hex characters in a file; created (mode 0600) if missing.
    KeyFile(PathBuf),
    /// Stretched with Argon2id and the salt kept in the keyring row.
    Passphrase(Zeroizing<String>),
}

impl std::fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasterKeySource::KeyFile(path) => f.debug_tuple("KeyFile").field(path).finish(),
            MasterKeySource::Passphrase(_) => f.write_str("Passphrase(..)"),
        }
    }
}

impl MasterKeySource {
    pub fn derive(&self, salt: &[u8]) -> Result<Key> {
        match self {
            MasterKeySource::KeyFile(path) => key_file(path),
            MasterKeySource::Passphrase(passphrase) => {
                if passphrase.chars().count() < 12 {
                    return Err(ServerError::Config(
                        "the secrets passphrase must be at least 12 characters".into(),
                    ));
                }
                let mut out = [0u8; KEY_BYTES];
                argon2::Argon2::default()
                    .hash_password_into(passphrase.as_bytes(), salt, &mut out)
                    .map_err(|e| ServerError::Config(format!("deriving the secrets key: {e}")))?;
                Ok(Key::from_bytes(out))
            }
        }
    }
}

fn key_file(path: &Path) -> Result<Key> {
    if !path.exists() {
        let key = Key::random();
        crate::app::write_private(path, &hex::encode(key.bytes()))?;
        tracing::info!(path = %path.display(), "created a new secrets master key file; back it up apart from the database");
        return Ok(key);
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        ServerError::Config(format!(
            "reading the secrets key file {}: {e}",
            path.display()
        ))
    })?);
    let mut bytes = [0u8; KEY_BYTES];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| {
        ServerError::Config(format!(
            "the secrets key file {} must hold {} hex characters",
            path.display(),
            KEY_BYTES * 2
        ))
    })?;
    Ok(Key::from_bytes(bytes))
}
