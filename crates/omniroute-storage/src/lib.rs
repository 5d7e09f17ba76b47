//! The embedded store: one SQLite file in the data directory (WAL), versioned migrations,
//! credentials encrypted at rest with AES-256-GCM, client keys kept only as hashes, and the
//! usage writer that batches rows on its own thread so the request path never waits on disk.
//!
//! It knows nothing of HTTP. The only crate that names rusqlite and r2d2.

mod crypto;
mod datadir;
mod db;
mod queries;
mod records;
mod usage;

pub use crypto::{
    CryptoError, SecretKey, constant_time_eq, hash_client_key, hash_password, random_token,
    verify_password,
};
pub use datadir::{DB_FILE, DataDir, KEY_FILE, OpenError, PASSWORD_SETTING};
pub use db::{Db, SCHEMA_VERSION, StorageError};
pub use queries::{GroupBy, LogFilter, LogRow, Percentiles, UsageGroup};
pub use records::{
    AdminTokenRow, AuditRow, ComboRow, ComboTarget, ConnLimits, ConnectionInput, ConnectionRow,
    KeyRow, Price, ProviderRow, QuotaWindow, ToolCallRow, WriteError,
};
pub use usage::{UsageRow, UsageWriter, WriterConfig};
