//! The control plane in-process: every tool of `omniroute_control::TOOLS`, run for one caller
//! (a client key and its scopes), with the scope check and one `mcp_audit` row per call. The
//! MCP transports, the A2A agent and `POST /api/control/{tool}` (which the stdio
//! `omniroute-mcp` binary calls) all come through here.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use omniroute_control::{ControlError, ControlPlane, ErrorCode, Scope, Tool};
use omniroute_storage::{ComboRow, GroupBy, ToolCallRow, hash_client_key};
use omniroute_translate::Format;
use serde_json::{Value, json};

use crate::app::App;
use crate::apply::{self, check_combo, check_price, micros, now_ms, usd};
use crate::auth::Access;
use crate::config::PriceConfig;
use crate::pipeline::{self, Call};
use crate::reply::GatewayBody;

/// Who calls: their access (for completions) and scopes.
#[derive(Clone)]
pub(crate) struct Caller {
    pub(crate) access: Arc<AccessCell>,
    pub(crate) key: Option<String>,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) transport: &'static str,
}

/// `Access` is not `Clone`; this holds what is needed to rebuild it.
pub(crate) struct AccessCell(pub(crate) Option<Arc<crate::routes::ClientKey>>);

impl Caller {
    /// The caller behind a request's client key, or `None` when a key is required and absent.
    pub(crate) fn from_access(access: Access, transport: &'static str) -> Option<Caller> {
        match access {
            Access::Denied => None,
            // No keys configured on loopback: the local user is trusted with everything.
            Access::Open => Some(Caller {
                access: Arc::new(AccessCell(None)),
                key: None,
                scopes: Scope::ALL.to_vec(),
                transport,
            }),
            Access::Key(k) => Some(Caller {
                key: Some(k.name.clone()),
                scopes: k.scopes.clone(),
                access: Arc::new(AccessCell(Some(k))),
                transport,
            }),
        }
    }

    fn access(&self) -> Access {
        match &self.access.0 {
            Some(k) => Access::Key(k.clone()),
            None => Access::Open,
        }
    }
}

/// The control plane bound to a caller.
#[derive(Clone)]
pub(crate) struct InProcess {
    pub(crate) app: Arc<App>,
    pub(crate) caller: Caller,
}

impl ControlPlane for InProcess {
    async fn call(&self, tool: &str, args: Value) -> Result<Value, ControlError> {
        let started = Instant::now();
        let input_hash = hash_client_key(&args.to_string());
        let result = self.run(tool, args).await;
        let row = ToolCallRow {
            id: 0,
            ts_ms: now_ms(),
            tool: tool.to_owned(),
            input_hash,
            success: result.is_ok(),
            duration_ms: started.elapsed().as_millis() as i64,
            key: self.caller.key.clone(),
            error_code: result.as_ref().err().map(|e| e.code.id().to_owned()),
            transport: self.caller.transport.to_owned(),
        };
        let app = self.app.clone();
        let _ = tokio::task::spawn_blocking(move || app.data.db.record_tool_call(&row)).await;
        result
    }
}

fn err(code: ErrorCode, message: impl Into<String>) -> ControlError {
    ControlError::new(code, message)
}

fn bad(message: impl Into<String>) -> ControlError {
    err(ErrorCode::InvalidArguments, message)
}

fn internal(e: impl std::fmt::Display) -> ControlError {
    err(ErrorCode::Internal, e.to_string())
}

fn str_arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, ControlError> {
    args[name]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(format!("`{name}` is required (a string)")))
}

/// Unix ms or `YYYY-MM-DD`.
fn time_arg(args: &Value, name: &str) -> Result<Option<i64>, ControlError> {
    match &args[name] {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_i64()),
        Value::String(v) if v.is_empty() => Ok(None),
        Value::String(v) => crate::budget::parse_time(v)
            .map(Some)
            .ok_or_else(|| bad(format!("`{name}` must be Unix milliseconds or YYYY-MM-DD"))),
        _ => Err(bad(format!("`{name}` must be Unix milliseconds or YYYY-MM-DD"))),
    }
}

