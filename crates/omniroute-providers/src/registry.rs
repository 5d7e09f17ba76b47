//! The provider registry: built-in providers are data (`registry.toml`, embedded), custom
//! providers come from configuration; both end up as the same [`Provider`] values.

use std::collections::HashMap;
use std::sync::Arc;

use omniroute_core::ModelRef;
use omniroute_translate::Format;
use serde::Deserialize;

const BUILTIN: &str = include_str!("../registry.toml");

/// How the upstream wants its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Auth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `x-api-key: <key>` (Anthropic; `anthropic-version` comes from `extra_headers`).
    XApiKey,
    /// `x-goog-api-key: <key>` (Gemini).
    XGoogApiKey,
    /// No credential (local servers).
    None,
}

/// Provider-specific behaviour, kept with the provider's entry rather than in code paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quirks {
    /// The upstream accepts the OpenAI `developer` role.
    pub keep_developer_role: bool,
    /// The upstream wants `max_completion_tokens` instead of `max_tokens`.
    pub max_completion_tokens: bool,
    /// The upstream accepts `reasoning_content` on assistant turns.
    pub reasoning_content_history: bool,
    /// Non-standard top-level response fields to remove (e.g. Groq's `x_groq`).
    pub strip_response_fields: Vec<String>,
    /// The upstream serves OpenAI-shaped `/embeddings`.
    pub embeddings: bool,
    /// The upstream rejects the `system` role: system prompts go as user turns.
    pub system_as_user: bool,
    /// The upstream rejects `stream_options` (so streams are asked for without usage).
    pub no_stream_options: bool,
}

/// One provider: where it lives and how it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Canonical id (`openai`).
    pub id: String,
    /// Short prefix (`oai`), accepted wherever the id is.
    pub prefix: Option<String>,
    /// Further accepted names.
    pub aliases: Vec<String>,
    /// Display name.
    pub name: String,
    /// The wire format the upstream speaks.
    pub format: Format,
    /// Base URL as the official SDK of that format takes it.
    pub base_url: String,
    /// How the key is sent.
    pub auth: Auth,
    /// Known models (others pass through all the same).
    pub models: Vec<String>,
    /// Static headers the upstream needs.
    pub extra_headers: Vec<(String, String)>,
    /// `base_url` holds `{account_id}`, which a connection must supply.
    pub account_id_required: bool,
    /// Runs on the user's machine.
    pub local: bool,
    /// The context window of its models, in tokens, where one is known for the provider.
    pub context_window: Option<u64>,
    /// Behaviour specific to this provider.
    pub quirks: Quirks,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    provider: Vec<Entry>,
}

/// A registry entry as written in `registry.toml` or a config file's `[[providers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    id: String,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    format: String,
    base_url: String,
    #[serde(default = "default_auth")]
    auth: Auth,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    keep_developer_role: bool,
    #[serde(default)]
    max_tokens_field: Option<String>,
    #[serde(default = "yes")]
    reasoning_content_history: bool,
    #[serde(default)]
    strip_response_fields: Vec<String>,
    #[serde(default)]
    embeddings: bool,
    #[serde(default)]
    system_as_user: bool,
    #[serde(default)]
    no_stream_options: bool,
    #[serde(default)]
    account_id_required: bool,
    #[serde(default)]
    local: bool,
    #[serde(default)]
    context_window: Option<u64>,
    #[serde(default)]
    extra_headers: HashMap<String, String>,
}

fn default_auth() -> Auth {
    Auth::Bearer
}

fn yes() -> bool {
    true
}

/// Why a registry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The embedded registry does not parse (a build-time mistake, caught by a test).
    #[error("built-in registry: {0}")]
    Builtin(String),
    /// A format name that is not one of openai, claude, gemini, responses.
    #[error("provider `{id}`: unknown format `{format}` (use openai, claude, gemini or responses)")]
    Format { id: String, format: String },
    /// Two providers claim the same name.
    #[error("provider name `{0}` is used twice")]
    Duplicate(String),
}

impl Entry {
    fn into_provider(self) -> Result<Provider, RegistryError> {
        let format = match self.format.as_str() {
            "openai" => Format::OpenAiChat,
            "claude" | "anthropic" => Format::Anthropic,
            "gemini" => Format::Gemini,
            "responses" | "openai-responses" => Format::Responses,
            _ => return Err(RegistryError::Format { id: self.id, format: self.format }),
        };
        let mut extra_headers: Vec<(String, String)> = self.extra_headers.into_iter().collect();
        extra_headers.sort();
        if format == Format::Anthropic
            && !extra_headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("anthropic-version"))
        {
            extra_headers.push(("anthropic-version".into(), "2023-06-01".into()));
        }
        Ok(Provider {
            name: self.name.unwrap_or_else(|| self.id.clone()),
            id: self.id,
            prefix: self.prefix,
            aliases: self.aliases,
            format,
            base_url: self.base_url.trim_end_matches('/').to_owned(),
            auth: self.auth,
            models: self.models,
            extra_headers,
            account_id_required: self.account_id_required,
            local: self.local,
            context_window: self.context_window,
            quirks: Quirks {
                keep_developer_role: self.keep_developer_role,
                max_completion_tokens: self.max_tokens_field.as_deref()
                    == Some("max_completion_tokens"),
                reasoning_content_history: self.reasoning_content_history,
                strip_response_fields: self.strip_response_fields,
                embeddings: self.embeddings || format == Format::OpenAiChat && self.local,
                system_as_user: self.system_as_user,
                no_stream_options: self.no_stream_options,
            },
        })
    }
}

