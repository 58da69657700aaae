//! Running one tool: the document tools as edits through the client, the
//! kernel tools through [`KernelAccess`].

use crate::args::Args;
use crate::kernel::KernelAccess;
use crate::summary::{outputs_text, Cut};
use cathode_client::NotebookClient;
use schema::automerge::ChangeHash;
use schema::{
    Attribution, CellId, CellType, ExecutionRecord, NotebookDoc, OutputManifest, RunOptions,
    SchemaError,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// What a tool call acts with.
pub struct ToolContext<'a> {
    pub client: &'a NotebookClient,
    /// Stamped on every edit the tools make (an AI run's identity).
    pub attribution: Option<Attribution>,
    /// Who a run request is from.
    pub requested_by: String,
    pub kernel: Option<&'a dyn KernelAccess>,
    /// The heads at which the model last saw each cell's source, so
    /// `modify_cell` changes only what differs from that and keeps what
    /// people typed since.
    pub seen: &'a Mutex<HashMap<CellId, Vec<ChangeHash>>>,
    /// Where the model saw cells it has not read since (the context's heads).
    pub context_heads: Vec<ChangeHash>,
}

/// A tool's answer for the model, and what the caller shows.
#[derive(Clone, Debug)]
pub struct ToolOutcome {
    pub ok: bool,
    pub result: Value,
    /// The cell it touched, if any.
    pub cell_id: Option<CellId>,
    /// Outputs to show beside the call (scratch code's).
    pub outputs: Vec<OutputManifest>,
}

impl ToolOutcome {
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            result: json!({"error": message.into()}),
            cell_id: None,
            outputs: Vec::new(),
        }
    }

    fn ok(result: Value, cell_id: Option<CellId>) -> Self {
        Self {
            ok: true,
            result,
            cell_id,
            outputs: Vec::new(),
        }
    }
}

fn schema_error(e: &SchemaError) -> String {
    match e {
        SchemaError::NoSuchCell(id) => format!("there is no cell {id}"),
        other => other.to_string(),
    }
}

impl ToolContext<'_> {
    /// An edit with this context's attribution; a schema error becomes the
    /// tool's error.
    async fn edit<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut NotebookDoc) -> Result<R, SchemaError> + Send + 'static,
    ) -> Result<(R, Vec<ChangeHash>), String> {
        let attribution = self.attribution.clone();
        let outcome = self
            .client
            .edit_notebook(move |nb| {
                nb.set_attribution(attribution);
                let result = f(nb);
                nb.set_attribution(None);
                result.map(|r| (r, nb.heads()))
            })
            .await
            .map_err(|e| e.to_string())?;
        outcome.map_err(|e| schema_error(&e))
    }

    fn saw(&self, cell: &CellId, heads: Vec<ChangeHash>) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(cell.clone(), heads);
        }
    }

    fn seen_heads(&self, cell: &CellId) -> Vec<ChangeHash> {
        self.seen
            .lock()
            .ok()
            .and_then(|s| s.get(cell).cloned())
            .unwrap_or_else(|| self.context_heads.clone())
    }

    fn kernel(&self) -> Result<&dyn KernelAccess, String> {
        self.kernel.ok_or_else(|| {
            "this tool needs the notebook's kernel, which is not reachable from here".into()
        })
    }
}

pub async fn run(ctx: &ToolContext<'_>, args: Args) -> ToolOutcome {
    match dispatch(ctx, args).await {
        Ok(outcome) => outcome,
        Err(why) => ToolOutcome::error(why),
    }
}

