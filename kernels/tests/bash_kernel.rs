//! The applicable part of the conformance suite on a non-Python Jupyter
//! kernel (bash_kernel from PyPI), to show the Jupyter client is not
//! ipykernel-specific. bash_kernel reports a failed command as an error
//! whose evalue is the exit status, and an interrupted cell as "aborted".

mod common;

use common::*;
use kernels::ReplyStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_state_and_errors() {
    let k = jupyter("bash").await;
    assert_eq!(k.info().language, "bash");
    let ev = run_ok(&*k, "echo hello; echo oops >&2").await;
    let out = all_streams(&ev);
    assert!(out.contains("hello") && out.contains("oops"), "{ev:#?}");
    run_ok(&*k, "X=41").await;
    let ev = run_ok(&*k, "echo $((X + 1))").await;
    assert!(all_streams(&ev).contains("42"), "{ev:#?}");
    let (ev, reply) = run(&*k, "false").await;
    assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
    assert_eq!(errors(&ev).first().map(|e| e.1), Some("1"), "{ev:#?}");
    let c = k.complete("ech", 3).await.expect("complete");
    assert!(c.matches.iter().any(|m| m == "echo"), "{c:?}");
    k.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_sleep() {
    let k = jupyter("bash").await;
    let (ev, reply) = interrupt_after_output(&*k, "echo start; sleep 600; echo woke").await;
    assert_eq!(
        reply.expect("reply").status,
        ReplyStatus::Aborted,
        "{ev:#?}"
    );
    assert!(!all_streams(&ev).contains("woke"));
    let ev = run_ok(&*k, "echo alive").await;
    assert!(all_streams(&ev).contains("alive"));
    k.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_loses_state() {
    let k = jupyter("bash").await;
    run_ok(&*k, "Y=5").await;
    k.restart().await.expect("restart");
    let ev = run_ok(&*k, "echo \"[$Y]\"").await;
    assert!(all_streams(&ev).contains("[]"), "{ev:#?}");
    k.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn death_is_reported() {
    let k = jupyter("bash").await;
    // bash's parent is the kernel process.
    let (ev, reply) = run(&*k, "kill -9 $PPID").await;
    let status = death(&ev);
    assert_eq!(status.signal, Some(9), "{status:?}");
    assert!(reply.is_err());
    k.restart().await.expect("restart");
    let ev = run_ok(&*k, "echo back").await;
    assert!(all_streams(&ev).contains("back"));
    k.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabytes_of_output() {
    let k = jupyter("bash").await;
    let ev = run_ok(
        &*k,
        "head -c 10000000 /dev/zero | tr '\\0' 'y' | fold -w 99",
    )
    .await;
    let text = all_streams(&ev);
    let ys = text.bytes().filter(|&b| b == b'y').count();
    // bash_kernel sends one message per line (101,000 here) as fast as it
    // can, and a PUB socket drops rather than waits once 1,000 are queued
    // for us. Our side takes every message off the socket at once, whatever
    // the reader does (`a_stalled_reader_loses_no_output` holds that to the
    // last line), so what can still go missing is what the kernel sends
    // while this process gets no CPU at all: 0.04% once in a full parallel
    // test run, 0.4% with six busy loops on the two cores, where
    // jupyter_client's own client lost the idle status outright and hung.
    // On a quiet machine every byte arrives.
    assert!(
        (9_900_000..=10_000_000).contains(&ys),
        "{ys} bytes of 10,000,000"
    );
    let ev = run_ok(&*k, "echo alive").await;
    assert!(all_streams(&ev).contains("alive"));
    k.shutdown().await.expect("shutdown");
}
