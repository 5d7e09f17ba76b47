//! The control plane: what agents may do with a running gateway, as one trait and a catalog.
//!
//! - [`ControlPlane`] runs a tool by name with JSON arguments. The gateway implements it
//!   in-process (checking the caller's scopes and recording an audit row); the `omniroute-mcp`
//!   binary implements it over HTTP (`POST /api/control/{tool}` with the caller's API key), so
//!   every transport runs the same code on the server.
//! - [`TOOLS`] describes each tool: name, one-line description, JSON schemas of input and
//!   output, and the scopes a key needs.
//! - [`Scope`] and its presets (`readonly`, `monitor`, `full`) are attached to client keys.

use std::future::Future;

use serde_json::{Value, json};

/// A permission attached to a client API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    ReadHealth,
    ReadCombos,
    WriteCombos,
    ReadQuota,
    ReadUsage,
    ReadModels,
    ExecuteCompletions,
    WriteBudget,
    WriteResilience,
    ReadCache,
    WriteCache,
    PricingWrite,
}

impl Scope {
    /// Every scope.
    pub const ALL: &'static [Scope] = &[
        Scope::ReadHealth,
        Scope::ReadCombos,
        Scope::WriteCombos,
        Scope::ReadQuota,
        Scope::ReadUsage,
        Scope::ReadModels,
        Scope::ExecuteCompletions,
        Scope::WriteBudget,
        Scope::WriteResilience,
        Scope::ReadCache,
        Scope::WriteCache,
        Scope::PricingWrite,
    ];

    /// Its name in configuration and errors.
    pub fn id(self) -> &'static str {
        match self {
            Scope::ReadHealth => "read:health",
            Scope::ReadCombos => "read:combos",
            Scope::WriteCombos => "write:combos",
            Scope::ReadQuota => "read:quota",
            Scope::ReadUsage => "read:usage",
            Scope::ReadModels => "read:models",
            Scope::ExecuteCompletions => "execute:completions",
            Scope::WriteBudget => "write:budget",
            Scope::WriteResilience => "write:resilience",
            Scope::ReadCache => "read:cache",
            Scope::WriteCache => "write:cache",
            Scope::PricingWrite => "pricing:write",
        }
    }

    /// Parses a scope name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.iter().copied().find(|x| x.id() == s)
    }
}

/// The scopes a preset or scope list grants: `readonly` (health, models, combos), `monitor`
/// (readonly plus quota, usage and cache statistics), `full` (everything), or scope names.
/// `None` names the first entry that is neither.
pub fn expand_scopes<S: AsRef<str>>(names: &[S]) -> Result<Vec<Scope>, String> {
    let mut out = Vec::new();
    for n in names {
        let n = n.as_ref();
        match n {
            "readonly" => out.extend(READONLY),
            "monitor" => out.extend(READONLY.iter().chain(MONITOR_EXTRA)),
            "full" => out.extend(Scope::ALL),
            other => out.push(Scope::parse(other).ok_or_else(|| {
                format!(
                    "unknown scope `{other}` (presets: readonly, monitor, full; scopes: {})",
                    Scope::ALL.iter().map(|s| s.id()).collect::<Vec<_>>().join(", ")
                )
            })?),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

const READONLY: &[Scope] = &[Scope::ReadHealth, Scope::ReadModels, Scope::ReadCombos];
const MONITOR_EXTRA: &[Scope] = &[Scope::ReadQuota, Scope::ReadUsage, Scope::ReadCache];

/// Why a tool call failed. `code` is stable for clients and audit rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    pub code: ErrorCode,
    pub message: String,
}

/// The kind of a control-plane failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The caller's key lacks a scope the tool needs.
    Forbidden,
    /// The arguments do not match the tool's input schema.
    InvalidArguments,
    /// No such tool, combo, model or key.
    NotFound,
    /// The feature is switched off, or the gateway cannot be reached.
    Unavailable,
    /// An upstream refused or failed the request.
    Upstream,
    /// Anything else.
    Internal,
}

impl ErrorCode {
    /// Its name in JSON and audit rows.
    pub fn id(self) -> &'static str {
        match self {
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InvalidArguments => "invalid_arguments",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Upstream => "upstream_error",
            ErrorCode::Internal => "internal",
        }
    }

    /// Parses [`ErrorCode::id`].
    pub fn parse(s: &str) -> ErrorCode {
        match s {
            "forbidden" => ErrorCode::Forbidden,
            "invalid_arguments" => ErrorCode::InvalidArguments,
            "not_found" => ErrorCode::NotFound,
            "unavailable" => ErrorCode::Unavailable,
            "upstream_error" => ErrorCode::Upstream,
            _ => ErrorCode::Internal,
        }
    }
}

