//! The configuration file and the database: applying a file (at start, or
//! `POST /api/config/apply`) writes what it names, by name, and leaves the rest alone; exporting
//! writes the database back out in the file's format. The checks here are the same ones the
//! management API runs on single changes.

use std::collections::BTreeMap;

use omniroute_core::Secret;
use omniroute_providers::Auth;
use omniroute_routing::Strategy;
use omniroute_storage::{
    ComboRow, ComboTarget, ConnLimits, ConnectionInput, DataDir, KeyRow, Price, ProviderRow,
    hash_client_key,
};
use serde::Serialize;

use crate::app::BuildError;
use crate::config::{
    ApiKey, ComboConfig, ComboSettings, Config, ConnectionConfig, PriceConfig, ProviderConfig,
};
use crate::routes::registry_with;

/// Settings the gateway understands, with their JSON type (`a|b|c`: one of these strings).
pub(crate) const SETTINGS: &[(&str, &str)] = &[
    ("require_api_key", "boolean"),
    ("capture_payloads", "boolean"),
    ("capture_max_mb", "number"),
    ("capture_max_age_days", "number"),
    ("account_strategy", "fill-first|round-robin|p2c|least-used|random"),
    ("wait_for_cooldown_ms", "number"),
    ("idempotency_window_s", "number"),
    ("mcp_http_enabled", "boolean"),
    ("a2a_enabled", "boolean"),
    ("a2a_default_model", "string"),
    ("public_url", "string"),
];

/// How many entries of each kind a file wrote.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Applied {
    pub providers: usize,
    pub connections: usize,
    pub api_keys: usize,
    pub combos: usize,
    pub aliases: usize,
    pub pricing: usize,
    pub settings: usize,
}

fn invalid(msg: impl Into<String>) -> BuildError {
    BuildError::Invalid(msg.into())
}

fn storage(e: impl std::fmt::Display) -> BuildError {
    BuildError::Invalid(e.to_string())
}

/// Dollars to micro-dollars, refusing negative or absurd values.
pub(crate) fn micros(usd: f64, what: &str) -> Result<i64, BuildError> {
    if !usd.is_finite() || !(0.0..=1e9).contains(&usd) {
        return Err(invalid(format!("{what}: {usd} is not an amount in US dollars")));
    }
    Ok((usd * 1e6).round() as i64)
}

/// Micro-dollars to dollars.
pub(crate) fn usd(micros: i64) -> f64 {
    micros as f64 / 1e6
}

pub(crate) fn check_combo(
    name: &str,
    strategy: &str,
    targets: &[ComboTarget],
) -> Result<(), BuildError> {
    if name.trim().is_empty() {
        return Err(invalid("a combo needs a name"));
    }
    if Strategy::parse(strategy).is_none() {
        let known: Vec<&str> = Strategy::ALL.iter().map(|s| s.id()).collect();
        return Err(invalid(format!(
            "combo `{name}`: unknown strategy `{strategy}` (one of {})",
            known.join(", ")
        )));
    }
    if targets.is_empty() || targets.iter().any(|t| t.model().trim().is_empty()) {
        return Err(invalid(format!("combo `{name}` needs at least one non-empty target")));
    }
    if targets.iter().any(|t| t.model() == name) {
        return Err(invalid(format!("combo `{name}` lists itself")));
    }
    Ok(())
}

/// A setting's value when none is stored.
pub(crate) fn setting_default(name: &str) -> serde_json::Value {
    match name {
        "capture_max_mb" => serde_json::json!(512),
        "capture_max_age_days" => serde_json::json!(7),
        "account_strategy" => serde_json::json!("fill-first"),
        "wait_for_cooldown_ms" => serde_json::json!(10_000),
        "idempotency_window_s" => serde_json::json!(600),
        "mcp_http_enabled" | "a2a_enabled" => serde_json::Value::Bool(true),
        "a2a_default_model" | "public_url" => serde_json::json!(""),
        _ => serde_json::Value::Bool(false),
    }
}

pub(crate) fn check_setting(name: &str, value: &serde_json::Value) -> Result<(), BuildError> {
    match SETTINGS.iter().find(|(n, _)| *n == name) {
        None => Err(invalid(format!(
            "unknown setting `{name}` (known: {})",
            SETTINGS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ))),
        Some((_, "boolean")) if !value.is_boolean() => {
            Err(invalid(format!("setting `{name}` takes true or false")))
        }
        Some((_, "number")) if !value.as_f64().is_some_and(|n| n >= 0.0 && n.is_finite()) => {
            Err(invalid(format!("setting `{name}` takes a number of at least 0")))
        }
        Some((_, kind))
            if kind.contains('|')
                && !value.as_str().is_some_and(|v| kind.split('|').any(|k| k == v)) =>
        {
            Err(invalid(format!("setting `{name}` is one of {}", kind.replace('|', ", "))))
        }
        Some(_) => Ok(()),
    }
}

