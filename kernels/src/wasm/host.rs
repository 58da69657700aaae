//! The host side of the guest's door: the store's data and what each
//! opcode does (see harness.py for the guest side), and the epoch tick
//! that flushes output, raises interrupts and enforces the hard stop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;
use wasmtime::{
    Caller, Engine, Linker, Memory, StoreContextMut, StoreLimits, TypedFunc, UpdateDeadline,
};
use wasmtime_wasi::p1::WasiP1Ctx;

use super::control::Control;
use super::poke::{FlagInterrupt, Poke};
use crate::error::{KernelError, Result};
use crate::event::{InputAnswer, KernelEvent, StreamName};

/// Flush buffered stream text at least this often while a cell runs.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// ... or once this much is buffered.
const FLUSH_BYTES: usize = 64 * 1024;
/// How long a cooperative interrupt may go undelivered before a hard stop.
const HARD_STOP_GRACE: Duration = Duration::from_secs(3);

/// Why a turn stopped without returning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// An interrupt was not delivered in time (code stuck in native code).
    Interrupt,
    /// The execution exceeded its time limit and did not stop cooperatively.
    Timeout,
    /// Restart or shutdown.
    Requested,
}

#[derive(Debug)]
pub struct HardStop(pub StopReason);

impl std::fmt::Display for HardStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "guest stopped by host ({:?})", self.0)
    }
}

impl std::error::Error for HardStop {}

/// The execution a turn serves.
pub struct ExecCtx {
    pub events: mpsc::Sender<KernelEvent>,
    pub count: u64,
    pub output: usize,
    pub limit_hit: bool,
    pub error: Option<(String, String)>,
    pub deadline: Option<Instant>,
    pub timed_out: bool,
    /// The client serves stdin; otherwise `input()` raises at once, as
    /// ipykernel's does for a request with `allow_stdin: false`.
    pub allow_stdin: bool,
}

/// The store's data: WASI, limits, and the door's state.
pub struct HostState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
    output_limit: usize,
    control: Arc<Control>,
    memory: Option<Memory>,
    alloc: Option<TypedFunc<i32, i32>>,
    /// The JSON request the next `G` returns.
    request: Vec<u8>,
    /// The answer to a non-execute request (`R`).
    pub query_reply: Option<Value>,
    pub exec: Option<ExecCtx>,
    pending: Option<(StreamName, String)>,
    last_flush: Instant,
    /// Interrupts up to this sequence number were delivered or ignored.
    seen_seq: u64,
    /// An interrupt requested but not yet delivered, since when.
    undelivered: Option<Instant>,
    /// CPython's interrupt flags, where discovery found them (poke.rs).
    flags: FlagInterrupt,
    /// Raised flags were withdrawn at the door: its answer must be `K`.
    interrupt_due: bool,
    /// Memory snapshots taken for interrupt-flag discovery.
    pub snapshots: Vec<Vec<u8>>,
}

impl HostState {
    pub fn new(
        wasi: WasiP1Ctx,
        limits: StoreLimits,
        output_limit: usize,
        control: Arc<Control>,
    ) -> HostState {
        HostState {
            wasi,
            limits,
            output_limit,
            control,
            memory: None,
            alloc: None,
            request: Vec::new(),
            query_reply: None,
            exec: None,
            pending: None,
            last_flush: Instant::now(),
            seen_seq: 0,
            undelivered: None,
            flags: FlagInterrupt::default(),
            interrupt_due: false,
            snapshots: Vec::new(),
        }
    }

    pub fn store_limits(&mut self) -> &mut StoreLimits {
        &mut self.limits
    }

    /// The instance's memory and allocator, once it exists.
    pub fn attach(&mut self, memory: Memory, alloc: TypedFunc<i32, i32>) {
        self.memory = Some(memory);
        self.alloc = Some(alloc);
    }

    pub fn set_request_bytes(&mut self, bytes: &[u8]) {
        self.request = bytes.to_vec();
    }

    /// See [`super::guest::Guest::reset_interrupts`].
    pub fn forget_interrupts(&mut self, mem: &mut [u8], since: Option<u64>) {
        self.flags.withdraw(mem);
        let now = self.control.lock().interrupt_seq;
        self.seen_seq = since.map_or(now, |s| s.min(now));
        self.undelivered = None;
        self.interrupt_due = false;
    }

