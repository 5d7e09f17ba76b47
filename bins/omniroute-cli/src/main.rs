//! `omniroute-cli`: manages a running omniroute server through its management API (`/api/`, see
//! `docs/management-api.md`). Human tables by default, the server's JSON with `--json`.
//!
//! Exit codes:
//! - 0: success;
//! - 1: the server answered with an error not listed below, or another failure;
//! - 2: usage error;
//! - 3: the server could not be reached (connection failed or timed out);
//! - 4: unauthorized or forbidden (HTTP 401/403);
//! - 5: not found (HTTP 404);
//! - 6: conflict or invalid request (HTTP 400/409/413/422).
//!
//! Errors are printed as `omniroute-cli: <message>` on stderr. The admin token and API keys are
//! never printed, except the new key that `key create` and `key rotate` exist to show, once.
// Results go to stdout through `stdout()`, which copes with a closed pipe; `eprintln!` is fine
// for stderr.
#![expect(clippy::print_stderr, reason = "a CLI reports errors and notes on stderr")]

mod cli_config;
mod http;
mod offline;
mod output;
mod private_file;
mod table;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::http::{Body, Client, Error, query, segment};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use hyper::Method;
use serde_json::{Value, json};

const LONG_ABOUT: &str = "\
Manage a running omniroute server through its management API.

The server is --url, else OMNIROUTE_URL, else the `url` of the CLI config file, else \
http://127.0.0.1:20128. The admin token is --token, else OMNIROUTE_ADMIN_TOKEN, else the `token` \
of the CLI config file (sent only to that file's `url`). The CLI config file is \
$OMNIROUTE_CLI_CONFIG, else $XDG_CONFIG_HOME/omniroute/cli.toml, else \
~/.config/omniroute/cli.toml; `omniroute-cli login` writes it.

Exit codes:
  0  success
  1  the server answered with an error not listed below, or another failure
  2  usage error
  3  the server could not be reached (connection failed or timed out)
  4  unauthorized or forbidden (HTTP 401/403)
  5  not found (HTTP 404)
  6  conflict or invalid request (HTTP 400/409/413/422)";

#[derive(Parser)]
#[command(name = "omniroute-cli", version, about = "Manage a running omniroute server.", long_about = LONG_ABOUT)]
struct Cli {
    /// The server's base URL [default: the CLI config file's, else http://127.0.0.1:20128].
    #[arg(long, global = true, env = "OMNIROUTE_URL", value_name = "URL")]
    url: Option<String>,
    /// Admin token [default: the CLI config file's].
    #[arg(
        long,
        global = true,
        env = "OMNIROUTE_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    /// Print the server's JSON answer (pretty) instead of a table, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Provider status (`GET /api/health`).
    Health,
    /// Providers, built-in and custom.
    #[command(subcommand)]
    Provider(ProviderCmd),
    /// Connections: credentials for a provider.
    #[command(subcommand)]
    Connection(ConnectionCmd),
    /// Client API keys for `/v1`.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Combos: one model name for a list of targets.
    #[command(subcommand)]
    Combo(ComboCmd),
    /// Model aliases.
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Runtime settings.
    #[command(subcommand)]
    Settings(SettingsCmd),
    /// Model prices, in USD per million tokens.
    #[command(subcommand)]
    Pricing(PricingCmd),
    /// Requests, errors, tokens, cost and latency, grouped.
    Usage(UsageArgs),
    /// The request log, newest first.
    Logs(LogsArgs),
    /// The audit log of management changes, newest first.
    Audit(PageArgs),
    /// Download a consistent copy of the server's database.
    Backup(BackupArgs),
    /// Replace the server's database with a backup.
    Restore {
        /// A SQLite file made by `backup`.
        file: PathBuf,
    },
    /// Export or apply the configuration as TOML.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Create an admin token with the admin password and save it in the CLI config file.
    Login(LoginArgs),
    /// How a model name is routed now.
    #[command(subcommand)]
    Route(RouteCmd),
    /// The MCP server: its tool-call audit and status.
    #[command(subcommand)]
    Mcp(McpCmd),
    /// The A2A agent: status and tasks.
    #[command(subcommand)]
    A2a(A2aCmd),
    /// Offline: create a data directory (database, key file, admin password) and an admin
    /// token for this CLI, saved in the CLI config file with --url's server.
    Init {
        #[command(flatten)]
        dir: DataDirArg,
        /// The admin token's name.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Offline: bring a data directory's database schema up to date.
    Migrate {
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Offline: re-encrypt every stored credential with a new secret key. Stop the server
    /// first; with OMNIROUTE_SECRET_KEY set, the new key is printed for you to store.
    RotateSecret {
        #[command(flatten)]
        dir: DataDirArg,
    },
}

#[derive(Args)]
struct DataDirArg {
    /// The data directory [default: ~/.omniroute].
    #[arg(long, env = "DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ProviderCmd {
    /// List providers.
    List,
    /// Add a custom provider.
    Add {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        fields: ProviderFields,
    },
    /// Replace a custom provider's definition: flags as for `add`; what is left out is cleared.
    Update {
        id: String,
        #[command(flatten)]
        fields: ProviderFields,
    },
    /// Remove a custom provider (refused while connections use it).
    Remove { id: String },
}

#[derive(Args)]
struct ProviderFields {
    /// Wire format: openai, claude, gemini, responses, ...
    #[arg(long)]
    format: String,
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// Model prefix clients use, as in `PREFIX/model`.
    #[arg(long)]
    prefix: Option<String>,
    /// A model the provider serves (repeatable).
    #[arg(long = "model", value_name = "M")]
    models: Vec<String>,
}

#[derive(Subcommand)]
enum ConnectionCmd {
    /// List connections (API keys are never shown).
    List,
    /// Add a connection to a provider.
    Add {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        fields: ConnectionFields,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Change a connection.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: ConnectionFields,
        #[command(flatten)]
        toggle: Toggle,
    },
    /// Remove a connection.
    Remove { id: String },
    /// Send a one-token request upstream through a connection (exit code 1 if it fails).
    Test {
        id: String,
        /// The model to ask [default: the provider's first].
        #[arg(long, value_name = "M")]
        model: Option<String>,
    },
}

#[derive(Args)]
struct ConnectionFields {
    /// The upstream API key (visible in the process list: prefer --api-key-stdin).
    #[arg(long, value_name = "K", conflicts_with = "api_key_stdin")]
    api_key: Option<String>,
    /// Read the upstream API key from the first line of standard input.
    #[arg(long)]
    api_key_stdin: bool,
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    #[arg(long)]
    account_id: Option<String>,
    /// Lower goes first.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    priority: Option<i64>,
    /// At most this many requests in flight (`none` removes the limit).
    #[arg(long, value_name = "N|none", value_parser = limit)]
    max_concurrent: Option<Limit>,
    /// Requests per minute (`none`: learn from the upstream's headers).
    #[arg(long, value_name = "N|none", value_parser = limit)]
    rpm: Option<Limit>,
    /// Minimum milliseconds between requests (`none` removes it).
    #[arg(long, value_name = "MS|none", value_parser = limit)]
    min_gap_ms: Option<Limit>,
    /// A token quota window `NAME:HOURS:TOKENS`, e.g. `5h:5:2000000` (repeatable; replaces the
    /// stored windows).
    #[arg(long = "quota", value_name = "NAME:HOURS:TOKENS", value_parser = quota)]
    quotas: Vec<Value>,
    /// Remove every quota window.
    #[arg(long, conflicts_with = "quotas")]
    clear_quotas: bool,
}

/// A whole number, or `none` (sent as null).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    Set(u64),
    None,
}

fn limit(s: &str) -> Result<Limit, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(Limit::None);
    }
    s.parse().map(Limit::Set).map_err(|_| format!("`{s}` is not a whole number or `none`"))
}

