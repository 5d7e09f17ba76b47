//! The resources of the management API. Each handler is synchronous (it runs on the blocking
//! pool), checks its input with the same rules the config file obeys, writes through
//! [`App::change`] (which swaps in a new routing snapshot) and leaves an audit event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode};
use omniroute_core::Secret;
use omniroute_providers::{Auth, Connection, Endpoint, build_request};
use omniroute_storage::{
    AdminTokenRow, ComboRow, ComboTarget, ConnLimits, ConnectionInput, ConnectionRow, GroupBy,
    KeyRow, LogFilter, LogRow, ProviderRow, hash_client_key, hash_password, random_token,
};
use omniroute_translate::{Format, translate_request};
use serde_json::{Value, json};

use super::{Actor, ApiError, Out};
use crate::app::App;
use crate::apply::{
    self, check_combo, check_price, check_setting, key_prefix, micros, now_ms, usd,
};
use crate::config::{ComboSettings, Config, PriceConfig};
use crate::routes::registry_with;

pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: HashMap<String, String>,
    pub(crate) body: Bytes,
    pub(crate) actor: Actor,
}

impl Req {
    fn json(&self) -> Result<Value, ApiError> {
        let v = super::parse_json(&self.body)?;
        if v.is_object() { Ok(v) } else { Err(ApiError::bad("the body must be a JSON object")) }
    }
}

fn ok(v: Value) -> Result<Out, ApiError> {
    Ok(Out::Json(StatusCode::OK, v))
}

fn created(v: Value, new: bool) -> Result<Out, ApiError> {
    Ok(Out::Json(if new { StatusCode::CREATED } else { StatusCode::OK }, v))
}

fn list<T: serde::Serialize>(items: &[T]) -> Result<Out, ApiError> {
    ok(json!({ "data": items }))
}

fn audit(
    dd: &omniroute_storage::DataDir,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: Value,
) -> Result<(), ApiError> {
    dd.db.audit(&actor.label(), action, target, &detail)?;
    Ok(())
}

fn str_field<'a>(v: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    v[name]
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad(format!("`{name}` is required (a non-empty string)")))
}

fn opt_str(v: &Value, name: &str) -> Result<Option<String>, ApiError> {
    match &v[name] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ApiError::bad(format!("`{name}` must be a string"))),
    }
}

fn str_list(v: &Value, name: &str) -> Result<Option<Vec<String>>, ApiError> {
    match &v[name] {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| ApiError::bad(format!("`{name}` must be a list of strings"))),
        _ => Err(ApiError::bad(format!("`{name}` must be a list of strings"))),
    }
}

fn money(v: &Value, name: &str) -> Result<Option<i64>, ApiError> {
    match &v[name] {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(Some(micros(n.as_f64().unwrap_or(-1.0), name)?)),
        _ => Err(ApiError::bad(format!("`{name}` must be a number of US dollars or null"))),
    }
}

fn bool_field(v: &Value, name: &str, default: bool) -> Result<bool, ApiError> {
    match &v[name] {
        Value::Null => Ok(default),
        Value::Bool(b) => Ok(*b),
        _ => Err(ApiError::bad(format!("`{name}` must be true or false"))),
    }
}

