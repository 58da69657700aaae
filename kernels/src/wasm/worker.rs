//! The kernel's dedicated thread: owns the guest and runs one command at a time.
//!
//! wasmtime calls block, so they never run on a tokio thread. The thread has a
//! large stack because wasm frames (up to the 8 MiB wasm stack) run on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::control::Control;
use super::guest::{Guest, Setup, TurnOutcome};
use super::host::{ExecCtx, StopReason};
use super::poke::Poke;
use crate::error::{KernelError, Result};
use crate::event::{ExecuteReply, ExitStatus, KernelEvent, KernelState, ReplyStatus};
use crate::kernel::ExecutionSink;

pub enum WorkerCmd {
    /// The code, where its events go, and the interrupt count when it was
    /// asked for: later interrupts are for it.
    /// Code, where its events go, interrupts since, whether stdin is served.
    Execute(String, ExecutionSink, u64, bool),
    Query(Value, oneshot::Sender<Result<Value>>),
    Restart(oneshot::Sender<Result<()>>),
    Shutdown(oneshot::Sender<()>),
}

pub struct Worker {
    /// Shared with the handle so `execute` on a dead kernel fails at once.
    pub dead_flag: Arc<AtomicBool>,
    setup: Arc<Setup>,
    control: Arc<Control>,
    events: broadcast::Sender<KernelEvent>,
    guest: Option<Guest>,
    dead: Option<ExitStatus>,
    count: u64,
    /// The interrupt count when the last execution ended (or the interpreter
    /// restarted): interrupts up to it were for earlier work. Completions
    /// and inspections do not count; nothing the user runs is stopped there.
    turn_end_seq: u64,
}

/// Interrupt flags found in this process, per module (see poke.rs).
fn discovered() -> &'static OnceLock<Option<Poke>> {
    static POKE: OnceLock<Option<Poke>> = OnceLock::new();
    &POKE
}

pub(super) const DISCOVER: &str = "import _thread as _t, operator as _o, functools as _f, _host as _h\n\
try:\n    list(map(_o.call, [_f.partial(_h.call, b'P'), _t.interrupt_main, _f.partial(_h.call, b'P')]))\n    for _i in range(100): pass\nexcept KeyboardInterrupt:\n    pass\n\
for _i in range(100): pass\n\
_h.call(b'P')\n\
del _t, _o, _f, _h, _i\n";
pub(super) const VERIFY: &str = "import _host as _h\n\
try:\n    _h.call(b'Q')\n    for _i in range(100): pass\n    _h.call(b'R{\"ok\": false}')\nexcept KeyboardInterrupt:\n    _h.call(b'R{\"ok\": true}')\n\
globals().pop('_i', None)\ndel _h\n";

impl Worker {
    pub fn new(
        setup: Arc<Setup>,
        control: Arc<Control>,
        events: broadcast::Sender<KernelEvent>,
        dead_flag: Arc<AtomicBool>,
    ) -> Result<Worker> {
        let mut w = Worker {
            dead_flag,
            setup,
            control,
            events,
            guest: None,
            dead: None,
            count: 0,
            turn_end_seq: 0,
        };
        w.guest = Some(w.new_guest()?);
        Ok(w)
    }

    fn new_guest(&self) -> Result<Guest> {
        let started = Instant::now();
        let mut guest = Guest::new(&self.setup, self.control.clone())?;
        let mut fresh = false;
        let poke = discovered()
            .get_or_init(|| match read_discovery(&self.setup.interrupt_cache) {
                Some(known) => known,
                None => {
                    fresh = true;
                    discover(&mut guest)
                }
            })
            .clone();
        let mut verified = None;
        if let Some(p) = poke {
            guest.store.data_mut().set_poke(Some(p.clone()));
            guest.store.data_mut().query_reply = None;
            // Verify the way cells run (through the harness), not as a bare turn.
            guest
                .store
                .data_mut()
                .set_request(&json!({"op": "execute", "code": VERIFY, "count": 0}));
            let ran = matches!(guest.turn(), TurnOutcome::Returned(0));
            let reply = guest.store.data_mut().query_reply.take();
            tracing::debug!("poke verification: ran={ran} reply={reply:?}");
            let ok = ran && reply.is_some_and(|v| v["ok"] == Value::Bool(true));
            if ok {
                verified = Some(p);
            } else {
                tracing::warn!("interrupt flags did not verify; using the door only");
                guest.store.data_mut().set_poke(None);
            }
        }
        if fresh {
            write_discovery(&self.setup.interrupt_cache, verified.as_ref());
        }
        guest.reset_interrupts(None);
        tracing::debug!("wasm guest ready in {:?}", started.elapsed());
        Ok(guest)
    }