    fn flush(&mut self) {
        if let Some((name, text)) = self.pending.take() {
            if let Some(exec) = &self.exec {
                // Blocking send: a slow reader slows the guest, memory stays bounded.
                let _ = exec
                    .events
                    .blocking_send(KernelEvent::Stream { name, text });
            }
        }
        self.last_flush = Instant::now();
    }

    fn emit(&mut self, event: KernelEvent) {
        self.flush();
        if let Some(exec) = &self.exec {
            let _ = exec.events.blocking_send(event);
        }
    }

    /// `K` if an interrupt arrived since the last one delivered.
    fn interrupt_answer(&mut self) -> Vec<u8> {
        let seq = self.control.lock().interrupt_seq;
        if seq != self.seen_seq || std::mem::take(&mut self.interrupt_due) {
            self.seen_seq = seq;
            self.undelivered = None;
            return b"K".to_vec();
        }
        if let Some(exec) = &mut self.exec {
            if !exec.timed_out && exec.deadline.is_some_and(|d| Instant::now() >= d) {
                exec.timed_out = true;
                return b"K".to_vec();
            }
        }
        Vec::new()
    }

    pub fn set_request(&mut self, v: &Value) {
        self.request = serde_json::to_vec(v).unwrap_or_default();
    }

    pub fn set_poke(&mut self, poke: Option<Poke>) {
        self.flags.set(poke);
    }

    pub fn end_exec(&mut self) -> Option<ExecCtx> {
        self.flush();
        self.exec.take()
    }

    fn write(&mut self, name: StreamName, bytes: &[u8]) -> Vec<u8> {
        let Some(exec) = &mut self.exec else {
            return Vec::new();
        };
        if exec.limit_hit {
            return b"L".to_vec();
        }
        exec.output += bytes.len();
        if exec.output > self.output_limit {
            exec.limit_hit = true;
            let msg = format!(
                "the cell printed more than the output limit of {} bytes; the rest was discarded",
                self.output_limit
            );
            return [b"L".as_slice(), msg.as_bytes()].concat();
        }
        let text = String::from_utf8_lossy(bytes);
        match &mut self.pending {
            Some((n, buf)) if *n == name => buf.push_str(&text),
            _ => {
                self.flush();
                self.pending = Some((name, text.into_owned()));
            }
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|(_, b)| b.len() >= FLUSH_BYTES)
        {
            self.flush();
        }
        self.interrupt_answer()
    }

