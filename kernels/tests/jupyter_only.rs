//! Behaviour only Jupyter kernels have: heartbeats, the TCP transport (the
//! default off Unix) and interrupts by message.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::*;
use kernels::jupyter::{InterruptMode, JupyterOptions, Transport};
use kernels::{ExecuteRequest, InputAnswer, Kernel, KernelEvent, ReplyStatus, StreamName};

/// The venv's ipykernel, adjusted.
async fn ipykernel_with(interrupt_mode: InterruptMode, transport: Transport) -> Arc<dyn Kernel> {
    let options = JupyterOptions {
        transport,
        ..JupyterOptions::default()
    };
    jupyter_with("python3", options, |spec| {
        spec.interrupt_mode = interrupt_mode
    })
    .await
}

/// Output, state, `input()` and an interrupt over TCP on 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipykernel_over_tcp() {
    let k = ipykernel_with(InterruptMode::Signal, Transport::Tcp).await;
    let ev = run_ok(&*k, "x = 20\nprint('over tcp')\nx + 1").await;
    assert_eq!(stream(&ev, StreamName::Stdout), "over tcp\n");
    assert_eq!(text_plain(results(&ev)[0]), "21");

    let mut exec = k
        .execute(ExecuteRequest::new("name = input('who? ')\nname.upper()"))
        .await
        .expect("execute");
    let mut events = Vec::new();
    tokio::time::timeout(HANG_GUARD, async {
        while let Some(e) = exec.next_event().await {
            if let KernelEvent::InputRequest { prompt, .. } = &e {
                assert_eq!(prompt, "who? ");
                exec.answer_input(InputAnswer::Value("ada".into()))
                    .expect("answer");
            }
            events.push(e);
        }
    })
    .await
    .expect("hung");
    assert_eq!(exec.reply().await.expect("reply").status, ReplyStatus::Ok);
    assert_eq!(text_plain(results(&events)[0]), "'ADA'");

    let (ev, reply) =
        interrupt_after_output(&*k, "print('looping', flush=True)\nwhile True:\n    x += 1").await;
    assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
    assert_eq!(errors(&ev)[0].0, "KeyboardInterrupt", "{ev:#?}");
    let ev = run_ok(&*k, "x > 20").await;
    assert_eq!(text_plain(results(&ev)[0]), "True");
    k.shutdown().await.expect("shutdown");
}

/// A kernelspec with `"interrupt_mode": "message"` is interrupted with an
/// `interrupt_request` on the control channel, not a signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_by_message() {
    let k = ipykernel_with(InterruptMode::Message, Transport::Ipc).await;
    run_ok(&*k, "kept = 'yes'").await;
    let (ev, reply) = interrupt_after_output(
        &*k,
        "import time\nprint('sleeping', flush=True)\ntime.sleep(600)",
    )
    .await;
    assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
    assert_eq!(errors(&ev)[0].0, "KeyboardInterrupt", "{ev:#?}");
    let ev = run_ok(&*k, "kept").await;
    assert_eq!(text_plain(results(&ev)[0]), "'yes'");
    k.shutdown().await.expect("shutdown");
}

/// A kernel whose process lives on but stops answering (here: SIGSTOP) is
/// noticed by its heartbeat, killed and reported like any other death, and
/// the running execution ends with an error that says so.
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
    let mut events = events_until_output(&mut exec).await;

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

    let died = death(&events);
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

/// Variables given in the options (a notebook's secrets, for the agent)
/// reach the kernel and survive a restart, which starts a new process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_is_kept_across_restart() {
    let options = JupyterOptions {
        env: vec![("CATHODE_TEST_SETTING".into(), "kept-value".into())],
        ..JupyterOptions::default()
    };
    let k = jupyter_with("python3", options, |_| {}).await;
    let read = "import os\nos.environ.get('CATHODE_TEST_SETTING'), os.getpid()";
    let ev = run_ok(&*k, read).await;
    let before = text_plain(results(&ev)[0]).to_string();
    assert!(before.starts_with("('kept-value', "), "{before}");
    k.restart().await.expect("restart");
    let ev = run_ok(&*k, read).await;
    let after = text_plain(results(&ev)[0]).to_string();
    assert!(after.starts_with("('kept-value', "), "{after}");
    assert_ne!(before, after, "same process: the restart did not happen");
    k.shutdown().await.expect("shutdown");
}
