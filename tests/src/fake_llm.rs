//! A scripted OpenAI-compatible chat-completions server: the one stand-in
//! the tests allow (there is no network). It streams exactly as OpenAI
//! does (SSE `data:` chunks of `chat.completion.chunk`; a tool call's first
//! fragment with `index`, `id`, `type`, `name` and empty `arguments`, later
//! fragments with only `index` and argument pieces; an empty delta with
//! `finish_reason`; with `include_usage` a last chunk with `choices: []` and
//! the usage; `data: [DONE]`), answers each request with the next scripted
//! turn, and records every request for the test to check.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One piece of a streamed answer.
#[derive(Clone, Debug)]
pub enum Chunk {
    Content(String),
    Reasoning(String),
    /// A tool call's first fragment.
    ToolStart {
        index: u32,
        id: String,
        name: String,
    },
    /// A later fragment: a piece of the arguments.
    ToolArgs {
        index: u32,
        piece: String,
    },
    Finish(String),
    Usage {
        prompt: u64,
        completion: u64,
    },
    /// Wait before the next chunk.
    Pause(Duration),
}

/// A turn decided from the request it answers (the cell a tool created,
/// say).
pub type Decide = Arc<dyn Fn(&Value) -> Turn + Send + Sync>;

/// How the server answers one request.
#[derive(Clone)]
pub enum Turn {
    /// Decided when the request arrives.
    Dynamic(Decide),
    /// Stream these chunks, then `[DONE]`.
    Stream(Vec<Chunk>),
    /// Stream these chunks, then cut the connection.
    BreakAfter(Vec<Chunk>),
    /// An HTTP error with this body and, if given, `Retry-After`.
    Status {
        code: u16,
        retry_after: Option<String>,
        body: String,
    },
}

/// A plain answer: its text in small pieces, finished, with usage.
pub fn answer(text: &str) -> Turn {
    let mut chunks: Vec<Chunk> = text
        .chars()
        .collect::<Vec<_>>()
        .chunks(7)
        .map(|c| Chunk::Content(c.iter().collect()))
        .collect();
    chunks.push(Chunk::Finish("stop".into()));
    chunks.push(Chunk::Usage {
        prompt: 100,
        completion: 20,
    });
    Turn::Stream(chunks)
}

/// Tool calls (id, name, arguments JSON), each call's arguments cut into
/// pieces of `piece` characters, interleaved as parallel calls stream.
pub fn tool_calls(calls: &[(&str, &str, &str)], piece: usize) -> Turn {
    let mut chunks = Vec::new();
    for (i, (id, name, _)) in calls.iter().enumerate() {
        chunks.push(Chunk::ToolStart {
            index: i as u32,
            id: (*id).into(),
            name: (*name).into(),
        });
    }
    let pieces: Vec<Vec<String>> = calls
        .iter()
        .map(|(_, _, args)| {
            args.chars()
                .collect::<Vec<_>>()
                .chunks(piece.max(1))
                .map(|c| c.iter().collect())
                .collect()
        })
        .collect();
    let longest = pieces.iter().map(Vec::len).max().unwrap_or(0);
    for n in 0..longest {
        for (i, p) in pieces.iter().enumerate() {
            if let Some(piece) = p.get(n) {
                chunks.push(Chunk::ToolArgs {
                    index: i as u32,
                    piece: piece.clone(),
                });
            }
        }
    }
    chunks.push(Chunk::Finish("tool_calls".into()));
    chunks.push(Chunk::Usage {
        prompt: 100,
        completion: 20,
    });
    Turn::Stream(chunks)
}

struct Shared {
    script: VecDeque<Turn>,
    requests: Vec<Value>,
    headers: Vec<HeaderMap>,
    /// When each request arrived, and when each answer's last chunk went.
    arrived: Vec<std::time::Instant>,
    finished: Vec<std::time::Instant>,
}

