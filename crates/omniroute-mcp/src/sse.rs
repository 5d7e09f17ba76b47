//! The HTTP+SSE transport of protocol 2024-11-05, which `rmcp` does not serve: a `GET` opens an
//! event stream whose first event names the URL to `POST` messages to; answers come back on the
//! stream. Each session is `rmcp`'s server loop over a pair of channels.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, GetExtensions, JsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::McpBody;
use crate::server::{Connector, McpServer};

/// Messages waiting for the server loop, and events waiting for the client, per session.
const CHANNEL: usize = 64;
/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

type Sessions = Arc<Mutex<HashMap<String, mpsc::Sender<ClientJsonRpcMessage>>>>;

/// The HTTP+SSE endpoints: [`McpSse::open`] for `GET /api/mcp/sse`, [`McpSse::post`] for
/// `POST /api/mcp/message?sessionId=...`.
///
/// A session lives as long as its event stream: when the client disconnects (the response body
/// is dropped) the session is forgotten and its server loop ends.
#[derive(Clone)]
pub struct McpSse {
    sessions: Sessions,
    start: Arc<dyn Fn(SessionTransport) + Send + Sync>,
}

impl std::fmt::Debug for McpSse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSse").field("sessions", &self.session_count()).finish_non_exhaustive()
    }
}

impl McpSse {
    /// The endpoints serving [`McpServer`]s over `connector`.
    pub fn new<K: Connector>(connector: Arc<K>) -> McpSse {
        let start = move |transport: SessionTransport| {
            let server = McpServer::new(connector.clone());
            tokio::spawn(async move {
                // An error here is a client that left or spoke out of turn before `initialize`;
                // the session simply ends.
                if let Ok(running) = rmcp::serve_server(server, transport).await {
                    let _ = running.waiting().await;
                }
            });
        };
        McpSse { sessions: Arc::default(), start: Arc::new(start) }
    }

    /// Opens a session for the `GET` request whose head is `parts` (a clone of them accompanies
    /// every message of the session to the connector: the stream's caller is the session's
    /// caller). `message_path_prefix` is the path messages are posted to, e.g.
    /// `/api/mcp/message`; the first event is `event: endpoint` with data
    /// `<prefix>?sessionId=<id>`, then each message from the server is `event: message` with
    /// the JSON as data.
    pub async fn open(&self, parts: Parts, message_path_prefix: &str) -> Response<McpBody> {
        let id = session_id();
        let (to_server, from_client) = mpsc::channel(CHANNEL);
        let (to_client, events) = mpsc::channel(CHANNEL);
        let sep = if message_path_prefix.contains('?') { '&' } else { '?' };
        let endpoint =
            format!("event: endpoint\ndata: {message_path_prefix}{sep}sessionId={id}\n\n");
        // The channel is new and empty, so the first event always fits.
        let _ = to_client.try_send(Bytes::from(endpoint));
        self.lock().insert(id.clone(), to_server);
        (self.start)(SessionTransport { from_client, to_client, parts });
        let mut keep_alive =
            tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let body = EventStream {
            events,
            keep_alive,
            _session: SessionGuard { sessions: self.sessions.clone(), id },
        };
        let mut resp = Response::new(body.boxed());
        let h = resp.headers_mut();
        h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/event-stream"));
        h.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
        // Tells nginx-like proxies not to buffer the stream.
        h.insert("x-accel-buffering", http::HeaderValue::from_static("no"));
        resp
    }

    /// Hands one posted message (or a JSON array of them) to session `session_id`: 202 when
    /// the session took it, 404 for an unknown or ended session, 400 when the body is not
    /// JSON-RPC. The answer arrives on the session's event stream.
    pub async fn post(&self, session_id: &str, body: Bytes) -> StatusCode {
        let Some(tx) = self.lock().get(session_id).cloned() else {
            return StatusCode::NOT_FOUND;
        };
        let messages: Vec<ClientJsonRpcMessage> = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Array(items)) if !items.is_empty() => {
                match items.into_iter().map(serde_json::from_value).collect() {
                    Ok(m) => m,
                    Err(_) => return StatusCode::BAD_REQUEST,
                }
            }
            Ok(v @ Value::Object(_)) => match serde_json::from_value(v) {
                Ok(m) => vec![m],
                Err(_) => return StatusCode::BAD_REQUEST,
            },
            _ => return StatusCode::BAD_REQUEST,
        };
        for m in messages {
            if tx.send(m).await.is_err() {
                return StatusCode::NOT_FOUND;
            }
        }
        StatusCode::ACCEPTED
    }

    /// Sessions open now.
    pub fn session_count(&self) -> usize {
        self.lock().len()
    }

    /// Ends every session; their streams close once their server loops stop.
    pub fn shutdown(&self) {
        self.lock().clear();
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<ClientJsonRpcMessage>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// 128 random bits, hex.
fn session_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: still unique within this process, if guessable.
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = n.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One session's side of `rmcp`'s server loop.
struct SessionTransport {
    from_client: mpsc::Receiver<ClientJsonRpcMessage>,
    to_client: mpsc::Sender<Bytes>,
    parts: Parts,
}

impl Transport<RoleServer> for SessionTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), std::io::Error>> + Send + 'static {
        let tx = self.to_client.clone();
        async move {
            let json = serde_json::to_string(&item).map_err(std::io::Error::other)?;
            tx.send(Bytes::from(format!("event: message\ndata: {json}\n\n")))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        let mut m = self.from_client.recv().await?;
        // What the Streamable HTTP service does with each POST: the handler finds the caller
        // in the request's extensions.
        match &mut m {
            JsonRpcMessage::Request(r) => {
                r.request.extensions_mut().insert(self.parts.clone());
            }
            JsonRpcMessage::Notification(n) => {
                n.notification.extensions_mut().insert(self.parts.clone());
            }
            JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => {}
        }
        Some(m)
    }

    async fn close(&mut self) -> Result<(), std::io::Error> {
        self.from_client.close();
        Ok(())
    }
}

/// Forgets the session when its stream goes away; the server loop then sees its input end.
struct SessionGuard {
    sessions: Sessions,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}

/// The event stream of one session.
struct EventStream {
    events: mpsc::Receiver<Bytes>,
    keep_alive: tokio::time::Interval,
    _session: SessionGuard,
}

impl Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this.events.poll_recv(cx) {
            Poll::Ready(Some(b)) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.keep_alive.poll_tick(cx) {
                Poll::Ready(_) => {
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b": ping\n\n")))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests;
