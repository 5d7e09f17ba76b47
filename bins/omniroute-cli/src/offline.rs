//! Commands that work on a data directory without a running server: `init`, `migrate`,
//! `rotate-secret`, and `backup --data-dir`. They use the storage crate directly.

use std::path::{Path, PathBuf};

use omniroute_storage::{AdminTokenRow, DB_FILE, DataDir, Db, hash_client_key, random_token};

use crate::http::Error;

/// `--data-dir`, else `DATA_DIR`, else `~/.omniroute` (the server's default).
pub(crate) fn data_dir(given: Option<PathBuf>) -> Result<PathBuf, Error> {
    given
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".omniroute")))
        .ok_or_else(|| Error::Usage("no data directory: pass --data-dir or set DATA_DIR".into()))
}

fn secret_key_env() -> Option<String> {
    std::env::var("OMNIROUTE_SECRET_KEY").ok().filter(|k| !k.is_empty())
}

fn open(dir: &Path) -> Result<DataDir, Error> {
    DataDir::open(dir, secret_key_env().as_deref()).map_err(|e| Error::Other(e.to_string()))
}

/// What `init` made, for the caller to report.
pub(crate) struct Initialized {
    pub(crate) password: Option<String>,
    pub(crate) token: String,
}

/// Creates (or opens) the data directory, its database and key; sets the admin password
/// (`INITIAL_PASSWORD`, else generated) unless one is set; creates an admin token for the CLI.
pub(crate) fn init(dir: &Path, token_name: &str) -> Result<Initialized, Error> {
    let dd = open(dir)?;
    let initial = std::env::var("INITIAL_PASSWORD").ok().filter(|p| !p.is_empty());
    let password =
        dd.ensure_admin_password(initial.as_deref()).map_err(|e| Error::Other(e.to_string()))?;
    let token = random_token("omr-admin-").map_err(|e| Error::Other(e.to_string()))?;
    let row = AdminTokenRow {
        name: token_name.to_owned(),
        token_hash: hash_client_key(&token),
        prefix: token.chars().take(8).collect(),
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    };
    dd.db.put_admin_token(&row).map_err(|e| Error::Other(e.to_string()))?;
    let _ = dd.db.audit("cli", "admin_token.create", token_name, &serde_json::json!({}));
    Ok(Initialized { password, token })
}

/// Brings the database's schema up to date; returns (before, after).
pub(crate) fn migrate(dir: &Path) -> Result<(Option<i64>, i64), Error> {
    let path = dir.join(DB_FILE);
    let before = Db::peek_version(&path).map_err(|e| Error::Other(e.to_string()))?;
    if before.is_none() {
        return Err(Error::Other(format!("{} does not exist (use `init`)", path.display())));
    }
    let db = Db::open(&path).map_err(|e| Error::Other(e.to_string()))?;
    let after = db.version().map_err(|e| Error::Other(e.to_string()))?;
    Ok((before, after))
}

/// Re-encrypts every stored credential with a new key. Returns the new key when it lives in
/// `OMNIROUTE_SECRET_KEY` (the operator must store it), and how many credentials changed.
pub(crate) fn rotate_secret(dir: &Path) -> Result<(Option<String>, usize), Error> {
    if !dir.join(DB_FILE).exists() {
        return Err(Error::Other(format!("no database in {}", dir.display())));
    }
    let from_env = secret_key_env().is_some();
    let mut dd = open(dir)?;
    let (key, n) = dd.rotate_key(!from_env).map_err(|e| Error::Other(e.to_string()))?;
    let _ =
        dd.db.audit("cli", "secret.rotate", "credentials", &serde_json::json!({"credentials": n}));
    Ok((from_env.then(|| key.to_hex()), n))
}

/// Copies the data directory's database to `out`.
pub(crate) fn backup(dir: &Path, out: &Path) -> Result<(), Error> {
    let src = dir.join(DB_FILE);
    if !src.exists() {
        return Err(Error::Other(format!("no database in {}", dir.display())));
    }
    Db::backup_file(&src, out).map_err(|e| Error::Other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use omniroute_storage::SCHEMA_VERSION;

    #[test]
    fn init_migrate_rotate_and_backup_a_data_dir() {
        let dir =
            std::env::temp_dir().join(format!("omniroute-cli-offline-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = init(&dir, "cli").unwrap();
        assert!(first.password.is_some(), "a first init generates the password");
        assert!(first.token.starts_with("omr-admin-"));
        let again = init(&dir, "cli2").unwrap();
        assert!(again.password.is_none(), "never replaced");
        assert_eq!(migrate(&dir).unwrap(), (Some(SCHEMA_VERSION), SCHEMA_VERSION));
        let key_before = std::fs::read_to_string(dir.join("secret.key")).unwrap();
        let (shown, n) = rotate_secret(&dir).unwrap();
        assert_eq!((shown, n), (None, 0));
        assert_ne!(std::fs::read_to_string(dir.join("secret.key")).unwrap(), key_before);
        let out = dir.join("copy.db");
        backup(&dir, &out).unwrap();
        assert!(std::fs::read(&out).unwrap().starts_with(b"SQLite format 3\0"));
        assert!(migrate(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
