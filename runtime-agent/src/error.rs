use thiserror::Error;

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("the server refused the token: {0}")]
    BadToken(String),
    #[error("notebook {0} does not exist, or the token is not for it")]
    UnknownNotebook(String),
    #[error("the token is a {0} token; the runtime agent needs a runtime token for the notebook (POST /api/notebooks/ID/runtime-tokens)")]
    NotARuntimeToken(String),
    #[error("unknown kernel {name:?}; available: {available}")]
    UnknownKernel { name: String, available: String },
    #[error("the working directory {0} is not a directory the agent can use: {1}")]
    Workdir(String, String),
    #[error("AI: {0}")]
    Ai(String),
    #[error("a sealed password answer could not be opened: {0}")]
    SealedAnswer(&'static str),
    #[error("could not fetch the notebook's secrets: {0}")]
    Secrets(String),
    #[error("kernel: {0}")]
    Kernel(#[from] kernels::KernelError),
    #[error("client: {0}")]
    Client(#[from] cathode_client::ClientError),
    #[error("document: {0}")]
    Schema(#[from] schema::SchemaError),
}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;
