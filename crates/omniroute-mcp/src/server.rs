//! The MCP handler: the tool catalog, and each call handed to the caller's control plane.

use std::sync::Arc;

use http::request::Parts;
use omniroute_control::{ControlError, ControlPlane, TOOLS, Tool};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    ToolAnnotations,
};
use rmcp::service::{RequestContext, ServerInitializeError};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::Value;

/// Finds the control plane of the caller of one tool call.
///
/// On the HTTP transports `parts` are those of the HTTP request that carried the call (for
/// Streamable HTTP, the `POST` of that message; for HTTP+SSE, the `GET` that opened the
/// stream), so an implementation can read the `Authorization` header per call. On stdio there
/// is no request: `parts` is `None`.
pub trait Connector: Send + Sync + 'static {
    /// The control plane one call runs against.
    type Control: ControlPlane;

    /// The caller's control plane, or why the call may not run (it becomes the tool's error).
    fn connect(&self, parts: Option<&Parts>) -> Result<Self::Control, ControlError>;
}

/// The MCP server: an `rmcp` [`ServerHandler`] offering every tool of
/// [`omniroute_control::TOOLS`].
pub struct McpServer<K> {
    connector: Arc<K>,
}

impl<K> Clone for McpServer<K> {
    fn clone(&self) -> Self {
        McpServer { connector: self.connector.clone() }
    }
}

impl<K> std::fmt::Debug for McpServer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer").finish_non_exhaustive()
    }
}

const INSTRUCTIONS: &str = "Operates the omniroute AI gateway: health, quota, usage and cost, \
combos and routing, and chat completions through it. What a call may do is bounded by the \
scopes of the API key in use; a tool the key may not call answers with a `forbidden` error.";

impl<K: Connector> McpServer<K> {
    /// A server whose calls go through `connector`.
    pub fn new(connector: Arc<K>) -> Self {
        McpServer { connector }
    }

    async fn run(&self, tool: &Tool, args: Value, parts: Option<&Parts>) -> CallToolResult {
        let outcome = match self.connector.connect(parts) {
            Ok(control) => control.call(tool.name, args).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(value) => CallToolResult::structured(value),
            Err(e) => tool_error(&e),
        }
    }
}

/// A tool-level error: the client shows `<code>: <message>` to the user, and the structured
/// content is the JSON the HTTP control endpoint answers with.
fn tool_error(e: &ControlError) -> CallToolResult {
    let mut r =
        CallToolResult::error(vec![ContentBlock::text(format!("{}: {}", e.code.id(), e.message))]);
    r.structured_content = Some(e.to_json());
    r
}

fn schema(v: Value) -> Arc<JsonObject> {
    Arc::new(match v {
        Value::Object(o) => o,
        _ => JsonObject::new(),
    })
}

/// The MCP description of a catalog tool.
fn mcp_tool(t: &Tool) -> rmcp::model::Tool {
    let read_only = t.scopes.iter().all(|s| s.id().starts_with("read:"));
    rmcp::model::Tool::new(t.name, t.description, schema((t.input)()))
        .with_raw_output_schema(schema((t.output)()))
        .with_annotations(ToolAnnotations::new().read_only(read_only))
}

impl<K: Connector> ServerHandler for McpServer<K> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("omniroute", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(TOOLS.iter().map(mcp_tool).collect()))
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        Tool::find(name).map(mcp_tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(tool) = Tool::find(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            ));
        };
        let args = Value::Object(request.arguments.unwrap_or_default());
        // The HTTP transports put the request's parts into the request's extensions.
        let parts = context.extensions.get::<Parts>();
        Ok(self.run(tool, args, parts).await.into())
    }
}

/// Serves `server` on standard input and output until the client closes standard input.
///
/// Standard output carries JSON-RPC only; nothing else in this crate writes to it.
pub async fn serve_stdio<K: Connector>(server: McpServer<K>) -> std::io::Result<()> {
    let running = match server.serve(rmcp::transport::stdio_pipes()).await {
        Ok(r) => r,
        // The client went away before initializing: nothing to serve.
        Err(ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
        Err(e) => return Err(std::io::Error::other(e)),
    };
    running.waiting().await.map(drop).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests;