impl ControlError {
    /// An error of `code` with a message for the caller.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ControlError {
        ControlError { code, message: message.into() }
    }

    /// The JSON the HTTP control endpoint answers with.
    pub fn to_json(&self) -> Value {
        json!({"error": {"code": self.code.id(), "message": self.message}})
    }
}

/// Runs control-plane tools for one caller.
pub trait ControlPlane: Send + Sync + 'static {
    /// Runs `tool` (a name from [`TOOLS`]) with `args` (an object matching its input schema)
    /// and returns its output (an object matching its output schema).
    fn call(
        &self,
        tool: &str,
        args: Value,
    ) -> impl Future<Output = Result<Value, ControlError>> + Send;
}

/// One tool of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    /// Every one of these is needed.
    pub scopes: &'static [Scope],
    pub input: fn() -> Value,
    pub output: fn() -> Value,
}

impl Tool {
    /// The tool by name.
    pub fn find(name: &str) -> Option<&'static Tool> {
        TOOLS.iter().find(|t| t.name == name)
    }

    /// The first scope in `scopes` the tool needs that `granted` lacks.
    pub fn missing_scope(&self, granted: &[Scope]) -> Option<Scope> {
        self.scopes.iter().copied().find(|s| !granted.contains(s))
    }
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

fn any_object() -> Value {
    json!({"type": "object"})
}

fn no_args() -> Value {
    object(json!({}), &[])
}

fn messages() -> Value {
    json!({
        "type": "array",
        "minItems": 1,
        "description": "OpenAI Chat messages",
        "items": {
            "type": "object",
            "properties": {
                "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
                "content": {"type": "string"}
            },
            "required": ["role", "content"]
        }
    })
}

fn since_until() -> Value {
    json!({
        "since": {"type": "string", "description": "Unix ms or YYYY-MM-DD (UTC); default 30 days ago"},
        "until": {"type": "string", "description": "Unix ms or YYYY-MM-DD (UTC); default now"}
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
    a
}

/// The route explanation shape (`simulate_route`, `explain_route`).
fn route_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "model": {"type": "string"},
            "combo": {"type": ["object", "null"]},
            "order": {"type": "array", "items": {"type": "object", "properties": {"target": {"type": "string"}, "why": {"type": "string"}}}},
            "candidates": {"type": "array", "items": {"type": "object", "properties": {"target": {"type": "string"}, "connection": {"type": "string"}}}},
            "skipped": {"type": "array", "items": {"type": "object"}}
        },
        "required": ["model", "order", "candidates", "skipped"]
    })
}

