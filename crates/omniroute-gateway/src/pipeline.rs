//! The request pipeline: resolve the model to ordered candidates, then for each one translate
//! the request, call the upstream and classify the outcome; a retryable failure before anything
//! reached the client moves on to the next candidate.
//!
//! ```text
//! body ─ peek (model, stream) ─ candidates ─┬─ translate request ─ send ─┬─ 2xx: translate response / stream ─▶ client
//!                                           │                            └─ retryable failure ─▶ next candidate
//!                                           └─ no candidate left ─▶ last failure, in the client's shape
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use omniroute_providers::{Endpoint, Failure, FailureKind, Provider, ResolveError, build_request};
use omniroute_translate::{
    ErrorKind, Format, MaxTokensField, RequestOptions, ResponseContext, StreamTranslator,
    peek_request, translate_error, translate_request, translate_response,
};

use crate::app::App;
use crate::auth::{self, Access};
use crate::body::SseBody;
use crate::budget::worst_case;
use crate::ledger::Ledger;
use crate::reply::{self, Reply};
use crate::routes::{Candidate, PlanError, Routes};

/// Largest upstream non-streaming response read into memory.
const MAX_UPSTREAM_BODY: usize = 256 << 20;

/// What the endpoint learned from the URL.
pub(crate) struct Call {
    pub(crate) format: Format,
    pub(crate) access: Access,
    /// Gemini clients name the model in the path.
    pub(crate) path_model: Option<String>,
    /// Gemini clients choose streaming by method name.
    pub(crate) path_stream: Option<bool>,
    /// The client's `anthropic-beta` header, forwarded to Anthropic-format upstreams (Claude
    /// Code turns on features such as interleaved thinking with it).
    pub(crate) anthropic_beta: Option<http::HeaderValue>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn resolve_error(format: Format, e: &PlanError) -> Reply {
    let kind = match e {
        PlanError::Resolve(ResolveError::Ambiguous { .. }) => ErrorKind::InvalidRequest,
        _ => ErrorKind::NotFound,
    };
    reply::error(format, kind, &e.to_string())
}

/// Checks the key, then resolves the model to candidates.
pub(crate) fn plan(routes: &Routes, call: &Call, model: &str) -> Result<Vec<Candidate>, Reply> {
    if let Access::Key(k) = &call.access
        && !auth::allows(k, model)
    {
        let msg = format!("this API key may not use model `{model}`");
        return Err(reply::error(call.format, ErrorKind::PermissionDenied, &msg));
    }
    routes.candidates(model).map_err(|e| resolve_error(call.format, &e))
}

/// How a request for `model` on provider `p` is translated.
pub(crate) fn request_options(p: &Provider, model: &str, stream: bool) -> RequestOptions {
    RequestOptions {
        model: Some(model.to_owned()),
        keep_developer_role: p.quirks.keep_developer_role,
        max_tokens_field: if p.quirks.max_completion_tokens {
            MaxTokensField::MaxCompletionTokens
        } else {
            MaxTokensField::MaxTokens
        },
        reasoning_content_history: p.quirks.reasoning_content_history,
        system_as_user: p.quirks.system_as_user,
        stream_usage: !p.quirks.no_stream_options,
        stream: Some(stream),
        ..RequestOptions::default()
    }
}

/// Output tokens assumed for a budget reservation when the request sets no limit.
const DEFAULT_OUTPUT_RESERVE: u64 = 8192;

/// Reserves the request's worst-case cost on its key's budget. Input is bounded by the body
/// (at most one token per two bytes of JSON), output by the request's own limit.
fn reserve(
    app: &App,
    routes: &Routes,
    call: &Call,
    candidates: &[Candidate],
    body_len: usize,
    max_output: Option<u64>,
    ledger: &mut Ledger,
) -> Result<(), Reply> {
    let Access::Key(key) = &call.access else { return Ok(()) };
    let amount = if key.daily_budget.is_some() || key.monthly_budget.is_some() {
        let input = (body_len as u64).div_ceil(2);
        let output = max_output.unwrap_or(DEFAULT_OUTPUT_RESERVE);
        candidates
            .iter()
            .filter_map(|c| routes.price(c))
            .map(|p| worst_case(p, input, output))
            .max()
            .unwrap_or(0)
    } else {
        0
    };
    let now = crate::apply::now_ms();
    if let Err(e) =
        app.budgets.reserve(&key.name, key.daily_budget, key.monthly_budget, amount, now)
    {
        let msg = format!(
            "the {} budget of API key `{}` would be exceeded: limit ${:.4}, already spent or reserved ${:.4}, this request may cost up to ${:.4}",
            e.period,
            key.name,
            crate::apply::usd(e.limit),
            crate::apply::usd(e.committed),
            crate::apply::usd(amount)
        );
        return Err(reply::error(call.format, ErrorKind::RateLimit, &msg));
    }
    ledger.charge_to(app.budgets.clone(), amount);
    Ok(())
}

/// Chat-like generation on any endpoint.
pub(crate) async fn generate(app: &App, call: Call, body: Bytes) -> Reply {
    let f = call.format;
    let facts = match peek_request(f, &body) {
        Ok(facts) => facts,
        Err(e) => return reply::error(f, ErrorKind::InvalidRequest, &e.to_string()),
    };
    let Some(model) = call.path_model.clone().or(facts.model) else {
        return reply::error(f, ErrorKind::InvalidRequest, "the request has no `model`");
    };
    let stream = call.path_stream.unwrap_or(facts.stream);
    let key = match &call.access {
        Access::Key(k) => Some(k.name.as_str()),
        _ => None,
    };
    let mut ledger = Ledger::new(app.usage.clone(), key, &model, f, stream);
    let routes = app.routes();
    let candidates = match plan(&routes, &call, &model) {
        Ok(c) => c,
        Err(r) => {
            ledger.finish(r.status().as_u16(), None, false, Some("no_route"));
            return r;
        }
    };
    if let Some(limits) = routes.capture {
        ledger.capture(app.capture.clone(), limits, body.clone());
    }
    if let Err(r) =
        reserve(app, &routes, &call, &candidates, body.len(), facts.max_output_tokens, &mut ledger)
    {
        ledger.finish(r.status().as_u16(), None, false, Some("budget_exceeded"));
        return r;
    }
    let mut last: Option<(Format, Failure)> = None;
    for cand in candidates {
        let p = &cand.provider;
        let opts = request_options(p, &cand.model, stream);
        let translated = match translate_request(f, p.format, &body, &opts) {
            Ok(t) => t,
            Err(e) => {
                ledger.finish(400, None, false, Some("invalid_request"));
                return reply::error(f, ErrorKind::InvalidRequest, &e.to_string());
            }
        };
        ledger.target(&cand, routes.price(&cand));
        let req = match build_request(
            p,
            &cand.connection,
            Endpoint::Generate { stream },
            &cand.model,
            translated.body.into(),
        ) {
            Ok(mut r) => {
                if p.format == Format::Anthropic
                    && let Some(beta) = &call.anthropic_beta
                {
                    r.headers_mut().insert("anthropic-beta", beta.clone());
                }
                r
            }
            Err(e) => {
                last = Some((p.format, Failure::new(FailureKind::Config, e.to_string())));
                continue;
            }
        };
        let stats = app.stats_for(&p.id);
        let resp = match app.client.send(req).await {
            Ok(r) => {
                stats.success(now());
                r
            }
            Err(failure) => {
                stats.failure(now(), failure.label(), failure.status());
                let retry = failure.is_retryable();
                last = Some((p.format, failure));
                if retry {
                    continue;
                }
                break;
            }
        };
        let ctx = ResponseContext {
            tool_names: translated.tool_names,
            now: now(),
            include_usage: facts.include_usage,
            normalize: !p.quirks.strip_response_fields.is_empty(),
            // Used only if the upstream reports no usage; about four bytes per token.
            estimated_input_tokens: (body.len() as u64).div_ceil(4),
            ..ResponseContext::default()
        };
        if stream {
            let translator = StreamTranslator::new(p.format, f, ctx);
            return reply::sse(SseBody::new(resp.into_body(), translator, app.stream_idle, ledger));
        }
        let bytes = match Limited::new(resp.into_body(), MAX_UPSTREAM_BODY).collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => {
                last = Some((
                    p.format,
                    Failure::new(FailureKind::Protocol, "the upstream response was cut off"),
                ));
                continue;
            }
        };
        ledger.first_byte();
        return match translate_response(p.format, f, &bytes, &ctx) {
            Ok(t) => {
                ledger.captured(&t.body);
                ledger.finish(200, t.usage, t.usage_estimated, None);
                reply::json(StatusCode::OK, t.body)
            }
            Err(e) => {
                ledger.finish(502, None, false, Some("unreadable_response"));
                let msg = format!("the upstream sent a response that could not be read: {e}");
                reply::error(f, ErrorKind::Server, &msg)
            }
        };
    }
    let label = last.as_ref().map_or("no_candidate", |(_, failure)| failure.label());
    let r = failure_reply(f, last);
    ledger.finish(r.status().as_u16(), None, false, Some(label));
    r
}

