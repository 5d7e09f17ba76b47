//! The routing snapshot: everything a request reads (providers, connections with decrypted
//! credentials, combos, aliases, client keys, prices), built from the database and swapped
//! whole when the configuration changes. Requests never touch SQLite.

use std::collections::HashMap;
use std::sync::Arc;

use omniroute_providers::{
    Auth, Connection, CustomProvider, Provider, Registry, RegistryError, ResolveError,
};
use omniroute_routing::Strategy;
use omniroute_routing::combo::{Combo, ComboConfig, Target};
use omniroute_routing::health::{Limits, QuotaLimit};
use omniroute_storage::{DataDir, Price};

use crate::config::ComboSettings;

use crate::app::BuildError;

/// Why a model name gives no upstream to try.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PlanError {
    /// The name does not resolve to a provider.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The provider exists but has no account configured.
    #[error(
        "provider `{0}` has no connection: add one with `omniroute-cli connection add` or a [[connections]] entry (GET /v1/models lists what is reachable)"
    )]
    NoConnection(String),
    /// A combo cannot be expanded (a cycle, too deep) or has nothing to try.
    #[error("{0}")]
    Combo(String),
}

/// One upstream attempt: a provider, the model to ask it for, and the account to use.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) provider: Arc<Provider>,
    pub(crate) model: String,
    pub(crate) connection: Connection,
    /// The combo target it came from, as written after expansion (`provider/model`).
    pub(crate) target: String,
}

/// Routing settings from the settings table.
#[derive(Debug, Clone)]
pub(crate) struct RoutingSettings {
    /// How a provider's accounts are ordered.
    pub(crate) account_strategy: Strategy,
    /// How long a request may wait when every candidate is cooling down or busy.
    pub(crate) wait_for_cooldown_ms: u64,
    /// How long an `Idempotency-Key` answer is replayed.
    pub(crate) idempotency_window_ms: u64,
    /// MCP over HTTP is served.
    pub(crate) mcp_http: bool,
    /// The A2A agent is served.
    pub(crate) a2a: bool,
    /// The model A2A tasks use when their message names none.
    pub(crate) a2a_default_model: Option<String>,
    /// The URL this server announces (agent card).
    pub(crate) public_url: Option<String>,
}

/// A client key as requests see it (the key itself is only known by its hash).
#[derive(Debug)]
pub(crate) struct ClientKey {
    pub(crate) name: String,
    /// Allowed model patterns; all when `None`.
    pub(crate) models: Option<Vec<String>>,
    /// Micro-dollars per UTC day.
    pub(crate) daily_budget: Option<i64>,
    /// Micro-dollars per UTC month.
    pub(crate) monthly_budget: Option<i64>,
    /// Control-plane scopes.
    pub(crate) scopes: Vec<omniroute_control::Scope>,
}

/// The snapshot.
#[derive(Debug)]
pub(crate) struct Routes {
    pub(crate) registry: Registry,
    /// Enabled connections by provider id, by priority.
    pub(crate) connections: HashMap<String, Vec<Connection>>,
    /// Enabled combos.
    pub(crate) combos: HashMap<String, Combo>,
    /// Configured limits per (provider, connection name), handed to the health state.
    pub(crate) limits: Vec<(String, String, Limits)>,
    pub(crate) settings: RoutingSettings,
    pub(crate) aliases: HashMap<String, String>,
    /// Enabled client keys by the SHA-256 hex of the key.
    pub(crate) keys: HashMap<String, Arc<ClientKey>>,
    /// By `provider/model`.
    pub(crate) prices: HashMap<String, Price>,
    pub(crate) require_key: bool,
    /// Payload capture limits, when capture is on.
    pub(crate) capture: Option<crate::capture::Limits>,
}

