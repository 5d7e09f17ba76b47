//! The SQLite file: connection pool, pragmas, versioned migrations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// SQLite reported an error.
    #[error("database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    /// The pool could not hand out a connection.
    #[error("database {path}: {reason}")]
    Pool { path: PathBuf, reason: String },
    /// The file was written by a newer omniroute.
    #[error(
        "database {path} has schema version {found}, newer than this omniroute supports ({supported}); \
         run a newer release, or restore a backup made by this one"
    )]
    Newer { path: PathBuf, found: i64, supported: i64 },
}

/// The schema this build writes; each entry of [`MIGRATIONS`] moves one version up.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Migrations, in order. Never edit a released one: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
CREATE TABLE providers (
    id          TEXT PRIMARY KEY,
    prefix      TEXT UNIQUE,
    format      TEXT NOT NULL CHECK (format IN ('openai', 'claude', 'gemini', 'responses')),
    base_url    TEXT NOT NULL,
    models      TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE connections (
    id          INTEGER PRIMARY KEY,
    provider    TEXT NOT NULL,
    name        TEXT NOT NULL,
    secret      BLOB,              -- AES-256-GCM: version byte, nonce, ciphertext
    base_url    TEXT,
    account_id  TEXT,
    priority    INTEGER NOT NULL DEFAULT 0,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (provider, name)
);
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    key_hash    TEXT NOT NULL UNIQUE, -- SHA-256 hex; the key itself is never stored
    key_prefix  TEXT NOT NULL,        -- the first characters, to recognise a key in lists
    models      TEXT,                 -- JSON array of patterns, NULL = all
    daily_budget_micros   INTEGER,
    monthly_budget_micros INTEGER,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);
CREATE TABLE combos (
    name        TEXT PRIMARY KEY,
    strategy    TEXT NOT NULL,
    targets     TEXT NOT NULL,        -- JSON array
    config      TEXT NOT NULL DEFAULT '{}',
    enabled     INTEGER NOT NULL DEFAULT 1,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE aliases (
    alias       TEXT PRIMARY KEY,
    target      TEXT NOT NULL
);
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);
CREATE TABLE pricing (
    model               TEXT PRIMARY KEY, -- provider/model
    input_per_mtok      INTEGER NOT NULL, -- micro-dollars per million tokens
    output_per_mtok     INTEGER NOT NULL,
    cached_per_mtok     INTEGER NOT NULL
);
CREATE TABLE usage (
    id              INTEGER PRIMARY KEY,
    ts_ms           INTEGER NOT NULL,
    request_id      TEXT NOT NULL UNIQUE,
    api_key         TEXT,
    requested_model TEXT NOT NULL,
    provider        TEXT,
    model           TEXT,
    connection      TEXT,
    client_format   TEXT NOT NULL,
    upstream_format TEXT,
    status          INTEGER NOT NULL,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    cached_tokens   INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    usage_estimated INTEGER NOT NULL DEFAULT 0,
    cost_micros     INTEGER NOT NULL DEFAULT 0,
    latency_ms      INTEGER NOT NULL,
    ttfb_ms         INTEGER,
    stream          INTEGER NOT NULL,
    error_class     TEXT
);
CREATE INDEX usage_ts ON usage (ts_ms);
CREATE INDEX usage_key_ts ON usage (api_key, ts_ms);
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    ts_ms       INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}'  -- never a secret
);
"#,
    // 2: admin tokens for the management API; usage looked up by model and provider.
    r#"