/// A custom provider from configuration.
#[derive(Debug, Clone)]
pub struct CustomProvider {
    /// Its id.
    pub id: String,
    /// Optional short prefix.
    pub prefix: Option<String>,
    /// `openai`, `claude`, `gemini` or `responses`.
    pub format: String,
    /// Base URL as the official SDK of that format takes it.
    pub base_url: String,
    /// Known models.
    pub models: Vec<String>,
}

/// Every provider the gateway can reach, with name lookup.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    providers: Vec<Arc<Provider>>,
    by_name: HashMap<String, usize>,
}

/// A model string resolved to a provider.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The provider.
    pub provider: Arc<Provider>,
    /// The model name to send upstream.
    pub model: String,
}

/// Why a model string does not name a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// `x/model` where `x` is no provider.
    #[error("unknown provider `{0}`: list the available models with GET /v1/models")]
    UnknownProvider(String),
    /// A bare model name that no provider lists.
    #[error(
        "unknown model `{0}`: use `provider/model` (e.g. `openai/gpt-4o`); GET /v1/models lists them"
    )]
    UnknownModel(String),
    /// A bare model name listed by several providers.
    #[error("model `{model}` is offered by {providers:?}: name one as `provider/{model}`")]
    Ambiguous { model: String, providers: Vec<String> },
}

impl Registry {
    /// The built-in providers.
    pub fn builtin() -> Result<Self, RegistryError> {
        let file: File =
            toml::from_str(BUILTIN).map_err(|e| RegistryError::Builtin(e.to_string()))?;
        let mut r = Registry::default();
        for e in file.provider {
            r.add(e.into_provider()?)?;
        }
        Ok(r)
    }

    /// Adds a custom provider (`openai-compatible`, `anthropic-compatible`, ...).
    pub fn add_custom(&mut self, c: CustomProvider) -> Result<(), RegistryError> {
        let auth = match c.format.as_str() {
            "claude" | "anthropic" => Auth::XApiKey,
            "gemini" => Auth::XGoogApiKey,
            _ => Auth::Bearer,
        };
        let entry = Entry {
            id: c.id,
            prefix: c.prefix,
            aliases: Vec::new(),
            name: None,
            format: c.format,
            base_url: c.base_url,
            auth,
            models: c.models,
            keep_developer_role: false,
            max_tokens_field: None,
            reasoning_content_history: true,
            strip_response_fields: Vec::new(),
            embeddings: true,
            system_as_user: false,
            no_stream_options: false,
            account_id_required: false,
            local: false,
            context_window: None,
            extra_headers: HashMap::new(),
        };
        self.add(entry.into_provider()?)
    }

    fn add(&mut self, p: Provider) -> Result<(), RegistryError> {
        let idx = self.providers.len();
        let names = std::iter::once(&p.id).chain(p.prefix.iter()).chain(p.aliases.iter());
        for n in names {
            if self.by_name.insert(n.to_ascii_lowercase(), idx).is_some() {
                return Err(RegistryError::Duplicate(n.clone()));
            }
        }
        self.providers.push(Arc::new(p));
        Ok(())
    }

    /// Every provider, in registry order.
    pub fn providers(&self) -> &[Arc<Provider>] {
        &self.providers
    }

    /// A provider by id, prefix or alias (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Arc<Provider>> {
        let key = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            name.to_ascii_lowercase()
        } else {
            name.to_owned()
        };
        self.by_name.get(&key).map(|&i| &self.providers[i])
    }

    /// Resolves `provider/model`, `prefix/model` or a bare model name that exactly one
    /// provider lists. `usable` filters providers (e.g. to those with a connection) for bare
    /// names.
    pub fn resolve(
        &self,
        model: &str,
        usable: &dyn Fn(&Provider) -> bool,
    ) -> Result<Resolved, ResolveError> {
        let r = ModelRef::parse(model);
        // A listed model id wins over a prefix split: `nvidia/llama-3.3-nemotron` listed by the
        // nvidia provider is that model, not model `llama-3.3-nemotron` of provider `nvidia`.
        let hits: Vec<&Arc<Provider>> = self
            .providers
            .iter()
            .filter(|p| usable(p) && p.models.iter().any(|m| m == model))
            .collect();
        if r.provider.is_some() && hits.len() == 1 {
            return Ok(Resolved { provider: hits[0].clone(), model: model.to_owned() });
        }
        if let Some(p) = r.provider
            && let Some(provider) = self.get(p)
        {
            return Ok(Resolved { provider: provider.clone(), model: r.model.to_owned() });
        }
        match hits.as_slice() {
            [one] => Ok(Resolved { provider: (*one).clone(), model: model.to_owned() }),
            [] => match r.provider {
                Some(p) => Err(ResolveError::UnknownProvider(p.to_owned())),
                None => Err(ResolveError::UnknownModel(model.to_owned())),
            },
            many => Err(ResolveError::Ambiguous {
                model: model.to_owned(),
                providers: many.iter().map(|p| p.id.clone()).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
