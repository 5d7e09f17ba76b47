//! The configuration the gateway runs on, as rows: custom providers, connections (with their
//! credentials encrypted), client keys (hashes only), combos, aliases, settings, pricing, admin
//! tokens, and the audit trail of every change.
//!
//! Writes are keyed by name, so applying the same configuration twice changes nothing.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, SecretKey};
use crate::db::{Db, StorageError, now_ms};
use omniroute_core::Secret;

/// A custom provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderRow {
    /// Its id, the first part of `provider/model`.
    pub id: String,
    /// An optional short prefix.
    pub prefix: Option<String>,
    /// `openai`, `claude`, `gemini` or `responses`.
    pub format: String,
    /// Base URL as the official SDK of that format takes it.
    pub base_url: String,
    /// Known models.
    pub models: Vec<String>,
}

/// An account for a provider. Its credential is kept apart (see [`Db::connection_secret`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionRow {
    /// Stable id.
    pub id: i64,
    /// Provider id.
    pub provider: String,
    /// Unique per provider.
    pub name: String,
    /// Overrides the provider's base URL.
    pub base_url: Option<String>,
    /// For providers whose URL needs one.
    pub account_id: Option<String>,
    /// Lower is tried first.
    pub priority: i64,
    /// Disabled connections are never tried.
    pub enabled: bool,
    /// Whether a credential is stored.
    pub has_api_key: bool,
    /// Pacing and quota limits.
    #[serde(flatten)]
    pub limits: ConnLimits,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// Per-connection limits (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnLimits {
    /// At most this many requests in flight.
    pub max_concurrent: Option<u32>,
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Minimum milliseconds between two requests.
    pub min_gap_ms: Option<u64>,
    /// Token quota windows.
    #[serde(default)]
    pub quotas: Vec<QuotaWindow>,
}

/// A quota window on a connection: at most `tokens` per `hours`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaWindow {
    /// A label, such as `5h` or `weekly`.
    pub name: String,
    /// Window length in hours.
    pub hours: u32,
    /// Tokens (input + output) allowed per window.
    pub tokens: u64,
}

/// What a connection write sets. `api_key: None` keeps the stored credential.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInput {
    /// Provider id.
    pub provider: String,
    /// Unique per provider.
    pub name: String,
    /// A new credential, or keep the stored one.
    pub api_key: Option<Secret>,
    /// Overrides the provider's base URL.
    pub base_url: Option<String>,
    /// For providers whose URL needs one.
    pub account_id: Option<String>,
    /// Lower is tried first.
    pub priority: i64,
    /// Whether it is tried.
    pub enabled: bool,
    /// Pacing and quota limits.
    pub limits: ConnLimits,
}

/// A client API key, without the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRow {
    /// Unique name, used in usage rows.
    pub name: String,
    /// SHA-256 of the key, hex. Never sent to clients.
    #[serde(skip)]
    pub key_hash: String,
    /// The first characters, to recognise a key in lists.
    pub prefix: String,
    /// Allowed model patterns, all when `None`.
    pub models: Option<Vec<String>>,
    /// Daily budget in micro-dollars.
    #[serde(skip)]
    pub daily_budget_micros: Option<i64>,
    /// Monthly budget in micro-dollars.
    #[serde(skip)]
    pub monthly_budget_micros: Option<i64>,
    /// Disabled keys are refused.
    pub enabled: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Control-plane scopes and presets (`None`: `readonly`).
    pub scopes: Option<Vec<String>>,
}

/// One MCP tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCallRow {
    pub id: i64,
    pub ts_ms: i64,
    pub tool: String,
    /// SHA-256 of the arguments' JSON: comparable, never the arguments themselves.
    pub input_hash: String,
    pub success: bool,
    pub duration_ms: i64,
    pub key: Option<String>,
    pub error_code: Option<String>,
    pub transport: String,
}

/// A named fallback chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComboRow {
    /// The model name clients use.
    pub name: String,
    /// How targets are ordered.
    pub strategy: String,
    /// `provider/model` targets, combo names or wildcards, optionally weighted.
    pub targets: Vec<ComboTarget>,
    /// Disabled combos are not routable.
    pub enabled: bool,
    /// Retry, concurrency and stickiness settings (a JSON object).
    pub config: serde_json::Value,
}

