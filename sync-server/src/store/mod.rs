//! Persistence behind one trait: users and roles, the append-only event log,
//! snapshots and blobs. [`sql::SqlStore`] implements it for both SQLite and
//! Postgres through sqlx's `Any` driver, so the two can never drift apart in
//! behaviour; only the migrations differ by dialect.

mod history;
mod sql;

pub use sql::SqlStore;

use crate::error::Result;
use async_trait::async_trait;
use schema::wire::Role;
use schema::DocKind;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    pub is_admin: bool,
}

/// What a token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenScope {
    User,
    /// A runtime agent's token: writes the runtime document of one notebook.
    Runtime {
        notebook_id: String,
    },
}

/// The role a runtime token's issuer held when minting it. The token works
/// only while the issuer still holds that role (or a higher one), and only
/// an owner's or the server's token reads secret values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MintedAs {
    Owner,
    Editor,
    /// Minted by the server for an agent it starts itself.
    Server,
}

impl MintedAs {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Editor => "editor",
            Self::Server => "server",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "owner" => Self::Owner,
            "editor" => Self::Editor,
            "server" => Self::Server,
            _ => return None,
        })
    }
}

/// A token to store (its secret is only ever held as a hash).
#[derive(Clone, Debug)]
pub struct NewToken<'a> {
    /// Whom the token acts as.
    pub user_id: &'a str,
    /// Who minted it: a user id, or `server`.
    pub issued_by: &'a str,
    pub scope: &'a TokenScope,
    pub minted_as: Option<MintedAs>,
    pub expires_at_ms: Option<i64>,
    pub label: Option<&'a str>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub user: UserRecord,
    pub scope: TokenScope,
    pub issued_by: String,
    pub minted_as: Option<MintedAs>,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub label: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NotebookRecord {
    pub id: String,
    pub name: String,
    pub created_by: String,
    pub created_at_ms: i64,
}

/// One accepted change, as the event log stores it.
#[derive(Clone, Debug)]
pub struct ChangeRow {
    pub notebook_id: String,
    pub doc: DocKind,
    pub seq: i64,
    pub hash: String,
    pub actor: String,
    /// The authenticated user whose connection delivered the change.
    pub author: String,
    pub event_type: String,
    pub bytes: Vec<u8>,
    pub created_at_ms: i64,
}

/// One change as the history view reads it: no bytes. `detail` is `None`
/// until the history reader has read the change's message once.
#[derive(Clone, Debug)]
pub struct HistoryRow {
    pub seq: i64,
    pub author: String,
    pub event_type: String,
    pub created_at_ms: i64,
    /// JSON of `history::ChangeDetail`.
    pub detail: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Snapshot {
    pub upto_seq: i64,
    pub bytes: Vec<u8>,
}

/// A secret as stored: ciphertext only (see `secrets::crypto`).
#[derive(Clone, Debug)]
pub struct SealedSecretRow {
    pub notebook_id: String,
    pub name: String,
    pub wrapped_key: Vec<u8>,
    pub sealed_value: Vec<u8>,
    pub updated_by: String,
    pub updated_at_ms: i64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn user_count(&self) -> Result<i64>;
    async fn create_user(&self, name: &str, is_admin: bool) -> Result<UserRecord>;
    async fn user(&self, id: &str) -> Result<Option<UserRecord>>;
    /// Store a token's hash and what it stands for; returns the token's id.
    async fn insert_token(&self, token_hash: &str, token: &NewToken<'_>) -> Result<String>;
    /// The token with this hash, unless it expired before `now_ms`.
    async fn resolve_token(&self, token_hash: &str, now_ms: i64) -> Result<Option<TokenRecord>>;
    /// Tokens acting as this user, expired ones included, newest first.
    async fn tokens_of_user(&self, user_id: &str) -> Result<Vec<TokenRecord>>;
    /// A token by id, with its hash (to find its open connections).
    async fn token_by_id(&self, id: &str) -> Result<Option<(TokenRecord, String)>>;
    /// Whether there was such a token to delete.
    async fn delete_token(&self, id: &str) -> Result<bool>;
    /// Delete every token the server minted for its own agents; returns
    /// how many. A starting server calls it: the agents of a server that
    /// died hold such tokens, and none of them may keep a lease.
    async fn delete_server_minted_tokens(&self) -> Result<u64>;

    /// Create a notebook, its owner grant and the first change of each
    /// document, in one transaction.
    async fn create_notebook(&self, record: &NotebookRecord, initial: &[ChangeRow]) -> Result<()>;
    async fn notebook(&self, id: &str) -> Result<Option<NotebookRecord>>;
    /// Give a notebook a new name; false when there is no such notebook.
    async fn rename_notebook(&self, id: &str, name: &str) -> Result<bool>;
    async fn notebooks_for_user(
        &self,
        user_id: &str,
        all: bool,
    ) -> Result<Vec<(NotebookRecord, Option<Role>)>>;
    async fn set_grant(&self, notebook_id: &str, user_id: &str, role: Role) -> Result<()>;
    async fn grant(&self, notebook_id: &str, user_id: &str) -> Result<Option<Role>>;

    /// Append changes in one transaction: all are durable or none are.
    async fn append_changes(&self, rows: &[ChangeRow]) -> Result<()>;
    async fn changes_after(
        &self,
        notebook_id: &str,
        doc: DocKind,
        after_seq: i64,
    ) -> Result<Vec<ChangeRow>>;
    /// Up to `limit` changes with `seq < before`, newest first, without
    /// their bytes (`history/`).
    async fn history_rows(
        &self,
        notebook_id: &str,
        doc: DocKind,
        before: i64,
        limit: i64,
    ) -> Result<Vec<HistoryRow>>;
    /// The bytes of the changes with `from <= seq <= to`, by seq.
    async fn change_bytes_between(
        &self,
        notebook_id: &str,
        doc: DocKind,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>>;
    /// Keep what the history reader read from changes' messages (a row
    /// already there is left as it is).
    async fn put_change_details(
        &self,
        notebook_id: &str,
        doc: DocKind,
        details: &[(i64, String)],
    ) -> Result<()>;
    /// The last change made at or before `at_ms` (0 when none).
    async fn last_seq_at(&self, notebook_id: &str, doc: DocKind, at_ms: i64) -> Result<i64>;
    async fn latest_snapshot(&self, notebook_id: &str, doc: DocKind) -> Result<Option<Snapshot>>;
    async fn put_snapshot(
        &self,
        notebook_id: &str,
        doc: DocKind,
        snapshot: &Snapshot,
    ) -> Result<()>;

    async fn put_blob(&self, notebook_id: &str, sha256: &str, bytes: &[u8]) -> Result<()>;
    async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>>;
    async fn blob_notebooks(&self, sha256: &str) -> Result<Vec<String>>;

    /// The KDF salt and the sealed check value, once secrets were first used.
    async fn secrets_keyring(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>>;
    async fn init_secrets_keyring(&self, kdf_salt: &[u8], key_check: &[u8]) -> Result<()>;
    /// Insert or replace one secret.
    async fn put_secret(&self, row: &SealedSecretRow) -> Result<()>;
    /// A notebook's secrets, by name.
    async fn sealed_secrets(&self, notebook_id: &str) -> Result<Vec<SealedSecretRow>>;
    /// Whether there was such a secret to delete.
    async fn delete_secret(&self, notebook_id: &str, name: &str) -> Result<bool>;

    async fn close(&self);
}
