//! Routing and resilience over real sockets: fallback under injected failures, what cools
//! down and what does not, waiting out a cooldown, strategies, idempotency, state that
//! survives a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{chat, data_dir, start, start_at};

#[tokio::test]
async fn two_thousand_requests_through_flaky_targets_never_fail_the_client() {
    let env = Arc::new(
        start(
            r#"
[[combos]]
name = "flaky"
strategy = "priority"
targets = ["mo/flaky-20", "mc/flaky-20"]
max_retries = 3
"#,
        )
        .await,
    );
    let (s, _) =
        env.api("PUT", "/api/settings/wait_for_cooldown_ms", Some(json!({"value": 30_000}))).await;
    assert_eq!(s, 200);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move {
            let mut bad = Vec::new();
            for i in 0..250 {
                let body = json!({"model": "flaky", "messages": [{"role": "user", "content": format!("w{worker} n{i}")}]});
                let (s, v) = env.post("/v1/chat/completions", body).await;
                if s != 200 {
                    bad.push((s, v));
                }
            }
            bad
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} client-visible failures, first: {:?}",
        failures.len(),
        failures.first()
    );
    let seen = env.mock.requests();
    let upstream_failures =
        seen.iter().filter(|r| r.body.to_string().contains("flaky")).count().saturating_sub(2000);
    assert!(upstream_failures >= 20, "failures were injected and absorbed: {upstream_failures}");
    let path = env.dir.join("omniroute.db");
    let mut rows = 0;
    for _ in 0..100 {
        let c = rusqlite::Connection::open(&path).unwrap();
        rows = c
            .query_row("SELECT count(DISTINCT request_id) FROM usage WHERE requested_model = 'flaky' AND status = 200", [], |r| r.get::<_, i64>(0))
            .unwrap();
        if rows == 2000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows, 2000, "exactly one usage row per request");
    let c = rusqlite::Connection::open(&path).unwrap();
    let total: i64 = c
        .query_row("SELECT count(*) FROM usage WHERE requested_model = 'flaky'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total, 2000);
}

#[tokio::test]
async fn a_bad_request_cools_nothing_down() {
    let env = start("").await;
    for _ in 0..20 {
        let (s, _) = env.post("/v1/chat/completions", chat("mc/fail-400", false)).await;
        assert_eq!(s, 400);
    }
    let (_, h) = env.api("GET", "/api/health", None).await;
    assert!(h["model_locks"].as_array().unwrap().is_empty(), "{h}");
    for c in h["connections"].as_array().unwrap() {
        assert!(c["cooling_until"].is_null(), "{c}");
    }
    let breaker =
        h["breakers"].as_array().unwrap().iter().find(|b| b["id"] == "mock-claude").unwrap();
    assert_eq!(breaker["breaker"]["state"], "closed");
    let (s, _) = env.post("/v1/chat/completions", chat("mc/claude-mock", false)).await;
    assert_eq!(s, 200);
    assert_eq!(env.mock.requests().len(), 21, "every bad request reached the upstream once");
}

#[tokio::test]
async fn a_rate_limited_model_is_waited_out_rather_than_failed() {
    let env = start("").await;
    let (s, _) = env.post("/v1/chat/completions", chat("mo/fail-429", false)).await;
    assert_eq!(s, 429);
    let (_, h) = env.api("GET", "/api/health", None).await;
    assert_eq!(h["model_locks"][0]["model"], "fail-429", "{h}");
    // Locked for the upstream's Retry-After (1 s): the next request waits for it, then goes.
    let t = Instant::now();
    let (s, _) = env.post("/v1/chat/completions", chat("mo/fail-429", false)).await;
    assert_eq!(s, 429);
    assert!(t.elapsed() >= Duration::from_millis(800), "{:?}", t.elapsed());
    assert_eq!(env.mock.requests().len(), 2);
    // Other models of the account were never blocked.
    let (s, _) = env.post("/v1/chat/completions", chat("mo/gpt-mock", false)).await;
    assert_eq!(s, 200);
    // Without waiting, a locked target is a 503 with Retry-After at once.
    env.api("PUT", "/api/settings/wait_for_cooldown_ms", Some(json!({"value": 0}))).await;
    let (s, headers, body) = env
        .send(
            "POST",
            "/v1/chat/completions",
            &[("content-type", "application/json")],
            chat("mo/fail-429", false).to_string(),
        )
        .await;
    assert_eq!(s, 503, "{}", String::from_utf8_lossy(&body));
    assert!(headers.contains_key("retry-after"));
    assert!(String::from_utf8_lossy(&body).contains("model locked out"));
    assert_eq!(env.mock.requests().len(), 3, "the locked target was not called");
}