/// Dispatches on method and path.
pub(crate) fn handle(app: &App, req: &Req) -> Result<Out, ApiError> {
    let rest = req.path.strip_prefix("/api/").unwrap_or_default();
    let segs: Vec<&str> = rest.split('/').collect();
    let m = &req.method;
    match (m, segs.as_slice()) {
        (&Method::GET, ["auth", "tokens"]) => list(&app.data.db.admin_tokens()?),
        (&Method::POST, ["auth", "tokens"]) => {
            let v = req.json()?;
            create_token(app, &req.actor, str_field(&v, "name")?)
        }
        (&Method::DELETE, ["auth", "tokens", name]) => app.change(|dd| {
            if !dd.db.delete_admin_token(name)? {
                return Err(ApiError::not_found(format!("no admin token named `{name}`")));
            }
            audit(dd, &req.actor, "admin_token.delete", name, json!({}))?;
            Ok(Out::NoContent)
        }),
        (&Method::POST, ["auth", "password"]) => {
            let v = req.json()?;
            let new = str_field(&v, "new_password")?;
            if new.chars().count() < 8 {
                return Err(ApiError::bad("the new password needs at least 8 characters"));
            }
            let hash = hash_password(new).map_err(ApiError::internal)?;
            app.data.db.put_setting(super::PASSWORD_SETTING, &hash)?;
            audit(&app.data, &req.actor, "auth.password", "admin", json!({}))?;
            Ok(Out::NoContent)
        }

        (&Method::GET, ["providers"]) => providers(app),
        (&Method::POST, ["providers"]) => put_provider(app, req, None),
        (&Method::PUT, ["providers", id]) => put_provider(app, req, Some(id)),
        (&Method::DELETE, ["providers", id]) => delete_provider(app, req, id),

        (&Method::GET, ["connections"]) => list(&app.data.db.connections()?),
        (&Method::POST, ["connections"]) => create_connection(app, req),
        (&Method::PATCH, ["connections", id]) => update_connection(app, req, id),
        (&Method::DELETE, ["connections", id]) => {
            let id: i64 = id.parse().map_err(|_| ApiError::not_found("no such connection"))?;
            app.change(|dd| {
                if !dd.db.delete_connection(id)? {
                    return Err(ApiError::not_found(format!("no connection {id}")));
                }
                audit(dd, &req.actor, "connection.delete", &id.to_string(), json!({}))?;
                Ok(Out::NoContent)
            })
        }

        (&Method::GET, ["keys"]) => {
            let now = now_ms();
            let keys: Vec<Value> =
                app.data.db.keys()?.iter().map(|k| key_view(app, k, now)).collect();
            ok(json!({ "data": keys }))
        }
        (&Method::POST, ["keys"]) => create_key(app, req),
        (&Method::PATCH, ["keys", name]) => update_key(app, req, name),
        (&Method::POST, ["keys", name, "rotate"]) => rotate_key(app, req, name),
        (&Method::DELETE, ["keys", name]) => {
            simple_delete(app, req, "key", name, |db, n| db.delete_key(n))
        }

        (&Method::GET, ["combos"]) => list(&app.data.db.combos()?),
        (&Method::PUT, ["combos", name]) => put_combo(app, req, name),
        (&Method::DELETE, ["combos", name]) => {
            simple_delete(app, req, "combo", name, |db, n| db.delete_combo(n))
        }

        (&Method::GET, ["aliases"]) => {
            let a: Vec<Value> = app
                .data
                .db
                .aliases()?
                .into_iter()
                .map(|(alias, target)| json!({"alias": alias, "target": target}))
                .collect();
            ok(json!({ "data": a }))
        }
        (&Method::PUT, ["aliases", alias]) => {
            let v = req.json()?;
            let target = str_field(&v, "target")?.to_owned();
            app.change(|dd| {
                dd.db.put_alias(alias, &target)?;
                audit(dd, &req.actor, "alias.put", alias, json!({"target": target}))?;
                Ok::<_, ApiError>(())
            })?;
            ok(json!({"alias": alias, "target": target}))
        }
        (&Method::DELETE, ["aliases", alias]) => {
            simple_delete(app, req, "alias", alias, |db, n| db.delete_alias(n))
        }

        (&Method::GET, ["settings"]) => ok(json!({ "settings": settings(app)? })),
        (&Method::PUT, ["settings", name]) => {
            let v = req.json()?;
            let value = v.get("value").cloned().unwrap_or(Value::Null);
            check_setting(name, &value)?;
            app.change(|dd| {
                dd.db.put_setting(name, &value.to_string())?;
                audit(dd, &req.actor, "setting.put", name, json!({"value": value}))?;
                Ok::<_, ApiError>(())
            })?;
            ok(json!({"name": name, "value": value}))
        }

        (&Method::GET, ["pricing"]) => {
            let p: Vec<Value> =
                app.data.db.prices()?.into_iter().map(|(model, p)| price_view(&model, p)).collect();
            ok(json!({ "data": p }))
        }
        (&Method::PUT, ["pricing", model @ ..]) if model.len() >= 2 => {
            let model = model.join("/");
            let v = req.json()?;
            let p = PriceConfig {
                input: v["input"]
                    .as_f64()
                    .ok_or_else(|| ApiError::bad("`input` (USD per 1M tokens) is required"))?,
                output: v["output"]
                    .as_f64()
                    .ok_or_else(|| ApiError::bad("`output` (USD per 1M tokens) is required"))?,
                cached: v["cached"].as_f64(),
            };
            let price = check_price(&model, &p)?;
            app.change(|dd| {
                dd.db.put_price(&model, price)?;
                audit(dd, &req.actor, "pricing.put", &model, price_view(&model, price))?;
                Ok::<_, ApiError>(())
            })?;
            ok(price_view(&model, price))
        }
        (&Method::DELETE, ["pricing", model @ ..]) if model.len() >= 2 => {
            let model = model.join("/");
            simple_delete(app, req, "pricing", &model, |db, n| db.delete_price(n))
        }

        (&Method::GET, ["usage"]) => usage(app, req),
        (&Method::GET, ["route", "explain"]) => explain(app, req),
        (&Method::GET, ["mcp", "audit"]) => {
            let limit = limit(req)?;
            let before = num(req, "before")?;
            let rows =
                app.data.db.tool_calls(limit, before, req.query.get("tool").map(String::as_str))?;
            let next = if rows.len() == limit as usize { rows.last().map(|r| r.id) } else { None };
            ok(json!({"data": rows, "next_before": next}))
        }
        (&Method::GET, ["mcp", "status"]) => mcp_status(app),
        (&Method::GET, ["a2a", "status"]) => {
            let mut v = app.a2a.status();
            v["enabled"] = json!(app.routes().settings.a2a);
            ok(v)
        }
        (&Method::GET, ["a2a", "tasks"]) => ok(app.a2a.tasks(limit(req)? as usize)),
        (&Method::GET, ["a2a", "tasks", id]) => match app.a2a.task(id) {
            Some(v) => ok(v),
            None => Err(ApiError::not_found(format!("no A2A task `{id}`"))),
        },
        (&Method::POST, ["a2a", "tasks", id, "cancel"]) => {
            let v = app.a2a.cancel(id).map_err(|e| {
                let status =
                    if e.code() == -32001 { StatusCode::NOT_FOUND } else { StatusCode::CONFLICT };
                ApiError::new(status, e.to_string())
            })?;
            audit(&app.data, &req.actor, "a2a.cancel", id, json!({}))?;
            ok(v)
        }
        (&Method::GET, ["strategies"]) => {
            let s: Vec<Value> = omniroute_routing::Strategy::ALL
                .iter()
                .map(|s| json!({"id": s.id(), "description": s.describe()}))
                .collect();
            ok(json!({ "data": s }))
        }
        (&Method::GET, ["logs"]) => logs(app, req),
        (&Method::GET, ["audit"]) => {
            let limit = limit(req)?;
            let before = num(req, "before")?;
            let events = app.data.db.audit_events(limit, before)?;
            let next =
                if events.len() == limit as usize { events.last().map(|e| e.id) } else { None };
            ok(json!({"data": events, "next_before": next}))
        }
        (&Method::GET, ["backup"]) => backup(app),
        (&Method::POST, ["restore"]) => restore(app, req),
        (&Method::GET, ["config", "export"]) => {
            let secrets = req.query.get("secrets").is_some_and(|v| v == "true" || v == "1");
            let text = apply::export(&app.data, secrets)?;
            audit(&app.data, &req.actor, "config.export", "config", json!({"secrets": secrets}))?;
            Ok(Out::File { content_type: "application/toml", name: None, body: text.into() })
        }
        (&Method::POST, ["config", "apply"]) => {
            let text = std::str::from_utf8(&req.body)
                .map_err(|_| ApiError::bad("the body must be TOML text (UTF-8)"))?;
            let config = Config::from_toml(text, std::path::Path::new("request body"))
                .map_err(|e| ApiError::bad(e.to_string()))?;
            let actor = req.actor.label();
            let applied = app.change(|dd| {
                apply::apply(dd, &config, &|_| None, &actor).map_err(ApiError::from)
            })?;
            ok(json!({ "applied": applied }))
        }
        _ => Err(ApiError::not_found(format!(
            "no management route for {} {} (see GET /api/openapi.json)",
            m, req.path
        ))),
    }
}