/// The built-in registry plus the custom providers stored in the database.
pub(crate) fn registry_with(
    customs: &[omniroute_storage::ProviderRow],
) -> Result<Registry, RegistryError> {
    let mut registry = Registry::builtin()?;
    for p in customs {
        registry.add_custom(CustomProvider {
            id: p.id.clone(),
            prefix: p.prefix.clone(),
            format: p.format.clone(),
            base_url: p.base_url.clone(),
            models: p.models.clone(),
        })?;
    }
    Ok(registry)
}

impl Routes {
    /// Reads the whole snapshot from the database, decrypting credentials with the data dir's
    /// key. `loopback`: whether the server listens only on loopback (else keys are required).
    pub(crate) fn load(dd: &DataDir, loopback: bool) -> Result<Routes, BuildError> {
        let db = &dd.db;
        let storage = |e: omniroute_storage::StorageError| BuildError::Invalid(e.to_string());
        let registry = registry_with(&db.providers().map_err(storage)?)?;
        let mut connections: HashMap<String, Vec<Connection>> = HashMap::new();
        let mut limits = Vec::new();
        for c in db.connections().map_err(storage)? {
            if !c.enabled {
                continue;
            }
            let Some(provider) = registry.get(&c.provider) else { continue };
            let api_key = if c.has_api_key {
                db.connection_secret(c.id, &dd.key)
                    .map_err(|e| BuildError::Invalid(e.to_string()))?
            } else {
                None
            };
            limits.push((
                provider.id.clone(),
                c.name.clone(),
                Limits {
                    max_concurrent: c.limits.max_concurrent,
                    rpm: c.limits.rpm,
                    min_gap_ms: c.limits.min_gap_ms.unwrap_or(0),
                    quotas: c
                        .limits
                        .quotas
                        .iter()
                        .map(|q| QuotaLimit {
                            name: q.name.clone(),
                            window_ms: u64::from(q.hours) * 3_600_000,
                            tokens: q.tokens,
                        })
                        .collect(),
                    quota_threshold: 0.9,
                },
            ));
            connections.entry(provider.id.clone()).or_default().push(Connection {
                provider: provider.id.clone(),
                name: c.name,
                api_key,
                base_url: c.base_url,
                account_id: c.account_id,
                priority: c.priority,
            });
        }
        for list in connections.values_mut() {
            list.sort_by_key(|c| c.priority);
        }
        let combos = db
            .combos()
            .map_err(storage)?
            .into_iter()
            .filter(|c| c.enabled)
            .map(|c| {
                let s: ComboSettings = serde_json::from_value(c.config).unwrap_or_default();
                let combo = Combo {
                    name: c.name.clone(),
                    strategy: Strategy::parse(&c.strategy).unwrap_or(Strategy::Priority),
                    targets: c
                        .targets
                        .iter()
                        .map(|t| Target { model: t.model().to_owned(), weight: t.weight() })
                        .collect(),
                    config: ComboConfig {
                        max_retries: s.max_retries.unwrap_or(0),
                        retry_delay_ms: s.retry_delay_ms.unwrap_or(0),
                        concurrency_per_model: s.concurrency_per_model,
                        queue_timeout_ms: s.queue_timeout_ms.unwrap_or(u64::MAX),
                        sticky_limit: s.sticky_limit.unwrap_or(1),
                        handoff_model: s.handoff_model,
                    },
                };
                (c.name, combo)
            })
            .collect();
        let keys: HashMap<_, _> = db
            .keys()
            .map_err(storage)?
            .into_iter()
            .filter(|k| k.enabled)
            .map(|k| {
                let key = ClientKey {
                    name: k.name,
                    models: k.models,
                    daily_budget: k.daily_budget_micros,
                    monthly_budget: k.monthly_budget_micros,
                    scopes: omniroute_control::expand_scopes(
                        k.scopes.as_deref().unwrap_or(&["readonly".to_owned()]),
                    )
                    .unwrap_or_default(),
                };
                (k.key_hash, Arc::new(key))
            })
            .collect();
        let settings: HashMap<String, serde_json::Value> = db
            .settings()
            .map_err(storage)?
            .into_iter()
            .filter_map(|(k, v)| Some((k, serde_json::from_str(&v).ok()?)))
            .collect();
        let setting = |name: &str| {
            settings.get(name).cloned().unwrap_or_else(|| crate::apply::setting_default(name))
        };
        let require_setting = setting("require_api_key") == serde_json::Value::Bool(true);
        let capture = (setting("capture_payloads") == serde_json::Value::Bool(true)).then(|| {
            crate::capture::Limits {
                max_bytes: (setting("capture_max_mb").as_f64().unwrap_or(512.0) * 1_048_576.0)
                    as u64,
                max_age_days: setting("capture_max_age_days").as_f64().unwrap_or(7.0) as u64,
            }
        });
        // A key that exists but is disabled still means "keys are in use".
        let any_key = !db.keys().map_err(storage)?.is_empty();
        let number = |name: &str| setting(name).as_f64().unwrap_or(0.0).max(0.0) as u64;
        let settings = RoutingSettings {
            account_strategy: setting("account_strategy")
                .as_str()
                .and_then(Strategy::parse)
                .unwrap_or(Strategy::FillFirst),
            wait_for_cooldown_ms: number("wait_for_cooldown_ms"),
            idempotency_window_ms: number("idempotency_window_s") * 1000,
            mcp_http: setting("mcp_http_enabled") != serde_json::Value::Bool(false),
            a2a: setting("a2a_enabled") != serde_json::Value::Bool(false),
            a2a_default_model: setting("a2a_default_model")
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            public_url: setting("public_url").as_str().filter(|s| !s.is_empty()).map(str::to_owned),
        };
        Ok(Routes {
            registry,
            connections,
            combos,
            limits,
            settings,
            aliases: db.aliases().map_err(storage)?.into_iter().collect(),
            prices: db.prices().map_err(storage)?.into_iter().collect(),
            require_key: any_key || !loopback || require_setting,
            keys,
            capture,
        })
    }

