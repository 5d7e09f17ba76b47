//! The running state: the data directory, the routing snapshot, the upstream client, counters
//! and budgets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use omniroute_providers::{Client, ClientConfig};
use omniroute_storage::{DataDir, Price, UsageWriter};

use crate::admin::AdminState;
use crate::apply;
use crate::budget::{self, Budgets};
use crate::capture::Capture;
use crate::config::Config;
use crate::plan::RouterState;
use crate::routes::Routes;
use omniroute_routing::health::Health;

/// The runtime-state row that keeps breakers, cooldowns and lockouts across restarts.
const HEALTH_STATE: &str = "health";

/// Saves the health state once a second while it changes, on its own thread, until the app
/// is gone (`App`'s drop saves it one last time).
fn persist_health(health: std::sync::Weak<Mutex<Health>>, db: omniroute_storage::Db) {
    let _ = std::thread::Builder::new().name("omniroute-health".into()).spawn(move || {
        let mut last = String::new();
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let Some(h) = health.upgrade() else { return };
            let snapshot = h.lock().map(|h| h.persist()).ok();
            drop(h);
            if let Some(s) = snapshot.and_then(|s| serde_json::to_string(&s).ok())
                && s != last
                && db.save_runtime_state(HEALTH_STATE, &s).is_ok()
            {
                last = s;
            }
        }
    });
}

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
    /// The routing snapshot, swapped whole on every configuration change.
    routes: RwLock<Arc<Routes>>,
    /// Serializes configuration writes with the reload that follows them.
    write_lock: Mutex<()>,
    pub(crate) data: DataDir,
    pub(crate) client: Client,
    pub(crate) max_body: usize,
    pub(crate) stream_idle: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) host: std::net::IpAddr,
    pub(crate) port: u16,
    stats: Mutex<HashMap<String, Arc<ProviderStats>>>,
    /// Where finished requests are recorded (none: not recorded).
    pub(crate) usage: Option<Arc<UsageWriter>>,
    pub(crate) budgets: Arc<Budgets>,
    pub(crate) admin: AdminState,
    /// The payload capture writer (idle unless the setting is on).
    pub(crate) capture: Arc<Capture>,
    /// Breakers, cooldowns, lockouts, pacing, quotas: what routing remembers.
    pub(crate) health: Arc<Mutex<Health>>,
    /// Strategy memory per combo and per provider.
    pub(crate) router: Arc<Mutex<RouterState>>,
    seeds: AtomicU64,
    /// `Idempotency-Key` answers, by key scope and key.
    pub(crate) idempotency: Mutex<HashMap<String, crate::pipeline::Stored>>,
    /// context-relay sessions.
    pub(crate) relay: crate::relay::Relay,
    /// Unix ms at start.
    pub(crate) started_ms: i64,
    /// The MCP HTTP transports, made on first use.
    pub(crate) mcp: std::sync::OnceLock<crate::endpoints::agents::Mcp>,
    /// The A2A agent (its default model and public URL are read at start).
    pub(crate) a2a: omniroute_a2a::A2a,
}

