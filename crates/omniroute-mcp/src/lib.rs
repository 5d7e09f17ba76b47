//! The MCP server of omniroute: the control-plane tools of [`omniroute_control::TOOLS`] offered
//! to agents over the Model Context Protocol, built on the official SDK (`rmcp`).
//!
//! - [`McpServer`] is the protocol handler. It lists the catalog and runs each call through a
//!   [`Connector`], which turns the caller (the HTTP request parts on the HTTP transports, nothing
//!   on stdio) into a [`ControlPlane`](omniroute_control::ControlPlane).
//! - Transports: [`serve_stdio`], [`McpHttp`] (Streamable HTTP, sessions by `mcp-session-id`)
//!   and [`McpSse`] (the HTTP+SSE transport of protocol 2024-11-05, which `rmcp` does not serve).
//! - [`HttpControl`] is the control plane of a gateway running elsewhere (`POST
//!   /api/control/{tool}`); the `omniroute-mcp` binary serves it on stdio.
//! - [`Heartbeat`] tells the gateway that a stdio server is alive.

#[cfg(test)]
mod fake;
mod heartbeat;
mod http_control;
mod server;
mod sse;
mod streamable;

use std::convert::Infallible;

use bytes::Bytes;

pub use heartbeat::{Heartbeat, HeartbeatTask};
pub use http_control::HttpControl;
pub use server::{Connector, McpServer, serve_stdio};
pub use sse::McpSse;
pub use streamable::{McpHttp, streamable_http};

/// The body of every HTTP response this crate builds: `Send + Sync`, never fails, and streams
/// (Server-Sent Events stay open until the session ends). It is `rmcp`'s own response body
/// type, so Streamable HTTP answers pass through unchanged.
pub type McpBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;
