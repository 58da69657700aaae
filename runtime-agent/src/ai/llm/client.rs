//! One pooled HTTP client for every chat-completions call the agent makes,
//! against any OpenAI-compatible endpoint (OpenAI, Ollama's `/v1`, vLLM, LM
//! Studio, OpenRouter), always streamed.
//!
//! Timeouts never cut a long answer: there is a connect timeout and an
//! idle timeout between two pieces of the stream, no total. A 429 or 503
//! before the stream starts is retried, waiting what `Retry-After` says
//! (seconds or an HTTP date, at most a minute) or backing off; anything
//! else is an error naming the status and the provider's own message.

use super::sse::{SseEvent, SseParser};
use super::stream::{Assembler, Delta, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

/// Where a model is served.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Up to and including `/v1`: `{base_url}/chat/completions` is called.
    pub base_url: String,
    pub api_key: Option<String>,
}

pub struct ChatRequest {
    pub model: String,
    /// OpenAI chat messages, as JSON.
    pub messages: Vec<Value>,
    /// OpenAI tool definitions (`{"type": "function", "function": …}`).
    pub tools: Vec<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the provider answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("could not reach the provider: {0}")]
    Transport(String),
    #[error("the provider's stream broke off: {0}")]
    Stream(String),
    #[error("the provider sent nothing for {0} s")]
    Idle(u64),
}

#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    /// Longest silence inside a stream before it counts as dead.
    idle: Duration,
    /// Retries of a 429 or 503 before the stream starts.
    retries: u32,
    /// The first back-off when the provider gives no `Retry-After`.
    backoff: Duration,
}

/// The longest `Retry-After` honoured.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

impl LlmClient {
    pub fn new() -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| LlmError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            idle: Duration::from_secs(180),
            retries: 4,
            backoff: Duration::from_secs(1),
        })
    }

    /// For tests: a shorter idle limit and back-off.
    pub fn with_limits(mut self, idle: Duration, backoff: Duration) -> Self {
        self.idle = idle;
        self.backoff = backoff;
        self
    }

    /// Send `request` and stream the answer, telling `on_delta` each piece
    /// as it arrives. Dropping the future drops the HTTP stream.
    pub async fn stream(
        &self,
        endpoint: &Endpoint,
        request: &ChatRequest,
        mut on_delta: impl FnMut(Delta),
    ) -> Result<Response, LlmError> {
        let mut body = json!({
            "model": request.model,
            "messages": request.messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if !request.tools.is_empty() {
            body["tools"] = Value::Array(request.tools.clone());
            body["tool_choice"] = json!("auto");
        }
        let url = format!(
            "{}/chat/completions",
            endpoint.base_url.trim_end_matches('/')
        );
        let response = self.send_with_retries(&url, endpoint, &body).await?;
        let mut parser = SseParser::default();
        let mut assembler = Assembler::default();
        let mut bytes = response.bytes_stream();
        loop {
            let next = tokio::time::timeout(self.idle, bytes.next())
                .await
                .map_err(|_| LlmError::Idle(self.idle.as_secs()))?;
            let events = match next {
                Some(Ok(chunk)) => parser.push(&chunk),
                Some(Err(e)) => return Err(LlmError::Stream(e.to_string())),
                None => {
                    // Ended without `[DONE]`: complete only if the model
                    // said why it stopped.
                    let last = parser.finish().into_iter().collect::<Vec<_>>();
                    for event in last {
                        if let SseEvent::Data(data) = event {
                            apply(&mut assembler, &data, &mut on_delta)?;
                        }
                    }
                    let response = assembler.finish();
                    if response.finish_reason.is_none() {
                        return Err(LlmError::Stream(
                            "the stream ended before the answer did".into(),
                        ));
                    }
                    return Ok(response);
                }
            };
            for event in events {
                match event {
                    SseEvent::Done => return Ok(assembler.finish()),
                    SseEvent::Data(data) => apply(&mut assembler, &data, &mut on_delta)?,
                }
            }
        }
    }

    async fn send_with_retries(
        &self,
        url: &str,
        endpoint: &Endpoint,
        body: &Value,
    ) -> Result<reqwest::Response, LlmError> {
        let mut attempt = 0;
        loop {
            let mut request = self.http.post(url).json(body);
            if let Some(key) = &endpoint.api_key {
                request = request.bearer_auth(key);
            }
            let response = request
                .send()
                .await
                .map_err(|e| LlmError::Transport(without_url(&e)))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retryable = matches!(status.as_u16(), 429 | 503);
            if retryable && attempt < self.retries {
                let wait = retry_after(response.headers())
                    .unwrap_or_else(|| self.backoff.saturating_mul(1 << attempt))
                    .min(MAX_RETRY_WAIT);
                tracing::warn!(
                    status = status.as_u16(),
                    wait_ms = wait.as_millis() as u64,
                    "provider asked to retry"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            return Err(LlmError::Http {
                status: status.as_u16(),
                message: provider_message(&text),
            });
        }
    }
}

fn apply(
    assembler: &mut Assembler,
    data: &str,
    on_delta: &mut impl FnMut(Delta),
) -> Result<(), LlmError> {
    let chunk: Value = serde_json::from_str(data)
        .map_err(|e| LlmError::Stream(format!("a chunk was not JSON ({e})")))?;
    for delta in assembler.push(&chunk).map_err(|e| LlmError::Stream(e.0))? {
        on_delta(delta);
    }
    Ok(())
}

/// The provider's own message from an error body (`{"error": {"message"}}`,
/// or the text itself, cut short).
fn provider_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error"))
                .or_else(|| v.get("message"))
        })
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| body.trim().to_owned());
    message.chars().take(2000).collect()
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds.max(0.0)).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// A transport error's text without its URL (which may carry a key in a
/// query string for some providers).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "the provider");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_messages_are_found() {
        assert_eq!(
            provider_message(r#"{"error": {"message": "model not found", "type": "x"}}"#),
            "model not found"
        );
        assert_eq!(provider_message(r#"{"error": "bad key"}"#), "bad key");
        assert_eq!(provider_message("  gateway timeout "), "gateway timeout");
    }

    #[test]
    fn retry_after_in_seconds_or_a_date() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        let later = std::time::SystemTime::now() + Duration::from_secs(30);
        h.insert(
            reqwest::header::RETRY_AFTER,
            httpdate::fmt_http_date(later).parse().unwrap(),
        );
        let wait = retry_after(&h).unwrap();
        assert!(
            wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28),
            "{wait:?}"
        );
    }
}