CREATE TABLE admin_tokens (
    name        TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE, -- SHA-256 hex
    prefix      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX usage_model_ts ON usage (requested_model, ts_ms);
CREATE INDEX usage_provider_ts ON usage (provider, ts_ms);
"#,
    // 3: per-connection limits; routing state that survives restarts.
    r#"
ALTER TABLE connections ADD COLUMN max_concurrent INTEGER;
ALTER TABLE connections ADD COLUMN rpm INTEGER;
ALTER TABLE connections ADD COLUMN min_gap_ms INTEGER;
ALTER TABLE connections ADD COLUMN quotas TEXT NOT NULL DEFAULT '[]';
CREATE TABLE runtime_state (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
"#,
    // 4: scopes on client keys; the MCP tool-call audit; A2A tasks.
    r#"
ALTER TABLE api_keys ADD COLUMN scopes TEXT;   -- JSON array of scopes/presets, NULL = readonly
CREATE TABLE mcp_audit (
    id          INTEGER PRIMARY KEY,
    ts_ms       INTEGER NOT NULL,
    tool        TEXT NOT NULL,
    input_hash  TEXT NOT NULL,
    success     INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    api_key     TEXT,
    error_code  TEXT,
    transport   TEXT NOT NULL
);
CREATE INDEX mcp_audit_ts ON mcp_audit (ts_ms);
CREATE TABLE a2a_tasks (
    id          TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    api_key     TEXT,
    body        TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);
CREATE INDEX a2a_tasks_updated ON a2a_tasks (updated_ms);
"#,
];

/// Unix time in milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The store: a pool of connections to one SQLite file.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool<SqliteConnectionManager>,
    path: PathBuf,
}

