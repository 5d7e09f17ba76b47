//! Integration tests of `omniroute-translate`: fixture-driven snapshots for every directed pair,
//! split-invariance of every recorded stream, protocol invariants and property tests.

// Test helpers are ordinary functions, so the workspace's no-unwrap rule would apply to them.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod fixtures;
mod invariants;
mod props;
mod streams;

use std::path::{Path, PathBuf};

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// Subdirectories of `dir`, sorted by name.
pub(crate) fn dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "snapshots"))
        .collect();
    out.sort();
    out
}

pub(crate) fn pretty(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => serde_json::to_string_pretty(&v).expect("pretty"),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}
