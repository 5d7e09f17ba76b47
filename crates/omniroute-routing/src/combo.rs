//! Combos: a named list of targets (`provider/model`, another combo's name, or a wildcard such
//! as `openai/gpt-4*` or `groq/*`), a strategy, and settings. Expansion flattens nested combos
//! (their own strategy is not applied: the outer combo orders the flattened list) up to
//! [`MAX_DEPTH`] levels, refuses cycles, and expands wildcards against the provider's model
//! list.

use std::collections::HashMap;

use crate::strategy::Strategy;

/// How deep combos may nest.
pub const MAX_DEPTH: usize = 3;

/// One entry of a combo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub model: String,
    /// For `weighted` (default 1).
    pub weight: u32,
}

/// Settings of a combo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComboConfig {
    /// Extra passes over the whole target list after every target failed.
    pub max_retries: u32,
    /// Pause before such a pass.
    pub retry_delay_ms: u64,
    /// At most this many requests in flight per target model (none: unlimited).
    pub concurrency_per_model: Option<u32>,
    /// How long a request may wait for a busy target or a cooldown to end, when every
    /// candidate is busy or cooling.
    pub queue_timeout_ms: u64,
    /// `round-robin`/`weighted` stickiness.
    pub sticky_limit: u32,
    /// `context-relay`: the model that writes the handoff summary.
    pub handoff_model: Option<String>,
}

impl Default for ComboConfig {
    fn default() -> Self {
        ComboConfig {
            max_retries: 0,
            retry_delay_ms: 0,
            concurrency_per_model: None,
            queue_timeout_ms: 30_000,
            sticky_limit: 1,
            handoff_model: None,
        }
    }
}

/// A combo definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combo {
    pub name: String,
    pub strategy: Strategy,
    pub targets: Vec<Target>,
    pub config: ComboConfig,
}

/// Why a combo cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// A combo contains itself, through the path shown.
    Cycle(Vec<String>),
    /// Nesting goes deeper than [`MAX_DEPTH`].
    TooDeep(Vec<String>),
}

impl std::fmt::Display for ExpandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpandError::Cycle(path) => write!(f, "combo cycle: {}", path.join(" -> ")),
            ExpandError::TooDeep(path) => {
                write!(f, "combos nest deeper than {MAX_DEPTH} levels: {}", path.join(" -> "))
            }
        }
    }
}

/// `*` matches any run of characters.
pub fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else { return false };
            (0..=tail.len()).filter(|&i| tail.is_char_boundary(i)).any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// A provider's canonical id and model list, by any of its names.
pub type ModelsOf<'a> = &'a dyn Fn(&str) -> Option<(String, Vec<String>)>;

/// Flattens `combo` into concrete targets, best-effort order kept, duplicates dropped (the
/// first occurrence wins). `models(provider)` gives a provider's canonical id and model list
/// for wildcard targets (`None`: unknown provider, the target is kept as written so that
/// resolution reports it).
pub fn expand(
    combo: &Combo,
    combos: &HashMap<String, Combo>,
    models: ModelsOf<'_>,
) -> Result<Vec<Target>, ExpandError> {
    let mut out = Vec::new();
    let mut path = vec![combo.name.clone()];
    walk(combo, combos, models, 1, &mut path, &mut out)?;
    let mut seen = std::collections::HashSet::new();
    out.retain(|t: &Target| seen.insert(t.model.clone()));
    Ok(out)
}

fn walk(
    combo: &Combo,
    combos: &HashMap<String, Combo>,
    models: ModelsOf<'_>,
    depth: usize,
    path: &mut Vec<String>,
    out: &mut Vec<Target>,
) -> Result<(), ExpandError> {
    for t in &combo.targets {
        if let Some(inner) = combos.get(&t.model) {
            path.push(inner.name.clone());
            if path[..path.len() - 1].contains(&inner.name) {
                return Err(ExpandError::Cycle(path.clone()));
            }
            if depth + 1 > MAX_DEPTH {
                return Err(ExpandError::TooDeep(path.clone()));
            }
            let before = out.len();
            walk(inner, combos, models, depth + 1, path, out)?;
            for x in &mut out[before..] {
                x.weight = x.weight.saturating_mul(t.weight);
            }
            path.pop();
            continue;
        }
        match t.model.split_once('/') {
            Some((provider, pattern)) if pattern.contains('*') => {
                if let Some((id, list)) = models(provider) {
                    for m in list.iter().filter(|m| glob(pattern, m)) {
                        out.push(Target { model: format!("{id}/{m}"), weight: t.weight });
                    }
                } else {
                    out.push(t.clone());
                }
            }
            _ => out.push(t.clone()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn combo(name: &str, targets: &[(&str, u32)]) -> Combo {
        Combo {
            name: name.into(),
            strategy: Strategy::Priority,
            targets: targets
                .iter()
                .map(|(m, w)| Target { model: (*m).into(), weight: *w })
                .collect(),
            config: ComboConfig::default(),
        }
    }

    fn models(p: &str) -> Option<(String, Vec<String>)> {
        match p {
            "openai" | "oai" => {
                Some(("openai".into(), vec!["gpt-4o".into(), "gpt-4o-mini".into(), "o3".into()]))
            }
            "groq" => Some(("groq".into(), vec!["llama".into(), "qwen".into()])),
            _ => None,
        }
    }

    fn names(t: &[Target]) -> Vec<String> {
        t.iter().map(|t| format!("{}x{}", t.model, t.weight)).collect()
    }

    #[test]
    fn wildcards_nesting_weights_and_dedup() {
        let mut all = HashMap::new();
        all.insert("inner".to_owned(), combo("inner", &[("groq/*", 2), ("x/y", 1)]));
        let outer = combo("outer", &[("oai/gpt-4*", 1), ("inner", 3), ("x/y", 5), ("nope/*", 1)]);
        let got = expand(&outer, &all, &models).unwrap();
        assert_eq!(
            names(&got),
            [
                "openai/gpt-4ox1",
                "openai/gpt-4o-minix1",
                "groq/llamax6",
                "groq/qwenx6",
                "x/yx3",
                "nope/*x1"
            ]
        );
    }

    #[test]
    fn cycles_and_depth_are_refused() {
        let mut all = HashMap::new();
        all.insert("a".to_owned(), combo("a", &[("b", 1)]));
        all.insert("b".to_owned(), combo("b", &[("a", 1)]));
        let e = expand(&all["a"], &all, &models).unwrap_err();
        assert_eq!(e, ExpandError::Cycle(vec!["a".into(), "b".into(), "a".into()]));
        let mut deep = HashMap::new();
        deep.insert("l1".to_owned(), combo("l1", &[("l2", 1)]));
        deep.insert("l2".to_owned(), combo("l2", &[("l3", 1)]));
        deep.insert("l3".to_owned(), combo("l3", &[("l4", 1)]));
        deep.insert("l4".to_owned(), combo("l4", &[("x/y", 1)]));
        assert!(matches!(expand(&deep["l2"], &deep, &models), Ok(t) if t.len() == 1));
        assert!(matches!(expand(&deep["l1"], &deep, &models), Err(ExpandError::TooDeep(_))));
    }

    #[test]
    fn globs() {
        assert!(glob("*", "anything"));
        assert!(glob("gpt-4*", "gpt-4o-mini"));
        assert!(!glob("gpt-4*", "o3"));
        assert!(glob("*-mini", "gpt-4o-mini"));
    }
}
