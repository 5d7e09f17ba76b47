//! Health, embeddings and token counting.

use bytes::Bytes;
use http::StatusCode;
use omniroute_providers::Endpoint;
use omniroute_translate::{ErrorKind, Format, peek_request};
use serde_json::json;

use crate::app::App;
use crate::auth::Access;
use crate::pipeline::{self, Call};
use crate::reply::{self, Reply};
use crate::routes::Candidate;

pub(super) fn health() -> Reply {
    reply::json(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// Per-provider state: what is reachable, and how its calls went since start-up.
pub(super) fn api_health(app: &App) -> Reply {
    reply::json(StatusCode::OK, health_json(app).to_string())
}

/// The health report (`GET /api/health`, the `get_health` tool).
pub(crate) fn health_json(app: &App) -> serde_json::Value {
    use std::sync::atomic::Ordering::Relaxed;
    let routes = app.routes();
    let providers: Vec<_> = routes
        .registry
        .providers()
        .iter()
        .filter(|p| routes.usable(p))
        .map(|p| {
            let s = app.stats_of(&p.id);
            let get = |f: fn(&crate::app::ProviderStats) -> u64| s.as_deref().map_or(0, f);
            let (ok, failed) = (get(|s| s.ok.load(Relaxed)), get(|s| s.failed.load(Relaxed)));
            let (last_ok, last_failed) =
                (get(|s| s.last_ok.load(Relaxed)), get(|s| s.last_failed.load(Relaxed)));
            let status = match (ok + failed, last_failed > last_ok) {
                (0, _) => "idle",
                (_, true) => "failing",
                (_, false) => "ok",
            };
            let last_failure = s
                .as_deref()
                .and_then(|s| s.last_failure.lock().ok().and_then(|l| *l))
                .map(|(kind, code)| json!({"kind": kind, "status": code, "at": last_failed}));
            json!({"id": p.id, "format": p.format.id(), "status": status,
                "connections": routes.connections.get(&p.id).map_or(0, Vec::len),
                "requests_ok": ok, "requests_failed": failed, "last_failure": last_failure})
        })
        .collect();
    let now = u64::try_from(crate::apply::now_ms()).unwrap_or(0);
    let report = app.health.lock().map(|h| h.report(now)).ok();
    let (breakers, connections, locks) = match report {
        Some(r) => (
            serde_json::to_value(r.providers).unwrap_or_default(),
            serde_json::to_value(r.connections).unwrap_or_default(),
            serde_json::to_value(r.locks).unwrap_or_default(),
        ),
        None => (json!([]), json!([]), json!([])),
    };
    json!({
        "status": "ok",
        "now": now,
        "providers": providers,
        "breakers": breakers,
        "connections": connections,
        "model_locks": locks,
    })
}

/// Reads the model of a request and plans its candidates.
async fn plan(
    app: &App,
    access: Access,
    f: Format,
    body: &[u8],
) -> Result<(String, Vec<Candidate>), Reply> {
    let model = peek_request(f, body)
        .map_err(|e| reply::error(f, ErrorKind::InvalidRequest, &e.to_string()))?
        .model;
    let model = model
        .ok_or_else(|| reply::error(f, ErrorKind::InvalidRequest, "the request has no `model`"))?;
    let call = Call {
        format: f,
        access,
        path_model: None,
        path_stream: None,
        anthropic_beta: None,
        idempotency_key: None,
        session: None,
        internal: false,
    };
    let needs = omniroute_routing::RequestNeeds::default();
    let candidates = pipeline::plan(app, &app.routes(), &call, &model, &needs).await?.candidates;
    Ok((model, candidates))
}

/// `POST /v1/embeddings`, to OpenAI-format providers that serve them.
pub(super) async fn embeddings(app: &App, access: Access, body: Bytes) -> Reply {
    let f = Format::OpenAiChat;
    let (model, candidates) = match plan(app, access, f, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut last = None;
    for cand in candidates
        .iter()
        .filter(|c| c.provider.format == Format::OpenAiChat && c.provider.quirks.embeddings)
    {
        match pipeline::forward(app, cand, Endpoint::Embeddings, f, &body).await {
            Ok(r) => return r,
            Err((fmt, failure)) => {
                let retry = failure.is_retryable();
                last = Some((fmt, failure));
                if !retry {
                    break;
                }
            }
        }
    }
    if last.is_none() {
        let msg = format!("no provider of `{model}` serves OpenAI-format embeddings");
        return reply::error(f, ErrorKind::InvalidRequest, &msg);
    }
    pipeline::failure_reply(f, last)
}

/// `POST /v1/messages/count_tokens`: Anthropic upstreams count; for others the count is an
/// estimate (4 bytes of text per token), since they offer no counting endpoint of this shape.
pub(super) async fn count_tokens(app: &App, access: Access, body: Bytes) -> Reply {
    let f = Format::Anthropic;
    let candidates = match plan(app, access, f, &body).await {
        Ok((_, c)) => c,
        Err(r) => return r,
    };
    if let Some(cand) = candidates.iter().find(|c| c.provider.format == Format::Anthropic)
        && let Ok(r) = pipeline::forward(app, cand, Endpoint::CountTokens, f, &body).await
    {
        return r;
    }
    let estimate = estimate_tokens(&body);
    reply::json(StatusCode::OK, json!({ "input_tokens": estimate }).to_string())
}

/// `POST /v1beta/models/{model}:countTokens` (Gemini CLI calls it often): Gemini upstreams
/// count, others get the same estimate as `count_tokens`.
pub(super) async fn gemini_count_tokens(
    app: &App,
    access: Access,
    model: String,
    body: Bytes,
) -> Reply {
    let f = Format::Gemini;
    let call = Call {
        format: f,
        access,
        path_model: Some(model.clone()),
        path_stream: None,
        anthropic_beta: None,
        idempotency_key: None,
        session: None,
        internal: false,
    };
    let needs = omniroute_routing::RequestNeeds::default();
    let candidates = match pipeline::plan(app, &app.routes(), &call, &model, &needs).await {
        Ok(p) => p.candidates,
        Err(r) => return r,
    };
    if let Some(cand) = candidates.iter().find(|c| c.provider.format == Format::Gemini)
        && let Ok(r) = pipeline::forward(app, cand, Endpoint::CountTokens, f, &body).await
    {
        return r;
    }
    reply::json(StatusCode::OK, json!({ "totalTokens": estimate_tokens(&body) }).to_string())
}

/// Counts the characters of every string value in the request, about four per token.
fn estimate_tokens(body: &[u8]) -> u64 {
    fn walk(v: &serde_json::Value, n: &mut u64) {
        match v {
            serde_json::Value::String(s) => *n += s.len() as u64,
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, n)),
            serde_json::Value::Object(o) => {
                o.iter().filter(|(k, _)| *k != "model").for_each(|(_, x)| walk(x, n))
            }
            _ => {}
        }
    }
    let mut n = 0;
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        walk(&v, &mut n);
    }
    n.div_ceil(4).max(1)
}