impl InProcess {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&App) -> Result<T, ControlError> + Send + 'static,
    ) -> Result<T, ControlError> {
        let app = self.app.clone();
        tokio::task::spawn_blocking(move || f(&app))
            .await
            .map_err(|_| internal("a control task failed"))?
    }

    async fn run(&self, tool: &str, args: Value) -> Result<Value, ControlError> {
        let spec = Tool::find(tool)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("no tool named `{tool}`")))?;
        if let Some(missing) = spec.missing_scope(&self.caller.scopes) {
            return Err(err(
                ErrorCode::Forbidden,
                format!("this API key lacks the scope {} needed by {tool}", missing.id()),
            ));
        }
        if !args.is_object() && !args.is_null() {
            return Err(bad("the arguments must be a JSON object"));
        }
        let args = if args.is_null() { json!({}) } else { args };
        let actor = format!("mcp:{}", self.caller.key.as_deref().unwrap_or("local"));
        match tool {
            "omniroute_get_health" => Ok(crate::endpoints::misc::health_json(&self.app)),
            "omniroute_list_combos" => {
                self.blocking(|app| Ok(json!({"combos": app.data.db.combos().map_err(internal)?})))
                    .await
            }
            "omniroute_get_combo_metrics" => {
                let (since, until) = window(&args)?;
                let only = args["combo"].as_str().map(str::to_owned);
                self.blocking(move |app| {
                    let names: Vec<String> = app
                        .data
                        .db
                        .combos()
                        .map_err(internal)?
                        .into_iter()
                        .map(|c| c.name)
                        .filter(|n| only.as_ref().is_none_or(|o| o == n))
                        .collect();
                    if let Some(o) = &only
                        && names.is_empty()
                    {
                        return Err(err(ErrorCode::NotFound, format!("no combo named `{o}`")));
                    }
                    let groups = app
                        .data
                        .db
                        .usage_summary(GroupBy::Model, since, until)
                        .map_err(internal)?;
                    let combos: Vec<Value> = names
                        .iter()
                        .map(|n| match groups.iter().find(|g| &g.group == n) {
                            Some(g) => group_json(g),
                            None => json!({"group": n, "requests": 0, "errors": 0, "cost_usd": 0.0}),
                        })
                        .collect();
                    Ok(json!({"combos": combos, "since": since, "until": until}))
                })
                .await
            }
            "omniroute_switch_combo" => {
                let name = str_arg(&args, "name")?.to_owned();
                self.update_combo(&actor, name, move |c| {
                    if let Some(e) = args["enabled"].as_bool() {
                        c.enabled = e;
                    }
                    if let Some(t) = args.get("targets").filter(|t| !t.is_null()) {
                        c.targets = serde_json::from_value(t.clone())
                            .map_err(|_| bad("`targets` is a list of strings"))?;
                    }
                    if let Some(s) = args["strategy"].as_str() {
                        c.strategy = s.to_owned();
                    }
                    Ok(())
                })
                .await
            }
            "omniroute_set_routing_strategy" => {
                let name = str_arg(&args, "combo")?.to_owned();
                let strategy = str_arg(&args, "strategy")?.to_owned();
                self.update_combo(&actor, name, move |c| {
                    c.strategy = strategy;
                    Ok(())
                })
                .await
            }
            "omniroute_check_quota" => {
                let provider = args["provider"].as_str().map(str::to_owned);
                let health = crate::endpoints::misc::health_json(&self.app);
                let connections: Vec<Value> = health["connections"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| provider.as_ref().is_none_or(|p| c["provider"] == p.as_str()))
                    .collect();
                let keys = self
                    .blocking(|app| {
                        let now = now_ms();
                        Ok(app
                            .data
                            .db
                            .keys()
                            .map_err(internal)?
                            .iter()
                            .map(|k| {
                                let (day, month) = app.budgets.spent_by(&k.name, now);
                                json!({
                                    "name": k.name,
                                    "daily_budget_usd": k.daily_budget_micros.map(usd),
                                    "monthly_budget_usd": k.monthly_budget_micros.map(usd),
                                    "spent_today_usd": usd(day),
                                    "spent_month_usd": usd(month),
                                })
                            })
                            .collect::<Vec<_>>())
                    })
                    .await?;
                Ok(json!({"connections": connections, "keys": keys, "model_locks": health["model_locks"]}))
            }
            "omniroute_route_request" => self.route_request(&args).await,
            "omniroute_cost_report" => {
                let by_name = args["group_by"].as_str().unwrap_or("model").to_owned();
                let by = GroupBy::parse(&by_name)
                    .ok_or_else(|| bad("`group_by` is one of key, model, provider, connection, day"))?;
                let (since, until) = window(&args)?;
                self.blocking(move |app| {
                    let groups = app.data.db.usage_summary(by, since, until).map_err(internal)?;
                    let total = app.data.db.usage_total(since, until).map_err(internal)?;
                    Ok(json!({
                        "group_by": by_name,
                        "since": since,
                        "until": until,
                        "data": groups.iter().map(group_json).collect::<Vec<_>>(),
                        "total": group_json(&total),
                    }))
                })
                .await
            }
            "omniroute_list_models_catalog" => {
                let provider = args["provider"].as_str();
                let models: Vec<Value> = self
                    .app
                    .routes()
                    .model_ids()
                    .into_iter()
                    .filter(|(_, owner)| provider.is_none_or(|p| p == owner))
                    .map(|(id, owner)| json!({"id": id, "owned_by": owner}))
                    .collect();
                Ok(json!({"models": models}))
            }
            "omniroute_simulate_route" | "omniroute_explain_route" => {
                let model = str_arg(&args, "model")?.to_owned();
                let tokens = args["tokens"].as_u64().unwrap_or(0);
                self.blocking(move |app| {
                    crate::plan::explain_json(app, &model, tokens)
                        .map_err(|e| err(ErrorCode::NotFound, e.to_string()))
                })
                .await
            }
            "omniroute_set_budget_guard" => {
                let key = str_arg(&args, "key")?.to_owned();
                let money = |name: &str| -> Result<Option<Option<i64>>, ControlError> {
                    match args.get(name) {
                        None => Ok(None),
                        Some(Value::Null) => Ok(Some(None)),
                        Some(v) => v
                            .as_f64()
                            .ok_or_else(|| bad(format!("`{name}` is a number of US dollars or null")))
                            .and_then(|d| micros(d, name).map_err(|e| bad(e.to_string())))
                            .map(|m| Some(Some(m))),
                    }
                };
                let (daily, monthly) = (money("daily_budget_usd")?, money("monthly_budget_usd")?);
                let actor = actor.clone();
                self.blocking(move |app| {
                    app.change(|dd| {
                        let mut row = dd
                            .db
                            .keys()
                            .map_err(internal)?
                            .into_iter()
                            .find(|k| k.name == key)
                            .ok_or_else(|| err(ErrorCode::NotFound, format!("no key named `{key}`")))?;
                        if let Some(d) = daily {
                            row.daily_budget_micros = d;
                        }
                        if let Some(m) = monthly {
                            row.monthly_budget_micros = m;
                        }
                        dd.db.put_key(&row).map_err(internal)?;
                        let detail = json!({"daily_budget_usd": row.daily_budget_micros.map(usd), "monthly_budget_usd": row.monthly_budget_micros.map(usd)});
                        dd.db.audit(&actor, "key.budget", &key, &detail).map_err(internal)?;
                        Ok(json!({"key": merge(json!({"name": row.name}), detail)}))
                    })
                })
                .await
            }
            "omniroute_set_resilience_profile" => {
                let mut values: Vec<(&str, Value)> = Vec::new();
                match args["profile"].as_str() {
                    None => {}
                    Some("fail-fast") => values.push(("wait_for_cooldown_ms", json!(0))),
                    Some("balanced") => values.push(("wait_for_cooldown_ms", json!(10_000))),
                    Some("patient") => values.push(("wait_for_cooldown_ms", json!(60_000))),
                    Some(other) => return Err(bad(format!("unknown profile `{other}` (fail-fast, balanced, patient)"))),
                }
                if let Some(w) = args.get("wait_for_cooldown_ms").filter(|v| !v.is_null()) {
                    values.push(("wait_for_cooldown_ms", w.clone()));
                }
                if let Some(a) = args.get("account_strategy").filter(|v| !v.is_null()) {
                    values.push(("account_strategy", a.clone()));
                }
                if values.is_empty() {
                    return Err(bad("give a `profile`, `wait_for_cooldown_ms` or `account_strategy`"));
                }
                for (name, value) in &values {
                    apply::check_setting(name, value).map_err(|e| bad(e.to_string()))?;
                }
                self.blocking(move |app| {
                    app.change(|dd| {
                        for (name, value) in &values {
                            dd.db.put_setting(name, &value.to_string()).map_err(internal)?;
                            dd.db.audit(&actor, "setting.put", name, &json!({"value": value})).map_err(internal)?;
                        }
                        let settings: serde_json::Map<String, Value> =
                            values.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect();
                        Ok(json!({"settings": settings}))
                    })
                })
                .await
            }
            "omniroute_test_combo" => self.test_combo(str_arg(&args, "combo")?).await,
            "omniroute_get_provider_metrics" => {
                let provider = args["provider"].as_str().map(str::to_owned);
                let health = crate::endpoints::misc::health_json(&self.app);
                let now = now_ms();
                let usage = self
                    .blocking(move |app| {
                        app.data
                            .db
                            .usage_summary(GroupBy::Provider, now - 30 * 86_400_000, now + 1)
                            .map_err(internal)
                    })
                    .await?;
                let providers: Vec<Value> = health["providers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|p| provider.as_ref().is_none_or(|x| p["id"] == x.as_str()))
                    .map(|p| {
                        let id = p["id"].as_str().unwrap_or_default().to_owned();
                        let breaker = health["breakers"]
                            .as_array()
                            .and_then(|b| b.iter().find(|b| b["id"] == id.as_str()).cloned());
                        let u = usage.iter().find(|g| g.group == id).map(group_json);
                        json!({"id": id, "status": p["status"], "breaker": breaker, "usage_30d": u, "requests_ok": p["requests_ok"], "requests_failed": p["requests_failed"]})
                    })
                    .collect();
                Ok(json!({"providers": providers}))
            }
            "omniroute_best_combo_for_task" => self.best_combo(str_arg(&args, "task")?),
            "omniroute_get_session_snapshot" => {
                let started = self.app.started_ms;
                let health = crate::endpoints::misc::health_json(&self.app);
                let in_flight: u64 = health["connections"]
                    .as_array()
                    .map(|c| c.iter().filter_map(|c| c["in_flight"].as_u64()).sum())
                    .unwrap_or(0);
                let routes = self.app.routes();
                let mut combos: Vec<&String> = routes.combos.keys().collect();
                combos.sort();
                let mut providers: Vec<&String> = routes.connections.keys().collect();
                providers.sort();
                let snapshot = json!({
                    "version": env!("CARGO_PKG_VERSION"),
                    "started_at": started,
                    "uptime_s": (now_ms() - started) / 1000,
                    "in_flight": in_flight,
                    "combos": combos,
                    "providers": providers,
                });
                let now = now_ms();
                let today = self
                    .blocking(move |app| {
                        app.data
                            .db
                            .usage_total(crate::budget::day_of(now) * 86_400_000, now + 1)
                            .map_err(internal)
                    })
                    .await?;
                Ok(merge(snapshot, json!({"today": group_json(&today)})))
            }
            "omniroute_db_health_check" => {
                self.blocking(|app| {
                    let db = &app.data.db;
                    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
                    let path = db.path().to_path_buf();
                    let wal = path.with_extension("db-wal");
                    let rows = db.usage_total(0, i64::MAX).map_err(internal)?.requests;
                    Ok(json!({
                        "integrity": if db.integrity_ok().map_err(internal)? { "ok" } else { "damaged" },
                        "schema_version": db.version().map_err(internal)?,
                        "size_bytes": size(&path),
                        "wal_bytes": size(&wal),
                        "usage_rows": rows,
                    }))
                })
                .await
            }
            "omniroute_sync_pricing" => {
                let path = str_arg(&args, "path")?.to_owned();
                let dry_run = args["dry_run"].as_bool().unwrap_or(false);
                self.blocking(move |app| sync_pricing(app, &actor, &path, dry_run)).await
            }
            "omniroute_cache_stats" => {
                let idempotency = self.app.idempotency.lock().map_or(0, |m| m.len());
                let window = self.app.routes().settings.idempotency_window_ms / 1000;
                Ok(json!({
                    "idempotency": {"entries": idempotency, "window_s": window},
                    "relay_sessions": self.app.relay.len(),
                }))
            }
            "omniroute_cache_flush" => {
                let flushed = self.app.idempotency.lock().map_or(0, |mut m| {
                    let n = m.len();
                    m.clear();
                    n
                });
                Ok(json!({"flushed": flushed}))
            }
            other => Err(err(ErrorCode::NotFound, format!("no tool named `{other}`"))),
        }
    }

    async fn update_combo(
        &self,
        actor: &str,
        name: String,
        edit: impl FnOnce(&mut ComboRow) -> Result<(), ControlError> + Send + 'static,
    ) -> Result<Value, ControlError> {
        let actor = actor.to_owned();
        self.blocking(move |app| {
            app.change(|dd| {
                let mut row = dd
                    .db
                    .combos()
                    .map_err(internal)?
                    .into_iter()
                    .find(|c| c.name == name)
                    .ok_or_else(|| err(ErrorCode::NotFound, format!("no combo named `{name}`")))?;
                edit(&mut row)?;
                check_combo(&row.name, &row.strategy, &row.targets).map_err(|e| bad(e.to_string()))?;
                dd.db.put_combo(&row).map_err(internal)?;
                let detail = json!({"strategy": row.strategy, "enabled": row.enabled, "targets": row.targets});
                dd.db.audit(&actor, "combo.update", &name, &detail).map_err(internal)?;
                Ok(json!({"combo": row}))
            })
        })
        .await
    }

    /// A chat completion through the whole pipeline, as the caller.
    async fn complete(
        &self,
        body: Value,
    ) -> Result<(Value, Option<String>, Option<String>), ControlError> {
        let call = Call {
            format: Format::OpenAiChat,
            access: self.caller.access(),
            path_model: None,
            path_stream: Some(false),
            anthropic_beta: None,
            idempotency_key: None,
            session: None,
            internal: false,
        };
        let r = pipeline::generate(&self.app, call, Bytes::from(body.to_string())).await;
        let header = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (via, target) = (header("x-omniroute-connection"), header("x-omniroute-target"));
        let bytes = match r.body() {
            GatewayBody::Full(Some(b)) => b.clone(),
            _ => Bytes::new(),
        };
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !r.status().is_success() {
            let msg = v["error"]["message"].as_str().unwrap_or("the request failed").to_owned();
            let code = match r.status().as_u16() {
                400 | 422 => ErrorCode::InvalidArguments,
                401 | 403 => ErrorCode::Forbidden,
                404 => ErrorCode::NotFound,
                _ => ErrorCode::Upstream,
            };
            return Err(err(code, format!("HTTP {}: {msg}", r.status().as_u16())));
        }
        Ok((v, via, target))
    }

    async fn route_request(&self, args: &Value) -> Result<Value, ControlError> {
        let model = str_arg(args, "model")?;
        let messages = args["messages"]
            .as_array()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| bad("`messages` is a non-empty list of {role, content}"))?;
        let mut body = json!({"model": model, "messages": messages, "stream": false});
        for k in ["max_tokens", "temperature"] {
            if let Some(v) = args.get(k).filter(|v| !v.is_null()) {
                body[k] = v.clone();
            }
        }
        let (v, via, target) = self.complete(body).await?;
        let usage = v["usage"].clone();
        let cost = target.as_ref().and_then(|t| self.app.routes().prices.get(t).copied()).map_or(
            0.0,
            |p| {
                let u = omniroute_translate::TokenUsage {
                    input: usage["prompt_tokens"].as_u64().unwrap_or(0),
                    output: usage["completion_tokens"].as_u64().unwrap_or(0),
                    cache_read: usage["prompt_tokens_details"]["cached_tokens"].as_u64(),
                    ..Default::default()
                };
                usd(crate::budget::cost_micros(p, &u))
            },
        );
        Ok(json!({
            "content": v["choices"][0]["message"]["content"].as_str().unwrap_or_default(),
            "model": target.clone().unwrap_or_else(|| v["model"].as_str().unwrap_or_default().to_owned()),
            "served_by": via.unwrap_or_default(),
            "usage": usage,
            "cost_usd": cost,
        }))
    }

    async fn test_combo(&self, name: &str) -> Result<Value, ControlError> {
        let targets: Vec<String> = {
            let routes = self.app.routes();
            let combo = routes.combos.get(name).ok_or_else(|| {
                err(ErrorCode::NotFound, format!("no enabled combo named `{name}`"))
            })?;
            let models = |p: &str| routes.registry.get(p).map(|p| (p.id.clone(), p.models.clone()));
            omniroute_routing::combo::expand(combo, &routes.combos, &models)
                .map_err(|e| bad(e.to_string()))?
                .into_iter()
                .map(|t| t.model)
                .collect()
        };
        let mut out = Vec::new();
        for t in targets {
            let started = Instant::now();
            let body = json!({"model": t, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]});
            let result = self.complete(body).await;
            out.push(json!({
                "target": t,
                "ok": result.is_ok(),
                "served_by": result.as_ref().ok().and_then(|r| r.1.clone()),
                "error": result.as_ref().err().map(|e| e.message.clone()),
                "latency_ms": started.elapsed().as_millis() as u64,
            }));
        }
        Ok(json!({"combo": name, "targets": out}))
    }

    /// Ranks enabled combos for a task: `cheap`/`cost` by lowest known price, `fast`/`latency`
    /// by lowest median latency, `long`/`context` by largest context window, anything else
    /// (coding, reasoning, quality) by health, then the priciest (strongest) first target.
    fn best_combo(&self, task: &str) -> Result<Value, ControlError> {
        let routes = self.app.routes();
        let health = self.app.health.lock().map_err(|_| internal("health state unavailable"))?;
        let t = task.to_ascii_lowercase();
        let criterion = if t.contains("cheap") || t.contains("cost") || t.contains("budget") {
            "price"
        } else if t.contains("fast") || t.contains("latency") || t.contains("quick") {
            "latency"
        } else if t.contains("long") || t.contains("context") || t.contains("document") {
            "context"
        } else {
            "quality"
        };
        let mut ranking: Vec<(f64, Value)> = Vec::new();
        for (name, combo) in &routes.combos {
            let models = |p: &str| routes.registry.get(p).map(|p| (p.id.clone(), p.models.clone()));
            let Ok(targets) = omniroute_routing::combo::expand(combo, &routes.combos, &models)
            else {
                continue;
            };
            let usable = |p: &omniroute_providers::Provider| routes.usable(p);
            let mut prices = Vec::new();
            let (mut latency, mut context, mut score_health) = (None::<f64>, 0u64, 0.0f64);
            for t in &targets {
                let Ok(r) = routes.registry.resolve(&t.model, &usable) else { continue };
                let label = format!("{}/{}", r.provider.id, r.model);
                if let Some(p) = routes.prices.get(&label) {
                    prices.push((p.input + p.output) as f64 / 2e6);
                }
                for c in routes.accounts(&r.provider) {
                    score_health = score_health.max(health.score(&r.provider.id, Some(&c.name)));
                    if let Some(l) = health.median_latency(&r.provider.id, &c.name) {
                        latency = Some(latency.map_or(l, |x: f64| x.min(l)));
                    }
                }
                context = context.max(r.provider.context_window.unwrap_or(0));
            }
            let min_price = prices
                .iter()
                .copied()
                .fold(None, |a: Option<f64>, p| Some(a.map_or(p, |a| a.min(p))));
            let first_price = prices.first().copied();
            let score = match criterion {
                "price" => min_price.map_or(-1e9, |p| -p),
                "latency" => latency.map_or(-1e9, |l| -l),
                "context" => context as f64,
                _ => score_health * 1e6 + first_price.unwrap_or(0.0),
            };
            ranking.push((
                score,
                json!({
                    "combo": name,
                    "strategy": combo.strategy.id(),
                    "targets": targets.len(),
                    "health": score_health,
                    "min_price_per_mtok": min_price,
                    "median_latency_ms": latency,
                    "max_context_window": (context > 0).then_some(context),
                }),
            ));
        }
        ranking.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        let best = ranking.first().map(|(_, v)| v["combo"].clone()).unwrap_or(Value::Null);
        let reason = match (&best, criterion) {
            (Value::Null, _) => "no enabled combo can be ranked".to_owned(),
            (b, "price") => format!("{b} has the cheapest known target price"),
            (b, "latency") => format!("{b} has the lowest measured median latency"),
            (b, "context") => format!("{b} reaches the largest context window"),
            (b, _) => format!(
                "{b} is the healthiest, with the strongest (priciest) first target among equals"
            ),
        };
        Ok(
            json!({"combo": best, "criterion": criterion, "reason": reason, "ranking": ranking.into_iter().map(|(_, v)| v).collect::<Vec<_>>()}),
        )
    }
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
    a
}