    pub fn run(mut self, mut cmds: mpsc::UnboundedReceiver<WorkerCmd>) {
        while let Some(cmd) = cmds.blocking_recv() {
            match cmd {
                WorkerCmd::Execute(code, sink, since, allow_stdin) => {
                    self.execute(code, sink, since, allow_stdin)
                }
                WorkerCmd::Query(req, reply) => {
                    let _ = reply.send(self.query(req));
                }
                WorkerCmd::Restart(reply) => {
                    self.control.hard_stop(false);
                    // Interrupts sent before a restart were for the old interpreter.
                    self.turn_end_seq = self.control.lock().interrupt_seq;
                    self.guest = None;
                    let r = self.new_guest().map(|g| {
                        self.guest = Some(g);
                        self.dead = None;
                        self.dead_flag.store(false, Ordering::SeqCst);
                        self.count = 0;
                    });
                    let _ = self.events.send(KernelEvent::Status {
                        state: KernelState::Idle,
                    });
                    let _ = reply.send(r);
                }
                WorkerCmd::Shutdown(reply) => {
                    self.guest = None;
                    let _ = reply.send(());
                    return;
                }
            }
        }
    }

    fn query(&mut self, req: Value) -> Result<Value> {
        let Some(guest) = self.guest.as_mut() else {
            return Err(self.dead_error());
        };
        guest.reset_interrupts(None);
        let st = guest.store.data_mut();
        st.set_request(&req);
        st.query_reply = None;
        match guest.turn() {
            TurnOutcome::Returned(_) => {}
            other => {
                self.lost(other);
                return Err(self.dead_error());
            }
        }
        let reply = guest_reply(self.guest.as_mut());
        match reply {
            Some(v) if v.get("error").is_some() => {
                Err(KernelError::Protocol(v["error"].to_string()))
            }
            Some(v) => Ok(v),
            None => Err(KernelError::Protocol("guest gave no reply".into())),
        }
    }

    fn dead_error(&self) -> KernelError {
        match &self.dead {
            Some(s) => KernelError::Died(s.reason.clone()),
            None => KernelError::ShutDown,
        }
    }

    fn execute(&mut self, code: String, mut sink: ExecutionSink, since: u64, allow_stdin: bool) {
        if self.guest.is_none() {
            sink.finish(Err(self.dead_error()));
            return;
        }
        self.count += 1;
        let count = self.count;
        let deadline = self.setup.limits.time.map(|t| Instant::now() + t);
        let events = sink.events.clone();
        let _ = events.blocking_send(KernelEvent::Status {
            state: KernelState::Busy,
        });
        let _ = self.events.send(KernelEvent::Status {
            state: KernelState::Busy,
        });
        let outcome = {
            let Some(guest) = self.guest.as_mut() else {
                return;
            };
            // Interrupts sent while an earlier turn ran were for that turn.
            guest.reset_interrupts(Some(since.max(self.turn_end_seq)));
            let st = guest.store.data_mut();
            st.set_request(&json!({"op": "execute", "code": code, "count": count}));
            st.exec = Some(ExecCtx {
                events: sink.events.clone(),
                count,
                output: 0,
                limit_hit: false,
                error: None,
                deadline,
                timed_out: false,
                allow_stdin,
            });
            guest.turn()
        };
        self.turn_end_seq = self.control.lock().interrupt_seq;
        let exec = self
            .guest
            .as_mut()
            .and_then(|g| g.store.data_mut().end_exec());
        let mut error = exec.as_ref().and_then(|e| e.error.clone());
        // An exception that escaped the turn without the harness reporting
        // it: an interrupt that struck before the harness's own code ran
        // (it was sent right after the cell was handed over). It is still
        // this cell's interrupt.
        if matches!(outcome, TurnOutcome::Returned(status) if status & 0xff != 0) && error.is_none()
        {
            let evalue = String::new();
            let _ = events.blocking_send(KernelEvent::Error {
                ename: "KeyboardInterrupt".into(),
                evalue: evalue.clone(),
                traceback: vec!["KeyboardInterrupt\n".into()],
            });
            error = Some(("KeyboardInterrupt".into(), evalue));
        }
        let reply = match outcome {
            TurnOutcome::Returned(_) => Ok(ExecuteReply {
                status: if error.is_some() {
                    ReplyStatus::Error
                } else {
                    ReplyStatus::Ok
                },
                execution_count: Some(count),
                payloads: Vec::new(),
                ename: error.as_ref().map(|e| e.0.clone()),
                evalue: error.as_ref().map(|e| e.1.clone()),
            }),
            TurnOutcome::Stopped(reason @ (StopReason::Interrupt | StopReason::Timeout)) => {
                let (ename, what) = match reason {
                    StopReason::Timeout => {
                        ("TimeoutError", "the cell exceeded the kernel's time limit")
                    }
                    _ => (
                        "KeyboardInterrupt",
                        "the cell did not respond to the interrupt",
                    ),
                };
                let evalue = format!(
                    "{what} (it was stuck in native code), so the interpreter was stopped and \
                     restarted: all variables and imports were lost"
                );
                let _ = events.blocking_send(KernelEvent::Error {
                    ename: ename.into(),
                    evalue: evalue.clone(),
                    traceback: vec![format!("{ename}: {evalue}\n")],
                });
                self.guest = None;
                match self.new_guest() {
                    Ok(g) => {
                        self.guest = Some(g);
                        self.count = 0;
                        Ok(ExecuteReply {
                            status: ReplyStatus::Error,
                            execution_count: Some(count),
                            payloads: Vec::new(),
                            ename: Some(ename.into()),
                            evalue: Some(evalue),
                        })
                    }
                    Err(e) => {
                        self.mark_dead(ExitStatus {
                            code: None,
                            signal: None,
                            reason: format!("restart failed: {e}"),
                        });
                        Err(e)
                    }
                }
            }
            TurnOutcome::Stopped(StopReason::Requested) => {
                self.guest = None;
                Err(KernelError::Died(
                    "kernel restarted; its state was lost".into(),
                ))
            }
            other => {
                let status = self.lost(other);
                let _ = events.blocking_send(KernelEvent::Died {
                    status: status.clone(),
                });
                let _ = events.blocking_send(KernelEvent::Error {
                    ename: "KernelDied".into(),
                    evalue: status.reason.clone(),
                    traceback: vec![format!(
                        "The kernel stopped while running this cell: {}",
                        status.reason
                    )],
                });
                Err(KernelError::Died(status.reason))
            }
        };
        let _ = events.blocking_send(KernelEvent::Status {
            state: KernelState::Idle,
        });
        if self.guest.is_some() {
            let _ = self.events.send(KernelEvent::Status {
                state: KernelState::Idle,
            });
        }
        drop(exec);
        drop(events);
        sink.finish(reply);
    }

