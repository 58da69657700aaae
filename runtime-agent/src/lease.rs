//! Claiming, renewing and losing the notebook's lease.

use crate::config::Config;
use crate::error::Result;
use cathode_client::NotebookClient;
use schema::{ExecutionState, SessionId, SessionStatus};

/// Take the lease and settle what a previous agent left: an execution that
/// was running when its agent died is marked lost (never run again);
/// queued ones stay queued and this agent runs them.
pub async fn claim(client: &NotebookClient, config: &Config, session: &SessionId) -> Result<()> {
    let (s, agent, kernel, ttl) = (
        session.clone(),
        config.agent_name.clone(),
        config.kernel.clone(),
        config.lease_ttl.as_millis() as i64,
    );
    let lost = client
        .edit_runtime(move |rt| {
            let now = schema::clock::now_ms();
            let claim = rt.claim_lease(&s, &agent, &kernel, now, ttl)?;
            if let Some(old) = &claim.displaced {
                tracing::info!(displaced = %old.session_id, "took the lease over");
            }
            let mut lost = 0;
            for x in rt.executions()? {
                if x.state == ExecutionState::Running {
                    rt.finish_execution(&x.execution_id, ExecutionState::Lost, now)?;
                    lost += 1;
                }
            }
            Ok::<_, schema::SchemaError>(lost)
        })
        .await??;
    if lost > 0 {
        tracing::warn!(
            lost,
            "executions left running by a previous agent marked lost"
        );
    }
    Ok(())
}

/// Whether this session still holds the lease, as the document says now.
pub async fn still_held(client: &NotebookClient, session: &SessionId) -> Result<bool> {
    let s = session.clone();
    Ok(client
        .runtime(move |rt| {
            rt.lease()
                .map(|l| l.map(|l| l.session_id == s).unwrap_or(false))
        })
        .await??)
}

/// Renew; `false` when another agent has taken the lease.
pub async fn renew(client: &NotebookClient, config: &Config, session: &SessionId) -> Result<bool> {
    let s = session.clone();
    let ttl = config.lease_ttl.as_millis() as i64;
    match client
        .edit_runtime(move |rt| rt.renew_lease(&s, schema::clock::now_ms(), ttl))
        .await?
    {
        Ok(_) => Ok(true),
        Err(schema::SchemaError::NotLeaseHolder(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub async fn set_status(
    client: &NotebookClient,
    session: &SessionId,
    status: SessionStatus,
) -> Result<()> {
    let s = session.clone();
    client
        .edit_runtime(move |rt| rt.set_session_status(&s, status))
        .await??;
    Ok(())
}
