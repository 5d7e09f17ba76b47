//! The omniroute HTTP service: one endpoint per client API shape (OpenAI Chat, Anthropic
//! Messages, Gemini, OpenAI Responses, models, embeddings, health), client authentication,
//! and the request pipeline that resolves a model to candidates, translates, calls upstream,
//! falls back on retryable failures and streams the answer back.
//!
//! Translation lives in `omniroute-translate` and upstream calls in `omniroute-providers`:
//! this crate composes them and owns the HTTP surface.

// Endpoints return `Result<_, Reply>` where the error is the response to send: it is built
// once per request, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod admin;
mod app;
mod apply;
mod auth;
mod body;
mod budget;
mod capture;
pub mod config;
mod control;
mod endpoints;
mod ledger;
mod pipeline;
mod plan;
mod relay;
mod reply;
mod routes;
mod server;

pub use app::{App, BuildError};
pub use apply::Applied;
pub use config::{Config, ConfigError};
pub use server::{Server, serve};