impl Db {
    /// Opens (creating if needed) the database file and brings its schema up to date. A file
    /// from a newer omniroute is refused rather than touched.
    pub fn open(path: &Path) -> Result<Db, StorageError> {
        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            c.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )?;
            c.busy_timeout(Duration::from_secs(5))
        });
        let pool = Pool::builder()
            .max_size(8)
            .build(manager)
            .map_err(|e| StorageError::Pool { path: path.into(), reason: e.to_string() })?;
        let db = Db { pool, path: path.into() };
        db.migrate()?;
        Ok(db)
    }

    pub(crate) fn sqlite(&self, source: rusqlite::Error) -> StorageError {
        StorageError::Sqlite { path: self.path.clone(), source }
    }

    /// A pooled connection.
    pub fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, StorageError> {
        self.pool
            .get()
            .map_err(|e| StorageError::Pool { path: self.path.clone(), reason: e.to_string() })
    }

    /// The schema version of the file.
    pub fn version(&self) -> Result<i64, StorageError> {
        self.conn()?.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.sqlite(e))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of a database file, read without changing it (`None`: no file).
    pub fn peek_version(path: &Path) -> Result<Option<i64>, StorageError> {
        if !path.exists() {
            return Ok(None);
        }
        let err = |source| StorageError::Sqlite { path: path.into(), source };
        let c =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(err)?;
        c.query_row("PRAGMA user_version", [], |r| r.get(0)).map(Some).map_err(err)
    }

    /// Copies a database file that no server needs to have open (read-only, online backup).
    pub fn backup_file(src: &Path, dest: &Path) -> Result<(), StorageError> {
        let err = |source| StorageError::Sqlite { path: src.into(), source };
        let input =
            rusqlite::Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(err)?;
        let mut out = rusqlite::Connection::open(dest).map_err(err)?;
        let backup = rusqlite::backup::Backup::new(&input, &mut out).map_err(err)?;
        backup.run_to_completion(256, Duration::from_millis(5), None).map_err(err)
    }

    /// Writes a consistent copy of the live database to `dest` (SQLite online backup: other
    /// connections keep reading and writing meanwhile).
    pub fn backup_to(&self, dest: &Path) -> Result<(), StorageError> {
        let conn = self.conn()?;
        let mut out = rusqlite::Connection::open(dest).map_err(|e| self.sqlite(e))?;
        let backup = rusqlite::backup::Backup::new(&conn, &mut out).map_err(|e| self.sqlite(e))?;
        backup.run_to_completion(256, Duration::from_millis(5), None).map_err(|e| self.sqlite(e))
    }

    /// Replaces the live database's content with a backup file, after checking that the file
    /// is an intact omniroute database this build can read; then brings its schema up to date.
    pub fn restore_from(&self, src: &Path) -> Result<i64, StorageError> {
        let bad = |reason: String| StorageError::Pool { path: src.into(), reason };
        let input =
            rusqlite::Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(|e| bad(e.to_string()))?;
        let check: String = input
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| bad(format!("not a readable SQLite database ({e})")))?;
        if check != "ok" {
            return Err(bad(format!("integrity check failed: {check}")));
        }
        let version: i64 = input
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| bad(e.to_string()))?;
        if version > SCHEMA_VERSION {
            return Err(StorageError::Newer {
                path: src.into(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let has_usage: bool = input
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'usage'", [], |r| r.get(0))
            .map_err(|e| bad(e.to_string()))?;
        if version < 1 || !has_usage {
            return Err(bad("not an omniroute database".into()));
        }
        {
            let mut conn = self.conn()?;
            let backup =
                rusqlite::backup::Backup::new(&input, &mut conn).map_err(|e| self.sqlite(e))?;
            backup
                .run_to_completion(256, Duration::from_millis(5), None)
                .map_err(|e| self.sqlite(e))?;
        }
        self.migrate()?;
        self.version()
    }

    fn migrate(&self) -> Result<(), StorageError> {
        let mut conn = self.conn()?;
        let found: i64 =
            conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.sqlite(e))?;
        if found > SCHEMA_VERSION {
            return Err(StorageError::Newer {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
            let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
            tx.execute_batch(sql).map_err(|e| self.sqlite(e))?;
            tx.pragma_update(None, "user_version", i as i64 + 1).map_err(|e| self.sqlite(e))?;
            tx.commit().map_err(|e| self.sqlite(e))?;
        }
        Ok(())
    }

    /// Whether any credential is stored encrypted (a new secret key must not be generated then).
    pub fn has_encrypted_credentials(&self) -> Result<bool, StorageError> {
        let n: i64 = self
            .conn()?
            .query_row("SELECT count(*) FROM connections WHERE secret IS NOT NULL", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.sqlite(e))?;
        Ok(n > 0)
    }

    /// `PRAGMA integrity_check` == "ok".
    pub fn integrity_ok(&self) -> Result<bool, StorageError> {
        let r: String = self
            .conn()?
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?;
        Ok(r == "ok")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::records::ComboTarget;

    pub(crate) fn temp_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("omniroute-db-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("omniroute.db")
    }

    #[test]
    fn migrates_an_empty_file_and_reopens() {
        let path = temp_db("empty");
        let db = Db::open(&path).unwrap();
        assert_eq!(db.version().unwrap(), SCHEMA_VERSION);
        let mode: String =
            db.conn().unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        drop(db);
        let db = Db::open(&path).unwrap();
        assert!(db.integrity_ok().unwrap());
        assert!(!db.has_encrypted_credentials().unwrap());
    }

    #[test]
    fn upgrades_a_previous_version_keeping_its_rows() {
        let path = temp_db("v1");
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute(
            "INSERT INTO combos (name, strategy, targets, updated_at) VALUES ('c', 'priority', '[\"a/b\"]', 0)",
            [],
        )
        .unwrap();
        drop(c);
        let db = Db::open(&path).unwrap();
        assert_eq!(db.version().unwrap(), SCHEMA_VERSION);
        assert_eq!(db.combos().unwrap()[0].targets, [ComboTarget::Plain("a/b".into())]);
        assert!(db.admin_tokens().unwrap().is_empty());
    }

    #[test]
    fn backup_and_restore_round_trip() {
        let db = Db::open(&temp_db("backup")).unwrap();
        db.put_alias("fast", "openai/gpt-4o-mini").unwrap();
        let copy = temp_db("backup-copy");
        db.backup_to(&copy).unwrap();
        db.put_alias("fast", "changed/after-backup").unwrap();
        db.delete_alias("fast").unwrap();
        assert_eq!(db.restore_from(&copy).unwrap(), SCHEMA_VERSION);
        assert_eq!(db.aliases().unwrap(), [("fast".to_owned(), "openai/gpt-4o-mini".to_owned())]);
        assert!(db.integrity_ok().unwrap());

        let junk = temp_db("junk");
        std::fs::write(&junk, b"not a database at all, not even close to one........").unwrap();
        assert!(db.restore_from(&junk).is_err());
        assert_eq!(db.aliases().unwrap().len(), 1, "a refused restore changes nothing");
    }

    #[test]
    fn refuses_a_newer_database() {
        let path = temp_db("newer");
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        drop(c);
        let e = Db::open(&path).unwrap_err().to_string();
        assert!(e.contains("newer than this omniroute supports"), "{e}");
        let c = rusqlite::Connection::open(&path).unwrap();
        let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION + 1, "a newer file is left untouched");
    }
}