/// The final failure, in the client's shape: the upstream's own status and message when it
/// gave one, never its credentials (they are only ever in request headers).
pub(crate) fn failure_reply(f: Format, last: Option<(Format, Failure)>) -> Reply {
    match last {
        None => reply::error(f, ErrorKind::Server, "no upstream could be tried"),
        Some((upstream, failure)) => match (&failure.kind, &failure.body) {
            (FailureKind::Status(s), Some(body)) => {
                let (status, body) = translate_error(upstream, f, *s, body);
                let mut r = reply::json(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                    body,
                );
                if let Some(ra) = failure.retry_after
                    && let Ok(v) = http::HeaderValue::from_str(&ra.as_secs().max(1).to_string())
                {
                    r.headers_mut().insert(http::header::RETRY_AFTER, v);
                }
                r
            }
            _ => {
                let kind = match failure.kind {
                    FailureKind::Timeout => ErrorKind::Timeout,
                    _ => ErrorKind::Server,
                };
                reply::error_with_status(f, failure.status(), kind, &failure.message)
            }
        },
    }
}

/// Forwards a request whose shape the upstream shares (embeddings, count_tokens) with only the
/// model rewritten.
pub(crate) async fn forward(
    app: &App,
    cand: &Candidate,
    endpoint: Endpoint,
    f: Format,
    body: &[u8],
) -> Result<Reply, (Format, Failure)> {
    let opts = RequestOptions { model: Some(cand.model.clone()), ..RequestOptions::default() };
    let translated = translate_request(f, f, body, &opts)
        .map_err(|e| (f, Failure::new(FailureKind::Config, e.to_string())))?;
    let p = &cand.provider;
    let req = build_request(p, &cand.connection, endpoint, &cand.model, translated.body.into())
        .map_err(|e| (p.format, Failure::new(FailureKind::Config, e.to_string())))?;
    let resp = app.client.send(req).await.map_err(|e| (p.format, e))?;
    let bytes = Limited::new(resp.into_body(), MAX_UPSTREAM_BODY)
        .collect()
        .await
        .map_err(|_| {
            (p.format, Failure::new(FailureKind::Protocol, "the upstream response was cut off"))
        })?
        .to_bytes();
    Ok(reply::json(StatusCode::OK, bytes))
}