#[tokio::test]
async fn strategies_spread_and_explain() {
    let env = start(
        r#"
[[combos]]
name = "rr"
strategy = "round-robin"
targets = ["mo/gpt-mock", "mc/claude-mock"]

[[combos]]
name = "cheap"
strategy = "cost-optimized"
targets = ["mo/gpt-mock", "mc/claude-mock"]
"#,
    )
    .await;
    for _ in 0..4 {
        let (s, _) = env.post("/v1/chat/completions", chat("rr", false)).await;
        assert_eq!(s, 200);
    }
    let paths: Vec<String> = env.mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.iter().filter(|p| p.ends_with("/messages")).count(), 2, "{paths:?}");
    assert_ne!(paths[0], paths[1], "round-robin alternates: {paths:?}");
    assert_ne!(paths[1], paths[2]);

    env.api("PUT", "/api/pricing/mock-openai/gpt-mock", Some(json!({"input": 5, "output": 5})))
        .await;
    env.api("PUT", "/api/pricing/mock-claude/claude-mock", Some(json!({"input": 1, "output": 1})))
        .await;
    let (s, v) = env.api("GET", "/api/route/explain?model=cheap", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["combo"]["strategy"], "cost-optimized");
    assert_eq!(v["candidates"][0]["target"], "mock-claude/claude-mock", "{v}");
    assert!(v["order"][0]["why"].as_str().unwrap().contains("$1.00"), "{v}");
    let (_, h, _) = env
        .send(
            "POST",
            "/v1/chat/completions",
            &[("content-type", "application/json")],
            chat("cheap", false).to_string(),
        )
        .await;
    assert_eq!(h["x-omniroute-connection"], "mock-claude/mock-claude-2");

    // A skipped target says why.
    env.post("/v1/chat/completions", chat("mo/fail-429", false)).await;
    let (_, v) = env.api("GET", "/api/route/explain?model=mo/fail-429", None).await;
    assert!(v["candidates"].as_array().unwrap().is_empty());
    assert!(v["skipped"][0]["reason"].as_str().unwrap().contains("locked out"), "{v}");
    let (s, v) = env.api("GET", "/api/route/explain?model=nope/x", None).await;
    assert_eq!(s, 404, "{v}");
}

