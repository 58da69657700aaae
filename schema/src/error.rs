use thiserror::Error;

/// Everything that can go wrong reading or writing a cathode document.
#[derive(Debug, Error)]
pub enum SchemaError {
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error(
        "this document was written by a newer cathode (schema version {found}); \
         this binary understands up to version {supported}: upgrade cathode to open it"
    )]
    NewerSchema { found: u64, supported: u64 },
    #[error("document is not initialised: it has no {0}; sync it from the server first")]
    NotInitialised(&'static str),
    #[error("document is a {found} document, expected a {expected} document")]
    WrongKind {
        found: String,
        expected: &'static str,
    },
    #[error("no cell with id {0}")]
    NoSuchCell(String),
    #[error(
        "cell id {0:?} is not a valid id (1 to 64 letters, digits, - or _) or is already taken"
    )]
    BadCellId(String),
    #[error("key {0:?} is longer than 256 bytes")]
    KeyTooLong(String),
    #[error("no execution with id {0}")]
    NoSuchExecution(String),
    #[error(
        "source edit out of range: cell {cell} has {len} characters, edit at {pos} deleting {del}"
    )]
    SpliceOutOfRange {
        cell: String,
        len: usize,
        pos: usize,
        del: usize,
    },
    #[error("field {field} holds an unexpected value")]
    Malformed { field: &'static str },
    #[error("invalid change hash {0:?}")]
    BadHeads(String),
    #[error("lease is held by session {holder} until {expires_at_ms}")]
    LeaseHeld { holder: String, expires_at_ms: i64 },
    #[error("session {0} does not hold the lease")]
    NotLeaseHolder(String),
    #[error("refused by the {doc} document's layout: {reason}")]
    Refused { doc: &'static str, reason: String },
    #[error("wire frame: {0}")]
    Frame(String),
}

pub type Result<T, E = SchemaError> = std::result::Result<T, E>;
