//! Opening a data directory: the database file and the key that protects its credentials.

use std::path::{Path, PathBuf};

use crate::crypto::{CryptoError, SecretKey};
use crate::db::{Db, StorageError};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "omniroute.db";
/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "secret.key";

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The key is missing, malformed or not the one the credentials were stored with.
    #[error("{0}")]
    Key(String),
}

/// An opened data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    /// The directory.
    pub dir: PathBuf,
    /// Its database.
    pub db: Db,
    /// The credential key.
    pub key: SecretKey,
}

impl DataDir {
    /// Opens (creating if needed) the directory, its database and its key. The key comes from
    /// `env_key` (the value of `OMNIROUTE_SECRET_KEY`) when given, else from the key file, which
    /// is created (mode 0600) only while no credential is stored: a new key over existing data
    /// would make every credential unreadable, so that is refused with a clear message. The key
    /// is checked against a stored credential before anything else runs.
    pub fn open(dir: &Path, env_key: Option<&str>) -> Result<DataDir, OpenError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| OpenError::Dir { path: dir.into(), source })?;
        let db = Db::open(&dir.join(DB_FILE))?;
        let has_secrets = db.has_encrypted_credentials()?;
        let key_path = dir.join(KEY_FILE);
        let key = match env_key {
            Some(hex) => SecretKey::from_hex(hex)
                .map_err(|e| OpenError::Key(format!("OMNIROUTE_SECRET_KEY: {e}")))?,
            None => {
                if has_secrets && !key_path.exists() {
                    return Err(OpenError::Key(format!(
                        "{} holds encrypted credentials but {} is missing: restore the key file \
                         or set OMNIROUTE_SECRET_KEY (a new key would make them unreadable)",
                        db.path().display(),
                        key_path.display()
                    )));
                }
                SecretKey::load_or_create(&key_path, !has_secrets)
                    .map_err(|e| OpenError::Key(e.to_string()))?
            }
        };
        if let Some(id) = db.connections()?.iter().find(|c| c.has_api_key).map(|c| c.id)
            && let Err(e) = db.connection_secret(id, &key)
        {
            let reason = match e {
                crate::records::WriteError::Crypto(CryptoError::Decrypt) => {
                    CryptoError::Decrypt.to_string()
                }
                other => other.to_string(),
            };
            return Err(OpenError::Key(reason));
        }
        Ok(DataDir { dir: dir.into(), db, key })
    }

    /// Writes a new key and re-encrypts every credential with it, all or nothing; returns the
    /// new key and how many credentials were re-encrypted. With a key file the file is
    /// replaced after the database commits; with `OMNIROUTE_SECRET_KEY` the caller must hand the
    /// returned key to the operator.
    pub fn rotate_key(&mut self, write_file: bool) -> Result<(SecretKey, usize), OpenError> {
        let new = SecretKey::generate().map_err(|e| OpenError::Key(e.to_string()))?;
        let key_path = self.dir.join(KEY_FILE);
        let staged = self.dir.join("secret.key.new");
        if write_file {
            let _ = std::fs::remove_file(&staged);
            write_private(&staged, &new).map_err(OpenError::Key)?;
        }
        let n = self.db.reencrypt(&self.key, &new).map_err(|e| OpenError::Key(e.to_string()))?;
        if write_file {
            std::fs::rename(&staged, &key_path).map_err(|e| {
                OpenError::Key(format!(
                    "credentials were re-encrypted but {} could not be replaced ({e}): the new \
                     key is in {}",
                    key_path.display(),
                    staged.display()
                ))
            })?;
        }
        self.key = new.clone();
        Ok((new, n))
    }
}

/// The setting that holds the admin password's Argon2id hash.
pub const PASSWORD_SETTING: &str = "admin_password_hash";

impl DataDir {
    /// Makes sure an admin password exists: keeps a stored one, else stores `initial`, else
    /// generates one. Returns the password only when it was generated, to be shown once.
    pub fn ensure_admin_password(
        &self,
        initial: Option<&str>,
    ) -> Result<Option<String>, OpenError> {
        if self.db.setting(PASSWORD_SETTING)?.is_some() {
            return Ok(None);
        }
        let (password, generated) = match initial {
            Some(p) if p.chars().count() >= 8 => (p.to_owned(), false),
            Some(_) => {
                return Err(OpenError::Key(
                    "INITIAL_PASSWORD must have at least 8 characters".into(),
                ));
            }
            None => {
                let t =
                    crate::crypto::random_token("").map_err(|e| OpenError::Key(e.to_string()))?;
                (t[..24].to_owned(), true)
            }
        };
        let hash =
            crate::crypto::hash_password(&password).map_err(|e| OpenError::Key(e.to_string()))?;
        self.db.put_setting(PASSWORD_SETTING, &hash)?;
        Ok(generated.then_some(password))
    }
}

fn write_private(path: &Path, key: &SecretKey) -> Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(key.to_hex().as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    f.sync_all().map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ConnectionInput;
    use omniroute_core::Secret;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("omniroute-dd-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn the_key_file_is_made_once_checked_and_rotated() {
        let d = dir("rotate");
        let dd = DataDir::open(&d, None).unwrap();
        let input = ConnectionInput {
            provider: "openai".into(),
            name: "a".into(),
            api_key: Some(Secret::new("sk-canary")),
            enabled: true,
            ..ConnectionInput::default()
        };
        let (id, _) = dd.db.put_connection(&input, &dd.key).unwrap();
        drop(dd);

        let again = DataDir::open(&d, None).unwrap();
        assert_eq!(
            again.db.connection_secret(id, &again.key).unwrap().unwrap().expose(),
            "sk-canary"
        );
        let wrong = SecretKey::generate().unwrap().to_hex();
        let e = DataDir::open(&d, Some(&wrong)).unwrap_err().to_string();
        assert!(e.contains("could not be decrypted"), "{e}");

        let old_hex = again.key.to_hex();
        drop(again);
        let mut dd = DataDir::open(&d, None).unwrap();
        let (new, n) = dd.rotate_key(true).unwrap();
        assert_eq!(n, 1);
        assert_ne!(new.to_hex(), old_hex);
        let reopened = DataDir::open(&d, None).unwrap();
        assert_eq!(reopened.key.to_hex(), new.to_hex());
        assert!(DataDir::open(&d, Some(&old_hex)).is_err());

        std::fs::remove_file(d.join(KEY_FILE)).unwrap();
        let e = DataDir::open(&d, None).unwrap_err().to_string();
        assert!(e.contains("is missing"), "{e}");
        assert!(!d.join(KEY_FILE).exists(), "no new key over existing credentials");
    }
}
