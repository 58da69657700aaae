//! Cells and runs as a test sees them: add a cell, ask for a run, wait (by
//! notification, never by sleeping) for its execution to reach a state.

use cathode_client::NotebookClient;
use schema::{
    CellId, CellType, ControlKind, ExecutionRecord, ExecutionState, OutputManifest, Placement,
    RequestId,
};
use std::time::Duration;

/// Long enough for a cold kernel on a loaded machine; tests wait by
/// notification, so a quick run returns at once.
pub const RUN_WAIT: Duration = Duration::from_secs(300);

pub async fn add_cell(client: &NotebookClient, source: &str) -> CellId {
    let source = source.to_owned();
    client
        .edit_notebook(move |nb| nb.create_cell(CellType::Code, Placement::End, &source))
        .await
        .unwrap()
        .unwrap()
}

/// Ask the notebook's runtime to interrupt whatever it runs.
pub async fn request_interrupt(client: &NotebookClient) {
    client
        .edit_notebook(|nb| nb.request_control(ControlKind::Interrupt, "tester"))
        .await
        .unwrap()
        .unwrap();
}

pub async fn request_run(client: &NotebookClient, cell: &CellId) -> RequestId {
    let c = cell.clone();
    client
        .edit_notebook(move |nb| nb.request_execution(&c, "tester"))
        .await
        .unwrap()
        .unwrap()
        .request_id
}

pub async fn executions_for(client: &NotebookClient, request: &RequestId) -> Vec<ExecutionRecord> {
    let r = request.clone();
    executions_where(client, move |x| x.request_id == r).await
}

/// The executions the runtime document lists (in its order) that `keep`.
async fn executions_where(
    client: &NotebookClient,
    keep: impl Fn(&ExecutionRecord) -> bool + Send + 'static,
) -> Vec<ExecutionRecord> {
    client
        .runtime(move |rt| {
            rt.executions()
                .unwrap()
                .into_iter()
                .filter(|x| keep(x))
                .collect()
        })
        .await
        .unwrap()
}

/// Wait (by notification) until the request's execution is in `state`.
pub async fn wait_state(
    client: &NotebookClient,
    request: &RequestId,
    states: &[ExecutionState],
) -> ExecutionRecord {
    wait_execution(client, request, &format!("{states:?}"), |x| {
        states.contains(&x.state)
    })
    .await
}

/// Wait, by notification, until the request's execution is `what` (as
/// `reached` tells).
pub async fn wait_execution(
    client: &NotebookClient,
    request: &RequestId,
    what: &str,
    reached: impl Fn(&ExecutionRecord) -> bool,
) -> ExecutionRecord {
    let r = request.clone();
    wait_among(
        client,
        move |x| x.request_id == r,
        &format!("request {request}"),
        what,
        reached,
    )
    .await
}

/// Wait, by notification, until an execution of `cell` (any request's,
/// an AI tool's among them) is `what` (as `reached` tells).
pub async fn wait_cell_execution(
    client: &NotebookClient,
    cell: &CellId,
    what: &str,
    reached: impl Fn(&ExecutionRecord) -> bool,
) -> ExecutionRecord {
    let c = cell.clone();
    wait_among(
        client,
        move |x| x.cell_id == c,
        &format!("cell {cell}"),
        what,
        reached,
    )
    .await
}

/// Every execution of `cell`, in the order the runtime document lists them.
pub async fn executions_of_cell(client: &NotebookClient, cell: &CellId) -> Vec<ExecutionRecord> {
    let c = cell.clone();
    executions_where(client, move |x| x.cell_id == c).await
}

/// The waiting behind both: the executions `among` picks, re-read after
/// every change until one has `reached`.
async fn wait_among(
    client: &NotebookClient,
    among: impl Fn(&ExecutionRecord) -> bool + Clone + Send + 'static,
    whose: &str,
    what: &str,
    reached: impl Fn(&ExecutionRecord) -> bool,
) -> ExecutionRecord {
    let mut revision = client.revision();
    let deadline = tokio::time::Instant::now() + RUN_WAIT;
    loop {
        revision.borrow_and_update();
        let pick = among.clone();
        let found = client
            .runtime(move |rt| {
                rt.executions()
                    .unwrap()
                    .into_iter()
                    .filter(|x| pick(x))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap()
            .into_iter()
            .find(|x| reached(x));
        if let Some(x) = found {
            return x;
        }
        tokio::time::timeout_at(deadline, revision.changed())
            .await
            .unwrap_or_else(|_| panic!("{whose} never reached {what}"))
            .unwrap();
    }
}

/// The execution's error output: (ename, evalue, traceback).
pub fn error_of(x: &ExecutionRecord) -> Option<(&str, &str, &[String])> {
    x.outputs.iter().find_map(|o| match o {
        OutputManifest::Error {
            ename,
            evalue,
            traceback,
        } => Some((ename.as_str(), evalue.as_str(), traceback.as_slice())),
        _ => None,
    })
}

pub fn stdout_of(x: &ExecutionRecord) -> String {
    x.outputs
        .iter()
        .filter_map(|o| match o {
            OutputManifest::Stream { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}