pub(crate) fn check_price(model: &str, p: &PriceConfig) -> Result<Price, BuildError> {
    if !model.contains('/') {
        return Err(invalid(format!("price `{model}`: name it as provider/model")));
    }
    Ok(Price {
        input: micros(p.input, model)?,
        output: micros(p.output, model)?,
        cached: micros(p.cached.unwrap_or(p.input), model)?,
    })
}

pub(crate) fn provider_row(p: &ProviderConfig) -> ProviderRow {
    ProviderRow {
        id: p.id.clone(),
        prefix: p.prefix.clone(),
        format: p.format.clone(),
        base_url: p.base_url.clone(),
        models: p.models.clone(),
    }
}

/// Applies `config` to the database. Everything is checked before anything is written.
pub(crate) fn apply(
    dd: &DataDir,
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    actor: &str,
) -> Result<Applied, BuildError> {
    let db = &dd.db;
    // Providers: the registry must accept the stored ones with the file's replacing them.
    let mut customs: BTreeMap<String, ProviderRow> =
        db.providers().map_err(storage)?.into_iter().map(|p| (p.id.clone(), p)).collect();
    for p in &config.providers {
        customs.insert(p.id.clone(), provider_row(p));
    }
    let registry = registry_with(&customs.values().cloned().collect::<Vec<_>>())?;

    let stored = db.connections().map_err(storage)?;
    let mut connections = Vec::new();
    for (i, c) in config.connections.iter().enumerate() {
        let provider = registry.get(&c.provider).ok_or_else(|| {
            invalid(format!("connection {}: unknown provider `{}`", i + 1, c.provider))
        })?;
        let name = c.name.clone().unwrap_or_else(|| format!("{}-{}", provider.id, i + 1));
        let api_key = match (&c.api_key, &c.api_key_env) {
            (Some(k), _) => Some(k.clone()),
            (None, Some(var)) => Some(Secret::new(env(var).ok_or_else(|| {
                invalid(format!("connection {}: environment variable `{var}` is not set", i + 1))
            })?)),
            (None, None) => None,
        };
        let has_stored =
            stored.iter().any(|s| s.provider == provider.id && s.name == name && s.has_api_key);
        if api_key.is_none() && !has_stored && provider.auth != Auth::None {
            return Err(invalid(format!(
                "connection {} for `{}` has no api_key or api_key_env",
                i + 1,
                provider.id
            )));
        }
        if provider.account_id_required && c.account_id.is_none() && c.base_url.is_none() {
            return Err(invalid(format!(
                "connection {} for `{}` needs an account_id",
                i + 1,
                provider.id
            )));
        }
        connections.push(ConnectionInput {
            provider: provider.id.clone(),
            name,
            api_key,
            base_url: c.base_url.clone(),
            account_id: c.account_id.clone(),
            priority: c.priority,
            enabled: c.enabled,
            limits: ConnLimits {
                max_concurrent: c.max_concurrent,
                rpm: c.rpm,
                min_gap_ms: c.min_gap_ms,
                quotas: c.quotas.clone(),
            },
        });
    }

    let existing_keys = db.keys().map_err(storage)?;
    let mut keys = Vec::new();
    for k in &config.api_keys {
        let (hash, prefix) = match (&k.key, &k.key_hash) {
            (Some(key), None) => (hash_client_key(key.expose()), key_prefix(key.expose())),
            (None, Some(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                let prefix = existing_keys
                    .iter()
                    .find(|e| e.key_hash == h.to_ascii_lowercase())
                    .map_or_else(String::new, |e| e.prefix.clone());
                (h.to_ascii_lowercase(), prefix)
            }
            _ => {
                return Err(invalid(format!(
                    "api key `{}`: give exactly one of `key` or `key_hash` (64 hex characters)",
                    k.name
                )));
            }
        };
        let created_at =
            existing_keys.iter().find(|e| e.name == k.name).map_or_else(now_ms, |e| e.created_at);
        keys.push(KeyRow {
            name: k.name.clone(),
            key_hash: hash,
            prefix,
            models: k.models.clone(),
            daily_budget_micros: k.daily_budget_usd.map(|d| micros(d, &k.name)).transpose()?,
            monthly_budget_micros: k.monthly_budget_usd.map(|d| micros(d, &k.name)).transpose()?,
            enabled: k.enabled,
            created_at,
            scopes: match &k.scopes {
                Some(s) => {
                    omniroute_control::expand_scopes(s)
                        .map_err(|e| invalid(format!("api key `{}`: {e}", k.name)))?;
                    Some(s.clone())
                }
                None => None,
            },
        });
    }
    for c in &config.combos {
        check_combo(&c.name, &c.strategy, &c.targets)?;
    }
    let mut prices = Vec::new();
    for (model, p) in &config.pricing {
        prices.push((model.clone(), check_price(model, p)?));
    }
    let mut settings = config.settings.clone();
    if let Some(m) = &config.mcp
        && let Some(h) = m.http
    {
        settings.insert("mcp_http_enabled".into(), serde_json::Value::Bool(h));
    }
    if let Some(a) = &config.a2a {
        if let Some(e) = a.enabled {
            settings.insert("a2a_enabled".into(), serde_json::Value::Bool(e));
        }
        if let Some(m) = &a.default_model {
            settings.insert("a2a_default_model".into(), serde_json::json!(m));
        }
        if let Some(u) = &a.public_url {
            settings.insert("public_url".into(), serde_json::json!(u));
        }
    }
    for (name, value) in &settings {
        check_setting(name, value)?;
    }

    for p in &config.providers {
        db.put_provider(&provider_row(p)).map_err(storage)?;
    }
    for c in &connections {
        db.put_connection(c, &dd.key).map_err(storage)?;
    }
    for k in &keys {
        db.put_key(k).map_err(storage)?;
    }
    for c in &config.combos {
        db.put_combo(&ComboRow {
            name: c.name.clone(),
            strategy: c.strategy.clone(),
            targets: c.targets.clone(),
            enabled: c.enabled,
            config: serde_json::to_value(c.settings()).unwrap_or_default(),
        })
        .map_err(storage)?;
    }
    for (alias, target) in &config.aliases {
        db.put_alias(alias, target).map_err(storage)?;
    }
    for (model, p) in &prices {
        db.put_price(model, *p).map_err(storage)?;
    }
    for (name, value) in &settings {
        db.put_setting(name, &value.to_string()).map_err(storage)?;
    }
    let applied = Applied {
        providers: config.providers.len(),
        connections: connections.len(),
        api_keys: keys.len(),
        combos: config.combos.len(),
        aliases: config.aliases.len(),
        pricing: prices.len(),
        settings: settings.len(),
    };
    if applied != Applied::default() {
        let detail = serde_json::to_value(applied).unwrap_or_default();
        db.audit(actor, "config.apply", "config", &detail).map_err(storage)?;
    }
    Ok(applied)
}

/// The first characters of a key, to recognise it in lists.
pub(crate) fn key_prefix(key: &str) -> String {
    key.chars().take(8).collect()
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The database as a config file. Credentials only with `secrets`; client keys as hashes.
pub(crate) fn export(dd: &DataDir, secrets: bool) -> Result<String, BuildError> {
    let db = &dd.db;
    let mut config = Config::default();
    for p in db.providers().map_err(storage)? {
        config.providers.push(ProviderConfig {
            id: p.id,
            prefix: p.prefix,
            format: p.format,
            base_url: p.base_url,
            models: p.models,
        });
    }
    for c in db.connections().map_err(storage)? {
        let api_key = if secrets && c.has_api_key {
            db.connection_secret(c.id, &dd.key).map_err(storage)?
        } else {
            None
        };
        config.connections.push(ConnectionConfig {
            provider: c.provider,
            name: Some(c.name),
            api_key,
            api_key_env: None,
            base_url: c.base_url,
            account_id: c.account_id,
            priority: c.priority,
            enabled: c.enabled,
            max_concurrent: c.limits.max_concurrent,
            rpm: c.limits.rpm,
            min_gap_ms: c.limits.min_gap_ms,
            quotas: c.limits.quotas,
        });
    }
    for k in db.keys().map_err(storage)? {
        config.api_keys.push(ApiKey {
            name: k.name,
            key: None,
            key_hash: Some(k.key_hash),
            models: k.models,
            daily_budget_usd: k.daily_budget_micros.map(usd),
            monthly_budget_usd: k.monthly_budget_micros.map(usd),
            enabled: k.enabled,
            scopes: k.scopes,
        });
    }
    for c in db.combos().map_err(storage)? {
        let settings: ComboSettings = serde_json::from_value(c.config).unwrap_or_default();
        config.combos.push(ComboConfig {
            name: c.name,
            strategy: c.strategy,
            targets: c.targets,
            enabled: c.enabled,
            max_retries: settings.max_retries,
            retry_delay_ms: settings.retry_delay_ms,
            concurrency_per_model: settings.concurrency_per_model,
            queue_timeout_ms: settings.queue_timeout_ms,
            sticky_limit: settings.sticky_limit,
            handoff_model: settings.handoff_model,
        });
    }
    config.aliases = db.aliases().map_err(storage)?.into_iter().collect();
    for (model, p) in db.prices().map_err(storage)? {
        let price =
            PriceConfig { input: usd(p.input), output: usd(p.output), cached: Some(usd(p.cached)) };
        config.pricing.insert(model, price);
    }
    for (name, value) in db.settings().map_err(storage)? {
        if SETTINGS.iter().any(|(n, _)| *n == name)
            && let Ok(v) = serde_json::from_str(&value)
        {
            config.settings.insert(name, v);
        }
    }
    let body = toml::to_string(&config).map_err(storage)?;
    let header = if secrets {
        "# omniroute configuration export. It CONTAINS upstream credentials: keep it private.\n"
    } else {
        "# omniroute configuration export (without upstream credentials; connections keep the\n\
         # keys already stored when this is applied). Client keys are given by their hash.\n"
    };
    Ok(format!("{header}{body}"))
}