/// Creates an admin token and shows it once.
pub(crate) fn create_token(app: &App, actor: &Actor, name: &str) -> Result<Out, ApiError> {
    if name.trim().is_empty() || name == "env" {
        return Err(ApiError::bad("a token needs a name other than `env`"));
    }
    let token = random_token("omr-admin-").map_err(ApiError::internal)?;
    let row = AdminTokenRow {
        name: name.to_owned(),
        token_hash: hash_client_key(&token),
        prefix: key_prefix(&token),
        created_at: now_ms(),
    };
    app.data.db.put_admin_token(&row)?;
    audit(&app.data, actor, "admin_token.create", name, json!({}))?;
    Ok(Out::Json(StatusCode::CREATED, json!({"name": name, "token": token})))
}

fn simple_delete(
    app: &App,
    req: &Req,
    what: &str,
    name: &str,
    f: impl FnOnce(&omniroute_storage::Db, &str) -> Result<bool, omniroute_storage::StorageError>,
) -> Result<Out, ApiError> {
    app.change(|dd| {
        if !f(&dd.db, name)? {
            return Err(ApiError::not_found(format!("no {what} named `{name}`")));
        }
        audit(dd, &req.actor, &format!("{what}.delete"), name, json!({}))?;
        Ok(Out::NoContent)
    })
}

