//! Running a whole notebook without a browser, as nbclient and papermill
//! do: every code cell in order through the notebook's runtime agent,
//! outputs printed as each finishes, stopping at the first failure.
//!
//! nbclient's rules that users rely on hold here: a cell tagged
//! `skip-execution` is not run, one tagged `raises-exception` may fail
//! without stopping the run, an empty cell is not sent to the kernel,
//! `input()` fails at once unless answers were given (`--stdin`), a cell
//! past the timeout is interrupted and ends the run, and a kernel that
//! dies ends the run with an error naming the cell.

pub mod parameters;
pub mod render;

pub use render::render;

use cathode_client::NotebookClient;
use schema::{
    CellId, CellType, ControlKind, ExecutionId, ExecutionRecord, ExecutionState, OutputManifest,
    RunOptions,
};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub const SKIP_TAG: &str = "skip-execution";
pub const RAISES_TAG: &str = "raises-exception";
/// Who a headless run's requests and answers are from.
const RUNNER: &str = "cathode-run";
/// How long an interrupted cell (timeout) gets to stop before the run
/// gives up waiting for it.
const INTERRUPT_GRACE: Duration = Duration::from_secs(30);

/// How to run.
#[derive(Debug, Default)]
pub struct RunPlan {
    /// Carry on after a failing cell (the run still fails).
    pub allow_errors: bool,
    /// Interrupt a cell running longer than this, and end the run.
    pub timeout: Option<Duration>,
    /// Answers to `input()`, one line each, in order; `None`: `input()`
    /// raises at once.
    pub stdin: Option<VecDeque<String>>,
}

/// Why the run stopped early, naming the cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// 1-based, among the notebook's code cells.
    pub index: usize,
    pub cell_id: CellId,
    pub reason: String,
}

/// How the run went.
#[derive(Debug, Default)]
pub struct Summary {
    pub ran: usize,
    pub skipped: usize,
    /// Cells tagged `raises-exception` that did raise.
    pub expected_errors: usize,
    /// The first failure; the run stopped there unless errors were allowed.
    pub failed: Option<Failure>,
}

/// What ended one cell.
enum Ending {
    Finished(ExecutionRecord),
    /// Interrupted at the timeout.
    TimedOut(ExecutionRecord),
    /// Interrupted because `input()` asked for more lines than given.
    OutOfInput(ExecutionRecord),
    /// The agent died with the cell in hand and cannot say how it ended.
    RuntimeGone(String),
}

/// What a finished cell means for the run.
#[derive(Debug, PartialEq)]
enum Verdict {
    Fine,
    /// Failed as its `raises-exception` tag said it would.
    Expected,
    /// `fatal`: the run ends even when errors are allowed.
    Failed {
        reason: String,
        fatal: bool,
    },
}

fn judge(record: &ExecutionRecord, may_raise: bool) -> Verdict {
    let error = record.outputs.iter().find_map(|o| match o {
        OutputManifest::Error { ename, evalue, .. } => Some((ename.as_str(), evalue.as_str())),
        _ => None,
    });
    match (record.state, error) {
        (ExecutionState::Done, _) => Verdict::Fine,
        (ExecutionState::Error, Some(("KernelDied", why))) => Verdict::Failed {
            reason: if why.contains("kernel died") {
                why.to_owned()
            } else {
                format!("the kernel died while running it: {why}")
            },
            fatal: true,
        },
        (ExecutionState::Error, _) if may_raise => Verdict::Expected,
        (ExecutionState::Error, Some((ename, evalue))) => Verdict::Failed {
            reason: format!("{ename}: {evalue}"),
            fatal: false,
        },
        (ExecutionState::Error, None) => Verdict::Failed {
            reason: "the kernel reported an error".into(),
            fatal: false,
        },
        (ExecutionState::Lost, _) => Verdict::Failed {
            reason: "the runtime agent died while running it; the run was lost".into(),
            fatal: true,
        },
        (state, _) => Verdict::Failed {
            reason: format!("it ended {state:?} (cancelled by someone else?)"),
            fatal: true,
        },
    }
}