    /// The guest ended (exit or trap): it is dead until restarted.
    fn lost(&mut self, outcome: TurnOutcome) -> ExitStatus {
        let status = match outcome {
            TurnOutcome::Exited(code) => ExitStatus {
                code: Some(code),
                signal: None,
                reason: format!(
                    "the Python interpreter exited with status {code}; restart the kernel"
                ),
            },
            TurnOutcome::Trapped(msg) => ExitStatus {
                code: None,
                signal: None,
                reason: format!("the Python interpreter crashed ({msg}); restart the kernel"),
            },
            TurnOutcome::Stopped(r) => ExitStatus {
                code: None,
                signal: None,
                reason: format!("the Python interpreter was stopped ({r:?})"),
            },
            TurnOutcome::Returned(s) => ExitStatus {
                code: Some(s),
                signal: None,
                reason: "the Python interpreter returned unexpectedly".into(),
            },
        };
        self.mark_dead(status.clone());
        status
    }

    fn mark_dead(&mut self, status: ExitStatus) {
        self.guest = None;
        self.dead_flag.store(true, Ordering::SeqCst);
        let _ = self.events.send(KernelEvent::Died {
            status: status.clone(),
        });
        let _ = self.events.send(KernelEvent::Status {
            state: KernelState::Dead,
        });
        self.dead = Some(status);
    }
}

fn guest_reply(guest: Option<&mut Guest>) -> Option<Value> {
    guest.and_then(|g| g.store.data_mut().query_reply.take())
}

/// Find CPython's interrupt flags in this guest (see poke.rs).
/// A remembered discovery: `Some(None)` when the flags are known not to
/// work with this module, so later processes skip discovery altogether.
fn read_discovery(path: &std::path::Path) -> Option<Option<Poke>> {
    let text = std::fs::read_to_string(path).ok()?;
    let known: Value = serde_json::from_str(&text).ok()?;
    match &known["poke"] {
        Value::Null => Some(None),
        poke => serde_json::from_value(poke.clone()).ok().map(Some),
    }
}

fn write_discovery(path: &std::path::Path, poke: Option<&Poke>) {
    let body = json!({ "poke": poke });
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = std::fs::write(&tmp, body.to_string()).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        tracing::debug!(
            "could not remember interrupt discovery in {}: {e}",
            path.display()
        );
    }
}

fn discover(guest: &mut Guest) -> Option<Poke> {
    let started = Instant::now();
    guest.store.data_mut().snapshots.clear();
    guest
        .store
        .data_mut()
        .set_request(&json!({"op": "execute", "code": DISCOVER, "count": 0}));
    let outcome = guest.turn();
    let snaps = std::mem::take(&mut guest.store.data_mut().snapshots);
    if !matches!(outcome, TurnOutcome::Returned(0)) || snaps.len() != 3 {
        tracing::info!(
            "interrupt flag discovery did not run ({outcome:?}, {} snapshots)",
            snaps.len()
        );
        return None;
    }
    let poke = Poke::discover(&snaps[0], &snaps[1], &snaps[2]);
    tracing::debug!(
        "interrupt flag discovery: {poke:?} in {:?}",
        started.elapsed()
    );
    poke
}