    fn message(&mut self, json: &[u8]) -> Vec<u8> {
        let Ok(v) = serde_json::from_slice::<Value>(json) else {
            tracing::warn!("guest sent unparseable message");
            return Vec::new();
        };
        let obj = |k: &str| {
            v.get(k)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let count = self.exec.as_ref().map(|e| e.count);
        let event = match v.get("type").and_then(Value::as_str) {
            Some("display_data") => KernelEvent::DisplayData {
                data: obj("data"),
                metadata: obj("metadata"),
                display_id: v
                    .get("display_id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            Some("update_display_data") => KernelEvent::UpdateDisplayData {
                data: obj("data"),
                metadata: obj("metadata"),
                display_id: s("display_id"),
            },
            Some("execute_result") => KernelEvent::ExecuteResult {
                execution_count: count,
                data: obj("data"),
                metadata: obj("metadata"),
            },
            Some("clear_output") => KernelEvent::ClearOutput {
                wait: v.get("wait").and_then(Value::as_bool).unwrap_or(false),
            },
            Some("error") => {
                let mut ename = s("ename");
                let mut evalue = s("evalue");
                let mut traceback: Vec<String> = v
                    .get("traceback")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|l| l.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(exec) = &self.exec {
                    if exec.timed_out && ename == "KeyboardInterrupt" {
                        ename = "TimeoutError".into();
                        evalue = "the cell exceeded the kernel's time limit".into();
                        traceback.push(
                            "TimeoutError: the cell exceeded the kernel's time limit\n".into(),
                        );
                    } else if exec.limit_hit && ename == "OutputLimitExceeded" {
                        evalue = format!("{evalue} (the kernel is still usable)");
                    }
                }
                if let Some(exec) = &mut self.exec {
                    exec.error.get_or_insert((ename.clone(), evalue.clone()));
                }
                KernelEvent::Error {
                    ename,
                    evalue,
                    traceback,
                }
            }
            other => {
                tracing::warn!("guest sent unknown message type {other:?}");
                return Vec::new();
            }
        };
        self.emit(event);
        self.interrupt_answer()
    }

    fn input(&mut self, json: &[u8]) -> Vec<u8> {
        let v: Value = serde_json::from_slice(json).unwrap_or_default();
        let prompt = v
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let password = v.get("password").and_then(Value::as_bool).unwrap_or(false);
        if self.exec.as_ref().is_none_or(|e| e.events.is_closed()) {
            return b"D".to_vec();
        }
        if self.exec.as_ref().is_some_and(|e| !e.allow_stdin) {
            return b"N".to_vec();
        }
        if self.interrupt_due {
            return self.interrupt_answer();
        }
        {
            let mut s = self.control.lock();
            s.input = None;
            s.input_wanted = true;
        }
        self.emit(KernelEvent::InputRequest { prompt, password });
        let seen = self.seen_seq;
        let events = self.exec.as_ref().map(|e| e.events.clone());
        let mut s = self.control.wait_until(None, |s| {
            s.input.is_some()
                || s.interrupt_seq != seen
                || s.hard_stop
                || events.as_ref().is_none_or(|e| e.is_closed())
        });
        s.input_wanted = false;
        let answer = s.input.take();
        drop(s);
        match answer {
            Some(InputAnswer::Value(v)) => [b"V".as_slice(), v.as_bytes()].concat(),
            Some(InputAnswer::Decline) => b"D".to_vec(),
            None => {
                let k = self.interrupt_answer();
                if k.is_empty() {
                    b"D".to_vec()
                } else {
                    k
                }
            }
        }
    }

    fn sleep(&mut self, arg: &[u8]) -> Vec<u8> {
        self.flush();
        let secs: f64 = std::str::from_utf8(arg)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0.0);
        let mut until = Instant::now() + Duration::from_secs_f64(secs.clamp(0.0, 1e9));
        if let Some(d) = self.exec.as_ref().and_then(|e| e.deadline) {
            until = until.min(d);
        }
        let seen = self.seen_seq;
        if !self.interrupt_due {
            drop(
                self.control
                    .wait_until(Some(until), |s| s.interrupt_seq != seen || s.hard_stop),
            );
        }
        self.interrupt_answer()
    }

    fn door(&mut self, req: &[u8]) -> Vec<u8> {
        let (op, rest) = match req.split_first() {
            Some((op, rest)) => (*op, rest),
            None => return Vec::new(),
        };
        match op {
            b'O' => self.write(StreamName::Stdout, rest),
            b'E' => self.write(StreamName::Stderr, rest),
            b'M' => self.message(rest),
            b'I' => self.input(rest),
            b'S' => self.sleep(rest),
            b'G' => self.request.clone(),
            b'R' => {
                self.query_reply = serde_json::from_slice(rest).ok();
                Vec::new()
            }
            // P and Q are handled in `door()`, which has the memory.
            b'P' | b'Q' => Vec::new(),
            _ => Vec::new(),
        }
    }

    /// Called every epoch tick while wasm runs; `Ok(true)` asks for the
    /// interrupt flags to be raised.
    fn tick(&mut self) -> std::result::Result<bool, HardStop> {
        if self.pending.is_some() && self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush();
        }
        let (seq, hard) = {
            let s = self.control.lock();
            (s.interrupt_seq, s.hard_stop)
        };
        if hard {
            return Err(HardStop(StopReason::Requested));
        }
        // Only a running cell is interrupted through the flags; any other
        // turn (completion, inspection) ends by itself.
        let can_raise = self.flags.available() && self.exec.is_some();
        let mut raise = false;
        if seq != self.seen_seq {
            self.seen_seq = seq;
            self.undelivered = Some(Instant::now());
            raise = can_raise;
        }
        if let Some(exec) = &mut self.exec {
            if !exec.timed_out && exec.deadline.is_some_and(|d| Instant::now() >= d) {
                exec.timed_out = true;
                self.undelivered = Some(Instant::now());
                raise = can_raise;
            }
        }
        if let Some(since) = self.undelivered {
            if since.elapsed() >= HARD_STOP_GRACE {
                let timed_out = self.exec.as_ref().is_some_and(|e| e.timed_out);
                return Err(HardStop(if timed_out {
                    StopReason::Timeout
                } else {
                    StopReason::Interrupt
                }));
            }
        }
        Ok(raise)
    }
}