/// A combo target: `"provider/model"` or `{ model = "...", weight = 3 }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ComboTarget {
    /// Weight 1.
    Plain(String),
    /// With a weight for the `weighted` strategy.
    Weighted {
        /// The target.
        model: String,
        /// Its weight.
        weight: u32,
    },
}

impl ComboTarget {
    /// The target's model (or combo, or wildcard).
    pub fn model(&self) -> &str {
        match self {
            ComboTarget::Plain(m) | ComboTarget::Weighted { model: m, .. } => m,
        }
    }

    /// Its weight (1 when not given).
    pub fn weight(&self) -> u32 {
        match self {
            ComboTarget::Plain(_) => 1,
            ComboTarget::Weighted { weight, .. } => *weight,
        }
    }
}

/// Model prices in micro-dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    /// Uncached input.
    pub input: i64,
    /// Output (reasoning included).
    pub output: i64,
    /// Input read from a cache.
    pub cached: i64,
}

/// An admin token, without the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminTokenRow {
    /// Unique name.
    pub name: String,
    /// SHA-256 hex.
    #[serde(skip)]
    pub token_hash: String,
    /// The first characters.
    pub prefix: String,
    /// Unix ms.
    pub created_at: i64,
}

/// Who changed what: one row per mutating management call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    /// Increasing id.
    pub id: i64,
    /// Unix ms.
    pub ts_ms: i64,
    /// `token:<name>`, `session`, `config-file`, `cli`.
    pub actor: String,
    /// A verb such as `connection.create`.
    pub action: String,
    /// What was changed (a name or id).
    pub target: String,
    /// JSON without secrets.
    pub detail: serde_json::Value,
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

fn from_json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