pub struct FakeLlm {
    pub base_url: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeLlm {
    pub async fn start(script: Vec<Turn>) -> FakeLlm {
        let shared = Arc::new(Mutex::new(Shared {
            script: script.into(),
            requests: Vec::new(),
            headers: Vec::new(),
            arrived: Vec::new(),
            finished: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Providers answer without Nagle's delay; so does the stand-in, or
        // the benchmark would time a 40 ms delayed-ACK of its own making.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm {
            base_url: format!("http://{addr}/v1"),
            shared,
            task,
        }
    }

    /// Add turns to the script.
    pub fn push(&self, turns: Vec<Turn>) {
        self.lock().script.extend(turns);
    }

    /// Every request received so far, as JSON bodies.
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }

    /// For each answer that was followed by another request, the time from
    /// its last chunk to that request (a tool call's overhead in the agent).
    pub fn gaps(&self) -> Vec<std::time::Duration> {
        let s = self.lock();
        s.finished
            .iter()
            .filter_map(|end| s.arrived.iter().find(|a| *a > end).map(|a| *a - *end))
            .collect()
    }

    /// The `Authorization` header of each request.
    pub fn authorizations(&self) -> Vec<String> {
        self.lock()
            .headers
            .iter()
            .map(|h| {
                h.get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }

    /// Everything the server received, as one string (for "never sent"
    /// checks).
    pub fn everything_received(&self) -> String {
        self.requests()
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn chunk_json(chunk: &Chunk) -> Option<Value> {
    let choice = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
               "model": "fake", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    Some(match chunk {
        Chunk::Content(t) => choice(json!({"content": t}), Value::Null),
        Chunk::Reasoning(t) => choice(json!({"reasoning_content": t}), Value::Null),
        Chunk::ToolStart { index, id, name } => choice(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
            Value::Null,
        ),
        Chunk::ToolArgs { index, piece } => choice(
            json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
            Value::Null,
        ),
        Chunk::Finish(reason) => choice(json!({}), json!(reason)),
        Chunk::Usage { prompt, completion } => json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
            "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion}}),
        Chunk::Pause(_) => return None,
    })
}

async fn completions(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let turn = {
        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
        s.requests.push(request.clone());
        s.headers.push(headers);
        s.arrived.push(std::time::Instant::now());
        s.script.pop_front()
    };
    let turn = match turn {
        Some(Turn::Dynamic(decide)) => Some(decide(&request)),
        other => other,
    };
    let Some(turn) = turn else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error": {"message": "the fake server's script ran out"}}"#,
        )
            .into_response();
    };
    let (chunks, broken) = match turn {
        Turn::Status {
            code,
            retry_after,
            body,
        } => {
            let mut response = (
                StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT),
                body,
            )
                .into_response();
            if let Some(r) = retry_after {
                if let Ok(v) = r.parse() {
                    response.headers_mut().insert("retry-after", v);
                }
            }
            return response;
        }
        Turn::Stream(chunks) => (chunks, false),
        Turn::BreakAfter(chunks) => (chunks, true),
        Turn::Dynamic(_) => unreachable!("decided above"),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    let timeline = shared.clone();
    tokio::spawn(async move {
        for chunk in chunks {
            if let Chunk::Pause(d) = chunk {
                tokio::time::sleep(d).await;
                continue;
            }
            if let Some(json) = chunk_json(&chunk) {
                if tx.send(Ok(format!("data: {json}\n\n"))).await.is_err() {
                    return;
                }
            }
        }
        if broken {
            let _ = tx
                .send(Err(std::io::Error::other("connection cut by the script")))
                .await;
        } else {
            let _ = tx.send(Ok("data: [DONE]\n\n".into())).await;
        }
        timeline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finished
            .push(std::time::Instant::now());
    });
    let stream = tokio_stream_from(rx);
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A dynamic turn.
pub fn decide(f: impl Fn(&Value) -> Turn + Send + Sync + 'static) -> Turn {
    Turn::Dynamic(Arc::new(f))
}

/// The `content` of the request's messages with this role, in order (the
/// text parts of a message made of parts, joined).
pub fn contents(request: &Value, role: &str) -> Vec<String> {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == role)
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            other => other.to_string(),
        })
        .collect()
}

/// The last tool result in the request, parsed.
pub fn last_tool_result(request: &Value) -> Value {
    contents(request, "tool")
        .last()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or(Value::Null)
}
