//! Project automation, run as `cargo xtask <command>`.
//!
//! - `ci`: format check, clippy with warnings denied, the layering check, and every test.
//! - `test`: every test (what `ci` runs last).
//! - `fuzz [--seconds N]`: each cargo-fuzz target for N seconds (nightly toolchain).
//! - `bench`: the criterion benchmarks of `omniroute-translate`.
//! - `fixtures`: cases per translation pair.
//! - `e2e`: the official Python SDKs against the server and the mock upstream, over sockets.
//! - `crash`: the kill test: SIGKILL under load, restart, integrity and usage rows checked.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const FUZZ_TARGETS: &[&str] = &[
    "sse",
    "openai_request",
    "anthropic_request",
    "gemini_request",
    "responses_request",
    "streams",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    #[expect(clippy::print_stderr, reason = "xtask reports progress on stderr")]
    {
        eprintln!("$ {cmd:?}");
    }
    let status = cmd.current_dir(root()).status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed: {status}")) }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn has_nextest() -> bool {
    cargo().args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success())
}

fn test() -> Result<(), String> {
    if has_nextest() {
        run(cargo().args(["nextest", "run", "--workspace", "--no-fail-fast"]))?;
    } else {
        run(cargo().args(["test", "--workspace", "--no-fail-fast", "--lib", "--bins", "--tests"]))?;
    }
    // nextest does not run doctests; the translate crate's examples are part of its contract.
    run(cargo().args(["test", "--workspace", "--doc"]))
}

/// Pure crates must not pull in async runtimes, HTTP or databases.
/// The pure crates (translation, routing) must not pull in async runtimes, HTTP or storage.
fn layers() -> Result<(), String> {
    for krate in ["omniroute-translate", "omniroute-routing"] {
        let out = cargo()
            .args(["tree", "-p", krate, "-e", "normal", "--prefix", "none"])
            .current_dir(root())
            .output()
            .map_err(|e| e.to_string())?;
        let tree = String::from_utf8_lossy(&out.stdout);
        for banned in ["tokio", "hyper", "rusqlite", "reqwest", "mio"] {
            if tree.lines().any(|l| l.starts_with(&format!("{banned} "))) {
                return Err(format!("{krate} must stay pure, but depends on `{banned}`"));
            }
        }
    }
    Ok(())
}

fn ci() -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    layers()?;
    test()?;
    crash()?;
    // Last, so the SDK suite's pytest summary closes the output.
    e2e()
}

/// One HTTP/1.1 request on a fresh connection; the status code, or 0 if none came back.
fn post(port: u16, path: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return 0 };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf[..buf.len().min(32)]).into_owned();
    head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Starts the mock upstream from `bin` on a free port and waits until it answers.