/// `NAME:HOURS:TOKENS`, split at the last two colons (so a name may hold one).
fn quota(s: &str) -> Result<Value, String> {
    let mut parts = s.rsplitn(3, ':');
    let (Some(tokens), Some(hours), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("not NAME:HOURS:TOKENS".to_owned());
    };
    if name.is_empty() {
        return Err("the quota window needs a name".to_owned());
    }
    let hours: u32 = match hours.parse() {
        Ok(0) => return Err("a window lasts at least 1 hour".to_owned()),
        Ok(h) => h,
        Err(_) => return Err(format!("`{hours}` hours is not a whole number")),
    };
    let tokens: u64 =
        tokens.parse().map_err(|_| format!("`{tokens}` tokens is not a whole number"))?;
    Ok(json!({"name": name, "hours": hours, "tokens": tokens}))
}

#[derive(Args)]
struct Toggle {
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    #[arg(long)]
    disable: bool,
}

impl Toggle {
    fn enabled(&self) -> Option<bool> {
        match (self.enable, self.disable) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

#[derive(Subcommand)]
enum KeyCmd {
    /// List keys (the keys themselves are never shown).
    List,
    /// Create a key and print it, once.
    Create {
        name: String,
        /// A model pattern the key may use (repeatable) [default: all models].
        #[arg(long = "model", value_name = "PATTERN")]
        models: Vec<String>,
        #[arg(long, value_name = "USD", value_parser = usd)]
        daily_budget: Option<f64>,
        #[arg(long, value_name = "USD", value_parser = usd)]
        monthly_budget: Option<f64>,
        /// A control-plane scope or preset for MCP/A2A (repeatable: readonly, monitor, full,
        /// read:health, execute:completions, ...) [default: readonly].
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// Change a key's models, budgets or state.
    Update {
        name: String,
        #[command(flatten)]
        changes: KeyChanges,
    },
    /// Replace a key with a new one and print it, once; the old key stops working.
    Rotate { name: String },
    /// Remove a key.
    Remove { name: String },
}

#[derive(Args)]
struct KeyChanges {
    /// Replace the allowed model patterns (repeatable).
    #[arg(long = "model", value_name = "PATTERN")]
    models: Vec<String>,
    /// Allow every model again.
    #[arg(long, conflicts_with = "models")]
    all_models: bool,
    /// A budget in USD, or `none` to remove it.
    #[arg(long, value_name = "USD|none", value_parser = budget)]
    daily_budget: Option<Budget>,
    /// A budget in USD, or `none` to remove it.
    #[arg(long, value_name = "USD|none", value_parser = budget)]
    monthly_budget: Option<Budget>,
    /// Replace the control-plane scopes (repeatable; presets readonly, monitor, full).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    #[command(flatten)]
    toggle: Toggle,
}

impl KeyChanges {
    /// The `PATCH` body: only what is given; `null` clears.
    fn body(self) -> Value {
        let budget = |b: Budget| match b {
            Budget::Usd(x) => Value::from(x),
            Budget::Unlimited => Value::Null,
        };
        let models = match (self.all_models, self.models.is_empty()) {
            (true, _) => Some(Value::Null),
            (false, false) => Some(Value::from(self.models)),
            (false, true) => None,
        };
        let mut body = json!({});
        put(&mut body, "models", models);
        put(&mut body, "daily_budget_usd", self.daily_budget.map(budget));
        put(&mut body, "monthly_budget_usd", self.monthly_budget.map(budget));
        put(&mut body, "enabled", self.toggle.enabled().map(Value::from));
        put(&mut body, "scopes", (!self.scopes.is_empty()).then(|| Value::from(self.scopes)));
        body
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Budget {
    Usd(f64),
    Unlimited,
}

#[derive(Subcommand)]
enum ComboCmd {
    /// List combos.
    List,
    /// Create or replace a combo.
    Set {
        name: String,
        /// A target, in order (repeatable): provider/model, a combo, a wildcard (groq/*).
        /// `MODEL@WEIGHT` (a whole number of at least 1 after the last `@`) sets a weight for
        /// the weighted strategy; a model whose own name ends in `@DIGITS` needs an explicit
        /// weight, as in `vertex/claude@20240620@1`.
        #[arg(long = "target", value_name = "T", required = true, value_parser = combo_target)]
        targets: Vec<Value>,
        /// How targets are ordered (`combo strategies` lists them).
        #[arg(long, value_name = "S")]
        strategy: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        config: ComboConfigArgs,
    },
    /// The strategies and what each does.
    Strategies,
    /// Remove a combo.
    Remove { name: String },
}

/// A combo's settings (`docs/routing.md`).
#[derive(Args, Default)]
struct ComboConfigArgs {
    /// Extra passes over all targets after every one failed.
    #[arg(long, value_name = "N")]
    max_retries: Option<u32>,
    /// Pause before such a pass, ms.
    #[arg(long, value_name = "MS")]
    retry_delay_ms: Option<u64>,
    /// At most this many requests in flight per target.
    #[arg(long, value_name = "N")]
    concurrency_per_model: Option<u32>,
    /// How long a request may wait when every target is busy or cooling down, ms.
    #[arg(long, value_name = "MS")]
    queue_timeout_ms: Option<u64>,
    /// round-robin/weighted: requests per pick.
    #[arg(long, value_name = "N")]
    sticky_limit: Option<u32>,
    /// context-relay: the model that writes handoff summaries.
    #[arg(long, value_name = "M")]
    handoff_model: Option<String>,
}

impl ComboConfigArgs {
    fn body(self) -> Value {
        let mut v = json!({});
        put(&mut v, "max_retries", self.max_retries.map(Value::from));
        put(&mut v, "retry_delay_ms", self.retry_delay_ms.map(Value::from));
        put(&mut v, "concurrency_per_model", self.concurrency_per_model.map(Value::from));
        put(&mut v, "queue_timeout_ms", self.queue_timeout_ms.map(Value::from));
        put(&mut v, "sticky_limit", self.sticky_limit.map(Value::from));
        put(&mut v, "handoff_model", self.handoff_model.map(Value::from));
        v
    }
}

/// `MODEL@WEIGHT` → `{"model", "weight"}` when what follows the last `@` is all digits;
/// anything else stays a string. A weight of 0 is refused: the strategy would never draw it.
fn combo_target(t: &str) -> Result<Value, String> {
    let Some((model, w)) = t.rsplit_once('@') else { return Ok(Value::from(t)) };
    if model.is_empty() || w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Value::from(t));
    }
    match w.parse::<u32>() {
        Ok(0) => Err("a weight is at least 1".to_owned()),
        Ok(weight) => Ok(json!({"model": model, "weight": weight})),
        Err(_) => Err(format!("a weight is at most {}", u32::MAX)),
    }
}

#[derive(Subcommand)]
enum RouteCmd {
    /// The ordered targets, the candidates, and why anything is skipped (changes nothing).
    Explain {
        model: String,
        /// Assume a prompt of this many tokens (context-window checks).
        #[arg(long)]
        tokens: Option<u64>,
    },
}

#[derive(Subcommand)]
enum McpCmd {
    /// Tool calls, newest first.
    Audit {
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        before: Option<i64>,
        /// Only this tool.
        #[arg(long)]
        tool: Option<String>,
    },
    /// The stdio process's heartbeat and the last hour of calls.
    Status,
}

#[derive(Subcommand)]
enum A2aCmd {
    /// Task counts by state.
    Status,
    /// Recent tasks.
    Tasks {
        #[arg(long)]
        limit: Option<u32>,
    },
    /// One task, with its history.
    Task { id: String },
    /// Cancel a running task.
    Cancel { id: String },
}

#[derive(Subcommand)]
enum AliasCmd {
    /// List aliases.
    List,
    /// Point an alias at a model or combo.
    Set { alias: String, target: String },
    /// Remove an alias.
    Remove { alias: String },
}

#[derive(Subcommand)]
enum SettingsCmd {
    /// List settings.
    List,
    /// Set a setting; VALUE is read as JSON when it parses, else as a string.
    ///
    /// `settings list` shows every setting with its value. For example:
    /// `settings set account_strategy round-robin` (fill-first, round-robin, p2c, least-used or
    /// random), `settings set wait_for_cooldown_ms 5000`, `settings set require_api_key true`.
    Set { name: String, value: String },
}

#[derive(Subcommand)]
enum PricingCmd {
    /// List prices.
    List,
    /// Set a model's price, in USD per million tokens.
    Set {
        #[arg(value_name = "PROVIDER/MODEL", value_parser = provider_model)]
        model: (String, String),
        #[arg(long, value_name = "USD", value_parser = usd)]
        input: f64,
        #[arg(long, value_name = "USD", value_parser = usd)]
        output: f64,
        #[arg(long, value_name = "USD", value_parser = usd)]
        cached: Option<f64>,
    },
    /// Remove a model's price.
    Remove {
        #[arg(value_name = "PROVIDER/MODEL", value_parser = provider_model)]
        model: (String, String),
    },
}

#[derive(Args)]
struct UsageArgs {
    #[arg(long, value_enum)]
    group_by: Option<GroupBy>,
    /// Unix milliseconds or YYYY-MM-DD (UTC) [default: 30 days ago].
    #[arg(long, value_name = "X")]
    since: Option<String>,
    /// Unix milliseconds or YYYY-MM-DD (UTC) [default: now].
    #[arg(long, value_name = "X")]
    until: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum GroupBy {
    Key,
    Model,
    Provider,
    Connection,
    Day,
}

#[derive(Args)]
struct PageArgs {
    /// How many rows.
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
    /// Only rows older than this id (the `more: --before` hint of the previous page).
    #[arg(long, value_name = "ID")]
    before: Option<String>,
}

#[derive(Args)]
struct LogsArgs {
    #[command(flatten)]
    page: PageArgs,
    #[arg(long, value_name = "M")]
    model: Option<String>,
    #[arg(long, value_name = "P")]
    provider: Option<String>,
    /// A key's name.
    #[arg(long, value_name = "K")]
    key: Option<String>,
    /// An HTTP status.
    #[arg(long, value_name = "N")]
    status: Option<u16>,
    /// Only failed requests.
    #[arg(long)]
    errors: bool,
}

#[derive(Args)]
struct BackupArgs {
    /// Where to write the backup.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Offline: copy this data directory's database instead of asking a server.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print the configuration as TOML, or write it to a file.
    Export {
        /// Include secrets (connections' API keys).
        #[arg(long)]
        secrets: bool,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Overwrite FILE if it exists.
        #[arg(long, requires = "out")]
        force: bool,
    },
    /// Apply a config file (TOML): what it names is created or overwritten.
    Apply { file: PathBuf },
}

#[derive(Args)]
struct LoginArgs {
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// The new token's name [default: cli-<host>-<time>].
    #[arg(long)]
    name: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omniroute-cli: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Where to send requests, from the global flags and the CLI config file.
struct Remote {
    url: Option<String>,
    token: Option<String>,
}

impl Remote {
    fn target(self) -> Result<(cli_config::Target, Option<PathBuf>), Error> {
        let path = cli_config::path(|v| std::env::var_os(v));
        let file = match &path {
            Some(p) if self.url.is_none() || self.token.is_none() => {
                Some((p.as_path(), cli_config::load(p)?))
            }
            _ => None,
        };
        Ok((cli_config::resolve(self.url, self.token, file)?, path))
    }

    fn client(self) -> Result<Client, Error> {
        let (t, _) = self.target()?;
        Ok(Client::new(&t.url, t.token.as_deref())?.with_no_token_hint(t.no_token_hint))
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let json = cli.json;
    let remote = Remote { url: cli.url, token: cli.token };
    match cli.command {
        Command::Health => show(json, &remote.client()?.get("/api/health")?, output::health),
        Command::Provider(cmd) => provider(&remote.client()?, json, cmd),
        Command::Connection(cmd) => connection(&remote.client()?, json, cmd),
        Command::Key(cmd) => key(&remote.client()?, json, cmd),
        Command::Combo(cmd) => combo(&remote.client()?, json, cmd),
        Command::Alias(cmd) => alias(&remote.client()?, json, cmd),
        Command::Settings(cmd) => settings(&remote.client()?, json, cmd),
        Command::Pricing(cmd) => pricing(&remote.client()?, json, cmd),
        Command::Usage(a) => {
            let q = query(&[
                ("group_by", a.group_by.map(|g| group_by_name(g).to_owned())),
                ("since", a.since),
                ("until", a.until),
            ]);
            show(json, &remote.client()?.get(&format!("/api/usage{q}"))?, output::usage)
        }
        Command::Logs(a) => {
            let q = query(&[
                ("limit", a.page.limit.map(|n| n.to_string())),
                ("before", a.page.before),
                ("model", a.model),
                ("provider", a.provider),
                ("key", a.key),
                ("status", a.status.map(|n| n.to_string())),
                ("errors", a.errors.then(|| "true".to_owned())),
            ]);
            page(json, &remote.client()?.get(&format!("/api/logs{q}"))?, output::logs)
        }
        Command::Audit(a) => {
            let q = query(&[("limit", a.limit.map(|n| n.to_string())), ("before", a.before)]);
            page(json, &remote.client()?.get(&format!("/api/audit{q}"))?, output::audit)
        }
        Command::Backup(a) if a.data_dir.is_some() => {
            private_file::check_free(&a.out, a.force)?;
            if a.force {
                let _ = std::fs::remove_file(&a.out);
            }
            let dir = offline::data_dir(a.data_dir.clone())?;
            offline::backup(&dir, &a.out)?;
            stdout(format!("wrote {}\n", a.out.display()).as_bytes())
        }
        Command::Backup(a) => backup(&remote.client()?, &a),
        Command::Restore { file } => {
            let bytes = read_file(&file)?;
            let body = Body::Raw("application/vnd.sqlite3", bytes);
            let v = remote.client()?.json(Method::POST, "/api/restore", body)?;
            show(json, &v, |v| {
                format!("restored (schema version {})\n", output::text(v.get("schema_version")))
            })
        }
        Command::Config(cmd) => config(&remote.client()?, json, cmd),
        Command::Login(a) => login(remote, &a),
        Command::Route(RouteCmd::Explain { model, tokens }) => {
            let q = query(&[("model", Some(model)), ("tokens", tokens.map(|t| t.to_string()))]);
            show(json, &remote.client()?.get(&format!("/api/route/explain{q}"))?, output::explain)
        }
        Command::Mcp(McpCmd::Audit { limit, before, tool }) => {
            let q = query(&[
                ("limit", limit.map(|l| l.to_string())),
                ("before", before.map(|b| b.to_string())),
                ("tool", tool),
            ]);
            show(json, &remote.client()?.get(&format!("/api/mcp/audit{q}"))?, |v| {
                output::tool_calls(output::items(v))
            })
        }
        Command::Mcp(McpCmd::Status) => {
            show(json, &remote.client()?.get("/api/mcp/status")?, output::pretty)
        }
        Command::A2a(cmd) => {
            let c = remote.client()?;
            match cmd {
                A2aCmd::Status => show(json, &c.get("/api/a2a/status")?, output::pretty),
                A2aCmd::Tasks { limit } => {
                    let q = query(&[("limit", limit.map(|l| l.to_string()))]);
                    show(json, &c.get(&format!("/api/a2a/tasks{q}"))?, |v| {
                        output::a2a_tasks(output::items(v))
                    })
                }
                A2aCmd::Task { id } => {
                    show(json, &c.get(&format!("/api/a2a/tasks/{}", segment(&id)))?, output::pretty)
                }
                A2aCmd::Cancel { id } => {
                    let path = format!("/api/a2a/tasks/{}/cancel", segment(&id));
                    show(json, &c.json(Method::POST, &path, Body::Empty)?, |_| {
                        format!("canceled task {id}\n")
                    })
                }
            }
        }
        Command::Init { dir, name } => init(remote, dir, &name),
        Command::Migrate { dir } => {
            let dir = offline::data_dir(dir.data_dir)?;
            let (before, after) = offline::migrate(&dir)?;
            let msg = match before {
                Some(b) if b == after => format!("schema version {after}: up to date\n"),
                Some(b) => format!("schema version {b} -> {after}\n"),
                None => format!("schema version {after}\n"),
            };
            stdout(msg.as_bytes())
        }
        Command::RotateSecret { dir } => {
            let dir = offline::data_dir(dir.data_dir)?;
            let (shown, n) = offline::rotate_secret(&dir)?;
            let msg = match shown {
                Some(key) => format!(
                    "re-encrypted {n} credential(s). Set OMNIROUTE_SECRET_KEY to the new key before the next start:\n{key}\n"
                ),
                None => format!("re-encrypted {n} credential(s); the key file was replaced\n"),
            };
            stdout(msg.as_bytes())
        }
    }
}

/// `init`: the data directory, then the CLI config file pointing at `--url` with the token.
fn init(remote: Remote, dir: DataDirArg, name: &str) -> Result<(), Error> {
    let dir = offline::data_dir(dir.data_dir)?;
    let made = offline::init(&dir, name)?;
    if let Some(p) = &made.password {
        eprintln!("admin password (shown only this once): {p}");
    }
    let url = remote.url.unwrap_or_else(|| "http://127.0.0.1:20128".to_owned());
    let url = http::base_url(&url)?;
    match cli_config::path(|v| std::env::var_os(v)) {
        Some(path) => {
            cli_config::save(&path, &url, &made.token)?;
            let msg = format!(
                "initialized {}; admin token `{name}` for {url} saved in {}\n",
                dir.display(),
                path.display()
            );
            stdout(msg.as_bytes())
        }
        None => Err(Error::Other(
            "initialized, but there is no place for the CLI config file: set OMNIROUTE_CLI_CONFIG or HOME and run `login`".into(),
        )),
    }
}

/// Prints the answer as JSON or through `human`; an empty answer prints nothing in JSON.
fn show(json: bool, v: &Value, human: impl FnOnce(&Value) -> String) -> Result<(), Error> {
    if !json {
        return stdout(human(v).as_bytes());
    }
    if v.is_null() {
        return Ok(());
    }
    let pretty = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    stdout(format!("{pretty}\n").as_bytes())
}

/// Writes to stdout. A closed pipe (`| head`) ends the output quietly instead of failing.
fn stdout(bytes: &[u8]) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Other(format!("cannot print: {e}")))
        }
        _ => Ok(()),
    }
}

/// [`show`] for a paged list, with the next page's hint on stderr.
fn page(json: bool, v: &Value, human: fn(&Value) -> String) -> Result<(), Error> {
    show(json, v, human)?;
    if let (false, Some(hint)) = (json, output::next_page(v)) {
        eprintln!("{hint}");
    }
    Ok(())
}

fn done(json: bool, what: &str) -> Result<(), Error> {
    if json { Ok(()) } else { stdout(format!("{what}\n").as_bytes()) }
}

fn provider(c: &Client, json: bool, cmd: ProviderCmd) -> Result<(), Error> {
    let list = |v: &Value| output::providers(output::items(v));
    match cmd {
        ProviderCmd::List => show(json, &c.get("/api/providers")?, list),
        ProviderCmd::Add { id, fields } => {
            let v =
                c.json(Method::POST, "/api/providers", Body::Json(provider_body(&id, fields)))?;
            show(json, &v, list)
        }
        ProviderCmd::Update { id, fields } => {
            let path = format!("/api/providers/{}", segment(&id));
            let v = c.json(Method::PUT, &path, Body::Json(provider_body(&id, fields)))?;
            show(json, &v, list)
        }
        ProviderCmd::Remove { id } => {
            c.json(Method::DELETE, &format!("/api/providers/{}", segment(&id)), Body::Empty)?;
            done(json, &format!("removed provider `{id}`"))
        }
    }
}

fn provider_body(id: &str, f: ProviderFields) -> Value {
    let mut body = json!({"id": id, "format": f.format, "base_url": f.base_url});
    put(&mut body, "prefix", f.prefix.map(Value::from));
    put(&mut body, "models", (!f.models.is_empty()).then(|| Value::from(f.models)));
    body
}

fn connection(c: &Client, json: bool, cmd: ConnectionCmd) -> Result<(), Error> {
    let list = |v: &Value| output::connections(output::items(v));
    let path = |id: &str| format!("/api/connections/{}", segment(id));
    match cmd {
        ConnectionCmd::List => show(json, &c.get("/api/connections")?, list),
        ConnectionCmd::Add { provider, name, fields, disabled } => {
            let mut body = connection_body(fields)?;
            put(&mut body, "provider", Some(provider.into()));
            put(&mut body, "name", Some(name.into()));
            put(&mut body, "enabled", disabled.then_some(false.into()));
            show(json, &c.json(Method::POST, "/api/connections", Body::Json(body))?, list)
        }
        ConnectionCmd::Update { id, name, fields, toggle } => {
            let mut body = connection_body(fields)?;
            put(&mut body, "name", name.map(Value::from));
            put(&mut body, "enabled", toggle.enabled().map(Value::from));
            show(json, &c.json(Method::PATCH, &path(&id), Body::Json(body))?, list)
        }
        ConnectionCmd::Remove { id } => {
            c.json(Method::DELETE, &path(&id), Body::Empty)?;
            done(json, &format!("removed connection `{id}`"))
        }
        ConnectionCmd::Test { id, model } => {
            let mut body = json!({});
            put(&mut body, "model", model.map(Value::from));
            let v = c.json(Method::POST, &format!("{}/test", path(&id)), Body::Json(body))?;
            show(json, &v, output::connection_test)?;
            match v.get("ok").and_then(Value::as_bool) {
                Some(true) => Ok(()),
                _ => Err(Error::Other(format!("the test of connection `{id}` failed"))),
            }
        }
    }
}

fn connection_body(f: ConnectionFields) -> Result<Value, Error> {
    let api_key = match (f.api_key, f.api_key_stdin) {
        (_, true) => Some(read_stdin_line("the API key")?),
        (k, false) => k,
    };
    let mut body = json!({});
    put(&mut body, "api_key", api_key.map(Value::from));
    put(&mut body, "base_url", f.base_url.map(Value::from));
    put(&mut body, "account_id", f.account_id.map(Value::from));
    put(&mut body, "priority", f.priority.map(Value::from));
    let value = |l: Limit| match l {
        Limit::Set(n) => Value::from(n),
        Limit::None => Value::Null,
    };
    put(&mut body, "max_concurrent", f.max_concurrent.map(value));
    put(&mut body, "rpm", f.rpm.map(value));
    put(&mut body, "min_gap_ms", f.min_gap_ms.map(value));
    if f.clear_quotas {
        put(&mut body, "quotas", Some(json!([])));
    } else if !f.quotas.is_empty() {
        put(&mut body, "quotas", Some(Value::Array(f.quotas)));
    }
    Ok(body)
}

fn key(c: &Client, json: bool, cmd: KeyCmd) -> Result<(), Error> {
    let list = |v: &Value| output::keys(output::items(v));
    let path = |name: &str| format!("/api/keys/{}", segment(name));
    match cmd {
        KeyCmd::List => show(json, &c.get("/api/keys")?, list),
        KeyCmd::Create { name, models, daily_budget, monthly_budget, scopes } => {
            let mut body = json!({"name": name});
            put(&mut body, "scopes", (!scopes.is_empty()).then(|| Value::from(scopes)));
            put(&mut body, "models", (!models.is_empty()).then(|| Value::from(models)));
            put(&mut body, "daily_budget_usd", daily_budget.map(Value::from));
            put(&mut body, "monthly_budget_usd", monthly_budget.map(Value::from));
            new_key(json, &c.json(Method::POST, "/api/keys", Body::Json(body))?, "Created")
        }
        KeyCmd::Update { name, changes } => {
            let body = Body::Json(changes.body());
            show(json, &c.json(Method::PATCH, &path(&name), body)?, list)
        }
        KeyCmd::Rotate { name } => {
            let v = c.json(Method::POST, &format!("{}/rotate", path(&name)), Body::Empty)?;
            new_key(json, &v, "Rotated")
        }
        KeyCmd::Remove { name } => {
            c.json(Method::DELETE, &path(&name), Body::Empty)?;
            done(json, &format!("removed key `{name}`"))
        }
    }
}

/// Shows a key answered once by `key create`/`key rotate`: the key alone on stdout (so
/// `$(omniroute-cli key create x)` captures it), the notes on stderr.
fn new_key(json: bool, v: &Value, verb: &str) -> Result<(), Error> {
    if json {
        return show(json, v, |_| String::new());
    }
    let Some(key) = v.get("key").and_then(Value::as_str) else {
        return Err(Error::Other("the server's answer has no `key`".into()));
    };
    let name = output::text(v.get("name"));
    eprintln!("{verb} API key `{name}`. Copy it now: it will not be shown again.\n");
    stdout(format!("{key}\n").as_bytes())?;
    eprintln!();
    Ok(())
}

fn combo(c: &Client, json: bool, cmd: ComboCmd) -> Result<(), Error> {
    let list = |v: &Value| output::combos(output::items(v));
    let path = |name: &str| format!("/api/combos/{}", segment(name));
    match cmd {
        ComboCmd::List => show(json, &c.get("/api/combos")?, list),
        ComboCmd::Strategies => {
            show(json, &c.get("/api/strategies")?, |v| output::strategies(output::items(v)))
        }
        ComboCmd::Set { name, targets, strategy, disabled, config } => {
            let mut body =
                json!({"targets": targets, "enabled": !disabled, "config": config.body()});
            put(&mut body, "strategy", strategy.map(Value::from));
            show(json, &c.json(Method::PUT, &path(&name), Body::Json(body))?, list)
        }
        ComboCmd::Remove { name } => {
            c.json(Method::DELETE, &path(&name), Body::Empty)?;
            done(json, &format!("removed combo `{name}`"))
        }
    }
}

fn alias(c: &Client, json: bool, cmd: AliasCmd) -> Result<(), Error> {
    let list = |v: &Value| output::aliases(output::items(v));
    let path = |alias: &str| format!("/api/aliases/{}", segment(alias));
    match cmd {
        AliasCmd::List => show(json, &c.get("/api/aliases")?, list),
        AliasCmd::Set { alias, target } => {
            let body = Body::Json(json!({"target": target}));
            show(json, &c.json(Method::PUT, &path(&alias), body)?, list)
        }
        AliasCmd::Remove { alias } => {
            c.json(Method::DELETE, &path(&alias), Body::Empty)?;
            done(json, &format!("removed alias `{alias}`"))
        }
    }
}

fn settings(c: &Client, json: bool, cmd: SettingsCmd) -> Result<(), Error> {
    match cmd {
        SettingsCmd::List => show(json, &c.get("/api/settings")?, output::settings),
        SettingsCmd::Set { name, value } => {
            let body = Body::Json(json!({"value": setting_value(value)}));
            let v = c.json(Method::PUT, &format!("/api/settings/{}", segment(&name)), body)?;
            show(json, &v, |v| {
                format!(
                    "{} = {}\n",
                    output::text(v.get("name")),
                    v.get("value").unwrap_or(&Value::Null)
                )
            })
        }
    }
}

/// A setting's value: JSON when it parses (`true`, `3`, `"x"`), else the string itself.
fn setting_value(value: String) -> Value {
    serde_json::from_str(&value).unwrap_or(Value::String(value))
}

fn pricing(c: &Client, json: bool, cmd: PricingCmd) -> Result<(), Error> {
    let list = |v: &Value| output::prices(output::items(v));
    // The model part may itself hold slashes (`openrouter/anthropic/claude`): each piece is one
    // path segment, so the server sees `/api/pricing/{provider}/{model...}`.
    let path = |(p, m): &(String, String)| {
        let model = m.split('/').map(segment).collect::<Vec<_>>().join("/");
        format!("/api/pricing/{}/{model}", segment(p))
    };
    match cmd {
        PricingCmd::List => show(json, &c.get("/api/pricing")?, list),
        PricingCmd::Set { model, input, output: out, cached } => {
            let mut body = json!({"input": input, "output": out});
            put(&mut body, "cached", cached.map(Value::from));
            show(json, &c.json(Method::PUT, &path(&model), Body::Json(body))?, list)
        }
        PricingCmd::Remove { model } => {
            c.json(Method::DELETE, &path(&model), Body::Empty)?;
            done(json, &format!("removed the price of `{}/{}`", model.0, model.1))
        }
    }
}

fn backup(c: &Client, a: &BackupArgs) -> Result<(), Error> {
    // Checked first so nothing is downloaded for a file that would be refused.
    private_file::check_free(&a.out, a.force)?;
    let mut body = c.download("/api/backup")?;
    let n = private_file::write(&a.out, a.force, |f| std::io::copy(&mut body, f))?;
    eprintln!("wrote {n} bytes to {}", a.out.display());
    Ok(())
}

fn config(c: &Client, json: bool, cmd: ConfigCmd) -> Result<(), Error> {
    match cmd {
        ConfigCmd::Export { secrets, out, force } => {
            if let Some(out) = &out {
                private_file::check_free(out, force)?;
            }
            let q = query(&[("secrets", secrets.then(|| "true".to_owned()))]);
            let toml = c.bytes(Method::GET, &format!("/api/config/export{q}"), Body::Empty)?;
            match out {
                Some(out) => {
                    private_file::write(&out, force, |f| f.write_all(&toml))?;
                    eprintln!("wrote the configuration to {}", out.display());
                }
                None => {
                    stdout(&toml)?;
                    if !toml.ends_with(b"\n") && !toml.is_empty() {
                        stdout(b"\n")?;
                    }
                }
            }
            Ok(())
        }
        ConfigCmd::Apply { file } => {
            let body = Body::Raw("application/toml", read_file(&file)?);
            show(json, &c.json(Method::POST, "/api/config/apply", body)?, output::applied)
        }
    }
}

fn login(remote: Remote, a: &LoginArgs) -> Result<(), Error> {
    let (target, path) = remote.target()?;
    let path = path.ok_or_else(|| {
        Error::Other("no place for the CLI config file: set OMNIROUTE_CLI_CONFIG or HOME".into())
    })?;
    let password = if a.password_stdin {
        read_stdin_line("the password")?
    } else {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Usage(
                "no terminal to ask for the password on: use --password-stdin".into(),
            ));
        }
        eprint!("Admin password for {} (shown as you type): ", target.url);
        read_stdin_line("the password")?
    };
    let name = a.name.clone().unwrap_or_else(default_token_name);
    // The password is the credential: no token is sent with it.
    let client = Client::new(&target.url, None)?;
    let body = Body::Json(json!({"name": name, "password": password}));
    let v = client.json(Method::POST, "/api/auth/tokens", body)?;
    let token = v
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Other("the server's answer has no `token`".into()))?;
    cli_config::save(&path, client.base(), token)?;
    let saved = format!(
        "saved admin token `{}` for {} in {}\n",
        output::text(v.get("name")),
        client.base(),
        path.display()
    );
    stdout(saved.as_bytes())?;
    Ok(())
}

