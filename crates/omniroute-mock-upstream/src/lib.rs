//! A deterministic upstream that speaks all four formats (OpenAI Chat, Anthropic Messages,
//! Gemini, OpenAI Responses), streamed and not, and fails on demand.
//!
//! Behaviour is chosen by the model name the upstream receives, so tests steer it through the
//! gateway without side channels:
//! - `fail-429` → 429 with `Retry-After: 1`; `fail-500`, `fail-503`, `fail-400`, `fail-401` → that status,
//!   each with an error body in the format's own shape;
//! - `flaky-<pct>` → fails `pct` % of the requests for that model name, spread evenly and
//!   deterministically, alternating 500 and 429 (without `Retry-After`);
//! - `slow-<ms>` → waits that long before the response headers;
//! - `cut` → a stream that stops after its first events, without its end marker;
//! - `stall` → a stream that sends its first events, then goes quiet for 5 s;
//! - `long` → a stream of 500 words, 10 ms apart, that notices when its reader goes away
//!   ([`Mock::aborted_streams`]).
//!
//! Otherwise it answers: a call to the first tool (arguments filled from the tool's schema)
//! when tools are offered and the last turn is not a tool result; an echo of the tool result
//! when it is; else `Hello from mock: <last user text>`. Every request is recorded and can be
//! read back with `GET /_mock/requests`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use omniroute_translate::{
    Format, ResponseContext, StreamTranslator, translate_request, translate_response,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Request path and query.
    pub path: String,
    /// Header names and values (credentials included: this is a test double).
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: Value,
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Recorded>>,
    aborted: std::sync::atomic::AtomicUsize,
    /// Requests seen per `flaky-<pct>` model.
    flaky: Mutex<std::collections::HashMap<String, u64>>,
}