/// Why a configuration write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A credential could not be encrypted or decrypted.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl Db {
    fn rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StorageError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt.query_map(params, f).map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.sqlite(e))
    }

    /// Runs `sql` and returns how many rows it changed.
    pub(crate) fn exec(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize, StorageError> {
        self.conn()?.execute(sql, params).map_err(|e| self.sqlite(e))
    }

    /// Runs `f` in one transaction.
    pub fn transaction<T, E: From<StorageError>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(out)
    }

    // ---- providers ----

    /// Custom providers, by id.
    pub fn providers(&self) -> Result<Vec<ProviderRow>, StorageError> {
        self.rows(
            "SELECT id, prefix, format, base_url, models FROM providers ORDER BY id",
            [],
            |r| {
                Ok(ProviderRow {
                    id: r.get(0)?,
                    prefix: r.get(1)?,
                    format: r.get(2)?,
                    base_url: r.get(3)?,
                    models: from_json(&r.get::<_, String>(4)?),
                })
            },
        )
    }

    /// Creates or replaces a custom provider. Returns whether it was new.
    pub fn put_provider(&self, p: &ProviderRow) -> Result<bool, StorageError> {
        let now = now_ms();
        let existed = self.providers()?.iter().any(|x| x.id == p.id);
        self.exec(
            "INSERT INTO providers (id, prefix, format, base_url, models, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (id) DO UPDATE SET prefix = ?2, format = ?3, base_url = ?4, models = ?5,
                 updated_at = ?6",
            params![p.id, p.prefix, p.format, p.base_url, json(&p.models), now],
        )?;
        Ok(!existed)
    }

    /// Deletes a custom provider; false if there was none.
    pub fn delete_provider(&self, id: &str) -> Result<bool, StorageError> {
        Ok(self.exec("DELETE FROM providers WHERE id = ?1", [id])? > 0)
    }

    // ---- connections ----

    /// Every connection, by provider, priority and name.
    pub fn connections(&self) -> Result<Vec<ConnectionRow>, StorageError> {
        self.rows(
            "SELECT id, provider, name, base_url, account_id, priority, enabled,
                    secret IS NOT NULL, created_at, updated_at, max_concurrent, rpm, min_gap_ms,
                    quotas
             FROM connections ORDER BY provider, priority, name",
            [],
            |r| {
                Ok(ConnectionRow {
                    id: r.get(0)?,
                    provider: r.get(1)?,
                    name: r.get(2)?,
                    base_url: r.get(3)?,
                    account_id: r.get(4)?,
                    priority: r.get(5)?,
                    enabled: r.get(6)?,
                    has_api_key: r.get(7)?,
                    created_at: r.get(8)?,
                    updated_at: r.get(9)?,
                    limits: ConnLimits {
                        max_concurrent: r.get(10)?,
                        rpm: r.get(11)?,
                        min_gap_ms: r.get(12)?,
                        quotas: from_json(&r.get::<_, String>(13)?),
                    },
                })
            },
        )
    }

    /// One connection by id.
    pub fn connection(&self, id: i64) -> Result<Option<ConnectionRow>, StorageError> {
        Ok(self.connections()?.into_iter().find(|c| c.id == id))
    }

    /// The decrypted credential of a connection.
    pub fn connection_secret(
        &self,
        id: i64,
        key: &SecretKey,
    ) -> Result<Option<Secret>, WriteError> {
        let blob: Option<Vec<u8>> = self
            .conn()?
            .query_row("SELECT secret FROM connections WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.sqlite(e))?
            .flatten();
        match blob {
            None => Ok(None),
            Some(b) => {
                let plain = key.decrypt(&b)?;
                Ok(Some(Secret::new(String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)?)))
            }
        }
    }

    /// Creates, or updates by (provider, name), a connection; returns its id and whether it
    /// was new. The credential is encrypted with `key`; `api_key: None` keeps the stored one.
    pub fn put_connection(
        &self,
        c: &ConnectionInput,
        key: &SecretKey,
    ) -> Result<(i64, bool), WriteError> {
        let secret = c.api_key.as_ref().map(|s| key.encrypt(s.expose().as_bytes())).transpose()?;
        let now = now_ms();
        self.transaction(|tx| {
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM connections WHERE provider = ?1 AND name = ?2",
                    params![c.provider, c.name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.sqlite(e))?;
            match existing {
                Some(id) => {
                    tx.execute(
                        "UPDATE connections SET secret = coalesce(?2, secret), base_url = ?3,
                             account_id = ?4, priority = ?5, enabled = ?6, updated_at = ?7,
                             max_concurrent = ?8, rpm = ?9, min_gap_ms = ?10, quotas = ?11
                         WHERE id = ?1",
                        params![
                            id,
                            secret,
                            c.base_url,
                            c.account_id,
                            c.priority,
                            c.enabled,
                            now,
                            c.limits.max_concurrent,
                            c.limits.rpm,
                            c.limits.min_gap_ms,
                            json(&c.limits.quotas)
                        ],
                    )
                    .map_err(|e| self.sqlite(e))?;
                    Ok((id, false))
                }
                None => {
                    tx.execute(
                        "INSERT INTO connections (provider, name, secret, base_url, account_id,
                             priority, enabled, created_at, updated_at, max_concurrent, rpm,
                             min_gap_ms, quotas)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12)",
                        params![
                            c.provider,
                            c.name,
                            secret,
                            c.base_url,
                            c.account_id,
                            c.priority,
                            c.enabled,
                            now,
                            c.limits.max_concurrent,
                            c.limits.rpm,
                            c.limits.min_gap_ms,
                            json(&c.limits.quotas)
                        ],
                    )
                    .map_err(|e| self.sqlite(e))?;
                    Ok((tx.last_insert_rowid(), true))
                }
            }
        })
    }

    /// Renames a connection (the name is unique per provider).
    pub fn rename_connection(&self, id: i64, name: &str) -> Result<bool, StorageError> {
        Ok(self.exec(
            "UPDATE connections SET name = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, name, now_ms()],
        )? > 0)
    }

    /// Deletes a connection; false if there was none.
    pub fn delete_connection(&self, id: i64) -> Result<bool, StorageError> {
        Ok(self.exec("DELETE FROM connections WHERE id = ?1", [id])? > 0)
    }

    /// Re-encrypts every stored credential from `old` to `new`, all or nothing.
    pub fn reencrypt(&self, old: &SecretKey, new: &SecretKey) -> Result<usize, WriteError> {
        self.transaction(|tx| {
            let rows: Vec<(i64, Vec<u8>)> = {
                let mut stmt = tx
                    .prepare("SELECT id, secret FROM connections WHERE secret IS NOT NULL")
                    .map_err(|e| self.sqlite(e))?;
                let it = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(|e| self.sqlite(e))?;
                it.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))?
            };
            for (id, blob) in &rows {
                let plain = old.decrypt(blob)?;
                let again = new.encrypt(&plain)?;
                tx.execute("UPDATE connections SET secret = ?2 WHERE id = ?1", params![id, again])
                    .map_err(|e| self.sqlite(e))?;
            }
            Ok(rows.len())
        })
    }

    // ---- client keys ----

    /// Every client key.
    pub fn keys(&self) -> Result<Vec<KeyRow>, StorageError> {
        self.rows(
            "SELECT name, key_hash, key_prefix, models, daily_budget_micros, monthly_budget_micros,
                    enabled, created_at, scopes
             FROM api_keys ORDER BY name",
            [],
            |r| {
                Ok(KeyRow {
                    name: r.get(0)?,
                    key_hash: r.get(1)?,
                    prefix: r.get(2)?,
                    models: r.get::<_, Option<String>>(3)?.map(|s| from_json(&s)),
                    daily_budget_micros: r.get(4)?,
                    monthly_budget_micros: r.get(5)?,
                    enabled: r.get(6)?,
                    created_at: r.get(7)?,
                    scopes: r.get::<_, Option<String>>(8)?.map(|s| from_json(&s)),
                })
            },
        )
    }

    /// Creates or replaces (by name) a client key. Returns whether it was new.
    pub fn put_key(&self, k: &KeyRow) -> Result<bool, StorageError> {
        let existed = self.keys()?.iter().any(|x| x.name == k.name);
        self.exec(
            "INSERT INTO api_keys (name, key_hash, key_prefix, models, daily_budget_micros,
                 monthly_budget_micros, enabled, created_at, scopes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (name) DO UPDATE SET key_hash = ?2, key_prefix = ?3, models = ?4,
                 daily_budget_micros = ?5, monthly_budget_micros = ?6, enabled = ?7, scopes = ?9",
            params![
                k.name,
                k.key_hash,
                k.prefix,
                k.models.as_ref().map(json),
                k.daily_budget_micros,
                k.monthly_budget_micros,
                k.enabled,
                k.created_at,
                k.scopes.as_ref().map(json)
            ],
        )?;
        Ok(!existed)
    }

    /// Deletes a client key; false if there was none.
    pub fn delete_key(&self, name: &str) -> Result<bool, StorageError> {
        Ok(self.exec("DELETE FROM api_keys WHERE name = ?1", [name])? > 0)
    }

    // ---- combos and aliases ----

    /// Every combo.
    pub fn combos(&self) -> Result<Vec<ComboRow>, StorageError> {
        self.rows(
            "SELECT name, strategy, targets, enabled, config FROM combos ORDER BY name",
            [],
            |r| {
                Ok(ComboRow {
                    name: r.get(0)?,
                    strategy: r.get(1)?,
                    targets: from_json(&r.get::<_, String>(2)?),
                    enabled: r.get(3)?,
                    config: serde_json::from_str(&r.get::<_, String>(4)?)
                        .unwrap_or_else(|_| serde_json::json!({})),
                })
            },
        )
    }

    /// Creates or replaces a combo. Returns whether it was new.
    pub fn put_combo(&self, c: &ComboRow) -> Result<bool, StorageError> {
        let existed = self.combos()?.iter().any(|x| x.name == c.name);
        self.exec(
            "INSERT INTO combos (name, strategy, targets, enabled, updated_at, config)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (name) DO UPDATE SET strategy = ?2, targets = ?3, enabled = ?4,
                 updated_at = ?5, config = ?6",
            params![
                c.name,
                c.strategy,
                json(&c.targets),
                c.enabled,
                now_ms(),
                c.config.to_string()
            ],
        )?;
        Ok(!existed)
    }

    /// Deletes a combo; false if there was none.
    pub fn delete_combo(&self, name: &str) -> Result<bool, StorageError> {
        Ok(self.exec("DELETE FROM combos WHERE name = ?1", [name])? > 0)
    }

    /// Every alias, as (alias, target).
    pub fn aliases(&self) -> Result<Vec<(String, String)>, StorageError> {
        self.rows("SELECT alias, target FROM aliases ORDER BY alias", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
    }

    /// Sets an alias.
    pub fn put_alias(&self, alias: &str, target: &str) -> Result<(), StorageError> {
        self.exec(
            "INSERT INTO aliases (alias, target) VALUES (?1, ?2)
             ON CONFLICT (alias) DO UPDATE SET target = ?2",
            [alias, target],
        )?;
        Ok(())
    }

    /// Deletes an alias; false if there was none.
    pub fn delete_alias(&self, alias: &str) -> Result<bool, StorageError> {
        Ok(self.exec("DELETE FROM aliases WHERE alias = ?1", [alias])? > 0)
    }

    // ---- runtime state ----

    /// A named piece of runtime state (JSON), as last saved.
    pub fn runtime_state(&self, name: &str) -> Result<Option<String>, StorageError> {
        self.conn()?
            .query_row("SELECT value FROM runtime_state WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(|e| self.sqlite(e))
    }

    /// Saves a named piece of runtime state.
    pub fn save_runtime_state(&self, name: &str, value: &str) -> Result<(), StorageError> {
        self.exec(
            "INSERT INTO runtime_state (name, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET value = ?2, updated_at = ?3",
            params![name, value, now_ms()],
        )?;
        Ok(())
    }

    // ---- settings ----

    /// Every setting, as (name, JSON value).
    pub fn settings(&self) -> Result<Vec<(String, String)>, StorageError> {
        self.rows("SELECT key, value FROM settings ORDER BY key", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
    }

    /// One setting's raw value.
    pub fn setting(&self, name: &str) -> Result<Option<String>, StorageError> {
        self.conn()?
            .query_row("SELECT value FROM settings WHERE key = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(|e| self.sqlite(e))
    }

    /// Sets a setting.
    pub fn put_setting(&self, name: &str, value: &str) -> Result<(), StorageError> {
        self.exec(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = ?2",
            [name, value],
        )?;
        Ok(())
    }

    // ---- pricing ----

    /// Every price, by `provider/model`.
    pub fn prices(&self) -> Result<Vec<(String, Price)>, StorageError> {
        self.rows(
            "SELECT model, input_per_mtok, output_per_mtok, cached_per_mtok FROM pricing
             ORDER BY model",
            [],
            |r| Ok((r.get(0)?, Price { input: r.get(1)?, output: r.get(2)?, cached: r.get(3)? })),
        )
    }

    /// Sets a model's price.
    pub fn put_price(&self, model: &str, p: Price) -> Result<(), StorageError> {
        self.exec(
            "INSERT INTO pricing (model, input_per_mtok, output_per_mtok, cached_per_mtok)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (model) DO UPDATE SET input_per_mtok = ?2, output_per_mtok = ?3,
                 cached_per_mtok = ?4",
            params![model, p.input, p.output, p.cached],
        )?;
        Ok(())
    }

    /// Adds prices for models that have none; edited prices are kept. Returns how many were
    /// added.
    pub fn seed_prices(&self, seeds: &[(String, Price)]) -> Result<usize, StorageError> {
        self.transaction(|tx| {
            let mut n = 0;
            for (model, p) in seeds {
                n += tx
                    .execute(
                        "INSERT OR IGNORE INTO pricing
                             (model, input_per_mtok, output_per_mtok, cached_per_mtok)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![model, p.input, p.output, p.cached],
                    )
                    .map_err(|e| self.sqlite(e))?;
            }
            Ok(n)
        })
    }

    /// Deletes a price; false if there was none.
    pub fn delete_price(&self, model: &str) -> Result<bool, StorageError> {
        Ok(self.exec("DELETE FROM pricing WHERE model = ?1", [model])? > 0)
    }

    // ---- MCP audit and A2A tasks ----

    /// Records a tool call.
    pub fn record_tool_call(&self, r: &ToolCallRow) -> Result<(), StorageError> {
        self.exec(
            "INSERT INTO mcp_audit (ts_ms, tool, input_hash, success, duration_ms, api_key,
                 error_code, transport)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.ts_ms,
                r.tool,
                r.input_hash,
                r.success,
                r.duration_ms,
                r.key,
                r.error_code,
                r.transport
            ],
        )?;
        Ok(())
    }

    /// Tool calls, newest first, older than `before` (an id) when given, optionally one tool.
    pub fn tool_calls(
        &self,
        limit: u32,
        before: Option<i64>,
        tool: Option<&str>,
    ) -> Result<Vec<ToolCallRow>, StorageError> {
        self.rows(
            "SELECT id, ts_ms, tool, input_hash, success, duration_ms, api_key, error_code, transport
             FROM mcp_audit WHERE id < ?1 AND (?2 IS NULL OR tool = ?2)
             ORDER BY id DESC LIMIT ?3",
            params![before.unwrap_or(i64::MAX), tool, limit],
            |r| {
                Ok(ToolCallRow {
                    id: r.get(0)?,
                    ts_ms: r.get(1)?,
                    tool: r.get(2)?,
                    input_hash: r.get(3)?,
                    success: r.get(4)?,
                    duration_ms: r.get(5)?,
                    key: r.get(6)?,
                    error_code: r.get(7)?,
                    transport: r.get(8)?,
                })
            },
        )
    }

    /// Saves an A2A task (its JSON), by id.
    pub fn save_task(
        &self,
        id: &str,
        state: &str,
        key: Option<&str>,
        body: &str,
        created_ms: i64,
        updated_ms: i64,
    ) -> Result<(), StorageError> {
        self.exec(
            "INSERT INTO a2a_tasks (id, state, api_key, body, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET state = ?2, body = ?4, updated_ms = ?6",
            params![id, state, key, body, created_ms, updated_ms],
        )?;
        Ok(())
    }

    /// One A2A task's JSON.
    pub fn task(&self, id: &str) -> Result<Option<String>, StorageError> {
        self.conn()?
            .query_row("SELECT body FROM a2a_tasks WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.sqlite(e))
    }

    /// The most recently updated A2A tasks' JSON.
    pub fn tasks(&self, limit: u32) -> Result<Vec<String>, StorageError> {
        self.rows("SELECT body FROM a2a_tasks ORDER BY updated_ms DESC LIMIT ?1", [limit], |r| {
            r.get(0)
        })
    }

    /// Deletes A2A tasks last updated before `before_ms`.
    pub fn expire_tasks(&self, before_ms: i64) -> Result<usize, StorageError> {
        self.exec("DELETE FROM a2a_tasks WHERE updated_ms < ?1", [before_ms])
    }

    // ---- admin tokens ----

    /// Every admin token.
    pub fn admin_tokens(&self) -> Result<Vec<AdminTokenRow>, StorageError> {
        self.rows(
            "SELECT name, token_hash, prefix, created_at FROM admin_tokens ORDER BY name",
            [],
            |r| {
                Ok(AdminTokenRow {
                    name: r.get(0)?,
                    token_hash: r.get(1)?,
                    prefix: r.get(2)?,
                    created_at: r.get(3)?,
                })
            },
        )
    }

    /// Creates or replaces an admin token by name.
    pub fn put_admin_token(&self, t: &AdminTokenRow) -> Result<(), StorageError> {
        self.exec(
            "INSERT INTO admin_tokens (name, token_hash, prefix, created_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET token_hash = ?2, prefix = ?3, created_at = ?4",
            params![t.name, t.token_hash, t.prefix, t.created_at],
        )?;
        Ok(())
    }

    /// Deletes an admin token; false if there was none.
    pub fn delete_admin_token(&self, name: &str) -> Result<bool, StorageError> {
        Ok(self.exec("DELETE FROM admin_tokens WHERE name = ?1", [name])? > 0)
    }

    // ---- audit ----

    /// Records a change. `detail` must not hold a secret.
    pub fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StorageError> {
        self.exec(
            "INSERT INTO audit (ts_ms, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now_ms(), actor, action, target, detail.to_string()],
        )?;
        Ok(())
    }

    /// Audit events, newest first, older than `before` (an id) when given.
    pub fn audit_events(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AuditRow>, StorageError> {
        self.rows(
            "SELECT id, ts_ms, actor, action, target, detail FROM audit
             WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            params![before.unwrap_or(i64::MAX), limit],
            |r| {
                Ok(AuditRow {
                    id: r.get(0)?,
                    ts_ms: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    detail: serde_json::from_str(&r.get::<_, String>(5)?)
                        .unwrap_or(serde_json::Value::Null),
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::temp_db;

    #[test]
    fn connections_keep_their_secret_encrypted_and_upsert_by_name() {
        let db = Db::open(&temp_db("conn")).unwrap();
        let key = SecretKey::generate().unwrap();
        let input = ConnectionInput {
            provider: "openai".into(),
            name: "main".into(),
            api_key: Some(Secret::new("sk-canary-4242")),
            priority: 1,
            enabled: true,
            ..ConnectionInput::default()
        };
        let (id, new) = db.put_connection(&input, &key).unwrap();
        assert!(new);
        let again = ConnectionInput { api_key: None, priority: 2, ..input };
        assert_eq!(db.put_connection(&again, &key).unwrap(), (id, false));
        let rows = db.connections().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].priority, 2);
        assert!(rows[0].has_api_key, "a write without a key keeps the stored one");
        assert_eq!(db.connection_secret(id, &key).unwrap().unwrap().expose(), "sk-canary-4242");

        let raw: Vec<u8> = db
            .conn()
            .unwrap()
            .query_row("SELECT secret FROM connections", [], |r| r.get(0))
            .unwrap();
        assert!(!raw.windows(6).any(|w| w == b"canary"));
        let wrong = SecretKey::generate().unwrap();
        assert!(matches!(db.connection_secret(id, &wrong), Err(WriteError::Crypto(_))));

        let rotated = SecretKey::generate().unwrap();
        assert_eq!(db.reencrypt(&key, &rotated).unwrap(), 1);
        assert_eq!(db.connection_secret(id, &rotated).unwrap().unwrap().expose(), "sk-canary-4242");
        assert!(db.reencrypt(&key, &rotated).is_err(), "the old key no longer opens anything");
    }

    #[test]
    fn prices_seed_without_overwriting_edits() {
        let db = Db::open(&temp_db("prices")).unwrap();
        let p = Price { input: 1, output: 2, cached: 0 };
        db.put_price("a/x", Price { input: 9, output: 9, cached: 9 }).unwrap();
        let seeds = vec![("a/x".to_owned(), p), ("a/y".to_owned(), p)];
        assert_eq!(db.seed_prices(&seeds).unwrap(), 1);
        let prices = db.prices().unwrap();
        assert_eq!(prices[0], ("a/x".to_owned(), Price { input: 9, output: 9, cached: 9 }));
        assert_eq!(prices[1], ("a/y".to_owned(), p));
    }

    #[test]
    fn audit_pages_newest_first() {
        let db = Db::open(&temp_db("audit")).unwrap();
        for i in 0..5 {
            db.audit("cli", "combo.put", &format!("c{i}"), &serde_json::json!({"i": i})).unwrap();
        }
        let page = db.audit_events(2, None).unwrap();
        assert_eq!(page.iter().map(|a| a.target.as_str()).collect::<Vec<_>>(), ["c4", "c3"]);
        let next = db.audit_events(2, Some(page[1].id)).unwrap();
        assert_eq!(next[0].target, "c2");
        assert_eq!(next[0].detail["i"], 2);
    }
}