impl App {
    /// Opens the gateway on a data directory: applies the config file to its database (by
    /// name; see `docs/management-api.md`), seeds default prices, and loads the routing
    /// snapshot. `env` looks up environment variables named by the config (`api_key_env`); the
    /// library never reads the environment itself.
    pub fn open(
        config: &Config,
        env: &dyn Fn(&str) -> Option<String>,
        data: DataDir,
    ) -> Result<App, BuildError> {
        apply::apply(&data, config, env, "config-file")?;
        let seeds: Vec<_> = omniroute_providers::default_prices()
            .into_iter()
            .map(|(m, p)| {
                let m6 = |usd: f64| (usd * 1e6).round() as i64;
                (m, Price { input: m6(p.input), output: m6(p.output), cached: m6(p.cached) })
            })
            .collect();
        let storage = |e: omniroute_storage::StorageError| BuildError::Invalid(e.to_string());
        data.db.seed_prices(&seeds).map_err(storage)?;
        let s = &config.server;
        let routes = Routes::load(&data, s.host.is_loopback())?;
        let now = apply::now_ms();
        let day = budget::day_of(now);
        let (y, m) = budget::civil(day);
        let today = data.db.spend_by_key(day * 86_400_000).map_err(storage)?;
        let month =
            data.db.spend_by_key(budget::first_of_month(y, m) * 86_400_000).map_err(storage)?;
        let request_timeout = Duration::from_millis(s.request_timeout_ms.unwrap_or(600_000));
        let client = Client::new(ClientConfig {
            connect_timeout: Duration::from_millis(s.connect_timeout_ms.unwrap_or(10_000)),
            request_timeout,
            ..ClientConfig::default()
        });
        let mut health = Health::default();
        if let Ok(Some(saved)) = data.db.runtime_state(HEALTH_STATE)
            && let Ok(saved) = serde_json::from_str(&saved)
        {
            health.restore(saved, u64::try_from(now).unwrap_or(0));
        }
        for (provider, conn, limits) in &routes.limits {
            health.configure(provider, conn, limits.clone());
        }
        let health = Arc::new(Mutex::new(health));
        let routes_settings = routes.settings.clone();
        persist_health(Arc::downgrade(&health), data.db.clone());
        let capture = Capture::start(data.dir.join("call_logs"))
            .map_err(|e| BuildError::Invalid(format!("cannot start the capture writer: {e}")))?;
        Ok(App {
            health,
            router: Arc::new(Mutex::new(RouterState::default())),
            seeds: AtomicU64::new(0),
            idempotency: Mutex::new(HashMap::new()),
            relay: crate::relay::Relay::default(),
            started_ms: now,
            mcp: std::sync::OnceLock::new(),
            a2a: omniroute_a2a::A2a::new(
                omniroute_a2a::A2aConfig {
                    default_model: routes_settings.a2a_default_model.clone(),
                    public_url: routes_settings.public_url.clone(),
                    ..omniroute_a2a::A2aConfig::default()
                },
                Arc::new(crate::endpoints::agents::DbTasks(data.db.clone())),
            ),
            capture: Arc::new(capture),
            routes: RwLock::new(Arc::new(routes)),
            write_lock: Mutex::new(()),
            data,
            usage: None,
            stats: Mutex::new(HashMap::new()),
            budgets: Arc::new(Budgets::load(&today, &month, now)),
            admin: AdminState::default(),
            client,
            max_body: s.max_body_bytes,
            stream_idle: s.stream_idle_timeout_ms.map_or(request_timeout, Duration::from_millis),
            shutdown_grace: Duration::from_millis(s.shutdown_grace_ms.unwrap_or(30_000)),
            host: s.host,
            port: s.port,
        })
    }

    /// The current routing snapshot.
    pub(crate) fn routes(&self) -> Arc<Routes> {
        self.routes.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Runs a configuration change and swaps in a snapshot that includes it. Writes are
    /// serialized, so a reload never misses a change that finished before it.
    pub(crate) fn change<T, E: From<BuildError>>(
        &self,
        f: impl FnOnce(&DataDir) -> Result<T, E>,
    ) -> Result<T, E> {
        let _guard = self.write_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let out = f(&self.data)?;
        let routes = Routes::load(&self.data, self.host.is_loopback())?;
        {
            let mut health = self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (provider, conn, limits) in &routes.limits {
                health.configure(provider, conn, limits.clone());
            }
        }
        *self.routes.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(routes);
        Ok(out)
    }

    /// A fresh random seed for one planning step.
    pub(crate) fn seed(&self, now: u64) -> u64 {
        let n = self.seeds.fetch_add(1, Ordering::Relaxed);
        (now ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_add(std::process::id().into())
    }

    /// The counters of one provider.
    pub(crate) fn stats_for(&self, provider: &str) -> Arc<ProviderStats> {
        let mut map = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(provider.to_owned()).or_default().clone()
    }

    /// The counters of one provider, if it has any.
    pub(crate) fn stats_of(&self, provider: &str) -> Option<Arc<ProviderStats>> {
        self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(provider).cloned()
    }

    /// Records one row per finished request through `writer`.
    pub fn with_usage(mut self, writer: UsageWriter) -> App {
        self.usage = Some(Arc::new(writer));
        self
    }

    /// Makes sure the management API has an admin password: keeps a stored one, else stores
    /// `initial` (`INITIAL_PASSWORD`), else generates one. Returns the password only when it
    /// was generated, for the caller to show once.
    pub fn ensure_admin_password(
        &self,
        initial: Option<&str>,
    ) -> Result<Option<String>, BuildError> {
        crate::admin::ensure_password(&self.data, initial)
    }

    /// Registers `OMNIROUTE_ADMIN_TOKEN` as the admin token named `env`.
    pub fn register_admin_token(&self, token: &str) -> Result<(), BuildError> {
        crate::admin::register_env_token(&self.data, token)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        (self.host, self.port).into()
    }

    /// Whether client keys are enforced.
    pub fn requires_key(&self) -> bool {
        self.routes().require_key
    }
}

impl Drop for App {
    /// Graceful shutdown keeps the latest breakers, cooldowns and lockouts.
    fn drop(&mut self) {
        let snapshot = self.health.lock().map(|h| h.persist()).ok();
        if let Some(s) = snapshot.and_then(|s| serde_json::to_string(&s).ok()) {
            let _ = self.data.db.save_runtime_state(HEALTH_STATE, &s);
        }
    }
}
