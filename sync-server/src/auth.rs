//! Tokens and roles.
//!
//! Tokens are 256 random bits shown once and stored only as a SHA-256 hash.
//! A connection is authenticated once at hello and its role is then checked
//! on every message it sends (see `room`).

use crate::error::Result;
use crate::store::{MintedAs, NewToken, Store, TokenRecord, TokenScope, UserRecord};
use rand::RngCore;
use schema::wire::Role;
use sha2::{Digest, Sha256};

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("cth_{}", hex::encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Who is asking, and with which token.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: UserRecord,
    pub scope: TokenScope,
    pub token_id: String,
    /// The stored hash: how rooms find this token's open connections.
    pub token_hash: String,
    pub minted_as: Option<MintedAs>,
    pub expires_at_ms: Option<i64>,
}

impl Principal {
    fn new(t: TokenRecord, token_hash: String) -> Self {
        Self {
            user: t.user,
            scope: t.scope,
            token_id: t.id,
            token_hash,
            minted_as: t.minted_as,
            expires_at_ms: t.expires_at_ms,
        }
    }
}

pub async fn authenticate(store: &dyn Store, token: &str) -> Result<Option<Principal>> {
    if token.is_empty() {
        return Ok(None);
    }
    authenticate_hash(store, &hash_token(token)).await
}

/// As [`authenticate`], from the stored hash (rooms re-check open
/// connections this way when tokens or grants change).
pub async fn authenticate_hash(store: &dyn Store, token_hash: &str) -> Result<Option<Principal>> {
    Ok(store
        .resolve_token(token_hash, schema::clock::now_ms())
        .await?
        .map(|t| Principal::new(t, token_hash.to_owned())))
}

/// The principal's role in a notebook, or `None` for no access at all.
/// Server admins own every notebook. A runtime token has the runtime role
/// in its one notebook, and only while whoever minted it still holds the
/// role they minted it with: demoting an editor retires the runtime tokens
/// they minted.
pub async fn role_in(
    store: &dyn Store,
    principal: &Principal,
    notebook_id: &str,
) -> Result<Option<Role>> {
    match &principal.scope {
        TokenScope::Runtime {
            notebook_id: scoped,
        } => {
            if scoped != notebook_id {
                return Ok(None);
            }
            let issuer_role = if principal.user.is_admin {
                Some(Role::Owner)
            } else {
                store.grant(notebook_id, &principal.user.id).await?
            };
            let still_held = match principal.minted_as.unwrap_or(MintedAs::Editor) {
                MintedAs::Server => true,
                MintedAs::Owner => issuer_role == Some(Role::Owner),
                MintedAs::Editor => matches!(issuer_role, Some(Role::Owner | Role::Editor)),
            };
            Ok(still_held.then_some(Role::Runtime))
        }
        TokenScope::User if principal.user.is_admin => Ok(Some(Role::Owner)),
        TokenScope::User => store.grant(notebook_id, &principal.user.id).await,
    }
}

/// Whether this principal may read a notebook's secret values: a valid
/// runtime token of that notebook minted by an owner or by the server.
pub async fn may_read_secrets(
    store: &dyn Store,
    principal: &Principal,
    notebook_id: &str,
) -> Result<bool> {
    Ok(
        role_in(store, principal, notebook_id).await? == Some(Role::Runtime)
            && matches!(
                principal.minted_as,
                Some(MintedAs::Owner | MintedAs::Server)
            ),
    )
}

/// Issue a token and return it in clear, once, with its id.
pub async fn issue_token(store: &dyn Store, token: &NewToken<'_>) -> Result<(String, String)> {
    let secret = new_token();
    let id = store.insert_token(&hash_token(&secret), token).await?;
    Ok((secret, id))
}
