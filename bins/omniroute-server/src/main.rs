//! `omniroute-server`: parse arguments, load and validate the configuration, build the gateway,
//! serve until SIGTERM/SIGINT.
#![expect(clippy::print_stderr, reason = "a server binary reports start-up and shutdown on stderr")]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use omniroute_gateway::{App, Config, Server};

/// An AI gateway: one local endpoint for OpenAI-, Anthropic- and Gemini-speaking clients, in
/// front of many providers.
#[derive(Debug, Parser)]
#[command(name = "omniroute-server", version)]
struct Args {
    /// Port to listen on [default: 20128, or the config file's].
    #[arg(long, env = "PORT")]
    port: Option<u16>,
    /// Address to bind [default: 127.0.0.1]. Binding beyond loopback requires client API keys.
    #[arg(long, env = "HOST")]
    host: Option<IpAddr>,
    /// Configuration file (TOML) [default: <data-dir>/config.toml when it exists].
    #[arg(long, env = "OMNIROUTE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [default: ~/.omniroute].
    #[arg(long, env = "DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Milliseconds to wait for upstream response headers [default: 600000].
    #[arg(long, env = "REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,
    /// Milliseconds allowed between stream chunks [default: the request timeout].
    #[arg(long, env = "STREAM_IDLE_TIMEOUT_MS")]
    stream_idle_timeout_ms: Option<u64>,
}

const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let args = Args::parse();
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".omniroute")))
        .unwrap_or_else(|| PathBuf::from(".omniroute"));
    let config_path =
        args.config.clone().or_else(|| Some(data_dir.join("config.toml")).filter(|p| p.exists()));
    let mut config = match &config_path {
        Some(p) => match Config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("omniroute-server: {e}");
                return ExitCode::from(EX_USAGE);
            }
        },
        None => Config::default(),
    };
    let s = &mut config.server;
    if let Some(p) = args.port {
        s.port = p;
    }
    if let Some(h) = args.host {
        s.host = h;
    }
    if args.data_dir.is_some() || s.data_dir.is_none() {
        s.data_dir = Some(data_dir);
    }
    s.request_timeout_ms = args.request_timeout_ms.or(s.request_timeout_ms);
    s.stream_idle_timeout_ms = args.stream_idle_timeout_ms.or(s.stream_idle_timeout_ms);
    let dir = config.server.data_dir.clone().unwrap_or_default();
    let secret_key = std::env::var("OMNIROUTE_SECRET_KEY").ok().filter(|k| !k.is_empty());
    let data = match omniroute_storage::DataDir::open(&dir, secret_key.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("omniroute-server: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let writer = match omniroute_storage::UsageWriter::start(
        data.db.clone(),
        omniroute_storage::WriterConfig::default(),
    ) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("omniroute-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = match App::open(&config, &|var| std::env::var(var).ok(), data) {
        Ok(a) => a.with_usage(writer),
        Err(e) => {
            let origin = config_path
                .as_ref()
                .map_or("configuration".to_owned(), |p| p.display().to_string());
            eprintln!("omniroute-server: {origin}: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let initial = std::env::var("INITIAL_PASSWORD").ok().filter(|p| !p.is_empty());
    match app.ensure_admin_password(initial.as_deref()) {
        Ok(Some(generated)) => eprintln!(
            "omniroute-server: generated the admin password (shown only this once; change it with `omniroute-cli` or the dashboard): {generated}"
        ),
        Ok(None) => {}
        Err(e) => {
            eprintln!("omniroute-server: {e}");
            return ExitCode::from(EX_USAGE);
        }
    }
    if let Some(token) = std::env::var("OMNIROUTE_ADMIN_TOKEN").ok().filter(|t| !t.is_empty())
        && let Err(e) = app.register_admin_token(&token)
    {
        eprintln!("omniroute-server: {e}");
        return ExitCode::from(EX_USAGE);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("omniroute-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let requires_key = app.requires_key();
        let server = match Server::bind(app).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("omniroute-server: cannot listen: {e}");
                return ExitCode::FAILURE;
            }
        };
        match server.local_addr() {
            Ok(addr) => eprintln!(
                "omniroute-server listening on http://{addr} (OpenAI: /v1, Anthropic: /v1/messages, Gemini: /v1beta){}",
                if requires_key { "; client API key required" } else { "" }
            ),
            Err(e) => eprintln!("omniroute-server: {e}"),
        }
        match server.run(shutdown_signal()).await {
            Ok(()) => {
                eprintln!("omniroute-server: stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("omniroute-server: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
