//! Where one `1+1` run's time goes, from the timing marks the server and
//! the agent log (`cathode_timing` target, wall-clock microseconds on one
//! machine) and the client's own: the request's trip to the agent, the
//! agent's changes before the kernel, the kernel, and the result's trip
//! back, each hop through the server split into waiting, applying and
//! relaying.

use cathode_tests::stats::percentile;
use std::collections::HashMap;
use std::time::Duration;

/// The log filter that turns the marks on (and little else).
pub const FILTER: &str = "warn,cathode_timing=trace";

#[derive(Debug, Clone)]
pub struct Mark {
    pub stage: String,
    pub key: String,
    pub us: u64,
}

/// Every mark in a log.
pub fn parse(log: &str) -> Vec<Mark> {
    log.lines()
        .filter_map(|line| {
            let rest = &line[line.find("mark stage=")? + "mark ".len()..];
            let mut stage = None;
            let mut key = None;
            let mut us = None;
            for field in rest.split_whitespace() {
                if let Some(v) = field.strip_prefix("stage=") {
                    stage = Some(v.to_owned());
                } else if let Some(v) = field.strip_prefix("key=") {
                    key = Some(v.to_owned());
                } else if let Some(v) = field.strip_prefix("us=") {
                    us = v
                        .trim_end_matches(|c: char| !c.is_ascii_digit())
                        .parse()
                        .ok();
                }
            }
            Some(Mark {
                stage: stage?,
                key: key?,
                us: us?,
            })
        })
        .collect()
}

/// One run as the client saw it.
pub struct ClientRun {
    pub request: String,
    /// When the client made its run request.
    pub requested_us: u64,
    /// When the execute_result became visible to it.
    pub seen_us: u64,
}

/// Rows of the breakdown, in path order, each with its per-run values in
/// milliseconds.
pub struct Breakdown {
    pub rows: Vec<(&'static str, Vec<f64>)>,
    /// Each batch's commit (relayed -> durable), any batch.
    pub commits: Vec<f64>,
}

const ROWS: [&str; 11] = [
    "request: client -> room takes the batch",
    "request: room applies and relays",
    "request: relay -> agent sees it",
    "agent: queue, busy and start edit",
    "agent: the run reaches its executor",
    "agent: start -> execute sent",
    "kernel: execute -> execute_result",
    "agent: output change written",
    "result: agent -> room takes the batch",
    "result: room applies and relays",
    "result: relay -> requester sees it",
];

/// The first server batch holding `event`, taken at or after `after`.
fn batch_with<'a>(
    server: &'a [(u64, u64, &'a str)],
    event: &str,
    after: u64,
) -> Option<(u64, u64)> {
    server
        .iter()
        .find(|(received, _, events)| *received >= after && events.split(',').any(|e| e == event))
        .map(|(received, relayed, _)| (*received, *relayed))
}

pub fn breakdown(runs: &[ClientRun], agent: &[Mark], server: &[Mark]) -> Breakdown {
    let mut by_request: HashMap<&str, HashMap<&str, u64>> = HashMap::new();
    for mark in agent {
        by_request
            .entry(mark.key.as_str())
            .or_default()
            .entry(mark.stage.as_str())
            .or_insert(mark.us);
    }
    // Server batches in time order: (received, relayed, events). A room
    // marks one batch's stages in order, so a relay pairs with the last
    // batch taken with the same events.
    let mut open: HashMap<&str, u64> = HashMap::new();
    let mut last_relay: HashMap<&str, u64> = HashMap::new();
    let mut batches: Vec<(u64, u64, &str)> = Vec::new();
    let mut commits = Vec::new();
    for mark in server {
        let key = mark.key.as_str();
        match mark.stage.as_str() {
            "room.received" => {
                open.insert(key, mark.us);
            }
            "room.relayed" => {
                if let Some(received) = open.remove(key) {
                    batches.push((received, mark.us, key));
                }
                last_relay.insert(key, mark.us);
            }
            "room.committed" => {
                if let Some(relayed) = last_relay.remove(key) {
                    commits.push(mark.us.saturating_sub(relayed) as f64 / 1000.0);
                }
            }
            _ => {}
        }
    }
    batches.sort_by_key(|b| b.0);
    let mut rows: Vec<(&'static str, Vec<f64>)> = ROWS.iter().map(|r| (*r, Vec::new())).collect();
    for run in runs {
        let Some(a) = by_request.get(run.request.as_str()) else {
            continue;
        };
        let stage = |s: &str| a.get(s).copied();
        let (Some(seen), Some(queued), Some(started), Some(sent), Some(result), Some(written)) = (
            stage("agent.request_seen"),
            stage("agent.queued"),
            stage("agent.started"),
            stage("agent.kernel_sent"),
            stage("agent.kernel_result"),
            stage("agent.output_written"),
        ) else {
            continue;
        };
        let (Some((req_in, req_out)), Some((out_in, out_out))) = (
            batch_with(&batches, "ExecutionRequested", run.requested_us),
            batch_with(&batches, "OutputAppended", result),
        ) else {
            continue;
        };
        let points = [
            run.requested_us,
            req_in,
            req_out,
            seen,
            queued,
            started,
            sent,
            result,
            written,
            out_in,
            out_out,
            run.seen_us,
        ];
        for (i, pair) in points.windows(2).enumerate() {
            rows[i]
                .1
                .push(pair[1] as f64 / 1000.0 - pair[0] as f64 / 1000.0);
        }
    }
    Breakdown { rows, commits }
}

fn median_ms(values: &[f64]) -> String {
    let durations: Vec<Duration> = values
        .iter()
        .map(|v| Duration::from_secs_f64(v.max(0.0) / 1000.0))
        .collect();
    format!("{:.3}", percentile(&durations, 50.0).as_secs_f64() * 1000.0)
}

pub fn print(label: &str, b: &Breakdown) {
    let runs = b.rows.first().map_or(0, |r| r.1.len());
    println!("{label}: medians in ms over {runs} runs (wall-clock marks, same machine)");
    let mut total = 0.0;
    for (row, values) in &b.rows {
        let m: f64 = median_ms(values).parse().unwrap_or(0.0);
        total += m;
        println!("  {row:<52} {:>8}", median_ms(values));
    }
    println!("  {:<52} {total:>8.3}", "sum of the medians");
    println!(
        "  {:<52} {:>8}",
        "(server: a batch's commit, relayed -> durable)",
        median_ms(&b.commits)
    );
}