/// A running mock.
pub struct Mock {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Mock {
    /// Starts a mock on `127.0.0.1` with a free port.
    pub async fn start() -> std::io::Result<Mock> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a mock on the given address.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Mock> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let s = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    conn = listener.accept() => {
                        let Ok((stream, _)) = conn else { continue };
                        let s = s.clone();
                        tokio::spawn(async move {
                            let svc = service_fn(move |req| handle(s.clone(), req));
                            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                    _ = &mut stopped => break,
                }
            }
        });
        Ok(Mock { addr, state, _stop: stop })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Streams whose reader went away before the end.
    pub fn aborted_streams(&self) -> usize {
        self.state.aborted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

/// Which format a path speaks, and for Gemini the model and whether it streams.
fn route(path: &str) -> Option<(Format, Option<String>, Option<bool>)> {
    if path.ends_with("/chat/completions") {
        Some((Format::OpenAiChat, None, None))
    } else if path.ends_with("/v1/messages") {
        Some((Format::Anthropic, None, None))
    } else if path.ends_with("/responses") {
        Some((Format::Responses, None, None))
    } else if let Some(rest) = ["/v1beta/models/", "/v1/models/"]
        .iter()
        .find_map(|p| path.find(p).map(|i| &path[i + p.len()..]))
    {
        let (model, method) = rest.rsplit_once(':')?;
        Some((Format::Gemini, Some(model.to_owned()), Some(method == "streamGenerateContent")))
    } else {
        None
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let path_q = req.uri().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    if req.method() == http::Method::GET && path == "/health" {
        return Ok(full(StatusCode::OK, "application/json", r#"{"status":"ok"}"#));
    }
    if req.method() == http::Method::GET && path == "/_mock/requests" {
        let list: Vec<Value> = state
            .requests
            .lock()
            .map(|r| {
                r.iter()
                    .map(|x| json!({"path": x.path, "headers": x.headers, "body": x.body}))
                    .collect()
            })
            .unwrap_or_default();
        return Ok(full(StatusCode::OK, "application/json", Value::Array(list).to_string()));
    }
    let body = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut r) = state.requests.lock() {
        r.push(Recorded { path: path_q, headers, body: parsed.clone() });
    }
    if path.ends_with("/embeddings") {
        let n = parsed["input"].as_array().map_or(1, Vec::len);
        let data: Vec<Value> =
            (0..n).map(|i| json!({"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3, i as f64]})).collect();
        let out = json!({"object": "list", "data": data, "model": parsed["model"], "usage": {"prompt_tokens": 4, "total_tokens": 4}});
        return Ok(full(StatusCode::OK, "application/json", out.to_string()));
    }
    if path.ends_with(":countTokens") {
        return Ok(full(
            StatusCode::OK,
            "application/json",
            json!({"totalTokens": body.len() / 4}).to_string(),
        ));
    }
    if path.ends_with("/count_tokens") {
        return Ok(full(
            StatusCode::OK,
            "application/json",
            json!({"input_tokens": body.len() / 4}).to_string(),
        ));
    }
    let Some((format, path_model, path_stream)) = route(&path) else {
        return Ok(full(
            StatusCode::NOT_FOUND,
            "application/json",
            r#"{"error":{"message":"no such mock route"}}"#,
        ));
    };
    let model =
        path_model.or_else(|| parsed["model"].as_str().map(str::to_owned)).unwrap_or_default();
    let stream = path_stream.unwrap_or_else(|| parsed["stream"].as_bool().unwrap_or(false));

    if let Some(ms) = model
        .split("slow-")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let flaky = model
        .split("flaky-")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse::<u64>().ok())
        .and_then(|pct| {
            let mut seen = state.flaky.lock().ok()?;
            let n = seen.entry(model.clone()).or_insert(0);
            *n += 1;
            // Multiplying by a number coprime to 100 spreads the failures evenly.
            ((*n * 37) % 100 < pct).then_some(if (*n * 37 / 100) % 2 == 0 { 500u16 } else { 429 })
        });
    for (tag, status) in [
        ("fail-429", 429u16),
        ("fail-500", 500),
        ("fail-503", 503),
        ("fail-400", 400),
        ("fail-401", 401),
    ] {
        if model.contains(tag) || flaky == Some(status) {
            let kind = omniroute_translate::ErrorKind::from_status(status);
            let body =
                omniroute_translate::error_body(format, kind, &format!("mock failure {status}"));
            let mut r = full(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "application/json",
                body,
            );
            if status == 429 && flaky.is_none() {
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            }
            return Ok(r);
        }
    }

    // Read the request through the OpenAI lens to decide the answer.
    let chat: Value = translate_request(format, Format::OpenAiChat, &body, &Default::default())
        .ok()
        .and_then(|t| serde_json::from_slice(&t.body).ok())
        .unwrap_or_else(|| if format == Format::OpenAiChat { parsed.clone() } else { Value::Null });
    let mut completion = answer(&chat, &model, body.len());
    let long = model.contains("long");
    if long {
        completion["choices"][0]["message"]["content"] = Value::from(vec!["word"; 500].join(" "));
    }
    let ctx = ResponseContext { now: 1_700_000_000, ..Default::default() };
    if !stream {
        let bytes = serde_json::to_vec(&completion).unwrap_or_default();
        let out = translate_response(Format::OpenAiChat, format, &bytes, &ctx)
            .map(|t| t.body)
            .unwrap_or(bytes);
        return Ok(full(StatusCode::OK, "application/json", out));
    }
    let chunks = chunks_of(&completion);
    let cut = model.contains("cut");
    let stall = model.contains("stall");
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
    let st = state.clone();
    tokio::spawn(async move {
        let mut t = StreamTranslator::new(Format::OpenAiChat, format, ctx);
        let total = chunks.len();
        for (i, c) in chunks.into_iter().enumerate() {
            if cut && i * 2 >= total {
                return; // drop the connection's body mid-stream
            }
            let mut out = Vec::new();
            t.feed(c.as_bytes(), &mut out);
            if !out.is_empty() && tx.send(Ok(Frame::data(Bytes::from(out)))).await.is_err() {
                st.aborted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                return;
            }
            if stall && i == 1 {
                tokio::time::sleep(Duration::from_secs(5)).await;
            } else if long {
                tokio::time::sleep(Duration::from_millis(10)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
        let mut out = Vec::new();
        let _ = t.finish(&mut out);
        if !out.is_empty() {
            let _ = tx.send(Ok(Frame::data(Bytes::from(out)))).await;
        }
    });
    let body = ChannelBody(rx).boxed();
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/event-stream"));
    Ok(r)
}

/// A response body fed by a channel, so the stream can pause and be cut like a real one.
struct ChannelBody(mpsc::Receiver<Result<Frame<Bytes>, Infallible>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx)
    }
}

fn answer(chat: &Value, model: &str, body_len: usize) -> Value {
    let messages = chat["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let tools = chat["tools"].as_array().cloned().unwrap_or_default();
    let text_of = |m: &Value| -> String {
        match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => {
                parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(" ")
            }
            _ => String::new(),
        }
    };
    let prompt_tokens = (body_len / 4).max(1) as u64;
    let (message, finish, words) = if last["role"] == "tool" {
        let t = format!("Tool result received: {}", text_of(&last));
        let n = t.split_whitespace().count();
        (json!({"role": "assistant", "content": t}), "stop", n)
    } else if let Some(tool) = tools.first() {
        let f = &tool["function"];
        let args = args_for(&f["parameters"]);
        (
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_mock_1", "type": "function",
                "function": {"name": f["name"], "arguments": args.to_string()}}]}),
            "tool_calls",
            3,
        )
    } else {
        let user =
            messages.iter().rev().find(|m| m["role"] == "user").map(text_of).unwrap_or_default();
        let t = format!("Hello from mock: {user}");
        let n = t.split_whitespace().count();
        (json!({"role": "assistant", "content": t}), "stop", n)
    };
    json!({
        "id": "chatcmpl-mock-1", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": words, "total_tokens": prompt_tokens + words as u64}
    })
}

/// Arguments that satisfy a schema's required properties.
fn args_for(schema: &Value) -> Value {
    let mut out = serde_json::Map::new();
    let props = schema["properties"].as_object().cloned().unwrap_or_default();
    for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let v = match props.get(name).and_then(|p| p["type"].as_str()) {
            Some("number" | "integer") => json!(1),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => json!("Paris"),
        };
        out.insert(name.to_owned(), v);
    }
    Value::Object(out)
}

/// The completion as OpenAI stream chunks: role, content word by word (or the tool call with
/// its arguments in two pieces), finish, usage, `[DONE]`.
fn chunks_of(c: &Value) -> Vec<String> {
    let base = |delta: Value, finish: Value| {
        json!({"id": c["id"], "object": "chat.completion.chunk", "created": c["created"], "model": c["model"],
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let m = &c["choices"][0]["message"];
    let mut out = vec![base(json!({"role": "assistant", "content": ""}), Value::Null)];
    if let Some(text) = m["content"].as_str() {
        for (i, w) in text.split(' ').enumerate() {
            let piece = if i == 0 { w.to_owned() } else { format!(" {w}") };
            out.push(base(json!({"content": piece}), Value::Null));
        }
    }
    for (i, tc) in m["tool_calls"].as_array().into_iter().flatten().enumerate() {
        let args = tc["function"]["arguments"].as_str().unwrap_or("{}");
        let mid = args.len() / 2;
        let (a, b) = args.split_at(
            args.char_indices().map(|(i, _)| i).find(|&i| i >= mid).unwrap_or(args.len()),
        );
        out.push(base(
            json!({"tool_calls": [{"index": i, "id": tc["id"], "type": "function", "function": {"name": tc["function"]["name"], "arguments": a}}]}),
            Value::Null,
        ));
        out.push(base(
            json!({"tool_calls": [{"index": i, "function": {"arguments": b}}]}),
            Value::Null,
        ));
    }
    out.push(base(json!({}), c["choices"][0]["finish_reason"].clone()));
    let mut usage = base(json!({}), Value::Null);
    usage["choices"] = json!([]);
    usage["usage"] = c["usage"].clone();
    out.push(usage);
    let mut lines: Vec<String> = out.into_iter().map(|v| format!("data: {v}\n\n")).collect();
    lines.push("data: [DONE]\n\n".into());
    lines
}
