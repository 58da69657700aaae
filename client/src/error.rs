use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("connecting to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the server refused the connection: {code:?}: {message}")]
    Refused {
        code: schema::wire::ErrorCode,
        message: String,
    },
    #[error("document: {0}")]
    Schema(#[from] schema::SchemaError),
    #[error("a {role} may not change the {doc} document")]
    ReadOnly {
        role: &'static str,
        doc: &'static str,
    },
    #[error("the client has stopped")]
    Stopped,
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
