//! Tokens and roles.
//!
//! Tokens are 256 random bits shown once and stored only as a SHA-256 hash.
//! A connection is authenticated once at hello and its role is then checked
//! on every message it sends (see `room`).

use crate::error::Result;
use crate::store::{Store, TokenRecord, TokenScope, UserRecord};
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

/// Who is asking.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: UserRecord,
    pub scope: TokenScope,
}

impl From<TokenRecord> for Principal {
    fn from(t: TokenRecord) -> Self {
        Self {
            user: t.user,
            scope: t.scope,
        }
    }
}

pub async fn authenticate(store: &dyn Store, token: &str) -> Result<Option<Principal>> {
    if token.is_empty() {
        return Ok(None);
    }
    Ok(store
        .resolve_token(&hash_token(token))
        .await?
        .map(Principal::from))
}

/// The principal's role in a notebook, or `None` for no access at all.
/// Server admins own every notebook; a runtime token has the runtime role in
/// its one notebook and nothing anywhere else.
pub async fn role_in(
    store: &dyn Store,
    principal: &Principal,
    notebook_id: &str,
) -> Result<Option<Role>> {
    match &principal.scope {
        TokenScope::Runtime {
            notebook_id: scoped,
        } => Ok((scoped == notebook_id).then_some(Role::Runtime)),
        TokenScope::User if principal.user.is_admin => Ok(Some(Role::Owner)),
        TokenScope::User => store.grant(notebook_id, &principal.user.id).await,
    }
}

/// Issue a token for a user (or a runtime scope) and return it in clear, once.
pub async fn issue_token(store: &dyn Store, user_id: &str, scope: &TokenScope) -> Result<String> {
    let token = new_token();
    store
        .insert_token(&hash_token(&token), user_id, scope)
        .await?;
    Ok(token)
}
