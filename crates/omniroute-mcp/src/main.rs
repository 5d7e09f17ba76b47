//! `omniroute-mcp`: an MCP server on stdio that drives a running omniroute gateway through its
//! control endpoint. Standard output carries JSON-RPC only; every log line goes to stderr.
#![expect(clippy::print_stderr, reason = "stdout is the protocol; the log is stderr")]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use omniroute_control::{Scope, TOOLS};
use omniroute_mcp::{Heartbeat, HttpControl, McpServer, serve_stdio};

/// Serves the omniroute control tools to an MCP client over stdio (Claude Desktop, Claude Code,
/// Cursor, ...). What it may do is bounded by the scopes of its API key.
#[derive(Debug, Parser)]
#[command(name = "omniroute-mcp", version)]
struct Args {
    /// The gateway's address.
    #[arg(long, env = "OMNIROUTE_URL", default_value = "http://127.0.0.1:20128")]
    url: String,
    /// A client API key of the gateway.
    #[arg(long, env = "OMNIROUTE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Data directory, for the heartbeat file [default: ~/.omniroute].
    #[arg(long, env = "DATA_DIR")]
    data_dir: Option<PathBuf>,
}

const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let args = Args::parse();
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".omniroute")))
        .unwrap_or_else(|| PathBuf::from(".omniroute"));
    let control = match HttpControl::new(&args.url, args.api_key.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("omniroute-mcp: {}", e.message);
            return ExitCode::from(EX_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("omniroute-mcp: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(control, data_dir));
    // A read of a terminal's stdin may still be blocked in a thread; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

async fn run(control: HttpControl, data_dir: PathBuf) -> ExitCode {
    let scope_mode = match control.whoami().await {
        Ok(who) => {
            let scopes: Vec<&str> =
                who["scopes"].as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect();
            let tools = who["tools"].as_array().map_or(0, Vec::len);
            let key = who["key"].as_str().unwrap_or("no key");
            eprintln!(
                "omniroute-mcp: {} as `{key}`: {tools} of {} tools allowed (scopes: {})",
                control.url(),
                TOOLS.len(),
                if scopes.is_empty() { "none".to_owned() } else { scopes.join(", ") },
            );
            if Scope::ALL.iter().all(|s| scopes.contains(&s.id())) {
                "full".to_owned()
            } else {
                scopes.join(",")
            }
        }
        Err(e) => {
            eprintln!(
                "omniroute-mcp: warning: {}: {} (serving anyway; tool calls fail until the gateway answers)",
                e.code.id(),
                e.message
            );
            "unknown".to_owned()
        }
    };
    let heartbeat = Heartbeat::in_data_dir(&data_dir);
    let _beating = match heartbeat.start("stdio", TOOLS.len(), &scope_mode) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("omniroute-mcp: warning: cannot write {}: {e}", heartbeat.path.display());
            None
        }
    };
    match serve_stdio(McpServer::new(Arc::new(control))).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omniroute-mcp: {e}");
            ExitCode::FAILURE
        }
    }
}
