//! The configuration file (TOML) and its validation.
//!
//! Load → validate → build: [`Config::from_toml`] parses with unknown keys refused (a typo is
//! an error with file, line and reason, not a silently ignored setting), and
//! [`crate::App::build`] turns a valid config into running state.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use omniroute_core::Secret;
use serde::{Deserialize, Serialize, Serializer};

/// The whole file. Everything but `[server]` is applied to the database at start, by name
/// (see `docs/management-api.md`, "which wins").
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener and limits (never exported: they belong to the machine, not the state).
    #[serde(default, skip_serializing)]
    pub server: ServerConfig,
    /// Client keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<ApiKey>,
    /// Custom providers (built-ins need no entry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderConfig>,
    /// Accounts/keys for providers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<ConnectionConfig>,
    /// Fallback chains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub combos: Vec<ComboConfig>,
    /// Model name aliases: `alias = "provider/model"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
    /// Prices by `provider/model`, US dollars per million tokens.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pricing: BTreeMap<String, PriceConfig>,
    /// Runtime settings (see `docs/management-api.md`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// `[mcp]`: the MCP server's HTTP transports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpConfig>,
    /// `[a2a]`: the A2A agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a2a: Option<A2aConfig>,
}

/// `[mcp]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// Serve MCP at `/api/mcp/stream` and `/api/mcp/sse` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<bool>,
}

/// `[a2a]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct A2aConfig {
    /// Serve the agent at `/a2a` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The model a task uses when its message names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_model: Option<String>,
    /// The URL the agent card announces (default: this server as the client reached it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

/// A `[pricing."provider/model"]` entry.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cached input (default: the input price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<f64>,
}

fn expose<S: Serializer>(s: &Option<Secret>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.serialize_str(s.expose()),
        None => ser.serialize_none(),
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to bind (default `127.0.0.1`).
    #[serde(default = "default_host")]
    pub host: IpAddr,
    /// Port (default 20128).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Data directory.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Largest accepted request body in bytes (default 32 MiB).
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Until upstream response headers, in ms (default 600000).
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    /// Between stream chunks, in ms (default: the request timeout).
    #[serde(default)]
    pub stream_idle_timeout_ms: Option<u64>,
    /// TCP connect timeout to upstreams, in ms (default 10000).
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// How long graceful shutdown waits for in-flight requests, in ms (default 30000).
    #[serde(default)]
    pub shutdown_grace_ms: Option<u64>,
}

fn default_host() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_port() -> u16 {
    20128
}
fn default_body_limit() -> usize {
    32 * 1024 * 1024
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: default_host(),
            port: default_port(),
            data_dir: None,
            max_body_bytes: default_body_limit(),
            request_timeout_ms: None,
            stream_idle_timeout_ms: None,
            connect_timeout_ms: None,
            shutdown_grace_ms: None,
        }
    }
}

/// `[[api_keys]]`: a client key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// A name for logs.
    pub name: String,
    /// The key clients send (stored only as its hash).
    #[serde(default, skip_serializing)]
    pub key: Option<Secret>,
    /// Or the key's SHA-256 (hex), as `config export` writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_hash: Option<String>,
    /// Allowed model patterns (`*` wildcards); all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Spending limit per UTC day, US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_budget_usd: Option<f64>,
    /// Spending limit per UTC calendar month, US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_budget_usd: Option<f64>,
    /// Disabled keys are refused (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Control-plane (MCP, A2A) scopes or presets: `["full"]`, `["monitor"]`, or scope names
    /// (default `readonly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

#[expect(clippy::trivially_copy_pass_by_ref, reason = "serde's skip_serializing_if signature")]
fn is_true(b: &bool) -> bool {
    *b
}

/// `[[providers]]`: a custom provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Its id.
    pub id: String,
    /// Optional short prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `openai`, `claude`, `gemini` or `responses`.
    pub format: String,
    /// Base URL as the official SDK of that format takes it.
    pub base_url: String,
    /// Known models.
    #[serde(default)]
    pub models: Vec<String>,
}

/// `[[connections]]`: an account or key for a provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// A provider id, prefix or alias.
    pub provider: String,
    /// A name for logs; unique per provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The upstream key; absent keeps the stored one.
    #[serde(default, serialize_with = "expose", skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Read the key from this environment variable instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Overrides the provider's base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// For providers whose URL needs one (Cloudflare).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Lower is tried first (default 0).
    #[serde(default)]
    pub priority: i64,
    /// Disabled connections are never tried (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// At most this many requests in flight on this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Requests per minute (else learned from the upstream's rate-limit headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Minimum milliseconds between two requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_gap_ms: Option<u64>,
    /// Token quota windows: `[{ name = "5h", hours = 5, tokens = 2000000 }]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<omniroute_storage::QuotaWindow>,
}

