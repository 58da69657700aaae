//! The sqlx implementation of [`Store`], for SQLite and Postgres alike.

use super::{
    ChangeRow, HistoryRow, MintedAs, NewToken, NotebookRecord, SealedSecretRow, Snapshot, Store,
    TokenRecord, TokenScope, UserRecord,
};
use crate::error::{Result, ServerError};
use async_trait::async_trait;
use schema::clock::now_ms;
use schema::wire::Role;
use schema::DocKind;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection, Executor, Row};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

pub struct SqlStore {
    pool: AnyPool,
}

impl SqlStore {
    /// Open (creating if need be) the database named by `url` and migrate it.
    /// SQLite runs in WAL mode with full fsync on commit: a change the server
    /// acknowledged survives a crash of the process or the machine.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres") {
            Dialect::Postgres
        } else if url.starts_with("sqlite") {
            Dialect::Sqlite
        } else {
            return Err(ServerError::Config(format!(
                "unsupported database url {url:?}: use sqlite://PATH or postgres://..."
            )));
        };
        let url = if dialect == Dialect::Sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
        } else {
            url.to_owned()
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Self { pool })
    }
}

fn role_from_db(s: &str) -> Option<Role> {
    Role::parse(s).filter(|r| *r != Role::Runtime)
}

fn user_from_row(row: &AnyRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
    })
}

