//! The running state built from a configuration: registry, connections, combos, keys, client.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use omniroute_core::Secret;
use omniroute_providers::{
    Auth, Client, ClientConfig, Connection, CustomProvider, Provider, Registry, ResolveError,
};
use omniroute_storage::UsageWriter;

use crate::config::{ApiKey, Config};

/// Why a configuration could not be turned into a running gateway.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Provider definitions clash or are malformed.
    #[error("{0}")]
    Registry(#[from] omniroute_providers::RegistryError),
    /// A setting refers to something that does not exist, or is not usable.
    #[error("{0}")]
    Invalid(String),
}

/// Why a model name gives no upstream to try.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PlanError {
    /// The name does not resolve to a provider.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The provider exists but has no account configured.
    #[error(
        "provider `{0}` has no connection: add a [[connections]] entry with its API key (GET /v1/models lists what is reachable)"
    )]
    NoConnection(String),
}

/// One upstream attempt: a provider, the model to ask it for, and the account to use.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) provider: Arc<Provider>,
    pub(crate) model: String,
    pub(crate) connection: Connection,
}

/// What the gateway has seen of one provider since start-up, for `/api/health`.
#[derive(Debug, Default)]
pub(crate) struct ProviderStats {
    pub(crate) ok: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Unix seconds of the last success and the last failure (0: never).
    pub(crate) last_ok: AtomicU64,
    pub(crate) last_failed: AtomicU64,
    /// The last failure's label and HTTP status.
    pub(crate) last_failure: Mutex<Option<(&'static str, u16)>>,
}

impl ProviderStats {
    pub(crate) fn success(&self, now: u64) {
        self.ok.fetch_add(1, Ordering::Relaxed);
        self.last_ok.store(now, Ordering::Relaxed);
    }

    pub(crate) fn failure(&self, now: u64, label: &'static str, status: u16) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.last_failed.store(now, Ordering::Relaxed);
        if let Ok(mut l) = self.last_failure.lock() {
            *l = Some((label, status));
        }
    }
}

/// Everything a request needs, shared by all connections.
#[derive(Debug)]
pub struct App {
    pub(crate) registry: Registry,
    pub(crate) connections: HashMap<String, Vec<Connection>>,
    pub(crate) combos: HashMap<String, Vec<String>>,
    pub(crate) aliases: HashMap<String, String>,
    pub(crate) keys: Vec<ApiKey>,
    pub(crate) require_key: bool,
    pub(crate) client: Client,
    pub(crate) max_body: usize,
    pub(crate) stream_idle: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) host: std::net::IpAddr,
    pub(crate) port: u16,
    pub(crate) stats: HashMap<String, ProviderStats>,
    /// Where finished requests are recorded (none: not recorded).
    pub(crate) usage: Option<Arc<UsageWriter>>,
}

