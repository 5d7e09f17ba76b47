//! The request pipeline: resolve the model to ordered candidates, then for each one translate
//! the request, call the upstream and classify the outcome; a retryable failure before anything
//! reached the client moves on to the next candidate.
//!
//! ```text
//! body ─ peek (model, stream) ─ candidates ─┬─ translate request ─ send ─┬─ 2xx: translate response / stream ─▶ client
//!                                           │                            └─ retryable failure ─▶ next candidate
//!                                           └─ no candidate left ─▶ last failure, in the client's shape
//! ```

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use omniroute_providers::{
    Endpoint, Failure, FailureKind, Provider, ResolveError, build_request, rate_limit_headers,
};
use omniroute_routing::classify::{Observed, Verdict, classify};
use omniroute_routing::{RequestNeeds, Strategy};
use omniroute_translate::{
    ErrorKind, Format, MaxTokensField, RequestOptions, ResponseContext, StreamTranslator,
    peek_request, translate_error, translate_request, translate_response,
};

use crate::app::App;
use crate::auth::{self, Access};
use crate::body::SseBody;
use crate::budget::worst_case;
use crate::ledger::Ledger;
use crate::plan::{self, Plan, Skipped};
use crate::relay;
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
    /// The client's `Idempotency-Key`.
    pub(crate) idempotency_key: Option<String>,
    /// The client's `x-session-id` (context-relay sessions).
    pub(crate) session: Option<String>,
    /// A call the gateway makes itself (a handoff summary): never relayed again.
    pub(crate) internal: bool,
}

pub(crate) fn resolve_error(format: Format, e: &PlanError) -> Reply {
    let kind = match e {
        PlanError::Resolve(ResolveError::Ambiguous { .. }) => ErrorKind::InvalidRequest,
        _ => ErrorKind::NotFound,
    };
    reply::error(format, kind, &e.to_string())
}

/// Checks the key, then plans the model's candidates, waiting (bounded) when every candidate
/// is cooling down or busy. An empty plan is answered with 503 and the reasons.
pub(crate) async fn plan(
    app: &App,
    routes: &Routes,
    call: &Call,
    model: &str,
    needs: &RequestNeeds,
) -> Result<Plan, Reply> {
    if let Access::Key(k) = &call.access
        && !auth::allows(k, model)
    {
        let msg = format!("this API key may not use model `{model}`");
        return Err(reply::error(call.format, ErrorKind::PermissionDenied, &msg));
    }
    let started = now_ms();
    loop {
        let now = now_ms();
        let plan = plan::plan(app, routes, model, needs, now, false)
            .map_err(|e| resolve_error(call.format, &e))?;
        if !plan.candidates.is_empty() {
            return Ok(plan);
        }
        let wait = plan.combo.as_ref().map_or(routes.settings.wait_for_cooldown_ms, |(_, _, c)| {
            c.queue_timeout_ms.min(routes.settings.wait_for_cooldown_ms)
        });
        let deadline = started + wait;
        let transient: Vec<&Skipped> = plan.skipped.iter().filter(|s| s.transient).collect();
        if transient.is_empty() || now >= deadline {
            return Err(nothing_free(call.format, &plan, now));
        }
        // Wake when the first cooldown ends (or soon, for busy targets), never past the
        // deadline.
        let next = transient.iter().filter_map(|s| s.until).min().unwrap_or(now + 50);
        let sleep = next.clamp(now + 1, deadline).min(now + 1_000) - now;
        tokio::time::sleep(std::time::Duration::from_millis(sleep)).await;
    }
}