/// `cli-<host>-<unix seconds>`: unique enough that logging in again does not collide.
fn default_token_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .take(32)
        .collect();
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if host.is_empty() { format!("cli-{secs}") } else { format!("cli-{host}-{secs}") }
}

/// One line of standard input, without its line ending.
fn read_stdin_line(what: &str) -> Result<String, Error> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Other(format!("cannot read {what} from standard input: {e}")))?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err(Error::Usage(format!("{what} read from standard input is empty")));
    }
    Ok(line.to_owned())
}

fn read_file(path: &std::path::Path) -> Result<Bytes, Error> {
    std::fs::read(path)
        .map(Bytes::from)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))
}

/// Sets `body[key]` when there is a value (which may be `null`, to clear a field).
fn put(body: &mut Value, key: &str, value: Option<Value>) {
    if let (Some(v), Value::Object(map)) = (value, body) {
        map.insert(key.to_owned(), v);
    }
}

fn group_by_name(g: GroupBy) -> &'static str {
    match g {
        GroupBy::Key => "key",
        GroupBy::Model => "model",
        GroupBy::Provider => "provider",
        GroupBy::Connection => "connection",
        GroupBy::Day => "day",
    }
}

/// A non-negative amount of US dollars.
fn usd(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("`{s}` is not an amount of USD")),
    }
}

fn budget(s: &str) -> Result<Budget, String> {
    if s.eq_ignore_ascii_case("none") { Ok(Budget::Unlimited) } else { usd(s).map(Budget::Usd) }
}

/// `PROVIDER/MODEL`, split at the first slash.
fn provider_model(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok((p.to_owned(), m.to_owned())),
        _ => Err(format!("`{s}` is not PROVIDER/MODEL")),
    }
}

#[cfg(test)]
mod tests;
