//! Notebook secrets: set by an owner through the REST API, stored sealed
//! (see [`crypto`]), and opened only for that notebook's runtime agent,
//! which hands them to its kernel as environment variables and masks them
//! in everything it writes. No other client ever receives a value: the API
//! lists names only.

pub mod crypto;
pub mod master_key;
pub mod routes;

use crate::error::{Result, ServerError};
use crate::store::{SealedSecretRow, Store};
use crypto::{Envelope, Key};
pub use master_key::MasterKeySource;
use zeroize::Zeroizing;

/// Shorter values would be masked inside ordinary text (DESIGN.md).
pub const MIN_VALUE_CHARS: usize = 8;
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
const MAX_NAME_BYTES: usize = 128;
const KEYRING_AAD: &[u8] = b"cathode-secrets-keyring";
const KEYRING_CHECK: &[u8] = b"cathode secrets keyring v1";

/// Names the kernel's process needs for itself, and names that make a
/// shell or an interpreter run code or load libraries when merely present
/// in the environment: a secret must not set them.
const RESERVED_PREFIXES: &[&str] = &[
    "CATHODE_",
    "JPY_",
    "LD_",
    "DYLD_",
    "PYTHON",
    "MPL",
    "BASH_FUNC_",
    "PERL5",
    "PERLLIB",
    "RUBY",
    "NODE_",
    "JAVA_TOOL",
    "_JAVA_",
    "JDK_JAVA",
    "GCONV",
    "GIT_SSH",
    "GIT_EXEC",
    "GIT_CONFIG",
    "MALLOC_",
];
const RESERVED_NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "SHELL",
    "USER",
    "PWD",
    "BASH_ENV",
    "ENV",
    "PROMPT_COMMAND",
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "IFS",
    "SHELLOPTS",
    "BASHOPTS",
    "CDPATH",
    "GLOBIGNORE",
    "BROWSER",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "LESSOPEN",
    "LESSCLOSE",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "R_PROFILE",
    "R_PROFILE_USER",
    "R_ENVIRON",
    "R_ENVIRON_USER",
    "LOCPATH",
    "NLSPATH",
    "TZDIR",
    "HOSTALIASES",
    "RESOLV_HOST_CONF",
    "OPENSSL_CONF",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
];

/// The master key, if secrets are enabled on this server.
pub struct Vault {
    master: Option<Key>,
}

/// What anyone with access may know of a secret: never its value.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SecretInfo {
    pub name: String,
    pub updated_by: String,
    pub updated_at_ms: i64,
}

fn row_aad(notebook_id: &str, name: &str) -> Vec<u8> {
    format!("cathode-secret-v1\0{notebook_id}\0{name}").into_bytes()
}

pub fn validate_name(name: &str) -> std::result::Result<(), String> {
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= MAX_NAME_BYTES;
    if !valid {
        return Err(format!(
            "a secret's name is an environment variable name: a letter or _, then letters, digits or _, at most {MAX_NAME_BYTES} characters"
        ));
    }
    let upper = name.to_ascii_uppercase();
    if RESERVED_NAMES.contains(&upper.as_str())
        || RESERVED_PREFIXES.iter().any(|p| upper.starts_with(p))
    {
        return Err(format!(
            "{name} is reserved for the kernel's own environment; choose another name"
        ));
    }
    Ok(())
}

pub fn validate_value(value: &str) -> std::result::Result<(), String> {
    if value.chars().filter(|c| !c.is_whitespace()).count() < MIN_VALUE_CHARS {
        return Err(format!(
            "a secret's value must have at least {MIN_VALUE_CHARS} characters other than whitespace: shorter values cannot be masked without masking ordinary text"
        ));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "a secret's value must be at most {MAX_VALUE_BYTES} bytes"
        ));
    }
    if value.contains('\0') {
        return Err(
            "a secret's value cannot contain a NUL character (it becomes an environment variable)"
                .into(),
        );
    }
    Ok(())
}

impl Vault {
    /// Derive the master key and check it against the keyring row, writing
    /// that row on first use. `None` leaves secrets disabled.
    pub async fn open(store: &dyn Store, source: Option<&MasterKeySource>) -> Result<Vault> {
        let Some(source) = source else {
            return Ok(Vault { master: None });
        };
        let keyring = store.secrets_keyring().await?;
        let salt = match &keyring {
            Some((salt, _)) => salt.clone(),
            None => Key::random().bytes()[..16].to_vec(),
        };
        let master = source.derive(&salt)?;
        match keyring {
            Some((_, check)) => {
                let opened = crypto::open(&master, KEYRING_AAD, &check);
                if !matches!(opened, Ok(v) if v.as_slice() == KEYRING_CHECK) {
                    return Err(ServerError::Config(
                        "the secrets master key does not match the one this database's secrets were sealed with".into(),
                    ));
                }
            }
            None => {
                let check = crypto::seal(&master, KEYRING_AAD, KEYRING_CHECK);
                store.init_secrets_keyring(&salt, &check).await?;
            }
        }
        Ok(Vault {
            master: Some(master),
        })
    }

    fn master(&self) -> Result<&Key> {
        self.master.as_ref().ok_or(ServerError::SecretsDisabled)
    }

    pub fn enabled(&self) -> bool {
        self.master.is_some()
    }

    pub async fn put(
        &self,
        store: &dyn Store,
        notebook_id: &str,
        name: &str,
        value: &str,
        updated_by: &str,
    ) -> Result<()> {
        let master = self.master()?;
        validate_name(name).map_err(ServerError::InvalidSecret)?;
        validate_value(value).map_err(ServerError::InvalidSecret)?;
        let envelope = crypto::seal_envelope(master, &row_aad(notebook_id, name), value.as_bytes());
        store
            .put_secret(&SealedSecretRow {
                notebook_id: notebook_id.to_owned(),
                name: name.to_owned(),
                wrapped_key: envelope.wrapped_key,
                sealed_value: envelope.sealed_value,
                updated_by: updated_by.to_owned(),
                updated_at_ms: schema::clock::now_ms(),
            })
            .await
    }

    pub async fn list(&self, store: &dyn Store, notebook_id: &str) -> Result<Vec<SecretInfo>> {
        Ok(store
            .sealed_secrets(notebook_id)
            .await?
            .into_iter()
            .map(|row| SecretInfo {
                name: row.name,
                updated_by: row.updated_by,
                updated_at_ms: row.updated_at_ms,
            })
            .collect())
    }

    /// Every value of one notebook, for its runtime agent only.
    pub async fn reveal_all(
        &self,
        store: &dyn Store,
        notebook_id: &str,
    ) -> Result<Vec<(String, Zeroizing<String>)>> {
        let master = self.master()?;
        let mut out = Vec::new();
        for row in store.sealed_secrets(notebook_id).await? {
            let envelope = Envelope {
                wrapped_key: row.wrapped_key,
                sealed_value: row.sealed_value,
            };
            let bytes = crypto::open_envelope(master, &row_aad(notebook_id, &row.name), &envelope)
                .map_err(|_| ServerError::SecretUnreadable(row.name.clone()))?;
            let value = String::from_utf8(bytes.to_vec())
                .map_err(|_| ServerError::SecretUnreadable(row.name.clone()))?;
            out.push((row.name, Zeroizing::new(value)));
        }
        Ok(out)
    }
}
