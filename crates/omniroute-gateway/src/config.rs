//! The configuration file (TOML) and its validation.
//!
//! Load → validate → build: [`Config::from_toml`] parses with unknown keys refused (a typo is
//! an error with file, line and reason, not a silently ignored setting), and
//! [`crate::App::build`] turns a valid config into running state.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use omniroute_core::Secret;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener and limits.
    #[serde(default)]
    pub server: ServerConfig,
    /// Client keys.
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    /// Custom providers (built-ins need no entry).
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// Accounts/keys for providers.
    #[serde(default)]
    pub connections: Vec<ConnectionConfig>,
    /// Fallback chains.
    #[serde(default)]
    pub combos: Vec<ComboConfig>,
    /// Model name aliases: `alias = "provider/model"`.
    #[serde(default)]
    pub aliases: std::collections::BTreeMap<String, String>,
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// A name for logs.
    pub name: String,
    /// The key clients send.
    pub key: Secret,
    /// Allowed model patterns (`*` wildcards); all when absent.
    #[serde(default)]
    pub models: Option<Vec<String>>,
}

/// `[[providers]]`: a custom provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Its id.
    pub id: String,
    /// Optional short prefix.
    #[serde(default)]
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// A provider id, prefix or alias.
    pub provider: String,
    /// A name for logs.
    #[serde(default)]
    pub name: Option<String>,
    /// The upstream key.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Read the key from this environment variable instead.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Overrides the provider's base URL.
    #[serde(default)]
    pub base_url: Option<String>,
    /// For providers whose URL needs one (Cloudflare).
    #[serde(default)]
    pub account_id: Option<String>,
    /// Lower is tried first (default 0).
    #[serde(default)]
    pub priority: i64,
}

/// `[[combos]]`: a named fallback chain of targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComboConfig {
    /// The model name clients use.
    pub name: String,
    /// Only `priority` (try in order) for now.
    #[serde(default = "default_strategy")]
    pub strategy: String,
    /// `provider/model` targets, in order.
    pub targets: Vec<String>,
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
        assert_eq!(c.api_keys[0].key.expose(), "sk-local-123");
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
