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

fn combo_set(args: &[&str]) -> (Vec<Value>, Option<String>, Value) {
    let mut full = vec!["combo", "set", "c"];
    full.extend(args);
    match ok(&full).command {
        Command::Combo(ComboCmd::Set { targets, strategy, config, .. }) => {
            (targets, strategy, config.body())
        }
        _ => panic!("not combo set"),
    }
}

#[test]
fn combo_targets_take_weights_after_the_last_at() {
    assert_eq!(combo_target("mo/gpt@3"), Ok(json!({"model": "mo/gpt", "weight": 3})));
    assert_eq!(
        combo_target("vertex/claude@20240620@1"),
        Ok(json!({"model": "vertex/claude@20240620", "weight": 1}))
    );
    for plain in ["groq/*", "odd@name", "x@", "@3", "x@+3", "x@-1", "x@1.5"] {
        assert_eq!(combo_target(plain), Ok(json!(plain)), "{plain}");
    }
    assert!(combo_target("x@0").is_err(), "a weight of 0 is never drawn");
    assert!(combo_target("x@99999999999").is_err(), "too large for the server's u32");
    usage_error(&["combo", "set", "c", "--target", "a/b@0"]);
}

#[test]
fn combo_set_sends_weights_and_config() {
    let (targets, strategy, config) = combo_set(&[
        "--target",
        "mo/gpt-mock@3",
        "--target",
        "mc/claude-mock@1",
        "--target",
        "groq/*",
        "--strategy",
        "weighted",
        "--sticky-limit",
        "2",
    ]);
    assert_eq!(
        targets,
        [
            json!({"model": "mo/gpt-mock", "weight": 3}),
            json!({"model": "mc/claude-mock", "weight": 1}),
            json!("groq/*")
        ]
    );
    assert_eq!(strategy.as_deref(), Some("weighted"));
    assert_eq!(config, json!({"sticky_limit": 2}));
    let (_, strategy, config) = combo_set(&[
        "--target",
        "a/b",
        "--max-retries",
        "1",
        "--retry-delay-ms",
        "250",
        "--concurrency-per-model",
        "4",
        "--queue-timeout-ms",
        "5000",
        "--sticky-limit",
        "3",
        "--handoff-model",
        "mo/gpt-mock",
    ]);
    assert_eq!(strategy, None);
    assert_eq!(
        config,
        json!({"max_retries": 1, "retry_delay_ms": 250, "concurrency_per_model": 4,
            "queue_timeout_ms": 5000, "sticky_limit": 3, "handoff_model": "mo/gpt-mock"})
    );
    assert_eq!(combo_set(&["--target", "a/b"]).2, json!({}));
    usage_error(&["combo", "set", "c", "--target", "a/b", "--max-retries", "-1"]);
    usage_error(&["combo", "set", "c", "--target", "a/b", "--sticky-limit", "x"]);
    assert!(matches!(ok(&["combo", "strategies"]).command, Command::Combo(ComboCmd::Strategies)));
}

#[test]
fn other_routing_commands_parse() {
    let Command::Route(RouteCmd::Explain { model, tokens }) =
        ok(&["route", "explain", "fast", "--tokens", "120000"]).command
    else {
        panic!("not route explain")
    };
    assert_eq!((model.as_str(), tokens), ("fast", Some(120_000)));
    usage_error(&["route", "explain"]);
    usage_error(&["route", "explain", "fast", "--tokens", "many"]);
    assert!(matches!(
        ok(&["mcp", "audit", "--limit", "5"]).command,
        Command::Mcp(McpCmd::Audit { limit: Some(5), .. })
    ));
    assert!(matches!(ok(&["a2a", "cancel", "t1"]).command, Command::A2a(A2aCmd::Cancel { .. })));
}

#[test]
fn quota_windows_are_name_hours_tokens() {
    assert_eq!(quota("5h:5:2000"), Ok(json!({"name": "5h", "hours": 5, "tokens": 2000})));
    assert_eq!(
        quota("team:weekly:168:5000000"),
        Ok(json!({"name": "team:weekly", "hours": 168, "tokens": 5_000_000})),
        "the name may hold a colon"
    );
    for bad in ["5h:five:2000", "5h:5:lots", "nope", "5h:5", ":5:100", "5h:0:100", "5h:-1:100"] {
        assert!(quota(bad).is_err(), "{bad}");
    }
}

fn connection_fields(args: &[&str]) -> Value {
    match ok(args).command {
        Command::Connection(
            ConnectionCmd::Add { fields, .. } | ConnectionCmd::Update { fields, .. },
        ) => connection_body(fields).unwrap(),
        _ => panic!("not connection add/update"),
    }
}

#[test]
fn connection_limits_and_quotas() {
    let add = ["connection", "add", "--provider", "openai", "--name", "main"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        add.iter().chain(extra).copied().collect()
    };
    assert_eq!(
        connection_fields(&with(&[
            "--max-concurrent",
            "4",
            "--rpm",
            "60",
            "--min-gap-ms",
            "250",
            "--quota",
            "5h:5:2000000",
            "--quota",
            "week:168:10000000",
        ])),
        json!({"max_concurrent": 4, "rpm": 60, "min_gap_ms": 250, "quotas": [
            {"name": "5h", "hours": 5, "tokens": 2_000_000},
            {"name": "week", "hours": 168, "tokens": 10_000_000},
        ]})
    );
    assert_eq!(connection_fields(&with(&[])), json!({}), "limits are sent only when given");
    assert_eq!(
        connection_fields(&[
            "connection",
            "update",
            "3",
            "--max-concurrent",
            "none",
            "--rpm",
            "NONE",
            "--min-gap-ms",
            "none",
            "--clear-quotas",
        ]),
        json!({"max_concurrent": null, "rpm": null, "min_gap_ms": null, "quotas": []})
    );
    assert_eq!(
        connection_fields(&["connection", "update", "3", "--quota", "day:24:100"]),
        json!({"quotas": [{"name": "day", "hours": 24, "tokens": 100}]})
    );
    usage_error(&["connection", "update", "3", "--rpm", "fast"]);
    usage_error(&["connection", "update", "3", "--max-concurrent", "-1"]);
    usage_error(&["connection", "update", "3", "--quota", "day:0:100"]);
    assert_eq!(
        usage_error(&["connection", "update", "3", "--quota", "d:1:1", "--clear-quotas"]),
        ErrorKind::ArgumentConflict
    );
}

#[test]
fn routing_settings_go_as_json_strings_and_numbers() {
    for s in ["round-robin", "fill-first", "p2c", "least-used", "random"] {
        assert_eq!(setting_value(s.into()), json!(s), "{s}");
    }
    assert_eq!(setting_value("5000".into()), json!(5000));
    assert_eq!(setting_value("600".into()), json!(600));
}