    /// Whether requests can reach this provider: it has a connection, or needs no key.
    pub(crate) fn usable(&self, p: &Provider) -> bool {
        self.connections.contains_key(&p.id) || p.auth == Auth::None
    }

    fn connections_of(&self, p: &Provider) -> Vec<Connection> {
        match self.connections.get(&p.id) {
            Some(list) => list.clone(),
            None if p.auth == Auth::None => vec![Connection {
                provider: p.id.clone(),
                name: format!("{}-local", p.id),
                api_key: None,
                base_url: None,
                account_id: None,
                priority: 0,
            }],
            None => Vec::new(),
        }
    }

    /// The connections a provider's requests may use, by priority.
    pub(crate) fn accounts(&self, p: &Provider) -> Vec<Connection> {
        self.connections_of(p)
    }

    /// The price of a candidate's model, if one is set.
    pub(crate) fn price(&self, c: &Candidate) -> Option<Price> {
        self.prices.get(&format!("{}/{}", c.provider.id, c.model)).copied()
    }

    /// Every `provider/model` a client can reach, plus combos and aliases.
    pub(crate) fn model_ids(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for p in self.registry.providers() {
            // Listed only with a connection: a local provider that needs no key (Ollama) can
            // still be called, but listing it when nothing runs there would mislead clients.
            if !self.connections.contains_key(&p.id) {
                continue;
            }
            for m in &p.models {
                out.push((format!("{}/{m}", p.id), p.id.clone()));
            }
        }
        let mut combos: Vec<_> = self.combos.keys().collect();
        combos.sort();
        out.extend(combos.into_iter().map(|c| (c.clone(), "combo".to_owned())));
        let mut aliases: Vec<_> = self.aliases.keys().collect();
        aliases.sort();
        out.extend(aliases.into_iter().map(|a| (a.clone(), "alias".to_owned())));
        out
    }
}
