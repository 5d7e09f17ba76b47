//! The shared vocabulary of omniroute: small types every layer names.
//!
//! Not a utilities crate: a type lives here only when several crates must agree on it, and
//! this crate depends on nothing heavier than serde.

use std::fmt;

/// A model as a client names it: `provider/model`, `prefix/model`, or a bare name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef<'a> {
    /// The part before the first `/`, when there is one.
    pub provider: Option<&'a str>,
    /// The rest, passed upstream verbatim (it may contain more slashes: `openrouter/meta-llama/x`).
    pub model: &'a str,
}

impl<'a> ModelRef<'a> {
    /// Splits a client's model string at the first `/`.
    pub fn parse(s: &'a str) -> Self {
        match s.split_once('/') {
            Some((p, m)) if !p.is_empty() && !m.is_empty() => {
                ModelRef { provider: Some(p), model: m }
            }
            _ => ModelRef { provider: None, model: s },
        }
    }
}

/// A credential. `Debug` and `Display` print a placeholder, so a key can never reach a log or
/// an error message by accident; [`Secret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_refs_split_at_the_first_slash() {
        assert_eq!(
            ModelRef::parse("openai/gpt-4o"),
            ModelRef { provider: Some("openai"), model: "gpt-4o" }
        );
        assert_eq!(
            ModelRef::parse("openrouter/meta-llama/llama-3"),
            ModelRef { provider: Some("openrouter"), model: "meta-llama/llama-3" }
        );
        assert_eq!(ModelRef::parse("gpt-4o"), ModelRef { provider: None, model: "gpt-4o" });
        assert_eq!(ModelRef::parse("/x"), ModelRef { provider: None, model: "/x" });
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("sk-live-123");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "sk-live-123");
    }
}
