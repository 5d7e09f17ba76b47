//! Routing and resilience, as pure functions and state machines: which targets a request may
//! go to and in which order (`combo`, `strategy`), what a failure means (`classify`), and what
//! the gateway remembers about each provider, connection and model (`health`).
//!
//! No I/O, no async, no clock reads: every time is a `now_ms` argument (Unix milliseconds), and
//! randomness comes from a `fastrand::Rng` the caller seeds. Simulations with a fake clock and a
//! fixed seed are therefore exact.

pub mod classify;
pub mod combo;
pub mod health;
pub mod strategy;

pub use strategy::{
    ComboState, Ordering, RequestNeeds, Strategy, StrategyConfig, TargetView, order,
};