/// The catalog. Names are prefixed `omniroute_`.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "omniroute_get_health",
        description: "Gateway health: each provider's requests, circuit breaker and latency, connection cooldowns, model lockouts.",
        scopes: &[Scope::ReadHealth],
        input: no_args,
        output: || json!({"type": "object", "properties": {"status": {"type": "string"}, "providers": {"type": "array"}, "breakers": {"type": "array"}, "connections": {"type": "array"}, "model_locks": {"type": "array"}}, "required": ["status", "providers"]}),
    },
    Tool {
        name: "omniroute_list_combos",
        description: "The combos (named fallback chains): targets, strategy, settings, enabled.",
        scopes: &[Scope::ReadCombos],
        input: no_args,
        output: || json!({"type": "object", "properties": {"combos": {"type": "array", "items": {"type": "object"}}}, "required": ["combos"]}),
    },
    Tool {
        name: "omniroute_get_combo_metrics",
        description: "Requests, errors, tokens, cost and p50/p95/p99 latency per combo (or one combo) over a period.",
        scopes: &[Scope::ReadCombos, Scope::ReadUsage],
        input: || object(merge(json!({"combo": {"type": "string"}}), since_until()), &[]),
        output: || json!({"type": "object", "properties": {"combos": {"type": "array", "items": {"type": "object"}}}, "required": ["combos"]}),
    },
    Tool {
        name: "omniroute_switch_combo",
        description: "Enables or disables a combo, or replaces its targets or strategy.",
        scopes: &[Scope::WriteCombos],
        input: || {
            object(
                json!({
                    "name": {"type": "string"},
                    "enabled": {"type": "boolean"},
                    "targets": {"type": "array", "items": {"type": "string"}},
                    "strategy": {"type": "string"}
                }),
                &["name"],
            )
        },
        output: || json!({"type": "object", "properties": {"combo": {"type": "object"}}, "required": ["combo"]}),
    },
    Tool {
        name: "omniroute_check_quota",
        description: "Quota and cooldown state of every connection, and each client key's budget use today and this month.",
        scopes: &[Scope::ReadQuota],
        input: || object(json!({"provider": {"type": "string"}}), &[]),
        output: || json!({"type": "object", "properties": {"connections": {"type": "array"}, "keys": {"type": "array"}}, "required": ["connections", "keys"]}),
    },
    Tool {
        name: "omniroute_route_request",
        description: "Sends a chat completion through the gateway (combo, alias or provider/model) and returns the answer, the account that served it and its cost.",
        scopes: &[Scope::ExecuteCompletions],
        input: || {
            object(
                json!({
                    "model": {"type": "string"},
                    "messages": messages(),
                    "max_tokens": {"type": "integer", "minimum": 1},
                    "temperature": {"type": "number"}
                }),
                &["model", "messages"],
            )
        },
        output: || {
            json!({"type": "object", "properties": {
            "content": {"type": "string"},
            "model": {"type": "string"},
            "served_by": {"type": "string"},
            "usage": {"type": "object"},
            "cost_usd": {"type": "number"}
        }, "required": ["content", "served_by"]})
        },
    },
    Tool {
        name: "omniroute_cost_report",
        description: "Cost and tokens grouped by key, model, provider, connection or day over a period.",
        scopes: &[Scope::ReadUsage],
        input: || {
            object(
                merge(
                    json!({"group_by": {"type": "string", "enum": ["key", "model", "provider", "connection", "day"]}}),
                    since_until(),
                ),
                &[],
            )
        },
        output: || json!({"type": "object", "properties": {"group_by": {"type": "string"}, "data": {"type": "array"}, "total": {"type": "object"}}, "required": ["data", "total"]}),
    },
    Tool {
        name: "omniroute_list_models_catalog",
        description: "Every model name a client can use: provider models with a connection, combos and aliases.",
        scopes: &[Scope::ReadModels],
        input: || object(json!({"provider": {"type": "string"}}), &[]),
        output: || json!({"type": "object", "properties": {"models": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}, "owned_by": {"type": "string"}}}}}, "required": ["models"]}),
    },
    Tool {
        name: "omniroute_simulate_route",
        description: "Where a request for this model with this prompt size would go now, without sending it.",
        scopes: &[Scope::ReadCombos],
        input: || {
            object(
                json!({"model": {"type": "string"}, "tokens": {"type": "integer", "minimum": 0}}),
                &["model"],
            )
        },
        output: route_output,
    },
    Tool {
        name: "omniroute_explain_route",
        description: "The ordered targets of a model or combo with the strategy's reasons, and why any target or account is skipped.",
        scopes: &[Scope::ReadCombos],
        input: || object(json!({"model": {"type": "string"}}), &["model"]),
        output: route_output,
    },
    Tool {
        name: "omniroute_set_budget_guard",
        description: "Sets (or clears, with null) a client key's daily and monthly budget in US dollars.",
        scopes: &[Scope::WriteBudget],
        input: || {
            object(
                json!({
                    "key": {"type": "string"},
                    "daily_budget_usd": {"type": ["number", "null"], "minimum": 0},
                    "monthly_budget_usd": {"type": ["number", "null"], "minimum": 0}
                }),
                &["key"],
            )
        },
        output: || json!({"type": "object", "properties": {"key": {"type": "object"}}, "required": ["key"]}),
    },
    Tool {
        name: "omniroute_set_routing_strategy",
        description: "Changes a combo's strategy (priority, weighted, round-robin, p2c, cost-optimized, auto, ...).",
        scopes: &[Scope::WriteCombos],
        input: || {
            object(
                json!({"combo": {"type": "string"}, "strategy": {"type": "string"}}),
                &["combo", "strategy"],
            )
        },
        output: || json!({"type": "object", "properties": {"combo": {"type": "object"}}, "required": ["combo"]}),
    },
    Tool {
        name: "omniroute_set_resilience_profile",
        description: "Sets how requests wait for cooling targets and order accounts: a profile (fail-fast, balanced, patient) or explicit values.",
        scopes: &[Scope::WriteResilience],
        input: || {
            object(
                json!({
                    "profile": {"type": "string", "enum": ["fail-fast", "balanced", "patient"]},
                    "wait_for_cooldown_ms": {"type": "integer", "minimum": 0},
                    "account_strategy": {"type": "string", "enum": ["fill-first", "round-robin", "p2c", "least-used", "random"]}
                }),
                &[],
            )
        },
        output: || json!({"type": "object", "properties": {"settings": {"type": "object"}}, "required": ["settings"]}),
    },
    Tool {
        name: "omniroute_test_combo",
        description: "Sends a one-token request to each target of a combo directly and reports which answer and how fast.",
        scopes: &[Scope::ReadCombos, Scope::ExecuteCompletions],
        input: || object(json!({"combo": {"type": "string"}}), &["combo"]),
        output: || json!({"type": "object", "properties": {"combo": {"type": "string"}, "targets": {"type": "array", "items": {"type": "object", "properties": {"target": {"type": "string"}, "ok": {"type": "boolean"}, "status": {"type": "integer"}, "latency_ms": {"type": "integer"}}}}}, "required": ["combo", "targets"]}),
    },
    Tool {
        name: "omniroute_get_provider_metrics",
        description: "Per provider: requests, failures, p50/p95/p99 latency, breaker state, cost over the last 30 days.",
        scopes: &[Scope::ReadHealth],
        input: || object(json!({"provider": {"type": "string"}}), &[]),
        output: || json!({"type": "object", "properties": {"providers": {"type": "array", "items": {"type": "object"}}}, "required": ["providers"]}),
    },
    Tool {
        name: "omniroute_best_combo_for_task",
        description: "Recommends the combo for a task (coding, fast, cheap, reasoning, long-context, ...) from health, price, latency and context windows, with the reasoning.",
        scopes: &[Scope::ReadCombos],
        input: || object(json!({"task": {"type": "string"}}), &["task"]),
        output: || json!({"type": "object", "properties": {"combo": {"type": ["string", "null"]}, "reason": {"type": "string"}, "ranking": {"type": "array"}}, "required": ["combo", "reason", "ranking"]}),
    },
    Tool {
        name: "omniroute_get_session_snapshot",
        description: "The gateway right now: uptime, version, requests and cost today, requests in flight, combos, providers with connections.",
        scopes: &[Scope::ReadHealth],
        input: no_args,
        output: any_object,
    },
    Tool {
        name: "omniroute_db_health_check",
        description: "The database: integrity check, schema version, file and WAL size, usage rows.",
        scopes: &[Scope::ReadHealth],
        input: no_args,
        output: || json!({"type": "object", "properties": {"integrity": {"type": "string"}, "schema_version": {"type": "integer"}, "size_bytes": {"type": "integer"}, "wal_bytes": {"type": "integer"}, "usage_rows": {"type": "integer"}}, "required": ["integrity", "schema_version"]}),
    },
    Tool {
        name: "omniroute_sync_pricing",
        description: "Updates the pricing table from a local JSON or TOML file inside the data directory ({\"provider/model\": {\"input\", \"output\", \"cached\"}} in USD per 1M tokens); no network.",
        scopes: &[Scope::PricingWrite],
        input: || {
            object(json!({"path": {"type": "string"}, "dry_run": {"type": "boolean"}}), &["path"])
        },
        output: || json!({"type": "object", "properties": {"updated": {"type": "integer"}, "dry_run": {"type": "boolean"}, "prices": {"type": "array"}}, "required": ["updated", "prices"]}),
    },
    Tool {
        name: "omniroute_cache_stats",
        description: "The gateway's caches: stored Idempotency-Key answers and context-relay sessions.",
        scopes: &[Scope::ReadCache],
        input: no_args,
        output: any_object,
    },
    Tool {
        name: "omniroute_cache_flush",
        description: "Empties the Idempotency-Key answer cache.",
        scopes: &[Scope::WriteCache],
        input: no_args,
        output: || json!({"type": "object", "properties": {"flushed": {"type": "integer"}}, "required": ["flushed"]}),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_well_formed() {
        let mut names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), 21);
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 21, "unique names");
        for t in TOOLS {
            assert!(t.name.starts_with("omniroute_"));
            assert!(!t.scopes.is_empty(), "{} needs a scope", t.name);
            assert!(!t.description.is_empty() && !t.description.contains('\n'));
            assert_eq!((t.input)()["type"], "object", "{}", t.name);
            assert_eq!((t.output)()["type"], "object", "{}", t.name);
        }
    }

    #[test]
    fn scopes_and_presets() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.id()), Some(*s));
        }
        let ro = expand_scopes(&["readonly"]).unwrap();
        assert!(ro.contains(&Scope::ReadHealth) && !ro.contains(&Scope::ReadUsage));
        let mon = expand_scopes(&["monitor"]).unwrap();
        assert!(mon.contains(&Scope::ReadUsage) && !mon.contains(&Scope::ExecuteCompletions));
        assert_eq!(expand_scopes(&["full"]).unwrap().len(), Scope::ALL.len());
        assert_eq!(expand_scopes(&["readonly", "write:cache"]).unwrap().len(), ro.len() + 1);
        assert!(expand_scopes(&["root"]).unwrap_err().contains("unknown scope `root`"));
        let t = Tool::find("omniroute_route_request").unwrap();
        assert_eq!(t.missing_scope(&ro), Some(Scope::ExecuteCompletions));
        assert_eq!(t.missing_scope(&[Scope::ExecuteCompletions]), None);
    }
}
