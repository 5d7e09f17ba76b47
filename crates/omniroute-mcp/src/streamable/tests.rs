use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use super::*;
use crate::fake::{Fake, loopback};

/// The JSON-RPC messages in an answer, whether JSON or an SSE stream.
async fn messages(resp: Response<Incoming>) -> Vec<Value> {
    let is_sse = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let mut body = resp.into_body();
    let mut text = String::new();
    let mut out = Vec::new();
    // A request's stream closes after its answer; stop at the first answer anyway.
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(10), body.frame()).await {
        if let Ok(data) = frame.unwrap().into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
        if is_sse {
            out = text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .collect();
            if out.iter().any(|m| m.get("id").is_some()) {
                return out;
            }
        }
    }
    if !is_sse && !text.is_empty() {
        out.push(serde_json::from_str(&text).unwrap());
    }
    out
}

#[tokio::test]
async fn sessions_over_http_with_foreign_hosts_and_the_callers_parts() {
    let fake = Fake::default();
    let mcp = streamable_http(Arc::new(fake.clone()));
    let addr = loopback(move |req| {
        let mcp = mcp.clone();
        async move { mcp.handle(req).await }
    })
    .await;
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let post = |session: Option<&str>, body: Value| {
        let mut req = http::Request::post(format!("http://{addr}/api/mcp/stream"))
            // The gateway checked these already; rmcp must not second-guess them.
            .header("host", "gateway.example:8443")
            .header("origin", "https://dashboard.example")
            .header("authorization", "Bearer sk-http")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        client.request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
    };

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let resp = post(None, init).await.unwrap();
    assert_eq!(resp.status(), 200);
    let session = resp.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let m = messages(resp).await;
    assert_eq!(m[0]["result"]["serverInfo"]["name"], "omniroute", "{m:?}");

    let resp =
        post(Some(&session), json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await
            .unwrap();
    assert_eq!(resp.status(), 202);

    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "omniroute_cost_report", "arguments": {"group_by": "day"}}});
    let resp = post(Some(&session), call).await.unwrap();
    assert_eq!(resp.status(), 200);
    let m = messages(resp).await;
    let answer = m.iter().find(|m| m["id"] == 2).unwrap();
    assert_eq!(answer["result"]["structuredContent"]["args"], json!({"group_by": "day"}), "{m:?}");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].auth.as_deref(),
        Some("Bearer sk-http"),
        "each POST's parts reach the connector"
    );

    // The client ends its session; afterwards the session is unknown.
    let delete = http::Request::delete(format!("http://{addr}/api/mcp/stream"))
        .header("mcp-session-id", &session)
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(client.request(delete).await.unwrap().status(), 204);
    let resp =
        post(Some(&session), json!({"jsonrpc": "2.0", "id": 4, "method": "ping"})).await.unwrap();
    assert_eq!(resp.status(), 404);

    // A session the server does not know is 404, as the protocol asks.
    let resp = post(Some("not-a-session"), json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
