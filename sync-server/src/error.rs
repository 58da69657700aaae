use thiserror::Error;

/// Everything the server can fail at.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("document: {0}")]
    Schema(#[from] schema::SchemaError),
    #[error("automerge: {0}")]
    Automerge(#[from] schema::automerge::AutomergeError),
    #[error("stored change is corrupt: {0}")]
    CorruptChange(String),
    #[error("the event log is unavailable: {0}")]
    EventLog(String),
    #[error("notebook {0} not found")]
    NotebookNotFound(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
    #[error("secrets are disabled: start the server with --secrets-key-file or CATHODE_SECRETS_PASSPHRASE")]
    SecretsDisabled,
    #[error("{0}")]
    InvalidSecret(String),
    /// A path into a notebook's folder refused as text (the message says why).
    #[error("{0}")]
    InvalidPath(String),
    #[error("secret {0} cannot be opened with the master key")]
    SecretUnreadable(String),
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;
