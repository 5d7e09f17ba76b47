//! MCP over Streamable HTTP: `rmcp`'s service with its in-memory session manager.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

use crate::McpBody;
use crate::server::{Connector, McpServer};

/// The Streamable HTTP endpoint (`POST`, `GET` and `DELETE` on one path), with stateful
/// sessions named by the `mcp-session-id` header.
///
/// The caller authenticates requests and checks their `Origin` before [`McpHttp::handle`]:
/// `rmcp`'s own `Host` and `Origin` checks are switched off, since it cannot know the
/// gateway's addresses. (A request with neither a `Host` header nor an authority in its URI
/// still gets 400 from `rmcp`.) Every message's request parts reach the connector, so the
/// caller is derived from each `POST`'s own `Authorization` header.
#[derive(Clone)]
pub struct McpHttp {
    service: Arc<dyn HandleHttp>,
    config: StreamableHttpServerConfig,
}

impl std::fmt::Debug for McpHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpHttp").finish_non_exhaustive()
    }
}

/// The Streamable HTTP endpoint serving [`McpServer`]s over `connector`.
pub fn streamable_http<K: Connector>(connector: Arc<K>) -> McpHttp {
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_legacy_session_mode(true);
    let service: StreamableHttpService<McpServer<K>, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(McpServer::new(connector.clone())),
            Arc::new(LocalSessionManager::default()),
            config.clone(),
        );
    McpHttp { service: Arc::new(service), config }
}

impl McpHttp {
    /// Answers one request. The body is a JSON answer, a plain-text error, or an SSE stream
    /// that stays open while the session sends.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<McpBody> {
        let delete = req.method() == http::Method::DELETE;
        let mut resp = self.service.handle(req).await;
        // rmcp ends a session with 202 and no body; clients (the Python SDK among them) expect
        // 200 or 204 and log a failed termination otherwise.
        if delete && resp.status() == http::StatusCode::ACCEPTED {
            *resp.status_mut() = http::StatusCode::NO_CONTENT;
        }
        resp
    }

    /// Ends every session and open stream; later requests are refused.
    pub fn shutdown(&self) {
        self.config.cancellation_token.cancel();
    }
}

/// Hides the handler's type, so the gateway holds one `McpHttp` whatever its connector.
trait HandleHttp: Send + Sync + 'static {
    fn handle(
        &self,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Response<McpBody>> + Send + '_>>;
}

impl<K: Connector> HandleHttp for StreamableHttpService<McpServer<K>, LocalSessionManager> {
    fn handle(
        &self,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Response<McpBody>> + Send + '_>> {
        Box::pin(StreamableHttpService::handle(self, req))
    }
}

#[cfg(test)]
mod tests;
