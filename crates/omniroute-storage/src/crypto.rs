//! Credentials at rest: AES-256-GCM with a fresh random nonce per value, and the key that
//! protects them. Client API keys are never stored, only their SHA-256.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;
/// Marks the storage format of an encrypted value, so a later scheme can be told apart.
const VERSION: u8 = 1;

/// Why a secret could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key material is not 32 bytes of hex.
    #[error("the secret key must be 64 hex characters (32 bytes)")]
    BadKey,
    /// Decryption failed: a different key, or damaged data.
    #[error(
        "a stored credential could not be decrypted: wrong OMNIROUTE_SECRET_KEY or key file, or damaged data"
    )]
    Decrypt,
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// The key file could not be read or created.
    #[error("secret key file {path}: {reason}")]
    File { path: String, reason: String },
}

/// The 32-byte key that encrypts credentials. Its `Debug` prints nothing of it.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SecretKey {
    /// Parses 64 hex characters (what `OMNIROUTE_SECRET_KEY` holds).
    pub fn from_hex(s: &str) -> Result<SecretKey, CryptoError> {
        let s = s.trim();
        if s.len() != 64 || !s.is_ascii() {
            return Err(CryptoError::BadKey);
        }
        let mut key = [0u8; 32];
        for (i, k) in key.iter_mut().enumerate() {
            *k = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| CryptoError::BadKey)?;
        }
        Ok(SecretKey(key))
    }

    /// A new random key.
    pub fn generate() -> Result<SecretKey, CryptoError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| CryptoError::Random(e.to_string()))?;
        Ok(SecretKey(key))
    }

    /// The key as 64 hex characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Reads the key file, or creates it (mode 0600) when `create` allows. Refusing to create
    /// one over existing encrypted data is the caller's decision: a new key would make every
    /// stored credential unreadable.
    pub fn load_or_create(path: &Path, create: bool) -> Result<SecretKey, CryptoError> {
        let err = |reason: String| CryptoError::File { path: path.display().to_string(), reason };
        match std::fs::read_to_string(path) {
            Ok(s) => SecretKey::from_hex(&s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let key = SecretKey::generate()?;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts.open(path).map_err(|e| err(e.to_string()))?;
                f.write_all(key.to_hex().as_bytes()).map_err(|e| err(e.to_string()))?;
                f.sync_all().map_err(|e| err(e.to_string()))?;
                Ok(key)
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Encrypts a value: version byte, nonce, ciphertext with tag.
    pub fn encrypt(&self, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = Aes256Gcm::new((&self.0).into());
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| CryptoError::Random(e.to_string()))?;
        let ct =
            cipher.encrypt(Nonce::from_slice(&nonce), plain).map_err(|_| CryptoError::Decrypt)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts what [`SecretKey::encrypt`] produced.
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if data.len() < 1 + NONCE_LEN + 16 || data[0] != VERSION {
            return Err(CryptoError::Decrypt);
        }
        let cipher = Aes256Gcm::new((&self.0).into());
        cipher
            .decrypt(Nonce::from_slice(&data[1..1 + NONCE_LEN]), &data[1 + NONCE_LEN..])
            .map_err(|_| CryptoError::Decrypt)
    }
}

/// The stored form of a client API key: SHA-256, hex. Keys are long random strings, so a
/// fast hash is enough; the key itself is never written anywhere.
pub fn hash_client_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Hashes an admin password with Argon2id (default parameters, random salt), as a PHC string.
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| CryptoError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| CryptoError::Random(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Random(e.to_string()))
}

/// Checks a password against [`hash_password`]'s output (constant-time comparison inside).
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc)
        .is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A new random token: `prefix` then 32 random bytes in URL-safe hex.
pub fn random_token(prefix: &str) -> Result<String, CryptoError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(format!("{prefix}{}", hex(&bytes)))
}

/// Equality without an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let k = SecretKey::generate().unwrap();
        let a = k.encrypt(b"sk-upstream-canary").unwrap();
        let b = k.encrypt(b"sk-upstream-canary").unwrap();
        assert_ne!(a, b, "every value gets its own nonce");
        assert!(!a.windows(6).any(|w| w == b"canary"));
        assert_eq!(k.decrypt(&a).unwrap(), b"sk-upstream-canary");
        let other = SecretKey::generate().unwrap();
        assert!(matches!(other.decrypt(&a), Err(CryptoError::Decrypt)));
        let mut damaged = a.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(k.decrypt(&damaged).is_err());
    }

    #[test]
    fn hex_keys() {
        let k = SecretKey::generate().unwrap();
        assert_eq!(SecretKey::from_hex(&k.to_hex()).unwrap().0, k.0);
        assert!(SecretKey::from_hex("abc").is_err());
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(format!("{k:?}"), "SecretKey(***)");
    }

    #[test]
    fn key_file_is_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("omniroute-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret.key");
        let _ = std::fs::remove_file(&path);
        assert!(SecretKey::load_or_create(&path, false).is_err(), "no silent creation");
        let a = SecretKey::load_or_create(&path, true).unwrap();
        let b = SecretKey::load_or_create(&path, true).unwrap();
        assert_eq!(a.0, b.0, "never regenerated over an existing file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horse!", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(h, hash_password("correct horse").unwrap(), "salted");
        let t = random_token("ok-").unwrap();
        assert!(t.starts_with("ok-") && t.len() == 51);
        assert!(constant_time_eq(b"ab", b"ab") && !constant_time_eq(b"ab", b"ac"));
    }

    #[test]
    fn client_keys_hash() {
        assert_eq!(
            hash_client_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