fn providers(app: &App) -> Result<Out, ApiError> {
    let customs: Vec<String> = app.data.db.providers()?.into_iter().map(|p| p.id).collect();
    let conns = app.data.db.connections()?;
    let routes = app.routes();
    let data: Vec<Value> = routes
        .registry
        .providers()
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "prefix": p.prefix,
                "format": p.format.id(),
                "base_url": p.base_url,
                "models": p.models,
                "builtin": !customs.contains(&p.id),
                "connections": conns.iter().filter(|c| c.provider == p.id).count(),
            })
        })
        .collect();
    ok(json!({ "data": data }))
}

fn put_provider(app: &App, req: &Req, id: Option<&str>) -> Result<Out, ApiError> {
    let v = req.json()?;
    let id = match id {
        Some(id) => id.to_owned(),
        None => str_field(&v, "id")?.to_owned(),
    };
    let row = ProviderRow {
        id: id.clone(),
        prefix: opt_str(&v, "prefix")?,
        format: str_field(&v, "format")?.to_owned(),
        base_url: str_field(&v, "base_url")?.to_owned(),
        models: str_list(&v, "models")?.unwrap_or_default(),
    };
    let creating = req.method == Method::POST;
    app.change(|dd| {
        let mut customs = dd.db.providers()?;
        let exists = customs.iter().any(|p| p.id == id);
        if creating && exists {
            return Err(ApiError::conflict(format!(
                "provider `{id}` exists; use PUT to change it"
            )));
        }
        if !creating && !exists {
            return Err(ApiError::not_found(format!("no custom provider `{id}`")));
        }
        customs.retain(|p| p.id != id);
        customs.push(row.clone());
        registry_with(&customs).map_err(|e| ApiError::bad(e.to_string()))?;
        dd.db.put_provider(&row)?;
        let action = if creating { "provider.create" } else { "provider.update" };
        audit(
            dd,
            &req.actor,
            action,
            &id,
            json!({"format": row.format, "base_url": row.base_url}),
        )?;
        Ok(())
    })?;
    let mut view = serde_json::to_value(&row).unwrap_or_default();
    view["builtin"] = json!(false);
    view["connections"] =
        json!(app.data.db.connections()?.iter().filter(|c| c.provider == id).count());
    created(view, creating)
}

fn delete_provider(app: &App, req: &Req, id: &str) -> Result<Out, ApiError> {
    app.change(|dd| {
        let used = dd.db.connections()?.iter().filter(|c| c.provider == id).count();
        if used > 0 {
            return Err(ApiError::conflict(format!(
                "provider `{id}` still has {used} connection(s); remove them first"
            )));
        }
        if !dd.db.delete_provider(id)? {
            return Err(ApiError::not_found(format!("no custom provider `{id}`")));
        }
        audit(dd, &req.actor, "provider.delete", id, json!({}))?;
        Ok(Out::NoContent)
    })
}

/// Checks a connection against its provider's needs.
fn check_connection(app: &App, c: &ConnectionInput, has_stored_key: bool) -> Result<(), ApiError> {
    let routes = app.routes();
    let p = routes
        .registry
        .get(&c.provider)
        .ok_or_else(|| ApiError::bad(format!("unknown provider `{}`", c.provider)))?;
    if p.auth != Auth::None && c.api_key.is_none() && !has_stored_key {
        return Err(ApiError::bad(format!("provider `{}` needs an `api_key`", p.id)));
    }
    if p.account_id_required && c.account_id.is_none() && c.base_url.is_none() {
        return Err(ApiError::bad(format!("provider `{}` needs an `account_id`", p.id)));
    }
    Ok(())
}

fn connection_view(app: &App, id: i64) -> Result<Value, ApiError> {
    let row =
        app.data.db.connection(id)?.ok_or_else(|| ApiError::not_found("no such connection"))?;
    Ok(serde_json::to_value(row).unwrap_or_default())
}

