use std::time::Duration;

use http::Request;
use serde_json::json;

use super::*;
use crate::fake::Fake;

/// The next event of an SSE body, skipping keep-alive comments: (event, data).
async fn next_event(body: &mut McpBody) -> (String, String) {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an event in time")
            .expect("the stream is open")
            .unwrap();
        let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
        if text.starts_with(':') {
            continue;
        }
        assert!(text.ends_with("\n\n"), "{text:?}");
        let mut event = String::new();
        let mut data = String::new();
        for line in text.lines() {
            if let Some(e) = line.strip_prefix("event: ") {
                event = e.to_owned();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = d.to_owned();
            }
        }
        return (event, data);
    }
}

async fn message(body: &mut McpBody) -> Value {
    let (event, data) = next_event(body).await;
    assert_eq!(event, "message");
    serde_json::from_str(&data).unwrap()
}

fn get(auth: &str) -> Parts {
    Request::get("/api/mcp/sse").header("authorization", auth).body(()).unwrap().into_parts().0
}

fn rpc(id: u64, method: &str, params: Value) -> Bytes {
    Bytes::from(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string())
}

#[tokio::test]
async fn a_session_from_endpoint_to_tool_call() {
    let fake = Fake::default();
    let sse = McpSse::new(Arc::new(fake.clone()));
    let resp = sse.open(get("Bearer sk-sse"), "/api/mcp/message").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();

    let (event, endpoint) = next_event(&mut body).await;
    assert_eq!(event, "endpoint");
    let id = endpoint.strip_prefix("/api/mcp/message?sessionId=").unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(sse.session_count(), 1);

    let init = rpc(
        1,
        "initialize",
        json!({"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}),
    );
    assert_eq!(sse.post(&id, init).await, StatusCode::ACCEPTED);
    let m = message(&mut body).await;
    assert_eq!(m["id"], 1);
    assert_eq!(m["result"]["serverInfo"]["name"], "omniroute");
    assert_eq!(m["result"]["protocolVersion"], "2024-11-05");

    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(sse.post(&id, Bytes::from(initialized.to_string())).await, StatusCode::ACCEPTED);

    assert_eq!(sse.post(&id, rpc(2, "tools/list", json!({}))).await, StatusCode::ACCEPTED);
    let m = message(&mut body).await;
    assert_eq!(m["id"], 2);
    assert_eq!(m["result"]["tools"].as_array().unwrap().len(), 21);

    let call = rpc(3, "tools/call", json!({"name": "omniroute_list_combos", "arguments": {}}));
    assert_eq!(sse.post(&id, call).await, StatusCode::ACCEPTED);
    let m = message(&mut body).await;
    assert_eq!(m["id"], 3);
    assert_eq!(m["result"]["structuredContent"]["tool"], "omniroute_list_combos", "{m}");

    // A batch is taken whole; each answer is its own event.
    let batch = format!(
        "[{},{}]",
        String::from_utf8_lossy(&rpc(4, "ping", json!({}))),
        String::from_utf8_lossy(&rpc(
            5,
            "tools/call",
            json!({"name": "omniroute_switch_combo", "arguments": {"name": "c"}})
        ))
    );
    assert_eq!(sse.post(&id, Bytes::from(batch)).await, StatusCode::ACCEPTED);
    let mut answers = [message(&mut body).await, message(&mut body).await];
    answers.sort_by_key(|m| m["id"].as_u64());
    assert_eq!(answers[0]["result"], json!({}));
    assert_eq!(answers[1]["result"]["isError"], true);
    assert_eq!(
        answers[1]["result"]["content"][0]["text"],
        "forbidden: this API key lacks the scope write:combos"
    );

    // The stream's caller is every call's caller.
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.had_parts && s.auth.as_deref() == Some("Bearer sk-sse")));

    assert_eq!(sse.post(&id, Bytes::from_static(b"{not json")).await, StatusCode::BAD_REQUEST);
    assert_eq!(sse.post(&id, Bytes::from_static(b"[]")).await, StatusCode::BAD_REQUEST);
    assert_eq!(sse.post(&id, Bytes::from_static(b"{\"hello\": 1}")).await, StatusCode::BAD_REQUEST);
    assert_eq!(sse.post("nope", rpc(6, "ping", json!({}))).await, StatusCode::NOT_FOUND);

    // The session ends with its stream.
    drop(body);
    assert_eq!(sse.session_count(), 0);
    assert_eq!(sse.post(&id, rpc(7, "ping", json!({}))).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sessions_are_separate_and_a_prefix_with_a_query_keeps_it() {
    let sse = McpSse::new(Arc::new(Fake::default()));
    let mut a = sse.open(get("Bearer a"), "/mcp/message?v=1").await.into_body();
    let mut b = sse.open(get("Bearer b"), "/api/mcp/message").await.into_body();
    let (_, ea) = next_event(&mut a).await;
    let (_, eb) = next_event(&mut b).await;
    assert!(ea.starts_with("/mcp/message?v=1&sessionId="), "{ea}");
    assert_ne!(ea.rsplit('=').next(), eb.rsplit('=').next());
    assert_eq!(sse.session_count(), 2);
    sse.shutdown();
    assert_eq!(sse.session_count(), 0);
    // With its input gone the server loop stops and the stream ends.
    let end = tokio::time::timeout(Duration::from_secs(10), a.frame()).await.unwrap();
    assert!(end.is_none());
}

#[tokio::test(start_paused = true)]
async fn an_idle_stream_gets_keep_alive_comments() {
    let sse = McpSse::new(Arc::new(Fake::default()));
    let mut body = sse.open(get("Bearer a"), "/m").await.into_body();
    let _ = next_event(&mut body).await;
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), Bytes::from_static(b": ping\n\n"));
}