impl App {
    /// Builds the gateway from a validated configuration. `env` looks up environment
    /// variables named by the config (`api_key_env`); the library never reads the environment
    /// itself.
    pub fn build(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<App, BuildError> {
        let mut registry = Registry::builtin()?;
        for p in &config.providers {
            registry.add_custom(CustomProvider {
                id: p.id.clone(),
                prefix: p.prefix.clone(),
                format: p.format.clone(),
                base_url: p.base_url.clone(),
                models: p.models.clone(),
            })?;
        }
        let mut connections: HashMap<String, Vec<Connection>> = HashMap::new();
        for (i, c) in config.connections.iter().enumerate() {
            let provider = registry.get(&c.provider).ok_or_else(|| {
                BuildError::Invalid(format!(
                    "connection {}: unknown provider `{}`",
                    i + 1,
                    c.provider
                ))
            })?;
            let api_key = match (&c.api_key, &c.api_key_env) {
                (Some(k), _) => Some(k.clone()),
                (None, Some(var)) => Some(Secret::new(env(var).ok_or_else(|| {
                    BuildError::Invalid(format!(
                        "connection {}: environment variable `{var}` is not set",
                        i + 1
                    ))
                })?)),
                (None, None) => None,
            };
            if api_key.is_none() && provider.auth != Auth::None {
                return Err(BuildError::Invalid(format!(
                    "connection {} for `{}` has no api_key or api_key_env",
                    i + 1,
                    provider.id
                )));
            }
            if provider.account_id_required && c.account_id.is_none() && c.base_url.is_none() {
                return Err(BuildError::Invalid(format!(
                    "connection {} for `{}` needs an account_id",
                    i + 1,
                    provider.id
                )));
            }
            connections.entry(provider.id.clone()).or_default().push(Connection {
                provider: provider.id.clone(),
                name: c.name.clone().unwrap_or_else(|| format!("{}-{}", provider.id, i + 1)),
                api_key,
                base_url: c.base_url.clone(),
                account_id: c.account_id.clone(),
                priority: c.priority,
            });
        }
        for list in connections.values_mut() {
            list.sort_by_key(|c| c.priority);
        }
        let mut combos = HashMap::new();
        for combo in &config.combos {
            if combo.strategy != "priority" {
                return Err(BuildError::Invalid(format!(
                    "combo `{}`: strategy `{}` is not supported (use `priority`)",
                    combo.name, combo.strategy
                )));
            }
            if combo.targets.is_empty() {
                return Err(BuildError::Invalid(format!("combo `{}` has no targets", combo.name)));
            }
            combos.insert(combo.name.clone(), combo.targets.clone());
        }
        let s = &config.server;
        let request_timeout = Duration::from_millis(s.request_timeout_ms.unwrap_or(600_000));
        let client = Client::new(ClientConfig {
            connect_timeout: Duration::from_millis(s.connect_timeout_ms.unwrap_or(10_000)),
            request_timeout,
            ..ClientConfig::default()
        });
        let stats =
            registry.providers().iter().map(|p| (p.id.clone(), ProviderStats::default())).collect();
        Ok(App {
            usage: None,
            stats,
            registry,
            connections,
            combos,
            aliases: config.aliases.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            keys: config.api_keys.clone(),
            require_key: !config.api_keys.is_empty() || !s.host.is_loopback(),
            client,
            max_body: s.max_body_bytes,
            stream_idle: s.stream_idle_timeout_ms.map_or(request_timeout, Duration::from_millis),
            shutdown_grace: Duration::from_millis(s.shutdown_grace_ms.unwrap_or(30_000)),
            host: s.host,
            port: s.port,
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

    /// The ordered attempts for a model name: a combo's targets in order, or one target; each
    /// with its provider's connections by priority.
    pub(crate) fn candidates(&self, model: &str) -> Result<Vec<Candidate>, PlanError> {
        let targets: Vec<String> = match self.combos.get(model) {
            Some(t) => t.clone(),
            None => vec![self.aliases.get(model).cloned().unwrap_or_else(|| model.to_owned())],
        };
        let usable = |p: &Provider| self.usable(p);
        let mut out = Vec::new();
        let mut first_err: Option<PlanError> = None;
        for t in &targets {
            match self.registry.resolve(t, &usable) {
                Ok(r) => {
                    let connections = self.connections_of(&r.provider);
                    if connections.is_empty() {
                        first_err.get_or_insert(PlanError::NoConnection(r.provider.id.clone()));
                    }
                    for connection in connections {
                        out.push(Candidate {
                            provider: r.provider.clone(),
                            model: r.model.clone(),
                            connection,
                        });
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e.into());
                }
            }
        }
        match first_err {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
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

    /// Records one row per finished request through `writer`.
    pub fn with_usage(mut self, writer: UsageWriter) -> App {
        self.usage = Some(Arc::new(writer));
        self
    }

    /// The address the server listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        (self.host, self.port).into()
    }

    /// Whether client keys are enforced.
    pub fn requires_key(&self) -> bool {
        self.require_key
    }
}