fn create_connection(app: &App, req: &Req) -> Result<Out, ApiError> {
    let v = req.json()?;
    let provider = {
        let routes = app.routes();
        let name = str_field(&v, "provider")?;
        routes
            .registry
            .get(name)
            .map(|p| p.id.clone())
            .ok_or_else(|| ApiError::bad(format!("unknown provider `{name}`")))?
    };
    let input = ConnectionInput {
        provider,
        name: str_field(&v, "name")?.to_owned(),
        api_key: opt_str(&v, "api_key")?.map(Secret::new),
        base_url: opt_str(&v, "base_url")?,
        account_id: opt_str(&v, "account_id")?,
        priority: v["priority"].as_i64().unwrap_or(0),
        enabled: bool_field(&v, "enabled", true)?,
        limits: limits(&v, ConnLimits::default())?,
    };
    check_connection(app, &input, false)?;
    let id = app.change(|dd| {
        if dd.db.connections()?.iter().any(|c| c.provider == input.provider && c.name == input.name)
        {
            return Err(ApiError::conflict(format!(
                "provider `{}` already has a connection named `{}`",
                input.provider, input.name
            )));
        }
        let (id, _) = dd.db.put_connection(&input, &dd.key).map_err(ApiError::internal)?;
        audit(
            dd,
            &req.actor,
            "connection.create",
            &id.to_string(),
            json!({"provider": input.provider, "name": input.name, "api_key_set": input.api_key.is_some()}),
        )?;
        Ok(id)
    })?;
    created(connection_view(app, id)?, true)
}

fn update_connection(app: &App, req: &Req, id: &str) -> Result<Out, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found("no such connection"))?;
    let v = req.json()?;
    let row: ConnectionRow = app
        .data
        .db
        .connection(id)?
        .ok_or_else(|| ApiError::not_found(format!("no connection {id}")))?;
    let has = |k: &str| v.get(k).is_some();
    let new_name = opt_str(&v, "name")?;
    let input = ConnectionInput {
        provider: row.provider.clone(),
        name: new_name.clone().unwrap_or_else(|| row.name.clone()),
        api_key: opt_str(&v, "api_key")?.map(Secret::new),
        base_url: if has("base_url") { opt_str(&v, "base_url")? } else { row.base_url.clone() },
        account_id: if has("account_id") {
            opt_str(&v, "account_id")?
        } else {
            row.account_id.clone()
        },
        priority: v["priority"].as_i64().unwrap_or(row.priority),
        enabled: bool_field(&v, "enabled", row.enabled)?,
        limits: limits(&v, row.limits.clone())?,
    };
    check_connection(app, &input, row.has_api_key)?;
    app.change(|dd| {
        if let Some(name) = &new_name
            && *name != row.name
        {
            if dd.db.connections()?.iter().any(|c| c.provider == row.provider && c.name == *name) {
                return Err(ApiError::conflict(format!(
                    "`{name}` is taken for `{}`",
                    row.provider
                )));
            }
            dd.db.rename_connection(id, name)?;
        }
        dd.db.put_connection(&input, &dd.key).map_err(ApiError::internal)?;
        let changed: Vec<&str> =
            ["name", "api_key", "base_url", "account_id", "priority", "enabled"]
                .into_iter()
                .filter(|k| has(k))
                .collect();
        audit(dd, &req.actor, "connection.update", &id.to_string(), json!({"changed": changed}))?;
        Ok(())
    })?;
    ok(connection_view(app, id)?)
}

fn key_view(app: &App, k: &KeyRow, now: i64) -> Value {
    let (today, month) = app.budgets.spent_by(&k.name, now);
    json!({
        "name": k.name,
        "prefix": k.prefix,
        "models": k.models,
        "daily_budget_usd": k.daily_budget_micros.map(usd),
        "monthly_budget_usd": k.monthly_budget_micros.map(usd),
        "enabled": k.enabled,
        "scopes": k.scopes.clone().unwrap_or_else(|| vec!["readonly".to_owned()]),
        "created_at": k.created_at,
        "spent_today_usd": usd(today),
        "spent_month_usd": usd(month),
    })
}

/// `scopes`: a list of presets and scope names, checked (`null` or absent: the default).
fn scopes(v: &Value) -> Result<Option<Vec<String>>, ApiError> {
    let list = str_list(v, "scopes")?;
    if let Some(l) = &list {
        omniroute_control::expand_scopes(l).map_err(ApiError::bad)?;
    }
    Ok(list)
}

fn new_client_key() -> Result<String, ApiError> {
    random_token("sk-omr-").map_err(ApiError::internal)
}

fn create_key(app: &App, req: &Req) -> Result<Out, ApiError> {
    let v = req.json()?;
    let name = str_field(&v, "name")?.to_owned();
    let key = new_client_key()?;
    let row = KeyRow {
        name: name.clone(),
        key_hash: hash_client_key(&key),
        prefix: key_prefix(&key),
        models: str_list(&v, "models")?,
        daily_budget_micros: money(&v, "daily_budget_usd")?,
        monthly_budget_micros: money(&v, "monthly_budget_usd")?,
        enabled: true,
        created_at: now_ms(),
        scopes: scopes(&v)?,
    };
    app.change(|dd| {
        if dd.db.keys()?.iter().any(|k| k.name == name) {
            return Err(ApiError::conflict(format!("a key named `{name}` exists")));
        }
        dd.db.put_key(&row)?;
        audit(
            dd,
            &req.actor,
            "key.create",
            &name,
            json!({"prefix": row.prefix, "models": row.models}),
        )?;
        Ok(())
    })?;
    let mut view = key_view(app, &row, now_ms());
    view["key"] = json!(key);
    created(view, true)
}

