//! The gateway over real sockets, in front of the project's mock upstream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use omniroute_gateway::{App, Config, Server};
use omniroute_mock_upstream::Mock;
use serde_json::{Value, json};

mod admin;
mod agents;
mod routing;

struct Env {
    mock: Mock,
    addr: SocketAddr,
    /// The data directory (database, key file).
    dir: std::path::PathBuf,
    client: Client<HttpConnector, Full<Bytes>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The admin token every test server accepts.
const ADMIN: &str = "test-admin-token-0123456789";
/// The admin password of every test server.
const PASSWORD: &str = "test-password-42";

async fn start(extra: &str) -> Env {
    start_with("", extra).await
}

/// A fresh data directory per test.
fn data_dir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("omniroute-gw-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn start_with(server_extra: &str, extra: &str) -> Env {
    start_at(data_dir(), server_extra, extra).await
}

/// Starts a server on an existing (or new) data directory.
async fn start_at(dir: std::path::PathBuf, server_extra: &str, extra: &str) -> Env {
    let mock = Mock::start().await.unwrap();
    let url = mock.url();
    let toml = format!(
        r#"
[server]
port = 0
max_body_bytes = 4096
{server_extra}

[[providers]]
id = "mock-openai"
prefix = "mo"
format = "openai"
base_url = "{url}/v1"
models = ["gpt-mock"]

[[providers]]
id = "mock-claude"
prefix = "mc"
format = "claude"
base_url = "{url}"
models = ["claude-mock"]

[[providers]]
id = "mock-gemini"
format = "gemini"
base_url = "{url}"
models = ["gemini-mock"]

[[providers]]
id = "mock-responses"
format = "responses"
base_url = "{url}/v1"
models = ["codex-mock"]

[[connections]]
provider = "mock-openai"
api_key = "upstream-secret-openai"

[[connections]]
provider = "mock-claude"
api_key = "upstream-secret-claude"

[[connections]]
provider = "mock-gemini"
api_key = "upstream-secret-gemini"

[[connections]]
provider = "mock-responses"
api_key = "upstream-secret-responses"

[[combos]]
name = "fallback"
strategy = "priority"
targets = ["mc/fail-503", "mo/gpt-mock"]

[[combos]]
name = "hard-fail"
targets = ["mc/fail-400", "mo/gpt-mock"]
{extra}
"#
    );
    let config = Config::from_toml(&toml, Path::new("test.toml")).unwrap();
    let data = omniroute_storage::DataDir::open(&dir, None).unwrap();
    let writer = omniroute_storage::UsageWriter::start(
        data.db.clone(),
        omniroute_storage::WriterConfig {
            batch_window: std::time::Duration::from_millis(20),
            ..Default::default()
        },
    )
    .unwrap();
    let app = App::open(&config, &|_| None, data).unwrap().with_usage(writer);
    app.register_admin_token(ADMIN).unwrap();
    app.ensure_admin_password(Some(PASSWORD)).unwrap();
    let server = Server::bind(app).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let client = Client::builder(TokioExecutor::new()).build_http();
    Env { mock, addr, dir, client, _stop: stop }
}

impl Env {
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (u16, http::HeaderMap, Bytes) {
        let mut req =
            http::Request::builder().method(method).uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self.client.request(req.body(Full::new(body.into())).unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, _, b) = self
            .send("POST", path, &[("content-type", "application/json")], body.to_string())
            .await;
        (
            s,
            serde_json::from_slice(&b)
                .unwrap_or(Value::String(String::from_utf8_lossy(&b).into_owned())),
        )
    }

    /// A management call with the admin token.
    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {ADMIN}");
        let (s, _, b) = self
            .send(
                method,
                path,
                &[("authorization", &auth), ("content-type", "application/json")],
                body.map(|b| b.to_string()).unwrap_or_default(),
            )
            .await;
        (
            s,
            serde_json::from_slice(&b)
                .unwrap_or(Value::String(String::from_utf8_lossy(&b).into_owned())),
        )
    }

    async fn post_raw(&self, path: &str, body: Value) -> (u16, String) {
        let (s, _, b) = self
            .send("POST", path, &[("content-type", "application/json")], body.to_string())
            .await;
        (s, String::from_utf8_lossy(&b).into_owned())
    }
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi there"}]})
}

