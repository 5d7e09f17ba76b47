use clap::CommandFactory;
use clap::error::ErrorKind;

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("omniroute-cli").chain(args.iter().copied()))
}

fn ok(args: &[&str]) -> Cli {
    parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn usage_error(args: &[&str]) -> ErrorKind {
    let e = parse(args).err().unwrap_or_else(|| panic!("{args:?} should not parse"));
    assert_eq!(e.exit_code(), 2, "{args:?}");
    e.kind()
}

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn global_flags_go_anywhere() {
    let cli = ok(&["key", "list", "--json", "--url", "http://h:1", "--token", "t"]);
    assert!(cli.json);
    assert_eq!(cli.url.as_deref(), Some("http://h:1"));
    assert_eq!(cli.token.as_deref(), Some("t"));
    assert!(matches!(cli.command, Command::Key(KeyCmd::List)));
    assert!(ok(&["--json", "health"]).json);
}

#[test]
fn key_create_takes_models_and_budgets() {
    let cli = ok(&[
        "key",
        "create",
        "ci",
        "--model",
        "mo/*",
        "--model",
        "fast",
        "--daily-budget",
        "5",
        "--scope",
        "monitor",
        "--scope",
        "execute:completions",
    ]);
    let Command::Key(KeyCmd::Create { name, models, daily_budget, monthly_budget, scopes }) =
        cli.command
    else {
        panic!("not key create")
    };
    assert_eq!(scopes, ["monitor", "execute:completions"]);
    assert_eq!(name, "ci");
    assert_eq!(models, ["mo/*", "fast"]);
    assert_eq!((daily_budget, monthly_budget), (Some(5.0), None));
    usage_error(&["key", "create", "ci", "--daily-budget", "-1"]);
    usage_error(&["key", "create", "ci", "--daily-budget", "NaN"]);
    usage_error(&["key", "create"]);
}

fn key_update_body(args: &[&str]) -> Value {
    let mut full = vec!["key", "update", "ci"];
    full.extend(args);
    match ok(&full).command {
        Command::Key(KeyCmd::Update { changes, .. }) => changes.body(),
        _ => panic!("not key update"),
    }
}

#[test]
fn key_update_sends_only_what_changes() {
    assert_eq!(key_update_body(&[]), json!({}));
    assert_eq!(
        key_update_body(&["--daily-budget", "none", "--monthly-budget", "20.5", "--disable"]),
        json!({"daily_budget_usd": null, "monthly_budget_usd": 20.5, "enabled": false})
    );
    assert_eq!(
        key_update_body(&["--model", "a", "--enable"]),
        json!({"models": ["a"], "enabled": true})
    );
    assert_eq!(
        key_update_body(&["--all-models", "--daily-budget", "NONE"]),
        json!({"models": null, "daily_budget_usd": null})
    );
    usage_error(&["key", "update", "ci", "--enable", "--disable"]);
    usage_error(&["key", "update", "ci", "--all-models", "--model", "a"]);
    usage_error(&["key", "update", "ci", "--daily-budget", "lots"]);
}

#[test]
fn connections_take_their_fields() {
    let cli = ok(&[
        "connection",
        "add",
        "--provider",
        "openai",
        "--name",
        "main",
        "--api-key",
        "sk-x",
        "--priority",
        "-1",
        "--disabled",
    ]);
    let Command::Connection(ConnectionCmd::Add { provider, name, fields, disabled }) = cli.command
    else {
        panic!("not connection add")
    };
    assert_eq!((provider.as_str(), name.as_str(), disabled), ("openai", "main", true));
    assert_eq!(connection_body(fields).unwrap(), json!({"api_key": "sk-x", "priority": -1}));
    usage_error(&[
        "connection",
        "add",
        "--provider",
        "p",
        "--name",
        "n",
        "--api-key",
        "k",
        "--api-key-stdin",
    ]);
    assert_eq!(
        usage_error(&["connection", "add", "--name", "n"]),
        ErrorKind::MissingRequiredArgument
    );
    usage_error(&["connection", "update", "3", "--enable", "--disable"]);
    assert!(matches!(
        ok(&["connection", "test", "3"]).command,
        Command::Connection(ConnectionCmd::Test { .. })
    ));
}

#[test]
fn providers_need_format_and_base_url() {
    let cli = ok(&[
        "provider",
        "add",
        "--id",
        "mine",
        "--format",
        "openai",
        "--base-url",
        "http://u/v1",
        "--model",
        "m1",
    ]);
    let Command::Provider(ProviderCmd::Add { id, fields }) = cli.command else {
        panic!("not provider add")
    };
    assert_eq!(
        provider_body(&id, fields),
        json!({"id": "mine", "format": "openai", "base_url": "http://u/v1", "models": ["m1"]})
    );
    usage_error(&["provider", "add", "--id", "x", "--format", "openai"]);
    usage_error(&["provider", "update", "x", "--base-url", "http://u"]);
    assert!(matches!(
        ok(&[
            "provider",
            "update",
            "x",
            "--format",
            "claude",
            "--base-url",
            "http://u",
            "--prefix",
            "x"
        ])
        .command,
        Command::Provider(ProviderCmd::Update { .. })
    ));
}

#[test]
fn combos_need_a_target() {
    assert_eq!(usage_error(&["combo", "set", "fast"]), ErrorKind::MissingRequiredArgument);
    let cli = ok(&[
        "combo",
        "set",
        "fast",
        "--target",
        "a/x",
        "--target",
        "b/y",
        "--strategy",
        "priority",
    ]);
    let Command::Combo(ComboCmd::Set { targets, strategy, disabled, .. }) = cli.command else {
        panic!("not combo set")
    };
    assert_eq!((targets.len(), strategy.as_deref(), disabled), (2, Some("priority"), false));
}

#[test]
fn prices_name_provider_and_model() {
    let cli =
        ok(&["pricing", "set", "openrouter/anthropic/claude", "--input", "3", "--output", "15"]);
    let Command::Pricing(PricingCmd::Set { model, input, output, cached }) = cli.command else {
        panic!("not pricing set")
    };
    assert_eq!(model, ("openrouter".to_owned(), "anthropic/claude".to_owned()));
    assert_eq!((input, output, cached), (3.0, 15.0, None));
    usage_error(&["pricing", "set", "gpt-4o", "--input", "1", "--output", "1"]);
    usage_error(&["pricing", "remove", "/gpt-4o"]);
    usage_error(&["pricing", "set", "a/b", "--input", "1"]);
}

#[test]
fn usage_logs_and_audit_flags() {
    let Command::Usage(u) = ok(&["usage", "--group-by", "day", "--since", "2024-01-01"]).command
    else {
        panic!("not usage")
    };
    assert_eq!(u.group_by.map(group_by_name), Some("day"));
    usage_error(&["usage", "--group-by", "week"]);
    let Command::Logs(l) =
        ok(&["logs", "--limit", "5", "--status", "429", "--errors", "--key", "ci"]).command
    else {
        panic!("not logs")
    };
    assert_eq!(
        (l.page.limit, l.status, l.errors, l.key.as_deref()),
        (Some(5), Some(429), true, Some("ci"))
    );
    usage_error(&["logs", "--limit", "-3"]);
    assert!(matches!(
        ok(&["audit", "--before", "17"]).command,
        Command::Audit(PageArgs { before: Some(_), .. })
    ));
}

#[test]
fn files_commands() {
    usage_error(&["backup"]);
    let Command::Backup(b) = ok(&["backup", "--out", "x.db", "--force"]).command else {
        panic!("not backup")
    };
    assert!(b.force);
    assert!(matches!(ok(&["restore", "x.db"]).command, Command::Restore { .. }));
    usage_error(&["config", "export", "--force"]);
    assert!(matches!(
        ok(&["config", "export", "--secrets", "--out", "c.toml"]).command,
        Command::Config(ConfigCmd::Export { secrets: true, out: Some(_), force: false })
    ));
    assert!(matches!(
        ok(&["config", "apply", "c.toml"]).command,
        Command::Config(ConfigCmd::Apply { .. })
    ));
    assert!(matches!(
        ok(&["login", "--password-stdin", "--name", "laptop"]).command,
        Command::Login(LoginArgs { password_stdin: true, name: Some(_) })
    ));
}

#[test]
fn setting_values_are_json_when_they_parse() {
    assert_eq!(setting_value("true".into()), json!(true));
    assert_eq!(setting_value("3".into()), json!(3));
    assert_eq!(setting_value("\"x\"".into()), json!("x"));
    assert_eq!(setting_value("plain text".into()), json!("plain text"));
}

#[test]
fn help_documents_exit_codes_and_hides_the_token() {
    let mut cmd = Cli::command();
    let help = cmd.render_long_help().to_string();
    for line in
        ["3  the server could not be reached", "4  unauthorized or forbidden", "6  conflict"]
    {
        assert!(help.contains(line), "{line} missing from:\n{help}");
    }
    let token = cmd.get_arguments().find(|a| a.get_id() == "token").unwrap();
    assert!(
        token.is_hide_env_values_set(),
        "OMNIROUTE_ADMIN_TOKEN's value must never show in --help"
    );
}

#[test]
fn default_token_names_are_safe() {
    let n = default_token_name();
    assert!(n.starts_with("cli-"));
    assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{n}");
}

#[test]
fn combo_targets_take_weights_and_settings() {
    assert_eq!(combo_target("mo/gpt@3"), serde_json::json!({"model": "mo/gpt", "weight": 3}));
    assert_eq!(combo_target("groq/*"), serde_json::json!("groq/*"));
    assert_eq!(combo_target("odd@name"), serde_json::json!("odd@name"), "not a number");
    let cli = ok(&[
        "combo",
        "set",
        "c",
        "--target",
        "a/b@2",
        "--sticky-limit",
        "3",
        "--max-retries",
        "1",
    ]);
    let Command::Combo(ComboCmd::Set { config, .. }) = cli.command else { panic!("not combo set") };
    assert_eq!(config.body(), serde_json::json!({"max_retries": 1, "sticky_limit": 3}));
    assert!(matches!(
        ok(&["route", "explain", "fast"]).command,
        Command::Route(RouteCmd::Explain { .. })
    ));
    assert!(matches!(
        ok(&["mcp", "audit", "--limit", "5"]).command,
        Command::Mcp(McpCmd::Audit { limit: Some(5), .. })
    ));
    assert!(matches!(ok(&["a2a", "cancel", "t1"]).command, Command::A2a(A2aCmd::Cancel { .. })));
}

#[test]
fn explanations_and_health_render() {
    let v = serde_json::json!({
        "model": "fast",
        "combo": {"name": "fast", "strategy": "priority"},
        "order": [{"target": "a/b", "why": "first in the combo"}],
        "candidates": [],
        "skipped": [{"target": "a/b", "connection": "acct", "reason": "cooling down"}],
    });
    let text = output::explain(&v);
    assert!(
        text.contains("combo fast (strategy priority)")
            && text.contains("1. a/b  first in the combo")
    );
    assert!(text.contains("  (none)") && text.contains("a/b (acct): cooling down"), "{text}");
    let h = serde_json::json!({
        "status": "ok", "now": 1000, "providers": [],
        "breakers": [{"id": "p", "breaker": {"state": "open", "until": 31000}, "recent_failures": 12, "latency_ms": [1, 2, 3]}],
        "connections": [{"provider": "p", "name": "c", "cooling_until": 6000, "cooldown_reason": "rate_limited", "in_flight": 0, "ok": 1, "failed": 2, "latency_ms": null, "quota": [{"window": "5h", "used": 10, "limit": 100}]}],
        "model_locks": [],
    });
    let text = output::health(&h);
    assert!(text.contains("Breakers") && text.contains("open") && text.contains("30s"), "{text}");
    assert!(text.contains("5s (rate_limited)") && text.contains("5h 10/100"), "{text}");
    assert!(text.contains("Model lockouts"), "{text}");
}

#[test]
fn connection_limits_and_quotas() {
    assert_eq!(
        quota("5h:5:2000"),
        Ok(serde_json::json!({"name": "5h", "hours": 5, "tokens": 2000}))
    );
    assert!(quota("5h:five:2000").is_err() && quota("nope").is_err());
    let cli = ok(&[
        "connection",
        "update",
        "3",
        "--max-concurrent",
        "none",
        "--rpm",
        "60",
        "--quota",
        "day:24:100",
    ]);
    let Command::Connection(ConnectionCmd::Update { fields, .. }) = cli.command else {
        panic!("not update")
    };
    let body = connection_body(fields).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"max_concurrent": null, "rpm": 60, "quotas": [{"name": "day", "hours": 24, "tokens": 100}]})
    );
    usage_error(&["connection", "update", "3", "--rpm", "fast"]);
}