fn spawn_mock(bin: &Path) -> Result<(Child, u16), String> {
    let port = free_port()?;
    let child = Child(
        Command::new(bin.join("omniroute-mock-upstream"))
            .arg(format!("127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    wait_healthy(port)?;
    Ok((child, port))
}

/// A config with one OpenAI-format provider (`mo/…`) in front of the mock, plus `extra`.
fn mock_config(port: u16, mock_port: u16, extra: &str) -> String {
    format!(
        "[server]\nport = {port}\n{extra}\n[[providers]]\nid = \"mock-openai\"\nprefix = \"mo\"\nformat = \"openai\"\nbase_url = \"http://127.0.0.1:{mock_port}/v1\"\nmodels = [\"gpt-mock\"]\n\n[[connections]]\nprovider = \"mock-openai\"\napi_key = \"upstream\"\n"
    )
}

/// Starts the server from `bin` with a config file and data dir in `work`, stderr discarded.
fn spawn_server(bin: &Path, work: &Path) -> Result<Child, String> {
    Ok(Child(
        Command::new(bin.join("omniroute-server"))
            .arg("--config")
            .arg(work.join("config.toml"))
            .arg("--data-dir")
            .arg(work.join("data"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    ))
}

/// The kill test: requests flow, the server is killed with SIGKILL, restarted on the same
/// data dir; the database must pass `PRAGMA integrity_check`, and every request acknowledged
/// more than one batch window (250 ms) before the kill must have exactly one usage row.
fn crash() -> Result<(), String> {
    let root = root();
    run(cargo().args(["build", "--bin", "omniroute-server", "--bin", "omniroute-mock-upstream"]))?;
    let bin = root.join("target/debug");
    let work = root.join("target/crash");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let (_mock, mock_port) = spawn_mock(&bin)?;
    let port = free_port()?;
    std::fs::write(work.join("config.toml"), mock_config(port, mock_port, ""))
        .map_err(|e| e.to_string())?;
    let mut server = spawn_server(&bin, &work)?;
    wait_healthy(port)?;
    // Four clients send numbered requests; each remembers when its answers were acknowledged.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, next) = (stop.clone(), next.clone());
        clients.push(std::thread::spawn(move || {
            let mut acked = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = format!(
                    r#"{{"model":"mo/req-{n}","messages":[{{"role":"user","content":"hi"}}]}}"#
                );
                if post(port, "/v1/chat/completions", &body) == 200 {
                    acked.push((n, std::time::Instant::now()));
                }
            }
            acked
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    run(Command::new("kill").args(["-KILL", &server.0.id().to_string()]))?;
    let killed = std::time::Instant::now();
    let _ = server.0.wait();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut acked = Vec::new();
    for c in clients {
        acked.extend(c.join().map_err(|_| "a client thread panicked".to_owned())?);
    }
    let must: Vec<u64> = acked
        .iter()
        .filter(|(_, t)| *t + std::time::Duration::from_millis(250) < killed)
        .map(|(n, _)| *n)
        .collect();
    if must.len() < 50 {
        return Err(format!(
            "only {} requests were acknowledged before the kill: too few to judge",
            must.len()
        ));
    }
    // The restarted server must open the same file cleanly.
    let _restarted = spawn_server(&bin, &work)?;
    wait_healthy(port)?;
    let must_file = work.join("must.txt");
    std::fs::write(&must_file, must.iter().map(u64::to_string).collect::<Vec<_>>().join("\n"))
        .map_err(|e| e.to_string())?;
    let check = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity_check failed"
rows = [r[0] for r in db.execute("SELECT requested_model FROM usage")]
counts = {}
for m in rows:
    counts[m] = counts.get(m, 0) + 1
must = [l for l in open(sys.argv[2]).read().split() if l]
missing = [n for n in must if counts.get("mo/req-" + n, 0) != 1]
dupes = [m for m, c in counts.items() if c > 1]
print(f"kill test: {len(must)} acknowledged before the last window, {len(rows)} rows, missing {len(missing)}, duplicated {len(dupes)}")
sys.exit(1 if missing or dupes else 0)
"#;
    run(Command::new("python3")
        .arg("-c")
        .arg(check)
        .arg(work.join("data/omniroute.db"))
        .arg(&must_file))
}

/// Kills a child process when dropped, so a failing step leaves nothing running.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Waits until `GET /health` answers 200.
fn wait_healthy(port: u16) -> Result<(), String> {
    use std::io::{Read, Write};
    for _ in 0..200 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s
                .write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                return Ok(());
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("nothing healthy on port {port}"))
}

/// An upstream key the e2e configuration stores; it must never appear in the server's log, its
/// API answers or (unencrypted) its database.
const CANARY: &str = "sk-canary-e2e-5d1f0b9a";
/// The admin token of the e2e server.
const E2E_ADMIN: &str = "e2e-admin-token-1b2c3d4e5f";
/// A client key with every control-plane scope (MCP and A2A tests).
const E2E_AGENT_KEY: &str = "sk-e2e-agent-7c1d";

fn e2e() -> Result<(), String> {
    let root = root();
    run(cargo().args([
        "build",
        "--bin",
        "omniroute-server",
        "--bin",
        "omniroute-mock-upstream",
        "--bin",
        "omniroute-cli",
        "--bin",
        "omniroute-mcp",
    ]))?;
    let work = root.join("target/e2e");
    let _ = std::fs::remove_dir_all(work.join("data"));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let venv = root.join("target/e2e-venv");
    if !venv.join("bin/python").exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let sdk = root.join("crates/omniroute-gateway/tests/sdk");
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(sdk.join("requirements.txt")))?;

    let (mock_port, port) = (free_port()?, free_port()?);
    let bin = root.join("target/debug");
    let _mock = Child(
        Command::new(bin.join("omniroute-mock-upstream"))
            .arg(format!("127.0.0.1:{mock_port}"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    let mock = format!("http://127.0.0.1:{mock_port}");
    let config = format!(
        r#"[server]
port = {port}

[[api_keys]]
name = "e2e"
key = "sk-e2e"

[[api_keys]]
name = "agent"
key = "{E2E_AGENT_KEY}"
scopes = ["full"]

[a2a]
default_model = "mo/gpt-mock"

[[providers]]
id = "mock-openai"
prefix = "mo"
format = "openai"
base_url = "{mock}/v1"
models = ["gpt-mock"]

[[providers]]
id = "mock-claude"
prefix = "mc"
format = "claude"
base_url = "{mock}"
models = ["claude-mock"]

[[providers]]
id = "mock-gemini"
format = "gemini"
base_url = "{mock}"
models = ["gemini-mock"]

[[providers]]
id = "mock-responses"
format = "responses"
base_url = "{mock}/v1"
models = ["codex-mock"]

[[connections]]
provider = "mock-openai"
api_key = "upstream-key-openai"

[[connections]]
provider = "mock-claude"
api_key = "upstream-key-claude"

[[connections]]
provider = "mock-gemini"
api_key = "upstream-key-gemini"

[[connections]]
provider = "mock-responses"
api_key = "upstream-key-responses"

[[connections]]
provider = "mock-openai"
name = "canary"
api_key = "{CANARY}"
priority = 9

[[combos]]
name = "fallback"
strategy = "priority"
targets = ["mc/fail-503", "mo/gpt-mock"]
"#
    );
    let config_path = work.join("config.toml");
    std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
    let server = Child(
        Command::new(bin.join("omniroute-server"))
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(work.join("data"))
            .env("OMNIROUTE_ADMIN_TOKEN", E2E_ADMIN)
            .env_remove("OMNIROUTE_SECRET_KEY")
            // Its log goes to a file, so pytest's summary closes the output.
            .stderr(std::fs::File::create(work.join("server.log")).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    wait_healthy(mock_port)?;
    wait_healthy(port)?;
    let tests = run(Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&sdk)
        .env("OMNIROUTE_URL", format!("http://127.0.0.1:{port}"))
        .env("OMNIROUTE_KEY", "sk-e2e")
        .env("OMNIROUTE_ADMIN_TOKEN", E2E_ADMIN)
        .env("OMNIROUTE_CLI", bin.join("omniroute-cli"))
        .env("OMNIROUTE_MCP", bin.join("omniroute-mcp"))
        .env("OMNIROUTE_AGENT_KEY", E2E_AGENT_KEY));
    let stopped = stops_cleanly(server);
    tests?;
    stopped?;
    // After a whole suite of real clients, the canary credential is nowhere in clear.
    for f in ["server.log", "data/omniroute.db", "data/omniroute.db-wal"] {
        if let Ok(bytes) = std::fs::read(work.join(f))
            && bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes())
        {
            return Err(format!("the canary upstream key appears in clear in target/e2e/{f}"));
        }
    }
    Ok(())
}

/// SIGTERM must stop the server with exit code 0 within its grace period.
fn stops_cleanly(mut server: Child) -> Result<(), String> {
    // Run quietly: pytest's summary should stay the last line of the output.
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("could not send SIGTERM".into());
    }
    for _ in 0..100 {
        if let Some(status) = server.0.try_wait().map_err(|e| e.to_string())? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("server exited with {status} on SIGTERM"))
            };
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err("server did not stop within 5 s of SIGTERM".into())
}

/// Seeds each target's corpus with the fixtures, so fuzzing starts from real traffic.
fn seed_corpus(dir: &Path) -> Result<(), String> {
    let fixtures = root().join("fixtures");
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut walk = vec![fixtures];
    while let Some(d) = walk.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| e.to_string())?.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk.push(p);
            } else {
                let rel = p.strip_prefix(root()).unwrap_or(&p).to_string_lossy().replace('/', "_");
                files.push((rel, p));
            }
        }
    }
    for t in FUZZ_TARGETS {
        let corpus = dir.join("corpus").join(t);
        std::fs::create_dir_all(&corpus).map_err(|e| e.to_string())?;
        let fmt = t.strip_suffix("_request");
        for (name, path) in &files {
            let n = path.to_string_lossy();
            let wanted = match fmt {
                None => n.ends_with(".sse"),
                Some(f) => {
                    (n.contains(&format!("/{f}-to-")) && n.ends_with("request.json"))
                        || (n.contains(&format!("-to-{f}/")) && n.ends_with("response.json"))
                }
            };
            if wanted {
                std::fs::copy(path, corpus.join(name)).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

fn fuzz(seconds: u64) -> Result<(), String> {
    let dir = root().join("crates/omniroute-translate/fuzz");
    seed_corpus(&dir)?;
    for t in FUZZ_TARGETS {
        let time = format!("-max_total_time={seconds}");
        run(Command::new("cargo")
            .args(["+nightly", "fuzz", "run", "--fuzz-dir"])
            .arg(&dir)
            .args([t, "--", &time, "-rss_limit_mb=4096"]))?;
    }
    Ok(())
}

fn bench_translate() -> Result<(), String> {
    run(cargo().args(["bench", "-p", "omniroute-translate", "--bench", "translate"]))
}

/// Resident memory of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn field(json: &str, name: &str) -> u64 {
    let key = format!("\"{name}\":");
    json.find(&key)
        .map(|i| &json[i + key.len()..])
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The gateway in front of the mock upstream vs the mock alone, under load from a second
/// process: added latency, throughput, memory and start-up time.
fn bench_load() -> Result<(), String> {
    let root = root();
    run(cargo().args([
        "build",
        "--release",
        "--bin",
        "omniroute-server",
        "--bin",
        "omniroute-mock-upstream",
        "--bin",
        "omniroute-load",
    ]))?;
    let bin = root.join("target/release");
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let (_mock, mock_port) = spawn_mock(&bin)?;
    let port = free_port()?;
    let keys = "\n[[api_keys]]\nname = \"bench\"\nkey = \"sk-bench\"\n";
    std::fs::write(work.join("config.toml"), mock_config(port, mock_port, keys))
        .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let server = spawn_server(&bin, &work)?;
    wait_healthy(port)?;
    let startup = started.elapsed();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = server.0.id();
    let idle_rss = rss_kib(pid);
    let seconds = std::env::var("BENCH_SECONDS").unwrap_or_else(|_| "5".into());
    let load =
        |url: &str, conns: usize, body: &str, pid: Option<u32>| -> Result<(String, u64), String> {
            let mut child = Command::new(bin.join("omniroute-load"))
                .args([url, &conns.to_string(), &seconds, body])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| e.to_string())?;
            let mut peak = 0;
            while child.try_wait().map_err(|e| e.to_string())?.is_none() {
                if let Some(p) = pid {
                    peak = peak.max(rss_kib(p));
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            Ok((String::from_utf8_lossy(&out.stdout).trim().to_owned(), peak))
        };
    let direct_body = r#"{"model":"gpt-mock","messages":[{"role":"user","content":"hello"}]}"#;
    let gw_body = r#"{"model":"mo/gpt-mock","messages":[{"role":"user","content":"hello"}]}"#;
    let mut report = String::new();
    let mut loaded_rss = 0;
    report.push_str(
        "conns | mock p50/p99 us | gateway p50/p99 us | added p50/p99 us | gateway rps | errors\n",
    );
    for conns in [1usize, 64, 512] {
        let (direct, _) = load(
            &format!("http://127.0.0.1:{mock_port}/v1/chat/completions"),
            conns,
            direct_body,
            None,
        )?;
        let (gw, peak) = load(
            &format!("http://127.0.0.1:{port}/v1/chat/completions"),
            conns,
            gw_body,
            Some(pid),
        )?;
        loaded_rss = loaded_rss.max(peak);
        let (d50, d99, g50, g99) = (
            field(&direct, "p50_us"),
            field(&direct, "p99_us"),
            field(&gw, "p50_us"),
            field(&gw, "p99_us"),
        );
        report.push_str(&format!(
            "{conns:>5} | {d50:>6} / {d99:<7} | {g50:>6} / {g99:<7} | {:>6} / {:<7} | {:>8} | {}\n",
            g50.saturating_sub(d50),
            g99.saturating_sub(d99),
            field(&gw, "rps"),
            field(&gw, "errors") + field(&direct, "errors"),
        ));
    }
    report.push_str(&format!(
        "start-up to first served request: {:.1} ms\nidle RSS: {:.1} MiB, peak RSS under load: {:.1} MiB\n",
        startup.as_secs_f64() * 1000.0,
        idle_rss as f64 / 1024.0,
        loaded_rss as f64 / 1024.0
    ));
    #[expect(clippy::print_stdout, reason = "the report is the output")]
    {
        print!("{report}");
    }
    std::fs::write(work.join("report.txt"), report).map_err(|e| e.to_string())
}

fn fixtures() -> Result<(), String> {
    let dir = root().join("fixtures/translate");
    let mut pairs: Vec<_> =
        std::fs::read_dir(&dir).map_err(|e| e.to_string())?.flatten().map(|e| e.path()).collect();
    pairs.sort();
    for p in pairs.iter().filter(|p| p.is_dir()) {
        let n = std::fs::read_dir(p)
            .map_err(|e| e.to_string())?
            .flatten()
            .filter(|e| e.path().is_dir())
            .count();
        #[expect(clippy::print_stdout, reason = "the report is the output")]
        {
            println!("{:<28} {n:>3} cases", p.file_name().and_then(|n| n.to_str()).unwrap_or("?"));
        }
        if n < 8 {
            return Err(format!("{} has fewer than 8 cases", p.display()));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => test(),
        Some("layers") => layers(),
        Some("fixtures") => fixtures(),
        Some("e2e") => e2e(),
        Some("crash") => crash(),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("--translate") => bench_translate(),
            Some("--load") => bench_load(),
            _ => bench_translate().and_then(|()| bench_load()),
        },
        Some("fuzz") => {
            let seconds = args
                .iter()
                .position(|a| a == "--seconds")
                .and_then(|i| args.get(i + 1))
                .and_then(|s| s.parse().ok())
                .unwrap_or(60);
            fuzz(seconds)
        }
        _ => {
            Err("usage: cargo xtask <ci|test|layers|fixtures|e2e|crash|bench [--translate|--load]|fuzz [--seconds N]>".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[expect(clippy::print_stderr, reason = "xtask reports failure on stderr")]
            {
                eprintln!("xtask: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