fn find_key(app: &App, name: &str) -> Result<KeyRow, ApiError> {
    app.data
        .db
        .keys()?
        .into_iter()
        .find(|k| k.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no key named `{name}`")))
}

fn update_key(app: &App, req: &Req, name: &str) -> Result<Out, ApiError> {
    let v = req.json()?;
    let mut row = find_key(app, name)?;
    if v.get("models").is_some() {
        row.models = str_list(&v, "models")?;
    }
    if v.get("daily_budget_usd").is_some() {
        row.daily_budget_micros = money(&v, "daily_budget_usd")?;
    }
    if v.get("monthly_budget_usd").is_some() {
        row.monthly_budget_micros = money(&v, "monthly_budget_usd")?;
    }
    row.enabled = bool_field(&v, "enabled", row.enabled)?;
    if v.get("scopes").is_some() {
        row.scopes = scopes(&v)?;
    }
    app.change(|dd| {
        dd.db.put_key(&row)?;
        let changed: Vec<&String> = v.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        audit(dd, &req.actor, "key.update", name, json!({"changed": changed}))?;
        Ok::<_, ApiError>(())
    })?;
    ok(key_view(app, &row, now_ms()))
}

fn rotate_key(app: &App, req: &Req, name: &str) -> Result<Out, ApiError> {
    let mut row = find_key(app, name)?;
    let key = new_client_key()?;
    row.key_hash = hash_client_key(&key);
    row.prefix = key_prefix(&key);
    app.change(|dd| {
        dd.db.put_key(&row)?;
        audit(dd, &req.actor, "key.rotate", name, json!({"prefix": row.prefix}))?;
        Ok::<_, ApiError>(())
    })?;
    let mut view = key_view(app, &row, now_ms());
    view["key"] = json!(key);
    ok(view)
}

fn put_combo(app: &App, req: &Req, name: &str) -> Result<Out, ApiError> {
    let v = req.json()?;
    let targets: Vec<ComboTarget> = match v.get("targets") {
        Some(t) => serde_json::from_value(t.clone()).map_err(|_| {
            ApiError::bad("`targets` is a list of \"provider/model\" strings or {\"model\", \"weight\"} objects")
        })?,
        None => return Err(ApiError::bad("`targets` is required")),
    };
    let strategy = opt_str(&v, "strategy")?.unwrap_or_else(|| "priority".to_owned());
    check_combo(name, &strategy, &targets)?;
    let settings: ComboSettings = match v.get("config") {
        Some(Value::Null) | None => ComboSettings::default(),
        Some(c) => serde_json::from_value(c.clone())
            .map_err(|e| ApiError::bad(format!("`config`: {e}")))?,
    };
    let row = ComboRow {
        name: name.to_owned(),
        strategy,
        targets,
        enabled: bool_field(&v, "enabled", true)?,
        config: serde_json::to_value(&settings).unwrap_or_default(),
    };
    let new = app.change(|dd| {
        let new = dd.db.put_combo(&row)?;
        let action = if new { "combo.create" } else { "combo.update" };
        audit(
            dd,
            &req.actor,
            action,
            name,
            json!({"targets": row.targets, "strategy": row.strategy}),
        )?;
        Ok::<_, ApiError>(new)
    })?;
    created(serde_json::to_value(&row).unwrap_or_default(), new)
}

fn limits(v: &Value, base: ConnLimits) -> Result<ConnLimits, ApiError> {
    let num = |k: &str| -> Result<Option<Option<u64>>, ApiError> {
        match v.get(k) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(n) => n
                .as_u64()
                .map(|n| Some(Some(n)))
                .ok_or_else(|| ApiError::bad(format!("`{k}` must be a whole number or null"))),
        }
    };
    let mut l = base;
    if let Some(n) = num("max_concurrent")? {
        l.max_concurrent = n.map(|n| n.min(u64::from(u32::MAX)) as u32);
    }
    if let Some(n) = num("rpm")? {
        l.rpm = n.map(|n| n.min(u64::from(u32::MAX)) as u32);
    }
    if let Some(n) = num("min_gap_ms")? {
        l.min_gap_ms = n;
    }
    if let Some(q) = v.get("quotas") {
        l.quotas = serde_json::from_value(if q.is_null() { json!([]) } else { q.clone() })
            .map_err(|e| ApiError::bad(format!("`quotas`: {e}")))?;
    }
    Ok(l)
}