#[tokio::test]
async fn combos_nest_expand_wildcards_and_refuse_cycles() {
    let env = start(
        r#"
[[combos]]
name = "inner"
targets = ["mc/fail-503", "mock-openai/*"]

[[combos]]
name = "outer"
strategy = "weighted"
targets = [{ model = "inner", weight = 1 }]
"#,
    )
    .await;
    let (s, v) = env.post("/v1/chat/completions", chat("outer", false)).await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = env.api("GET", "/api/route/explain?model=outer", None).await;
    let order: Vec<&str> =
        v["order"].as_array().unwrap().iter().map(|o| o["target"].as_str().unwrap()).collect();
    assert!(order.contains(&"mock-openai/gpt-mock"), "{v}");
    env.api("PUT", "/api/combos/loop-a", Some(json!({"targets": ["loop-b"]}))).await;
    env.api("PUT", "/api/combos/loop-b", Some(json!({"targets": ["loop-a"]}))).await;
    let (s, v) = env.post("/v1/chat/completions", chat("loop-a", false)).await;
    assert_eq!(s, 404, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("cycle"), "{v}");
    let (_, m) = env.api("GET", "/v1/models", None).await;
    assert!(m["data"].as_array().unwrap().iter().any(|x| x["id"] == "outer"), "combos are listed");
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_answer() {
    let env = start("").await;
    let send = |body: Value| {
        let env = &env;
        async move {
            let h = [("content-type", "application/json"), ("idempotency-key", "order-42")];
            env.send("POST", "/v1/chat/completions", &h, body.to_string()).await
        }
    };
    let (s1, _, b1) = send(chat("mo/gpt-mock", false)).await;
    let (s2, h2, b2) = send(chat("mo/gpt-mock", false)).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(b1, b2);
    assert_eq!(h2["idempotent-replayed"], "true");
    assert_eq!(env.mock.requests().len(), 1, "one upstream call");
    let (s3, _, _) = send(chat("mc/claude-mock", false)).await;
    assert_eq!(s3, 422, "same key, other body");
}

#[tokio::test]
async fn cooldowns_survive_a_restart() {
    let dir = data_dir();
    let env = start_at(dir.clone(), "", "").await;
    let (s, _) = env.post("/v1/chat/completions", chat("mc/fail-401", false)).await;
    assert_eq!(s, 401);
    let (_, h) = env.api("GET", "/api/health", None).await;
    let cooling = |h: &Value| {
        h["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["provider"] == "mock-claude")
            .map(|c| (c["cooling_until"].clone(), c["cooldown_reason"].clone()))
    };
    let before = cooling(&h).unwrap();
    assert_eq!(before.1, "account_refused");
    drop(env);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let env = start_at(dir, "", "").await;
    let (_, h) = env.api("GET", "/api/health", None).await;
    assert_eq!(cooling(&h), Some(before), "{h}");
    env.api("PUT", "/api/settings/wait_for_cooldown_ms", Some(json!({"value": 0}))).await;
    let (s, v) = env.post("/v1/chat/completions", chat("mc/claude-mock", false)).await;
    assert_eq!(s, 503, "the refused account is not tried again: {v}");
}

#[tokio::test]
async fn context_relay_hands_a_moving_session_over_with_a_summary() {
    let env = start(
        r#"
[[combos]]
name = "relay"
strategy = "context-relay"
targets = ["mo/gpt-mock", "mc/claude-mock"]
handoff_model = "mock-gemini/gemini-mock"
"#,
    )
    .await;
    let turn = |text: &str| {
        json!({"model": "relay", "messages": [
            {"role": "system", "content": "you are terse"},
            {"role": "user", "content": "plan the migration"},
            {"role": "assistant", "content": "step one: back up"},
            {"role": "user", "content": text},
        ]})
    };
    let (s, _) = env.post("/v1/chat/completions", turn("go on")).await;
    assert_eq!(s, 200);
    assert_eq!(env.mock.requests().len(), 1, "no summary while the session stays");
    // The first target goes away: the session moves, with a summary written by the handoff
    // model.
    let (_, conns) = env.api("GET", "/api/connections", None).await;
    let id =
        conns["data"].as_array().unwrap().iter().find(|c| c["provider"] == "mock-openai").unwrap()
            ["id"]
            .as_i64()
            .unwrap();
    env.api("PATCH", &format!("/api/connections/{id}"), Some(json!({"enabled": false}))).await;
    let (s, v) = env.post("/v1/chat/completions", turn("and then?")).await;
    assert_eq!(s, 200, "{v}");
    let seen = env.mock.requests();
    assert_eq!(seen.len(), 3, "{:?}", seen.iter().map(|r| &r.path).collect::<Vec<_>>());
    assert!(seen[1].path.contains("gemini-mock:generateContent"), "the summary comes first");
    assert!(seen[1].body.to_string().contains("plan the migration"), "from the transcript");
    let handed = &seen[2];
    assert_eq!(handed.path, "/v1/messages");
    let system = handed.body["system"].to_string();
    assert!(system.contains("handed over from mock-openai/gpt-mock"), "{system}");
    assert!(
        system.contains("Hello from mock"),
        "the summary is the handoff model's answer: {system}"
    );
    // Staying on the new target needs no new summary.
    env.post("/v1/chat/completions", turn("more")).await;
    assert_eq!(env.mock.requests().len(), 4);
}