pub fn linker(engine: &Engine) -> Result<Linker<HostState>> {
    let mut linker: Linker<HostState> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut HostState| &mut s.wasi)
        .map_err(|e| KernelError::Wasm(e.to_string()))?;
    linker
        .func_wrap("host", "call", door)
        .map_err(|e| KernelError::Wasm(e.to_string()))?;
    Ok(linker)
}

/// `host.call(ptr, len, out_ptr_ptr, out_len_ptr) -> 0 | -2`.
fn door(
    mut caller: Caller<'_, HostState>,
    ptr: i32,
    len: i32,
    out_ptr_ptr: i32,
    out_len_ptr: i32,
) -> wasmtime::Result<i32> {
    const FAULT: i32 = -2;
    let (Some(memory), Some(alloc)) = (caller.data().memory, caller.data().alloc.clone()) else {
        return Ok(FAULT);
    };
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    let request = {
        let data = memory.data(&caller);
        match data.get(ptr..ptr.saturating_add(len)) {
            Some(r) => r.to_vec(),
            None => return Ok(FAULT),
        }
    };
    let answer = match request.first() {
        // Snapshot memory for interrupt-flag discovery (see poke.rs).
        Some(b'P') => {
            let snap = memory.data(&caller).to_vec();
            caller.data_mut().snapshots.push(snap);
            Vec::new()
        }
        // Raise the discovered interrupt flags now (to verify them).
        Some(b'Q') => {
            let (mem, state) = memory.data_and_store_mut(&mut caller);
            state.flags.raise(mem);
            Vec::new()
        }
        // Doors that can answer `K`: an interrupt raised through the flags
        // that CPython has not taken yet is answered here instead, once.
        Some(b'O' | b'E' | b'M' | b'I' | b'S') => {
            let (mem, state) = memory.data_and_store_mut(&mut caller);
            if state.flags.is_raised() {
                if state.flags.withdraw(mem) {
                    state.interrupt_due = true;
                }
                state.undelivered = None;
            }
            state.door(&request)
        }
        _ => caller.data_mut().door(&request),
    };
    let p = alloc.call(&mut caller, answer.len() as i32)? as u32 as usize;
    if p == 0 {
        return Ok(FAULT);
    }
    let data = memory.data_mut(&mut caller);
    let (op, ol) = (out_ptr_ptr as u32 as usize, out_len_ptr as u32 as usize);
    if p.saturating_add(answer.len()) > data.len()
        || op.saturating_add(4) > data.len()
        || ol.saturating_add(4) > data.len()
    {
        return Ok(FAULT);
    }
    data[p..p + answer.len()].copy_from_slice(&answer);
    data[op..op + 4].copy_from_slice(&(p as u32).to_le_bytes());
    data[ol..ol + 4].copy_from_slice(&(answer.len() as u32).to_le_bytes());
    Ok(0)
}

/// Called every epoch tick (10 ms) while wasm runs.
pub fn on_epoch(mut ctx: StoreContextMut<'_, HostState>) -> wasmtime::Result<UpdateDeadline> {
    let Some(memory) = ctx.data().memory else {
        ctx.data_mut().tick().map_err(wasmtime::Error::new)?;
        return Ok(UpdateDeadline::Continue(1));
    };
    let (mem, state) = memory.data_and_store_mut(&mut ctx);
    // Raised flags that CPython has since taken were delivered.
    if state.flags.taken(mem) {
        state.undelivered = None;
    }
    if state.tick().map_err(wasmtime::Error::new)? {
        state.flags.raise(mem);
    }
    Ok(UpdateDeadline::Continue(1))
}
