//! The upstream edge of omniroute: which providers exist, how a model name resolves to one,
//! how an upstream request is built (URL, auth, headers), the pooled HTTPS client, and how an
//! upstream failure is classified.
//!
//! It knows nothing of combos or routing strategies: it answers "where does this one target
//! live and how do I call it", nothing more.

mod client;
mod failure;
mod pricing;
mod registry;
mod upstream;

pub use client::{Client, ClientConfig, ResponseBody};
pub use failure::{Failure, FailureKind, rate_limit_headers};
pub use pricing::{ListPrice, default_prices};
pub use registry::{
    Auth, CustomProvider, Provider, Quirks, Registry, RegistryError, ResolveError, Resolved,
};
pub use upstream::{BuildError, Connection, Endpoint, UpstreamRequest, build_request};