fn settings(app: &App) -> Result<serde_json::Map<String, Value>, ApiError> {
    let stored: HashMap<String, String> = app.data.db.settings()?.into_iter().collect();
    let mut out = serde_json::Map::new();
    for (name, _) in apply::SETTINGS {
        let v = stored
            .get(*name)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_else(|| apply::setting_default(name));
        out.insert((*name).to_owned(), v);
    }
    Ok(out)
}

fn price_view(model: &str, p: omniroute_storage::Price) -> Value {
    json!({"model": model, "input": usd(p.input), "output": usd(p.output), "cached": usd(p.cached)})
}

fn limit(req: &Req) -> Result<u32, ApiError> {
    Ok(num(req, "limit")?.unwrap_or(50).clamp(1, 1000) as u32)
}

fn num(req: &Req, name: &str) -> Result<Option<i64>, ApiError> {
    req.query
        .get(name)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().map_err(|_| ApiError::bad(format!("`{name}` must be a number"))))
        .transpose()
}

/// Unix ms, or a `YYYY-MM-DD` date (UTC midnight).
fn time_param(req: &Req, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(v) = req.query.get(name).filter(|v| !v.is_empty()) else { return Ok(None) };
    crate::budget::parse_time(v)
        .map(Some)
        .ok_or_else(|| ApiError::bad(format!("`{name}` must be Unix milliseconds or YYYY-MM-DD")))
}

fn group_view(g: &omniroute_storage::UsageGroup) -> Value {
    let mut v = serde_json::to_value(g).unwrap_or_default();
    v["cost_usd"] = json!(usd(g.cost_micros));
    v
}

fn usage(app: &App, req: &Req) -> Result<Out, ApiError> {
    let by_name = req.query.get("group_by").map_or("model", String::as_str);
    let by = GroupBy::parse(by_name).ok_or_else(|| {
        ApiError::bad("`group_by` is one of key, model, provider, connection, day")
    })?;
    let until = time_param(req, "until")?.unwrap_or_else(|| now_ms() + 1);
    let since = time_param(req, "since")?.unwrap_or(until - 30 * 86_400_000);
    let groups = app.data.db.usage_summary(by, since, until)?;
    let total = app.data.db.usage_total(since, until)?;
    ok(json!({
        "group_by": by_name,
        "since": since,
        "until": until,
        "data": groups.iter().map(group_view).collect::<Vec<_>>(),
        "total": group_view(&total),
    }))
}

fn log_view(r: &LogRow) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["cost_usd"] = json!(usd(r.cost_micros));
    v
}

fn logs(app: &App, req: &Req) -> Result<Out, ApiError> {
    let filter = LogFilter {
        model: req.query.get("model").cloned(),
        provider: req.query.get("provider").cloned(),
        key: req.query.get("key").cloned(),
        status: num(req, "status")?.map(|s| s as u16),
        errors_only: req.query.get("errors").is_some_and(|v| v == "true" || v == "1"),
        before: num(req, "before")?,
        limit: limit(req)?,
    };
    let rows = app.data.db.logs(&filter)?;
    let next = if rows.len() == filter.limit as usize { rows.last().map(|r| r.id) } else { None };
    ok(json!({"data": rows.iter().map(log_view).collect::<Vec<_>>(), "next_before": next}))
}

fn scratch(app: &App, what: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    app.data.dir.join(format!(".{what}-{}-{n}.db", std::process::id()))
}

fn backup(app: &App) -> Result<Out, ApiError> {
    let path = scratch(app, "backup");
    let result = app
        .data
        .db
        .backup_to(&path)
        .map_err(ApiError::from)
        .and_then(|()| std::fs::read(&path).map_err(ApiError::internal));
    let _ = std::fs::remove_file(&path);
    let bytes = result?;
    let name = format!("omniroute-{}.db", now_ms() / 1000);
    Ok(Out::File { content_type: "application/vnd.sqlite3", name: Some(name), body: bytes.into() })
}

fn restore(app: &App, req: &Req) -> Result<Out, ApiError> {
    if !req.body.starts_with(b"SQLite format 3\0") {
        return Err(ApiError::bad("the body must be a SQLite database made by GET /api/backup"));
    }
    let path = scratch(app, "restore");
    std::fs::write(&path, &req.body).map_err(ApiError::internal)?;
    let result = app.change(|dd| {
        let version = dd.db.restore_from(&path).map_err(|e| ApiError::bad(e.to_string()))?;
        audit(dd, &req.actor, "restore", "database", json!({"bytes": req.body.len()}))?;
        Ok::<_, ApiError>(version)
    });
    let _ = std::fs::remove_file(&path);
    ok(json!({"restored": true, "schema_version": result?}))
}