#[tokio::test]
async fn openai_client_reaches_every_upstream_format() {
    let env = start("").await;
    for model in
        ["mo/gpt-mock", "mc/claude-mock", "mock-gemini/gemini-mock", "mock-responses/codex-mock"]
    {
        let (s, v) = env.post("/v1/chat/completions", chat(model, false)).await;
        assert_eq!(s, 200, "{model}: {v}");
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["content"], "Hello from mock: hi there", "{model}");
        assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn streams_arrive_in_the_clients_format() {
    let env = start("").await;
    let (s, text) = env
        .post_raw(
            "/v1/messages",
            json!({"model": "mo/gpt-mock", "max_tokens": 50, "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(text.trim_end().ends_with("data: {\"type\":\"message_stop\"}"), "{text}");
    assert!(!text.contains("\n:"), "no comment lines");
    let (_, text) = env.post_raw("/v1/chat/completions", chat("mc/claude-mock", true)).await;
    assert_eq!(text.matches("data: [DONE]").count(), 1);
    assert!(text.contains("Hello"));
    // The body decides, not the Accept header.
    let (_, h, _) = env
        .send(
            "POST",
            "/v1/chat/completions",
            &[("accept", "application/json")],
            chat("mo/gpt-mock", true).to_string(),
        )
        .await;
    assert_eq!(h["content-type"], "text/event-stream");
}

#[tokio::test]
async fn gemini_routes_take_the_model_from_the_path() {
    let env = start("").await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let (s, v) = env.post("/v1beta/models/mo/gpt-mock:generateContent", body.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], "Hello from mock: hi");
    let (s, text) =
        env.post_raw("/v1beta/models/mc/claude-mock:streamGenerateContent?alt=sse", body).await;
    assert_eq!(s, 200);
    assert!(text.contains("finishReason"), "{text}");
}

#[tokio::test]
async fn combos_fall_back_on_retryable_failures_only() {
    let env = start("").await;
    let (s, v) = env.post("/v1/chat/completions", chat("fallback", false)).await;
    assert_eq!(s, 200, "{v}");
    let paths: Vec<String> = env.mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v1/messages", "/v1/chat/completions"]);

    let (s, v) = env
        .post(
            "/v1/messages",
            json!({"model": "hard-fail", "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["type"], "error");
    assert_eq!(env.mock.requests().len(), 3, "a 400 must not fall back");
}

#[tokio::test]
async fn errors_use_the_clients_shape_and_hide_upstream_keys() {
    let env = start("").await;
    let (s, v) = env.post("/v1/chat/completions", chat("nope/x", false)).await;
    assert_eq!(s, 404);
    assert!(v["error"]["message"].as_str().unwrap().contains("/v1/models"));
    let (s, v) = env
        .post("/v1/messages", json!({"model": "ghost-model", "max_tokens": 1, "messages": []}))
        .await;
    assert_eq!((s, v["type"].as_str()), (404, Some("error")));
    let (s, v) =
        env.post("/v1beta/models/mc/fail-429:generateContent", json!({"contents": []})).await;
    assert_eq!(s, 429);
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    let (s, _, b) = env.send("POST", "/v1/chat/completions", &[], "{not json").await;
    assert_eq!(s, 400);
    assert!(serde_json::from_slice::<Value>(&b).unwrap()["error"]["message"].is_string());
    let (s, _, _) = env.send("POST", "/v1/chat/completions", &[], vec![b' '; 5000]).await;
    assert_eq!(s, 413);
    for model in ["mc/fail-500", "mo/fail-503", "fallback"] {
        let (_, text) = env.post_raw("/v1/chat/completions", chat(model, false)).await;
        assert!(!text.contains("upstream-secret"), "{text}");
    }
}

#[tokio::test]
async fn client_keys_are_enforced_when_configured() {
    let env = start("[[api_keys]]\nname = \"t\"\nkey = \"sk-test\"\nmodels = [\"mo/*\"]\n").await;
    let body = chat("mo/gpt-mock", false).to_string();
    let (s, _, _) = env.send("POST", "/v1/chat/completions", &[], body.clone()).await;
    assert_eq!(s, 401);
    for h in [
        ("authorization", "Bearer sk-test"),
        ("x-api-key", "sk-test"),
        ("x-goog-api-key", "sk-test"),
    ] {
        let (s, _, _) = env.send("POST", "/v1/chat/completions", &[h], body.clone()).await;
        assert_eq!(s, 200, "{h:?}");
    }
    let (s, _, _) = env.send("POST", "/v1/chat/completions?key=sk-test", &[], body).await;
    assert_eq!(s, 200);
    let (s, _, _) = env
        .send(
            "POST",
            "/v1/chat/completions",
            &[("x-api-key", "sk-test")],
            chat("mc/claude-mock", false).to_string(),
        )
        .await;
    assert_eq!(s, 403, "the key only allows mo/*");
    let (s, _, _) = env.send("GET", "/health", &[], "").await;
    assert_eq!(s, 200, "liveness needs no key");
}

#[tokio::test]
async fn model_lists_name_every_reachable_target() {
    let env = start("").await;
    let (s, _, b) = env.send("GET", "/v1/models", &[], "").await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_slice(&b).unwrap();
    let ids: Vec<&str> =
        v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"mock-openai/gpt-mock") && ids.contains(&"fallback"), "{ids:?}");
    assert!(
        !ids.iter().any(|i| i.starts_with("openai/")),
        "providers without a connection are not listed"
    );
    let (_, _, b) = env.send("GET", "/v1beta/models", &[], "").await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert!(
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "models/mock-claude/claude-mock")
    );
}

#[tokio::test]
async fn upstream_requests_carry_the_providers_auth_and_model() {
    let env = start("").await;
    env.post("/v1/chat/completions", chat("mc/claude-mock", false)).await;
    let r = &env.mock.requests()[0];
    assert_eq!(r.path, "/v1/messages");
    assert!(r.headers.iter().any(|(k, v)| k == "x-api-key" && v == "upstream-secret-claude"));
    assert!(r.headers.iter().any(|(k, v)| k == "anthropic-version" && v == "2023-06-01"));
    assert_eq!(r.body["model"], "claude-mock");
    assert!(r.body["max_tokens"].as_u64().is_some());
}

#[tokio::test]
async fn a_cut_stream_ends_with_an_error_event() {
    let env = start("").await;
    let (s, text) = env
        .post_raw(
            "/v1/messages",
            json!({"model": "mo/cut", "max_tokens": 5, "stream": true,
            "messages": [{"role": "user", "content": "one two three four five six"}]}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(text.contains("event: error"), "{text}");
    assert!(!text.contains("message_stop"));
}

#[tokio::test]
async fn embeddings_and_token_counts() {
    let env = start("").await;
    let (s, v) =
        env.post("/v1/embeddings", json!({"model": "mo/gpt-mock", "input": ["a", "b"]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let (s, v) = env
        .post(
            "/v1/messages/count_tokens",
            json!({"model": "mc/claude-mock",
        "messages": [{"role": "user", "content": "hello"}]}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(v["input_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_upstream_stream() {
    let env = start("").await;
    let req = http::Request::post(format!("http://{}/v1/messages", env.addr))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            json!({"model": "mo/long", "max_tokens": 5, "stream": true,
            "messages": [{"role": "user", "content": "go"}]})
            .to_string(),
        )))
        .unwrap();
    let resp = env.client.request(req).await.unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body); // the client goes away mid-stream
    for _ in 0..100 {
        if env.mock.aborted_streams() == 1 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the upstream stream was not cancelled");
}

#[tokio::test]
async fn a_slow_upstream_times_out_and_falls_back() {
    let env = start_with(
        "request_timeout_ms = 300",
        "[[combos]]\nname = \"slow-first\"\ntargets = [\"mc/slow-2000\", \"mo/gpt-mock\"]\n",
    )
    .await;
    let t = std::time::Instant::now();
    let (s, v) = env.post("/v1/chat/completions", chat("slow-first", false)).await;
    assert_eq!(s, 200, "{v}");
    assert!(t.elapsed() < std::time::Duration::from_millis(1500));
    let (s, v) = env.post("/v1/chat/completions", chat("mc/slow-2000", false)).await;
    assert_eq!(s, 504, "{v}");
    assert_eq!(v["error"]["type"], "server_error");
}

#[tokio::test]
async fn a_quiet_stream_is_ended_after_the_idle_timeout() {
    let env = start_with("stream_idle_timeout_ms = 200", "").await;
    let t = std::time::Instant::now();
    let (s, text) = env.post_raw("/v1/chat/completions", chat("mo/stall", true)).await;
    assert_eq!(s, 200);
    assert!(t.elapsed() < std::time::Duration::from_secs(3), "took {:?}", t.elapsed());
    assert!(text.contains("\"error\""), "{text}");
    assert!(!text.contains("[DONE]"), "a cut stream must not look complete");
}

#[tokio::test]
async fn api_health_reports_each_providers_calls() {
    let env = start("").await;
    env.post("/v1/chat/completions", chat("fallback", false)).await; // claude fails, openai answers
    let (s, _, b) = env.send("GET", "/api/health", &[], "").await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_slice(&b).unwrap();
    let p = |id: &str| {
        v["providers"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap().clone()
    };
    assert_eq!(p("mock-claude")["status"], "failing");
    assert_eq!(p("mock-claude")["last_failure"]["status"], 503);
    assert_eq!(p("mock-openai")["status"], "ok");
    assert_eq!(p("mock-gemini")["status"], "idle");
}

#[tokio::test]
async fn gemini_token_counts_and_anthropic_beta_headers() {
    let env = start("").await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "count me please"}]}]});
    let (s, v) = env.post("/v1beta/models/mock-gemini/gemini-mock:countTokens", body.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["totalTokens"].as_u64().unwrap() > 0);
    assert!(env.mock.requests().last().unwrap().path.ends_with("gemini-mock:countTokens"));
    let (s, v) = env.post("/v1beta/models/mo/gpt-mock:countTokens", body).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["totalTokens"].as_u64().unwrap() > 0, "estimated for non-Gemini upstreams");

    let beta = "interleaved-thinking-2025-05-14";
    let msg = json!({"model": "mc/claude-mock", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
    let (s, _, _) = env
        .send("POST", "/v1/messages?beta=true", &[("anthropic-beta", beta)], msg.to_string())
        .await;
    assert_eq!(s, 200);
    let last = env.mock.requests().last().unwrap().clone();
    assert!(last.headers.iter().any(|(k, v)| k == "anthropic-beta" && v == beta));
}

#[tokio::test]
async fn h2c_clients_are_served() {
    let env = start("").await;
    let h2: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    let req = http::Request::post(format!("http://{}/v1/chat/completions", env.addr))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(chat("mo/gpt-mock", false).to_string())))
        .unwrap();
    let resp = h2.request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn every_finished_request_gets_one_usage_row() {
    let env = start("").await;
    let path = env.dir.join("omniroute.db");
    env.post("/v1/chat/completions", chat("mc/claude-mock", false)).await;
    env.post_raw(
        "/v1/messages",
        json!({"model": "mo/gpt-mock", "max_tokens": 9, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    env.post("/v1/chat/completions", chat("nope/x", false)).await;
    env.post("/v1/chat/completions", chat("fallback", false)).await;
    /// requested model, provider, status, input, output, stream, error class
    type Row = (String, Option<String>, i64, i64, i64, i64, Option<String>);
    let rows = || -> Vec<Row> {
        let c = rusqlite::Connection::open(&path).unwrap();
        let mut st = c
            .prepare("SELECT requested_model, provider, status, input_tokens, output_tokens, stream, error_class FROM usage ORDER BY id")
            .unwrap();
        st.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let mut got = Vec::new();
    for _ in 0..100 {
        got = rows();
        if got.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(got.len(), 4, "{got:?}");
    let by_model = |m: &str| got.iter().find(|r| r.0 == m).unwrap().clone();
    let r = by_model("mc/claude-mock");
    assert_eq!((r.1.as_deref(), r.2, r.5), (Some("mock-claude"), 200, 0));
    assert!(r.3 > 0 && r.4 > 0, "tokens from the upstream's usage: {r:?}");
    let r = by_model("mo/gpt-mock");
    assert_eq!((r.2, r.5), (200, 1));
    assert!(r.4 > 0, "streamed usage is recorded: {r:?}");
    let r = by_model("nope/x");
    assert_eq!((r.2, r.6.as_deref()), (404, Some("no_route")));
    let r = by_model("fallback");
    assert_eq!(
        (r.1.as_deref(), r.2),
        (Some("mock-openai"), 200),
        "the row names the target that answered"
    );
}