fn notebook_from_row(row: &AnyRow) -> Result<NotebookRecord> {
    Ok(NotebookRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_by: row.try_get("created_by")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

fn change_from_row(row: &AnyRow) -> Result<ChangeRow> {
    let doc: String = row.try_get("doc")?;
    Ok(ChangeRow {
        notebook_id: row.try_get("notebook_id")?,
        doc: match doc.as_str() {
            "notebook" => DocKind::Notebook,
            "runtime" => DocKind::Runtime,
            other => {
                return Err(ServerError::CorruptChange(format!(
                    "unknown document {other}"
                )))
            }
        },
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
        actor: row.try_get("actor")?,
        author: row.try_get("author")?,
        event_type: row.try_get("event_type")?,
        bytes: row.try_get("bytes")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

/// The columns of a token and its user; a macro so that each query built
/// on it is still one literal.
macro_rules! token_select {
    ($where:literal) => {
        concat!(
            "SELECT t.token_hash AS token_hash, t.kind AS kind, ",
            "t.notebook_id AS notebook_id, t.id AS token_id, t.issued_by AS issued_by, ",
            "t.minted_role AS minted_role, t.created_at AS token_created_at, ",
            "t.expires_at AS expires_at, t.label AS label, u.id AS id, u.name AS name, ",
            "u.is_admin AS is_admin FROM tokens t JOIN users u ON u.id = t.user_id ",
            $where
        )
    };
}

/// A token row; `None` for a row whose kind this binary does not know.
fn token_from_row(row: &AnyRow) -> Result<Option<TokenRecord>> {
    let kind: String = row.try_get("kind")?;
    let notebook: Option<String> = row.try_get("notebook_id")?;
    let scope = match (kind.as_str(), notebook) {
        ("runtime", Some(notebook_id)) => TokenScope::Runtime { notebook_id },
        ("user", _) => TokenScope::User,
        _ => return Ok(None),
    };
    let minted: Option<String> = row.try_get("minted_role")?;
    let user = user_from_row(row)?;
    Ok(Some(TokenRecord {
        id: row.try_get("token_id")?,
        issued_by: row
            .try_get::<Option<String>, _>("issued_by")?
            .unwrap_or_else(|| user.id.clone()),
        user,
        scope,
        minted_as: minted.as_deref().and_then(MintedAs::parse),
        created_at_ms: row.try_get("token_created_at")?,
        expires_at_ms: row.try_get("expires_at")?,
        label: row.try_get("label")?,
    }))
}

const INSERT_CHANGE: &str = "INSERT INTO changes \
    (notebook_id, doc, seq, hash, actor, author, event_type, bytes, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

async fn insert_changes(conn: &mut sqlx::AnyConnection, rows: &[ChangeRow]) -> Result<()> {
    for row in rows {
        sqlx::query(INSERT_CHANGE)
            .bind(&row.notebook_id)
            .bind(row.doc.as_str())
            .bind(row.seq)
            .bind(&row.hash)
            .bind(&row.actor)
            .bind(&row.author)
            .bind(&row.event_type)
            .bind(&row.bytes)
            .bind(row.created_at_ms)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    async fn user_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn create_user(&self, name: &str, is_admin: bool) -> Result<UserRecord> {
        let id = format!("u-{}", uuid::Uuid::new_v4().simple());
        sqlx::query("INSERT INTO users (id, name, is_admin, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(name)
            .bind(i64::from(is_admin))
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(UserRecord {
            id,
            name: name.to_owned(),
            is_admin,
        })
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT id, name, is_admin FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn insert_token(&self, token_hash: &str, token: &NewToken<'_>) -> Result<String> {
        let (kind, notebook) = match token.scope {
            TokenScope::User => ("user", None),
            TokenScope::Runtime { notebook_id } => ("runtime", Some(notebook_id.as_str())),
        };
        let id = format!("tok-{}", uuid::Uuid::new_v4().simple());
        sqlx::query(
            "INSERT INTO tokens (token_hash, kind, user_id, notebook_id, created_at, id, \
             issued_by, minted_role, expires_at, label) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(token_hash)
        .bind(kind)
        .bind(token.user_id)
        .bind(notebook)
        .bind(now_ms())
        .bind(&id)
        .bind(token.issued_by)
        .bind(token.minted_as.map(MintedAs::as_str))
        .bind(token.expires_at_ms)
        .bind(token.label)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    async fn resolve_token(&self, token_hash: &str, now_ms: i64) -> Result<Option<TokenRecord>> {
        let sql = token_select!(
            "WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)"
        );
        let row = sqlx::query(sql)
            .bind(token_hash)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(token_from_row).transpose()?.flatten())
    }

    async fn tokens_of_user(&self, user_id: &str) -> Result<Vec<TokenRecord>> {
        let sql = token_select!("WHERE t.user_id = $1 ORDER BY t.created_at DESC, t.id");
        let rows = sqlx::query(sql).bind(user_id).fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for row in &rows {
            if let Some(t) = token_from_row(row)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    async fn token_by_id(&self, id: &str) -> Result<Option<(TokenRecord, String)>> {
        let sql = token_select!("WHERE t.id = $1");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let hash: String = row.try_get("token_hash")?;
        Ok(token_from_row(&row)?.map(|t| (t, hash)))
    }

    async fn delete_token(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tokens WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_server_minted_tokens(&self) -> Result<u64> {
        let done = sqlx::query("DELETE FROM tokens WHERE minted_role = $1")
            .bind(MintedAs::Server.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn create_notebook(&self, record: &NotebookRecord, initial: &[ChangeRow]) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO notebooks (id, name, created_by, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&record.id)
        .bind(&record.name)
        .bind(&record.created_by)
        .bind(record.created_at_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO grants (notebook_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(&record.id)
            .bind(&record.created_by)
            .bind(Role::Owner.as_str())
            .execute(&mut *tx)
            .await?;
        insert_changes(&mut tx, initial).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn notebook(&self, id: &str) -> Result<Option<NotebookRecord>> {
        let row =
            sqlx::query("SELECT id, name, created_by, created_at FROM notebooks WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(notebook_from_row).transpose()
    }

    async fn rename_notebook(&self, id: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE notebooks SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn notebooks_for_user(
        &self,
        user_id: &str,
        all: bool,
    ) -> Result<Vec<(NotebookRecord, Option<Role>)>> {
        let sql = if all {
            "SELECT n.id AS id, n.name AS name, n.created_by AS created_by, n.created_at AS created_at, \
             g.role AS role FROM notebooks n LEFT JOIN grants g ON g.notebook_id = n.id AND g.user_id = $1 \
             ORDER BY n.created_at, n.id"
        } else {
            "SELECT n.id AS id, n.name AS name, n.created_by AS created_by, n.created_at AS created_at, \
             g.role AS role FROM notebooks n JOIN grants g ON g.notebook_id = n.id AND g.user_id = $1 \
             ORDER BY n.created_at, n.id"
        };
        let rows = sqlx::query(sql).bind(user_id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let role: Option<String> = row.try_get("role")?;
                Ok((
                    notebook_from_row(row)?,
                    role.as_deref().and_then(role_from_db),
                ))
            })
            .collect()
    }

    async fn set_grant(&self, notebook_id: &str, user_id: &str, role: Role) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query("DELETE FROM grants WHERE notebook_id = $1 AND user_id = $2")
            .bind(notebook_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO grants (notebook_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(notebook_id)
            .bind(user_id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn grant(&self, notebook_id: &str, user_id: &str) -> Result<Option<Role>> {
        let row = sqlx::query("SELECT role FROM grants WHERE notebook_id = $1 AND user_id = $2")
            .bind(notebook_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => role_from_db(&row.try_get::<String, _>("role")?),
            None => None,
        })
    }

    async fn append_changes(&self, rows: &[ChangeRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        insert_changes(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn changes_after(
        &self,
        notebook_id: &str,
        doc: DocKind,
        after_seq: i64,
    ) -> Result<Vec<ChangeRow>> {
        let rows = sqlx::query(
            "SELECT notebook_id, doc, seq, hash, actor, author, event_type, bytes, created_at \
             FROM changes WHERE notebook_id = $1 AND doc = $2 AND seq > $3 ORDER BY seq",
        )
        .bind(notebook_id)
        .bind(doc.as_str())
        .bind(after_seq)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(change_from_row).collect()
    }

    async fn history_rows(
        &self,
        notebook_id: &str,
        doc: DocKind,
        before: i64,
        limit: i64,
    ) -> Result<Vec<HistoryRow>> {
        super::history::history_rows(&self.pool, notebook_id, doc, before, limit).await
    }

    async fn change_bytes_between(
        &self,
        notebook_id: &str,
        doc: DocKind,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        super::history::change_bytes_between(&self.pool, notebook_id, doc, from, to).await
    }

    async fn put_change_details(
        &self,
        notebook_id: &str,
        doc: DocKind,
        details: &[(i64, String)],
    ) -> Result<()> {
        super::history::put_change_details(&self.pool, notebook_id, doc, details).await
    }

    async fn last_seq_at(&self, notebook_id: &str, doc: DocKind, at_ms: i64) -> Result<i64> {
        super::history::last_seq_at(&self.pool, notebook_id, doc, at_ms).await
    }

    async fn latest_snapshot(&self, notebook_id: &str, doc: DocKind) -> Result<Option<Snapshot>> {
        let row = sqlx::query(
            "SELECT upto_seq, bytes FROM snapshots WHERE notebook_id = $1 AND doc = $2 \
             ORDER BY upto_seq DESC LIMIT 1",
        )
        .bind(notebook_id)
        .bind(doc.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => Some(Snapshot {
                upto_seq: row.try_get("upto_seq")?,
                bytes: row.try_get("bytes")?,
            }),
            None => None,
        })
    }

    async fn put_snapshot(
        &self,
        notebook_id: &str,
        doc: DocKind,
        snapshot: &Snapshot,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO snapshots (notebook_id, doc, upto_seq, bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(notebook_id)
        .bind(doc.as_str())
        .bind(snapshot.upto_seq)
        .bind(&snapshot.bytes)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        // Older snapshots are redundant (the event log itself is never pruned).
        sqlx::query("DELETE FROM snapshots WHERE notebook_id = $1 AND doc = $2 AND upto_seq < $3")
            .bind(notebook_id)
            .bind(doc.as_str())
            .bind(snapshot.upto_seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_blob(&self, notebook_id: &str, sha256: &str, bytes: &[u8]) -> Result<()> {
        // Writes only, no read first: in SQLite's WAL mode a transaction
        // that reads and then writes cannot wait for a concurrent writer
        // (the event log's group commit) and fails with SQLITE_BUSY at once;
        // one that starts by writing waits its turn under busy_timeout.
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO blobs (sha256, bytes, size, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(bytes)
        .bind(bytes.len() as i64)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO blob_refs (notebook_id, sha256) VALUES ($1, $2)
             ON CONFLICT (notebook_id, sha256) DO NOTHING",
        )
        .bind(notebook_id)
        .bind(sha256)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT bytes FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("bytes")?),
            None => None,
        })
    }

    async fn blob_notebooks(&self, sha256: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT notebook_id FROM blob_refs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("notebook_id")?))
            .collect()
    }

    async fn secrets_keyring(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let row = sqlx::query("SELECT kdf_salt, key_check FROM secrets_keyring WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("kdf_salt")?, r.try_get("key_check")?)))
            .transpose()
    }

    async fn init_secrets_keyring(&self, kdf_salt: &[u8], key_check: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO secrets_keyring (id, kdf_salt, key_check) VALUES (1, $1, $2)")
            .bind(kdf_salt)
            .bind(key_check)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn put_secret(&self, row: &SealedSecretRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO secrets (notebook_id, name, wrapped_key, sealed_value, updated_by, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (notebook_id, name) DO UPDATE SET
               wrapped_key = excluded.wrapped_key, sealed_value = excluded.sealed_value,
               updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(&row.notebook_id)
        .bind(&row.name)
        .bind(&row.wrapped_key)
        .bind(&row.sealed_value)
        .bind(&row.updated_by)
        .bind(row.updated_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn sealed_secrets(&self, notebook_id: &str) -> Result<Vec<SealedSecretRow>> {
        let rows = sqlx::query(
            "SELECT name, wrapped_key, sealed_value, updated_by, updated_at
             FROM secrets WHERE notebook_id = $1 ORDER BY name",
        )
        .bind(notebook_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SealedSecretRow {
                    notebook_id: notebook_id.to_owned(),
                    name: r.try_get("name")?,
                    wrapped_key: r.try_get("wrapped_key")?,
                    sealed_value: r.try_get("sealed_value")?,
                    updated_by: r.try_get("updated_by")?,
                    updated_at_ms: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    async fn delete_secret(&self, notebook_id: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM secrets WHERE notebook_id = $1 AND name = $2")
            .bind(notebook_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