/// `POST /api/connections/{id}/test`: a one-token completion through the connection.
pub(crate) async fn test_connection(
    app: &Arc<App>,
    actor: &Actor,
    id: i64,
    body: &[u8],
) -> Result<Out, ApiError> {
    let v = super::parse_json(body)?;
    let a = app.clone();
    let (row, secret) = super::blocking(move || {
        let row = a
            .data
            .db
            .connection(id)?
            .ok_or_else(|| ApiError::not_found(format!("no connection {id}")))?;
        let secret = a.data.db.connection_secret(id, &a.data.key).map_err(ApiError::internal)?;
        Ok((row, secret))
    })
    .await?;
    let routes = app.routes();
    let provider = routes.registry.get(&row.provider).cloned().ok_or_else(|| {
        ApiError::conflict(format!("provider `{}` no longer exists", row.provider))
    })?;
    let model = match v["model"].as_str() {
        Some(m) => m.to_owned(),
        None => provider.models.first().cloned().ok_or_else(|| {
            ApiError::bad("the provider lists no models: give one as {\"model\": ...}")
        })?,
    };
    let conn = Connection {
        provider: provider.id.clone(),
        name: row.name.clone(),
        api_key: secret,
        base_url: row.base_url.clone(),
        account_id: row.account_id.clone(),
        priority: row.priority,
    };
    let probe =
        json!({"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1});
    let opts = crate::pipeline::request_options(&provider, &model, false);
    let translated =
        translate_request(Format::OpenAiChat, provider.format, probe.to_string().as_bytes(), &opts)
            .map_err(|e| ApiError::internal(e.to_string()))?;
    let started = Instant::now();
    let outcome = match build_request(
        &provider,
        &conn,
        Endpoint::Generate { stream: false },
        &model,
        translated.body.into(),
    ) {
        Ok(req) => match app.client.send(req).await {
            Ok(resp) => {
                json!({"ok": true, "status": resp.status().as_u16(), "message": "the upstream answered"})
            }
            Err(f) => {
                json!({"ok": false, "status": f.status(), "message": format!("{}: {}", f.label(), f.message)})
            }
        },
        Err(e) => json!({"ok": false, "status": 0, "message": e.to_string()}),
    };
    let mut outcome = outcome;
    outcome["latency_ms"] = json!(started.elapsed().as_millis() as u64);
    outcome["model"] = json!(model);
    let a = app.clone();
    let label = actor.clone();
    let detail = json!({"ok": outcome["ok"], "status": outcome["status"]});
    super::blocking(move || audit(&a.data, &label, "connection.test", &id.to_string(), detail))
        .await?;
    ok(outcome)
}

/// `GET /api/route/explain?model=`: the ordered candidates and why each other one is skipped,
/// without changing any strategy's state.
fn explain(app: &App, req: &Req) -> Result<Out, ApiError> {
    let model = req
        .query
        .get("model")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::bad("`model` is required"))?;
    let tokens = req.query.get("tokens").and_then(|t| t.parse().ok()).unwrap_or(0);
    ok(crate::plan::explain_json(app, model, tokens)
        .map_err(|e| ApiError::not_found(e.to_string()))?)
}

/// `GET /api/mcp/status`: the stdio process's heartbeat, the HTTP transports' switch, and the
/// last hour of tool calls.
fn mcp_status(app: &App) -> Result<Out, ApiError> {
    let now = now_ms();
    let heartbeat: Option<Value> = std::fs::read(app.data.dir.join("runtime/mcp-heartbeat.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let alive =
        heartbeat.as_ref().and_then(|h| h["last_beat"].as_i64()).is_some_and(|t| now - t < 15_000);
    let calls = app.data.db.tool_calls(1000, None, None)?;
    let recent: Vec<_> = calls.iter().filter(|c| now - c.ts_ms < 3_600_000).collect();
    let failed = recent.iter().filter(|c| !c.success).count();
    let mut by_tool: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for c in &recent {
        *by_tool.entry(c.tool.as_str()).or_default() += 1;
    }
    ok(json!({
        "http_enabled": app.routes().settings.mcp_http,
        "tools": omniroute_control::TOOLS.len(),
        "stdio": {"heartbeat": heartbeat, "alive": alive},
        "last_hour": {"calls": recent.len(), "failed": failed, "by_tool": by_tool},
        "last_call_at": calls.first().map(|c| c.ts_ms),
    }))
}
