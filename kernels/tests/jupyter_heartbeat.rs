//! A Jupyter kernel whose process lives on but stops answering (here:
//! SIGSTOP) is noticed by its heartbeat, killed, and reported like any other
//! death, and the running execution ends with an error that says so.

mod common;

use std::time::Instant;

use common::*;
use kernels::{ExecuteRequest, KernelEvent, StreamName};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_that_stops_answering_heartbeats_is_reported_dead() {
    let k = jupyter("python3").await;
    let ev = run_ok(&*k, "import os\nos.getpid()").await;
    let pid = text_plain(results(&ev)[0]).to_string();
    assert!(pid.parse::<u32>().is_ok(), "{pid}");

    let mut exec = k
        .execute(ExecuteRequest::new(
            "import time\nprint('waiting', flush=True)\ntime.sleep(600)",
        ))
        .await
        .expect("execute");
    let mut events = Vec::new();
    tokio::time::timeout(HANG_GUARD, async {
        while let Some(e) = exec.next_event().await {
            let printed = matches!(
                &e,
                KernelEvent::Stream {
                    name: StreamName::Stdout,
                    ..
                }
            );
            events.push(e);
            if printed {
                break;
            }
        }
    })
    .await
    .expect("no output");

    let stopped = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .expect("run kill");
    assert!(status.success());
    let (rest, reply) = tokio::time::timeout(HANG_GUARD, exec.collect())
        .await
        .expect("a stopped kernel was never noticed");
    // Printed for the record, not asserted: these machines are shared.
    eprintln!(
        "heartbeat loss noticed {:?} after SIGSTOP",
        stopped.elapsed()
    );
    events.extend(rest);

    let died = events
        .iter()
        .find_map(|e| match e {
            KernelEvent::Died { status } => Some(status.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no death event: {events:#?}"));
    assert_eq!(died.signal, Some(9), "{died:?}");
    assert!(died.reason.contains("heartbeats"), "{}", died.reason);
    assert!(
        errors(&events)
            .iter()
            .any(|(_, v, _)| v.contains("heartbeats")),
        "{events:#?}"
    );
    assert!(
        matches!(reply, Err(kernels::KernelError::Died(_))),
        "{reply:?}"
    );

    k.restart().await.expect("restart");
    let ev = run_ok(&*k, "6 * 7").await;
    assert_eq!(text_plain(results(&ev)[0]), "42");
    k.shutdown().await.expect("shutdown");
}
