//! `omniroute-load URL CONNECTIONS SECONDS [BODY]`: a closed-loop HTTP/1.1 load generator for
//! the benchmarks. Each connection sends the next request when the previous answer is read;
//! prints one JSON line with requests, errors, rps and latency percentiles in microseconds.
#![expect(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool")]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(conns), Some(secs)) = (
        args.first().cloned(),
        args.get(1).and_then(|c| c.parse::<usize>().ok()),
        args.get(2).and_then(|s| s.parse::<f64>().ok()),
    ) else {
        eprintln!("usage: omniroute-load URL CONNECTIONS SECONDS [BODY]");
        return std::process::ExitCode::from(64);
    };
    let body = Bytes::from(args.get(3).cloned().unwrap_or_default());
    let client: Client<_, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(conns).build_http();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let req = http::Request::post(&url)
                    .header("content-type", "application/json")
                    .header("authorization", "Bearer sk-bench")
                    .body(Full::new(body.clone()));
                let Ok(req) = req else { return (lat, errors + 1) };
                let t = Instant::now();
                match client.request(req).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let read = resp.into_body().collect().await.is_ok();
                        if ok && read {
                            lat.push(t.elapsed().as_micros() as u64);
                        } else {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(secs);
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"connections\":{conns},\"requests\":{},\"errors\":{errors},\"rps\":{:.0},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{}}}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        all.last().copied().unwrap_or(0)
    );
    std::process::ExitCode::SUCCESS
}
