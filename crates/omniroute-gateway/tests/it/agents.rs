//! The control plane over HTTP (what the stdio MCP binary calls): scopes, tools, audit.

use serde_json::{Value, json};

use super::start;

async fn tool(env: &super::Env, key: &str, name: &str, args: Value) -> (u16, Value) {
    let auth = format!("Bearer {key}");
    let (s, _, b) = env
        .send(
            "POST",
            &format!("/api/control/{name}"),
            &[("authorization", &auth), ("content-type", "application/json")],
            args.to_string(),
        )
        .await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[tokio::test]
async fn tools_run_within_the_keys_scopes_and_are_audited() {
    let env = start(
        r#"
[[api_keys]]
name = "reader"
key = "sk-reader-0001"

[[api_keys]]
name = "agent"
key = "sk-agent-0002"
scopes = ["full"]
"#,
    )
    .await;
    let (s, v) = tool(&env, "sk-reader-0001", "omniroute_get_health", json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "ok");
    let (s, v) = tool(
        &env,
        "sk-reader-0001",
        "omniroute_switch_combo",
        json!({"name": "fallback", "enabled": false}),
    )
    .await;
    assert_eq!(s, 403, "readonly keys cannot write: {v}");
    assert_eq!(v["error"]["code"], "forbidden");
    assert!(v["error"]["message"].as_str().unwrap().contains("write:combos"));
    let (s, _) = tool(&env, "sk-wrong", "omniroute_get_health", json!({})).await;
    assert_eq!(s, 401);
    let (s, v) = tool(&env, "sk-agent-0002", "omniroute_nope", json!({})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")));

    let (s, v) = tool(
        &env,
        "sk-agent-0002",
        "omniroute_route_request",
        json!({"model": "fallback", "messages": [{"role": "user", "content": "hi there"}]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["content"], "Hello from mock: hi there");
    assert_eq!(v["served_by"], "mock-openai/mock-openai-1");
    assert_eq!(v["model"], "mock-openai/gpt-mock");
    let (s, v) =
        tool(&env, "sk-agent-0002", "omniroute_explain_route", json!({"model": "fallback"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["combo"]["name"], "fallback");
    let (s, v) = tool(
        &env,
        "sk-agent-0002",
        "omniroute_set_routing_strategy",
        json!({"combo": "fallback", "strategy": "round-robin"}),
    )
    .await;
    assert_eq!((s, v["combo"]["strategy"].as_str()), (200, Some("round-robin")), "{v}");
    let (s, v) = tool(
        &env,
        "sk-agent-0002",
        "omniroute_set_routing_strategy",
        json!({"combo": "fallback", "strategy": "vibes"}),
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("invalid_arguments")));
    let (s, v) = tool(
        &env,
        "sk-agent-0002",
        "omniroute_set_budget_guard",
        json!({"key": "reader", "daily_budget_usd": 1.5}),
    )
    .await;
    assert_eq!((s, v["key"]["daily_budget_usd"].as_f64()), (200, Some(1.5)), "{v}");
    let (s, v) = tool(&env, "sk-agent-0002", "omniroute_db_health_check", json!({})).await;
    assert_eq!((s, v["integrity"].as_str()), (200, Some("ok")));
    let (s, v) =
        tool(&env, "sk-agent-0002", "omniroute_best_combo_for_task", json!({"task": "coding"}))
            .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["combo"].is_string(), "{v}");
    std::fs::write(
        env.dir.join("prices.json"),
        r#"{"mock-openai/gpt-mock": {"input": 2, "output": 4}}"#,
    )
    .unwrap();
    let (s, v) =
        tool(&env, "sk-agent-0002", "omniroute_sync_pricing", json!({"path": "prices.json"})).await;
    assert_eq!((s, v["updated"].as_u64()), (200, Some(1)), "{v}");
    let (s, _) =
        tool(&env, "sk-agent-0002", "omniroute_sync_pricing", json!({"path": "/etc/passwd"})).await;
    assert_eq!(s, 403, "files outside the data dir are refused");
    for name in omniroute_control::TOOLS.iter().map(|t| t.name) {
        if [
            "omniroute_route_request",
            "omniroute_test_combo",
            "omniroute_switch_combo",
            "omniroute_set_routing_strategy",
            "omniroute_set_budget_guard",
            "omniroute_sync_pricing",
            "omniroute_simulate_route",
            "omniroute_explain_route",
            "omniroute_set_resilience_profile",
            "omniroute_best_combo_for_task",
        ]
        .contains(&name)
        {
            continue;
        }
        let (s, v) = tool(&env, "sk-agent-0002", name, json!({})).await;
        assert_eq!(s, 200, "{name}: {v}");
    }
    let (s, v) =
        tool(&env, "sk-agent-0002", "omniroute_test_combo", json!({"combo": "fallback"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["targets"].as_array().unwrap().len(), 2);

    let (s, who) = {
        let (s, _, b) = env
            .send("GET", "/api/control", &[("authorization", "Bearer sk-reader-0001")], "")
            .await;
        (s, serde_json::from_slice::<Value>(&b).unwrap())
    };
    assert_eq!(s, 200);
    assert_eq!(who["key"], "reader");
    assert!(who["tools"].as_array().unwrap().iter().any(|t| t == "omniroute_get_health"));
    assert!(!who["tools"].as_array().unwrap().iter().any(|t| t == "omniroute_route_request"));

    let (s, audit) = env.api("GET", "/api/mcp/audit?limit=200", None).await;
    assert_eq!(s, 200);
    let rows = audit["data"].as_array().unwrap();
    let refused = rows
        .iter()
        .find(|r| r["tool"] == "omniroute_switch_combo" && r["key"] == "reader")
        .unwrap();
    assert_eq!(
        (refused["success"].as_bool(), refused["error_code"].as_str()),
        (Some(false), Some("forbidden"))
    );
    assert!(rows.iter().any(|r| r["tool"] == "omniroute_route_request" && r["success"] == true));
    assert!(!audit.to_string().contains("hi there"), "only a hash of the input is kept");
    let (s, status) = env.api("GET", "/api/mcp/status", None).await;
    assert_eq!(s, 200);
    assert!(status["last_hour"]["calls"].as_u64().unwrap() >= 20, "{status}");
}