async fn dispatch(ctx: &ToolContext<'_>, args: Args) -> Result<ToolOutcome, String> {
    Ok(match args {
        Args::CreateCell {
            source,
            cell_type,
            placement,
        } => {
            let (id, heads) = ctx
                .edit(move |nb| nb.create_cell(cell_type, placement, &source))
                .await?;
            ctx.saw(&id, heads);
            ToolOutcome::ok(json!({"cell_id": id}), Some(id))
        }
        Args::ModifyCell { cell_id, source } => {
            let seen = ctx.seen_heads(&cell_id);
            let id = cell_id.clone();
            let (_, heads) = ctx
                .edit(move |nb| {
                    nb.cell(&id)?;
                    match nb.rewrite_source_seen_at(&id, &seen, &source) {
                        // The cell is newer than what the model saw.
                        Err(SchemaError::NoSuchCell(_)) => nb.set_source(&id, &source),
                        other => other,
                    }
                })
                .await?;
            ctx.saw(&cell_id, heads);
            ToolOutcome::ok(json!({"cell_id": cell_id, "modified": true}), Some(cell_id))
        }
        Args::DeleteCell { cell_id } => {
            let id = cell_id.clone();
            ctx.edit(move |nb| nb.delete_cell(&id)).await?;
            ToolOutcome::ok(json!({"cell_id": cell_id, "deleted": true}), Some(cell_id))
        }
        Args::MoveCell { cell_id, placement } => {
            let id = cell_id.clone();
            ctx.edit(move |nb| nb.move_cell(&id, placement)).await?;
            ToolOutcome::ok(json!({"cell_id": cell_id, "moved": true}), Some(cell_id))
        }
        Args::ExecuteCell { cell_id, timeout } => execute(ctx, cell_id, timeout).await?,
        Args::ReadCell { cell_id } => read(ctx, cell_id).await?,
        Args::ListVariables => ToolOutcome::ok(ctx.kernel()?.variables().await?, None),
        Args::InspectVariable { name } => {
            ToolOutcome::ok(ctx.kernel()?.inspect(&name).await?, None)
        }
        Args::RunScratch { code, timeout } => {
            let out = ctx.kernel()?.scratch(&code, timeout).await?;
            let text = outputs_text(&out.outputs, Cut::FULL);
            let mut outcome = ToolOutcome::ok(
                json!({"failed": out.failed, "timed_out": out.timed_out, "outputs": text}),
                None,
            );
            outcome.ok = !out.failed && !out.timed_out;
            outcome.outputs = out.outputs;
            outcome
        }
    })
}

fn execution_json(record: Option<&ExecutionRecord>) -> Value {
    match record {
        None => json!({"state": "never run", "outputs": ""}),
        Some(x) => json!({
            "state": format!("{:?}", x.state).to_lowercase(),
            "execution_count": x.execution_count,
            "outputs": outputs_text(&x.outputs, Cut::FULL),
        }),
    }
}

async fn read(ctx: &ToolContext<'_>, cell_id: CellId) -> Result<ToolOutcome, String> {
    let id = cell_id.clone();
    let (cell, heads, clear) = ctx
        .client
        .notebook(move |nb| {
            let clear = nb.outputs_cleared_of(&id)?;
            nb.cell(&id).map(|c| (c, nb.heads(), clear))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| schema_error(&e))?;
    let id = cell_id.clone();
    let shown = ctx
        .client
        .runtime(move |rt| rt.shown_execution(&id))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?
        .map(|x| match &clear {
            Some(clear) => clear.apply(x),
            None => x,
        });
    ctx.saw(&cell_id, heads);
    let mut result = json!({
        "cell_id": cell_id,
        "cell_type": cell.cell_type.as_str(),
        "source": cell.source,
    });
    if let (Value::Object(map), Value::Object(x)) = (&mut result, execution_json(shown.as_ref())) {
        map.extend(x);
    }
    Ok(ToolOutcome::ok(result, Some(cell_id)))
}

async fn execute(
    ctx: &ToolContext<'_>,
    cell_id: CellId,
    timeout: Duration,
) -> Result<ToolOutcome, String> {
    let id = cell_id.clone();
    let by = ctx.requested_by.clone();
    let (request, _) = ctx
        .edit(move |nb| {
            let cell = nb.cell(&id)?;
            if !matches!(cell.cell_type, CellType::Code) {
                return Ok(Err(format!(
                    "cell {id} is a {} cell; only code cells run",
                    cell.cell_type.as_str()
                )));
            }
            nb.request_execution_with(&id, &by, &RunOptions { allow_stdin: false })
                .map(Ok)
        })
        .await?;
    let request = request?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut revision = ctx.client.revision();
    loop {
        revision.borrow_and_update();
        let r = request.request_id.clone();
        let found = ctx
            .client
            .runtime(move |rt| rt.execution_for_request(&r))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if let Some(x) = found.as_ref().filter(|x| x.state.is_finished()) {
            let result = execution_json(Some(x));
            let mut outcome = ToolOutcome::ok(result, Some(cell_id));
            outcome.ok = x.state == schema::ExecutionState::Done;
            return Ok(outcome);
        }
        match tokio::time::timeout_at(deadline, revision.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err("the notebook connection closed".into()),
            Err(_) => {
                let mut result = execution_json(found.as_ref());
                result["note"] = json!(format!(
                    "stopped waiting after {} s; the cell is still {}",
                    timeout.as_secs(),
                    if found.is_some() { "running" } else { "queued" }
                ));
                let mut outcome = ToolOutcome::ok(result, Some(cell_id));
                outcome.ok = false;
                return Ok(outcome);
            }
        }
    }
}