fn nothing_free(f: Format, plan: &Plan, now: u64) -> Reply {
    let reasons: Vec<String> = plan
        .skipped
        .iter()
        .map(|s| match &s.connection {
            Some(c) => format!("{} ({c}): {}", s.target, s.reason),
            None => format!("{}: {}", s.target, s.reason),
        })
        .collect();
    let msg = format!("no upstream can take this request now: {}", reasons.join("; "));
    let mut r = reply::error_with_status(f, 503, ErrorKind::Overloaded, &msg);
    if let Some(until) = plan.skipped.iter().filter_map(|s| s.until).min()
        && let Ok(v) = http::HeaderValue::from_str(
            &until.saturating_sub(now).div_ceil(1000).max(1).to_string(),
        )
    {
        r.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    r
}

fn now_ms() -> u64 {
    u64::try_from(crate::apply::now_ms()).unwrap_or(0)
}

/// Counts an attempt in flight on the health state; unless it is resolved, dropping it (the
/// client left) tells the health state the attempt was abandoned.
struct Attempt<'a> {
    app: &'a App,
    provider: String,
    connection: String,
    resolved: bool,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.resolved {
            lock(&self.app.health).abandon(&self.provider, &self.connection);
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// Chat-like generation on any endpoint; with an `Idempotency-Key`, a repeat within the window
/// gets the stored answer instead of a second upstream call (non-streaming answers; a stream
/// is not stored, but a concurrent duplicate is still refused).
pub(crate) async fn generate(app: &App, call: Call, body: Bytes) -> Reply {
    let Some(idem) = call.idempotency_key.clone() else {
        return generate_once(app, call, body).await;
    };
    let window = app.routes().settings.idempotency_window_ms;
    let scope = match &call.access {
        Access::Key(k) => k.name.clone(),
        _ => String::new(),
    };
    let key = format!("{scope}\u{1f}{idem}");
    let digest = omniroute_storage::hash_client_key(&String::from_utf8_lossy(&body));
    let now = now_ms();
    {
        let mut map = lock(&app.idempotency);
        map.retain(|_, e| e.stored_at.is_none_or(|t| t + window > now));
        match map.get(&key) {
            Some(e) if e.digest != digest => {
                let msg = "this Idempotency-Key was used with a different request body";
                return reply::error_with_status(call.format, 422, ErrorKind::InvalidRequest, msg);
            }
            Some(Stored { answer: Some((status, content_type, bytes)), .. }) => {
                let mut r = reply::json(*status, bytes.clone());
                if let Ok(v) = http::HeaderValue::from_str(content_type) {
                    r.headers_mut().insert(http::header::CONTENT_TYPE, v);
                }
                r.headers_mut()
                    .insert("idempotent-replayed", http::HeaderValue::from_static("true"));
                return r;
            }
            Some(_) => {
                let msg = "a request with this Idempotency-Key is still in progress";
                return reply::error_with_status(call.format, 409, ErrorKind::InvalidRequest, msg);
            }
            None => {
                map.insert(key.clone(), Stored { digest, stored_at: None, answer: None });
            }
        }
    }
    let r = generate_once(app, call, body).await;
    let mut map = lock(&app.idempotency);
    let keep = window > 0
        && r.status().is_success()
        && matches!(r.body(), crate::reply::GatewayBody::Full(Some(_)));
    match (keep, r.body()) {
        (true, crate::reply::GatewayBody::Full(Some(bytes))) => {
            let content_type = r
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            if let Some(e) = map.get_mut(&key) {
                e.stored_at = Some(now_ms());
                e.answer = Some((r.status(), content_type, bytes.clone()));
            }
        }
        _ => {
            map.remove(&key);
        }
    }
    r
}

/// An `Idempotency-Key`'s request digest and, once finished, its answer.
#[derive(Debug)]
pub(crate) struct Stored {
    digest: String,
    stored_at: Option<u64>,
    answer: Option<(StatusCode, String, Bytes)>,
}

async fn generate_once(app: &App, call: Call, body: Bytes) -> Reply {
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
    // About four bytes of JSON per prompt token.
    let needs = RequestNeeds { tokens: (body.len() as u64) / 4, ..RequestNeeds::default() };
    let first_plan = match plan(app, &routes, &call, &model, &needs).await {
        Ok(p) => p,
        Err(r) => {
            let label = if r.status() == StatusCode::SERVICE_UNAVAILABLE {
                "all_cooling"
            } else {
                "no_route"
            };
            ledger.finish(r.status().as_u16(), None, false, Some(label));
            return r;
        }
    };
    if let Some(limits) = routes.capture {
        ledger.capture(app.capture.clone(), limits, body.clone());
    }
    // context-relay: a session moving to another target carries a summary along.
    let (mut body, mut body_format, mut relay_session) = (body, f, None);
    if !call.internal
        && let Some((name, Strategy::ContextRelay, config)) = &first_plan.combo
        && let Some(chat) = relay::as_chat(f, &body)
    {
        let sid = relay::session_id(call.session.as_deref(), key.unwrap_or(""), name, &chat);
        let next = first_plan.candidates.first().map(|c| c.target.clone());
        if let (Some(handoff), Some(prev), Some(next)) =
            (&config.handoff_model, app.relay.last(&sid, now_ms()), next)
            && prev != next
            && let Some(summary) = summarize(app, handoff, &chat).await
        {
            body = relay::with_summary(chat, &summary, &prev);
            body_format = Format::OpenAiChat;
        }
        relay_session = Some(sid);
    }
    if let Err(r) = reserve(
        app,
        &routes,
        &call,
        &first_plan.candidates,
        body.len(),
        facts.max_output_tokens,
        &mut ledger,
    ) {
        ledger.finish(r.status().as_u16(), None, false, Some("budget_exceeded"));
        return r;
    }
    let (passes, retry_delay) =
        first_plan.combo.as_ref().map_or((0, 0), |(_, _, c)| (c.max_retries, c.retry_delay_ms));
    let combo_name = first_plan.combo.as_ref().map(|(n, _, _)| n.clone());
    let per_model_limit = first_plan.combo.as_ref().and_then(|(_, _, c)| c.concurrency_per_model);
    let mut current = Some(first_plan);
    let mut last: Option<(Format, Failure)> = None;
    let mut attempts = 0u32;
    // A pass tries every candidate once; `max_retries` more passes may follow. A pass in which
    // every candidate turned unavailable before its turn (others took the slots) does not
    // count, up to three times.
    let (mut pass, mut idle) = (0u32, 0u32);
    'passes: loop {
        let tried_before = attempts;
        let this_plan = match current.take() {
            Some(p) => p,
            None => {
                if retry_delay > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(retry_delay)).await;
                }
                match plan(app, &routes, &call, &model, &needs).await {
                    Ok(p) => p,
                    Err(_) => break,
                }
            }
        };
        for cand in this_plan.candidates {
            let p = &cand.provider;
            let now = now_ms();
            {
                let mut health = lock(&app.health);
                if attempts == 0 {
                    health.note_request(now);
                } else if !health.try_retry(now) {
                    break 'passes;
                }
                if health.check(&p.id, &cand.connection.name, &cand.model, now).is_err() {
                    continue;
                }
                health.begin(&p.id, &cand.connection.name, now);
            }
            attempts += 1;
            let mut attempt = Attempt {
                app,
                provider: p.id.clone(),
                connection: cand.connection.name.clone(),
                resolved: false,
            };
            let opts = request_options(p, &cand.model, stream);
            let translated = match translate_request(body_format, p.format, &body, &opts) {
                Ok(t) => t,
                Err(e) => {
                    ledger.finish(400, None, false, Some("invalid_request"));
                    return reply::error(f, ErrorKind::InvalidRequest, &e.to_string());
                }
            };
            ledger.target(&cand, routes.price(&cand), app.health.clone());
            if per_model_limit.is_some() {
                ledger.hold_model_slot(app.router.clone(), cand.target.clone());
            }
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
            let sent = std::time::Instant::now();
            let resp = match app.client.send(req).await {
                Ok(r) => {
                    stats.success(now / 1000);
                    let headers = rate_limit_headers(r.headers());
                    let mut health = lock(&app.health);
                    health.succeed(
                        &p.id,
                        &cand.connection.name,
                        &cand.model,
                        sent.elapsed().as_millis() as u64,
                    );
                    if !headers.is_empty() {
                        health.learn(&p.id, &cand.connection.name, &headers, now_ms());
                    }
                    drop(health);
                    attempt.resolved = true;
                    if let Some(c) = &combo_name {
                        lock(&app.router).last_good.insert(c.clone(), cand.target.clone());
                    }
                    if let Some(sid) = &relay_session {
                        app.relay.served(sid, &cand.target, now_ms());
                    }
                    r
                }
                Err(failure) => {
                    stats.failure(now / 1000, failure.label(), failure.status());
                    let verdict = verdict_of(&failure, now_ms());
                    lock(&app.health).fail(
                        &p.id,
                        &cand.connection.name,
                        &cand.model,
                        &verdict,
                        &plan::profile(p),
                        now_ms(),
                    );
                    attempt.resolved = true;
                    last = Some((p.format, failure));
                    if verdict.fallback {
                        continue;
                    }
                    break 'passes;
                }
            };
            let ctx = ResponseContext {
                tool_names: translated.tool_names,
                now: now / 1000,
                include_usage: facts.include_usage,
                normalize: !p.quirks.strip_response_fields.is_empty(),
                // Used only if the upstream reports no usage; about four bytes per token.
                estimated_input_tokens: (body.len() as u64).div_ceil(4),
                ..ResponseContext::default()
            };
            let via = format!("{}/{}", p.id, cand.connection.name);
            if stream {
                let translator = StreamTranslator::new(p.format, f, ctx);
                let mut r =
                    reply::sse(SseBody::new(resp.into_body(), translator, app.stream_idle, ledger));
                tag(&mut r, &via, &format!("{}/{}", p.id, cand.model));
                return r;
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
            let mut r = match translate_response(p.format, f, &bytes, &ctx) {
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
            tag(&mut r, &via, &format!("{}/{}", p.id, cand.model));
            return r;
        }
        if last.as_ref().is_some_and(|(_, fl)| !verdict_of(fl, now_ms()).fallback) {
            break;
        }
        if attempts == tried_before {
            idle += 1;
            if idle > 3 {
                break;
            }
        } else {
            pass += 1;
            if pass > passes {
                break;
            }
        }
    }
    let label = last.as_ref().map_or("no_candidate", |(_, failure)| failure.label());
    let r = failure_reply(f, last);
    ledger.finish(r.status().as_u16(), None, false, Some(label));
    r
}

/// Asks `model` for a handoff summary of the conversation (through the gateway itself).
async fn summarize(app: &App, model: &str, chat: &serde_json::Value) -> Option<String> {
    let call = Call {
        format: Format::OpenAiChat,
        access: Access::Open,
        path_model: None,
        path_stream: Some(false),
        anthropic_beta: None,
        idempotency_key: None,
        session: None,
        internal: true,
    };
    let r = Box::pin(generate_once(app, call, relay::summary_request(model, chat))).await;
    if !r.status().is_success() {
        return None;
    }
    let crate::reply::GatewayBody::Full(Some(bytes)) = r.body() else { return None };
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    v["choices"][0]["message"]["content"]
        .as_str()
        .map(str::to_owned)
        .filter(|s| !s.trim().is_empty())
}

/// What a failure means for routing.
fn verdict_of(failure: &Failure, now: u64) -> Verdict {
    let status = match failure.kind {
        FailureKind::Status(s) => Some(s),
        _ => None,
    };
    let body = failure.body.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
    classify(&Observed { status, headers: &failure.headers, body: &body }, now)
}

/// Names the account and the target that answered (`x-omniroute-connection:
/// provider/connection`, `x-omniroute-target: provider/model`).
fn tag(r: &mut Reply, via: &str, target: &str) {
    if let Ok(v) = http::HeaderValue::from_str(via) {
        r.headers_mut().insert("x-omniroute-connection", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(target) {
        r.headers_mut().insert("x-omniroute-target", v);
    }
}

/// The final failure, in the client's shape: the upstream's own status and message when it
/// gave one, never its credentials (they are only ever in request headers).
pub(crate) fn failure_reply(f: Format, last: Option<(Format, Failure)>) -> Reply {
    match last {
        None => reply::error_with_status(
            f,
            503,
            ErrorKind::Overloaded,
            "every candidate was busy, cooling down or over its retry budget; try again shortly",
        ),
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