fn tags(cell: &schema::Cell) -> Vec<&str> {
    cell.metadata
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn first_line(source: &str) -> String {
    source
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(50)
        .collect()
}

/// Run every code cell in order and print its outputs. `runtime_dead`
/// carries why the notebook's agent died, if it does (the caller watches
/// the server's runtime status), so a dead agent ends the run instead of
/// leaving it waiting.
pub async fn run_all(
    client: &NotebookClient,
    plan: &mut RunPlan,
    runtime_dead: Option<watch::Receiver<Option<String>>>,
    out: &mut impl Write,
) -> anyhow::Result<Summary> {
    let cells: Vec<schema::Cell> = client
        .notebook(|nb| {
            nb.cells().map(|cells| {
                cells
                    .into_iter()
                    .filter(|c| c.cell_type == CellType::Code)
                    .collect()
            })
        })
        .await??;
    let progress = std::io::stderr().is_terminal();
    let total = cells.len();
    let mut summary = Summary::default();
    for (i, cell) in cells.iter().enumerate() {
        let index = i + 1;
        if tags(cell).contains(&SKIP_TAG) {
            summary.skipped += 1;
            writeln!(
                out,
                "--- cell {index} of {total} skipped (tagged {SKIP_TAG})"
            )?;
            continue;
        }
        if cell.source.trim().is_empty() {
            summary.skipped += 1;
            continue;
        }
        if progress {
            eprint!(
                "\r\u{1b}[2K[{index}/{total}] {} {}",
                bar(i, total),
                first_line(&cell.source)
            );
        }
        let started = Instant::now();
        let ending = run_cell(client, &cell.id, plan, runtime_dead.clone()).await?;
        if progress {
            eprint!("\r\u{1b}[2K");
        }
        summary.ran += 1;
        let fail = |reason: String| Failure {
            index,
            cell_id: cell.id.clone(),
            reason,
        };
        let (record, verdict) = match ending {
            Ending::RuntimeGone(why) => {
                summary.failed = Some(fail(format!(
                    "the runtime agent died while running it: {why}"
                )));
                break;
            }
            Ending::Finished(record) => {
                let verdict = judge(&record, tags(cell).contains(&RAISES_TAG));
                (record, verdict)
            }
            Ending::TimedOut(record) => {
                let secs = plan.timeout.unwrap_or_default().as_secs_f64();
                let reason = format!("it ran past the {secs} s timeout and was interrupted");
                (
                    record,
                    Verdict::Failed {
                        reason,
                        fatal: true,
                    },
                )
            }
            Ending::OutOfInput(record) => {
                let reason = "input() asked for more lines than --stdin gave; it was interrupted";
                let reason = reason.to_owned();
                (
                    record,
                    Verdict::Failed {
                        reason,
                        fatal: true,
                    },
                )
            }
        };
        writeln!(
            out,
            "--- cell {index} of {total} [{}] {:?} in {} ms",
            record
                .execution_count
                .map(|c| c.to_string())
                .unwrap_or_else(|| " ".into()),
            record.state,
            started.elapsed().as_millis()
        )?;
        for output in &record.outputs {
            write!(out, "{}", render(output))?;
        }
        match verdict {
            Verdict::Fine => {}
            Verdict::Expected => summary.expected_errors += 1,
            Verdict::Failed { reason, fatal } => {
                summary.failed.get_or_insert(fail(reason));
                if fatal || !plan.allow_errors {
                    break;
                }
            }
        }
    }
    if progress {
        eprintln!("\r\u{1b}[2K[{total}/{total}] {}", bar(total, total));
    }
    Ok(summary)
}

fn bar(done: usize, total: usize) -> String {
    let width = 20;
    let filled = (done * width)
        .checked_div(total)
        .unwrap_or(width)
        .min(width);
    format!("|{}{}|", "#".repeat(filled), ".".repeat(width - filled))
}

/// The execution for `request`, and the `input()` it waits on, if any.
async fn execution_for(
    client: &NotebookClient,
    request: &schema::RequestId,
) -> anyhow::Result<Option<(ExecutionRecord, Option<schema::InputRequest>)>> {
    let r = request.clone();
    let found = client
        .runtime(move |rt| {
            let Some(x) = rt.execution_for_request(&r)? else {
                return Ok(None);
            };
            let asking = rt.input_request(&x.execution_id)?;
            Ok::<_, schema::SchemaError>(Some((x, asking)))
        })
        .await??;
    Ok(found)
}

async fn interrupt(client: &NotebookClient) -> anyhow::Result<()> {
    client
        .edit_notebook(|nb| nb.request_control(ControlKind::Interrupt, RUNNER))
        .await??;
    Ok(())
}

/// Answer a prompt from `--stdin`; a password sealed to the prompt's key.
async fn answer(
    client: &NotebookClient,
    execution: &ExecutionId,
    ask: &schema::InputRequest,
    line: String,
) -> anyhow::Result<()> {
    let x = execution.clone();
    let seq = ask.seq;
    match &ask.sealing_key {
        Some(key) => {
            let sealed = crate::sealed_input::seal(key, execution, seq, &line)?;
            client
                .edit_notebook(move |nb| nb.answer_input_sealed(&x, seq, sealed, RUNNER))
                .await??
        }
        None => {
            client
                .edit_notebook(move |nb| nb.answer_input(&x, seq, &line, RUNNER))
                .await??
        }
    }
    Ok(())
}

/// Ask for one cell's run and follow it to its end: answering `input()`
/// from the plan's lines, interrupting it at the timeout, giving up when
/// the agent is reported dead.
async fn run_cell(
    client: &NotebookClient,
    cell: &CellId,
    plan: &mut RunPlan,
    mut runtime_dead: Option<watch::Receiver<Option<String>>>,
) -> anyhow::Result<Ending> {
    let options = RunOptions {
        allow_stdin: plan.stdin.is_some(),
    };
    let c = cell.clone();
    let request = client
        .edit_notebook(move |nb| nb.request_execution_with(&c, RUNNER, &options))
        .await??;
    let mut revision = client.revision();
    // When the cell was first seen running: its timeout counts from there
    // (this machine's clock, not the agent's).
    let mut deadline: Option<Instant> = None;
    let mut interrupted: Option<(Instant, bool)> = None;
    let mut answered_up_to: Option<u32> = None;
    loop {
        revision.borrow_and_update();
        if let Some((record, asking)) = execution_for(client, &request.request_id).await? {
            if record.state.is_finished() {
                return Ok(match interrupted {
                    Some((_, true)) => Ending::OutOfInput(record),
                    Some((_, false)) => Ending::TimedOut(record),
                    None => Ending::Finished(record),
                });
            }
            if record.state == ExecutionState::Running && deadline.is_none() {
                deadline = plan.timeout.map(|t| Instant::now() + t);
            }
            if let Some(ask) = asking.filter(|a| answered_up_to.is_none_or(|s| a.seq > s)) {
                answered_up_to = Some(ask.seq);
                match plan.stdin.as_mut().and_then(VecDeque::pop_front) {
                    Some(line) => answer(client, &record.execution_id, &ask, line).await?,
                    None if interrupted.is_none() => {
                        interrupt(client).await?;
                        interrupted = Some((Instant::now(), true));
                    }
                    None => {}
                }
            }
        }
        let wake_at = match interrupted {
            Some((at, _)) => Some(at + INTERRUPT_GRACE),
            None => deadline,
        };
        let dead = async {
            match runtime_dead.as_mut() {
                Some(rx) => loop {
                    if let Some(why) = rx.borrow_and_update().clone() {
                        return why;
                    }
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = revision.changed() => changed?,
            why = dead => return Ok(Ending::RuntimeGone(why)),
            _ = sleep_until(wake_at) => match interrupted {
                None => {
                    interrupt(client).await?;
                    interrupted = Some((Instant::now(), false));
                }
                Some(_) => {
                    return Ok(Ending::RuntimeGone(format!(
                        "the cell did not stop within {} s of being interrupted",
                        INTERRUPT_GRACE.as_secs()
                    )))
                }
            },
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema::{ExecutionId, RequestId};

    fn record(state: ExecutionState, outputs: Vec<OutputManifest>) -> ExecutionRecord {
        ExecutionRecord {
            execution_id: ExecutionId::random(),
            cell_id: CellId::random(),
            request_id: RequestId::random(),
            requested_by: RUNNER.into(),
            state,
            execution_count: Some(1),
            queue_seq: 1,
            source_heads: vec![],
            queued_at_ms: 0,
            started_at_ms: Some(1),
            ended_at_ms: Some(2),
            batch: None,
            allow_stdin: false,
            outputs,
        }
    }

    fn error(ename: &str) -> OutputManifest {
        OutputManifest::Error {
            ename: ename.into(),
            evalue: "why".into(),
            traceback: vec![],
        }
    }

    #[test]
    fn verdicts_follow_nbclient() {
        assert_eq!(
            judge(&record(ExecutionState::Done, vec![]), false),
            Verdict::Fine
        );
        let failed = record(ExecutionState::Error, vec![error("ValueError")]);
        assert_eq!(judge(&failed, true), Verdict::Expected);
        assert_eq!(
            judge(&failed, false),
            Verdict::Failed {
                reason: "ValueError: why".into(),
                fatal: false
            }
        );
        let died = record(ExecutionState::Error, vec![error("KernelDied")]);
        assert!(matches!(
            judge(&died, true),
            Verdict::Failed { fatal: true, .. }
        ));
        let lost = record(ExecutionState::Lost, vec![]);
        assert!(matches!(
            judge(&lost, false),
            Verdict::Failed { fatal: true, .. }
        ));
    }
}