fn window(args: &Value) -> Result<(i64, i64), ControlError> {
    let until = time_arg(args, "until")?.unwrap_or_else(|| now_ms() + 1);
    let since = time_arg(args, "since")?.unwrap_or(until - 30 * 86_400_000);
    Ok((since, until))
}

fn group_json(g: &omniroute_storage::UsageGroup) -> Value {
    let mut v = serde_json::to_value(g).unwrap_or_default();
    v["cost_usd"] = json!(usd(g.cost_micros));
    v
}

/// Reads prices from a JSON or TOML file inside the data directory.
fn sync_pricing(app: &App, actor: &str, path: &str, dry_run: bool) -> Result<Value, ControlError> {
    let dir = app.data.dir.canonicalize().map_err(internal)?;
    let file = std::path::Path::new(path);
    let file = if file.is_absolute() { file.to_path_buf() } else { dir.join(file) };
    let file = file.canonicalize().map_err(|e| bad(format!("{path}: {e}")))?;
    if !file.starts_with(&dir) {
        return Err(err(
            ErrorCode::Forbidden,
            "the pricing file must be inside the data directory",
        ));
    }
    let text = std::fs::read_to_string(&file).map_err(|e| bad(format!("{path}: {e}")))?;
    let table: std::collections::BTreeMap<String, PriceConfig> = if file
        .extension()
        .is_some_and(|e| e == "toml")
    {
        #[derive(serde::Deserialize)]
        struct File {
            #[serde(alias = "prices")]
            pricing: std::collections::BTreeMap<String, PriceConfig>,
        }
        toml::from_str::<File>(&text).map(|f| f.pricing).map_err(|e| bad(format!("{path}: {e}")))?
    } else {
        serde_json::from_str(&text).map_err(|e| bad(format!("{path}: {e}")))?
    };
    let mut checked = Vec::new();
    for (model, p) in &table {
        checked.push((model.clone(), check_price(model, p).map_err(|e| bad(e.to_string()))?));
    }
    if !dry_run {
        app.change(|dd| {
            for (model, p) in &checked {
                dd.db.put_price(model, *p).map_err(internal)?;
            }
            dd.db
                .audit(actor, "pricing.sync", path, &json!({"models": checked.len()}))
                .map_err(internal)?;
            Ok::<_, ControlError>(())
        })?;
    }
    let prices: Vec<Value> = checked
        .iter()
        .map(|(m, p)| json!({"model": m, "input": usd(p.input), "output": usd(p.output), "cached": usd(p.cached)}))
        .collect();
    Ok(
        json!({"updated": if dry_run { 0 } else { checked.len() }, "dry_run": dry_run, "prices": prices}),
    )
}

impl From<crate::app::BuildError> for ControlError {
    fn from(e: crate::app::BuildError) -> ControlError {
        bad(e.to_string())
    }
}