/// `[[combos]]`: a named list of targets with a strategy (`docs/routing.md`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComboConfig {
    /// The model name clients use.
    pub name: String,
    /// How targets are ordered (default `priority`).
    #[serde(default = "default_strategy")]
    pub strategy: String,
    /// `provider/model`, another combo's name, or a wildcard (`groq/*`); `{ model, weight }`
    /// for the `weighted` strategy.
    pub targets: Vec<omniroute_storage::ComboTarget>,
    /// Disabled combos are not routable (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Extra passes over all targets after every one failed (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Pause before such a pass, ms (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_ms: Option<u64>,
    /// At most this many requests in flight per target model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_per_model: Option<u32>,
    /// How long a request may wait when every target is busy or cooling down, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_timeout_ms: Option<u64>,
    /// `round-robin`/`weighted`: requests per pick before moving on (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_limit: Option<u32>,
    /// `context-relay`: the model that writes handoff summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_model: Option<String>,
}

impl ComboConfig {
    /// The tunable part, as stored.
    pub fn settings(&self) -> ComboSettings {
        ComboSettings {
            max_retries: self.max_retries,
            retry_delay_ms: self.retry_delay_ms,
            concurrency_per_model: self.concurrency_per_model,
            queue_timeout_ms: self.queue_timeout_ms,
            sticky_limit: self.sticky_limit,
            handoff_model: self.handoff_model.clone(),
        }
    }
}

/// The tunable part of a combo (stored as its `config` JSON, and the API's `config` object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComboSettings {
    /// Extra passes over all targets after every one failed (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Pause before such a pass, ms (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_ms: Option<u64>,
    /// At most this many requests in flight per target model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_per_model: Option<u32>,
    /// How long a request may wait when every target is busy or cooling down, ms (default:
    /// the `wait_for_cooldown_ms` setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_timeout_ms: Option<u64>,
    /// `round-robin`/`weighted`: requests per pick before moving on (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_limit: Option<u32>,
    /// `context-relay`: the model that writes handoff summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_model: Option<String>,
}

fn default_strategy() -> String {
    "priority".into()
}

/// A configuration that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The file is not valid TOML or not the expected shape.
    #[error("{path}:{line}:{column}: {reason}")]
    Parse { path: PathBuf, line: usize, column: usize, reason: String },
    /// The values do not make sense together.
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl Config {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Self::from_toml(&text, path)
    }

    /// Parses config text; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Parse { path: path.into(), line, column, reason: e.message().to_owned() }
        })
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_EXAMPLE: &str = r#"
[server]
host = "127.0.0.1"
port = 20128
data_dir = "/var/lib/omniroute"      # default: $DATA_DIR, else ~/.omniroute

[[api_keys]]                          # client keys
name = "ci"
key = "sk-local-123"
models = ["*"]                        # allowed model patterns; optional

[[providers]]                         # custom providers; built-ins need no entry
id = "mock-claude"
prefix = "mc"                         # optional alias: "mc/x" = "mock-claude/x"
format = "claude"                     # openai | claude | gemini | responses
base_url = "http://127.0.0.1:18080"   # as the official SDK of that format takes it
models = ["claude-test"]

[[connections]]                       # an account/key for a provider; several allowed
provider = "mock-claude"              # or a built-in id such as "openai"
name = "acct-1"
api_key = "upstream-key-1"            # or api_key_env = "VAR"
base_url = "http://127.0.0.1:18081"   # optional override of the provider's base URL
priority = 1

[[combos]]
name = "my-stack"
strategy = "priority"
targets = ["mc/claude-test", "openai/gpt-4o-mini"]
"#;

    #[test]
    fn the_documented_shape_parses() {
        let c = Config::from_toml(ISSUE_EXAMPLE, Path::new("omniroute.toml")).unwrap();
        assert_eq!(c.server.port, 20128);
        assert_eq!(c.api_keys[0].key.as_ref().unwrap().expose(), "sk-local-123");
        assert_eq!(c.providers[0].prefix.as_deref(), Some("mc"));
        assert_eq!(c.connections[0].priority, 1);
        assert_eq!(c.combos[0].targets.len(), 2);
    }

    #[test]
    fn errors_name_file_line_and_reason() {
        let text = "[server]\nport = 20128\nprot = 1\n";
        let e = Config::from_toml(text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(e.starts_with("x.toml:3:"), "{e}");
        assert!(e.contains("prot"), "{e}");
        let e = Config::from_toml("[server]\nport = \"high\"\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml:2:"), "{e}");
    }
}
