use super::*;

const REQUIRED: &[&str] = &[
    "openai",
    "anthropic",
    "gemini",
    "openrouter",
    "groq",
    "deepseek",
    "mistral",
    "xai",
    "together",
    "fireworks",
    "cerebras",
    "nvidia",
    "glm",
    "minimax",
    "kimi",
    "qwen",
    "cohere",
    "perplexity",
    "ollama",
    "pollinations",
    "cloudflare",
    "scaleway",
    "longcat",
];

#[test]
fn builtin_registry_has_every_required_provider() {
    let r = Registry::builtin().expect("registry.toml parses");
    for id in REQUIRED {
        let p = r.get(id).unwrap_or_else(|| panic!("missing provider {id}"));
        assert_eq!(p.id, *id);
        assert!(p.base_url.starts_with("http"), "{id}: {}", p.base_url);
        assert!(
            !p.base_url.ends_with("/chat/completions"),
            "{id}: base URL must stop before the endpoint"
        );
        if let Some(prefix) = &p.prefix {
            assert_eq!(r.get(prefix).map(|p| p.id.as_str()), Some(*id));
        }
    }
    assert_eq!(r.get("anthropic").map(|p| p.format), Some(Format::Anthropic));
    assert_eq!(r.get("gemini").map(|p| p.auth), Some(Auth::XGoogApiKey));
    assert!(
        r.get("cloudflare")
            .is_some_and(|p| p.account_id_required && p.base_url.contains("{account_id}"))
    );
}

#[test]
fn model_names_resolve() {
    let r = Registry::builtin().unwrap();
    let any = |_: &Provider| true;
    let x = r.resolve("openai/gpt-4o", &any).unwrap();
    assert_eq!((x.provider.id.as_str(), x.model.as_str()), ("openai", "gpt-4o"));
    // The model part passes through unchanged even if the registry does not list it.
    let x = r.resolve("openai/gpt-9-preview", &any).unwrap();
    assert_eq!(x.model, "gpt-9-preview");
    let x = r.resolve("openrouter/meta-llama/llama-3.3-70b", &any).unwrap();
    assert_eq!(
        (x.provider.id.as_str(), x.model.as_str()),
        ("openrouter", "meta-llama/llama-3.3-70b")
    );
    assert_eq!(
        r.resolve("nope/x", &any).unwrap_err(),
        ResolveError::UnknownProvider("nope".into())
    );
    assert!(matches!(r.resolve("no-such-model", &any), Err(ResolveError::UnknownModel(_))));
}

#[test]
fn bare_names_need_exactly_one_provider() {
    let mut r = Registry::default();
    for id in ["a", "b"] {
        r.add_custom(CustomProvider {
            id: id.into(),
            prefix: None,
            format: "openai".into(),
            base_url: "http://127.0.0.1:1/v1".into(),
            models: vec!["shared".into(), format!("only-{id}")],
        })
        .unwrap();
    }
    let any = |_: &Provider| true;
    assert_eq!(r.resolve("only-a", &any).unwrap().provider.id, "a");
    assert!(matches!(r.resolve("shared", &any), Err(ResolveError::Ambiguous { .. })));
    let only_b = |p: &Provider| p.id == "b";
    assert_eq!(r.resolve("shared", &only_b).unwrap().provider.id, "b");
}

#[test]
fn listed_ids_with_slashes_win_over_prefixes() {
    let mut r = Registry::default();
    r.add_custom(CustomProvider {
        id: "host".into(),
        prefix: None,
        format: "openai".into(),
        base_url: "http://127.0.0.1:1/v1".into(),
        models: vec!["vendor/model-a".into()],
    })
    .unwrap();
    r.add_custom(CustomProvider {
        id: "vendor".into(),
        prefix: None,
        format: "openai".into(),
        base_url: "http://127.0.0.1:2/v1".into(),
        models: vec![],
    })
    .unwrap();
    let any = |_: &Provider| true;
    let x = r.resolve("vendor/model-a", &any).unwrap();
    assert_eq!((x.provider.id.as_str(), x.model.as_str()), ("host", "vendor/model-a"));
    let x = r.resolve("vendor/model-b", &any).unwrap();
    assert_eq!((x.provider.id.as_str(), x.model.as_str()), ("vendor", "model-b"));
}
