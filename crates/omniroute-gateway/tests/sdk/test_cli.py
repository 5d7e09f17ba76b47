"""`omniroute-cli` against the running server: the remote commands, their `--json` output, their
exit codes, and that the CLI never prints a secret it was not asked to show.

Besides conftest's OMNIROUTE_URL (and OMNIROUTE_KEY), this needs OMNIROUTE_CLI, the built
`omniroute-cli`, and OMNIROUTE_ADMIN_TOKEN, the admin token the server was started with. Without
OMNIROUTE_CLI the module is skipped. It relies on the e2e configuration: client keys are
configured (so a wrong key is refused even on loopback) and `mo/gpt-mock` is the mock upstream's
OpenAI model of the provider `mock-openai`.
"""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

CLI = os.environ.get("OMNIROUTE_CLI")
if not CLI:
    pytest.skip("OMNIROUTE_CLI is not set", allow_module_level=True)

ADMIN_TOKEN = os.environ["OMNIROUTE_ADMIN_TOKEN"]
MODEL = "mo/gpt-mock"
# The same model as pricing names it: provider id, then the model.
PRICED = "mock-openai/gpt-mock"
# Names unique to this run, so a data directory reused from an earlier run does not collide.
RUN = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def cli(gateway, tmp_path_factory):
    """Runs the CLI against the gateway and checks its exit code; returns the finished process."""
    # An empty config file of its own, so the user's `cli.toml` plays no part.
    config = tmp_path_factory.mktemp("cli-config") / "cli.toml"

    def run(*args, token=ADMIN_TOKEN, url=gateway, expect=0, stdin=None):
        env = {k: v for k, v in os.environ.items() if k != "OMNIROUTE_URL"}
        env["OMNIROUTE_CLI_CONFIG"] = str(config)
        env["OMNIROUTE_ADMIN_TOKEN"] = token
        p = subprocess.run(
            [CLI, "--url", url, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
        )
        assert p.returncode == expect, f"{args}: exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
        assert ADMIN_TOKEN not in p.stdout + p.stderr, f"{args} printed the admin token"
        if expect not in (0, 2):  # usage errors are clap's own
            assert p.stderr.startswith("omniroute-cli: "), p.stderr
        return p

    return run


@pytest.fixture(scope="module")
def cli_json(cli):
    """Runs the CLI with `--json` and parses what it prints."""

    def run(*args):
        return json.loads(cli("--json", *args).stdout)

    return run


def chat(gateway, key, model=MODEL, text="ping"):
    """A chat completion with a client key: (status, JSON answer)."""
    req = urllib.request.Request(
        f"{gateway}/v1/chat/completions",
        data=json.dumps({"model": model, "messages": [{"role": "user", "content": text}]}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, json.loads(body) if body else {}


def reply_text(answer):
    return answer["choices"][0]["message"]["content"]


def new_key(cli, name, *flags):
    """Creates a key; returns its value, which `key create` prints alone on stdout."""
    p = cli("key", "create", name, *flags)
    key = p.stdout.strip()
    assert key and "\n" not in key, p.stdout
    assert "will not be shown again" in p.stderr
    return key


def test_health(cli, cli_json):
    assert cli("health").stdout.startswith("status: ok")
    health = cli_json("health")
    assert health["status"] == "ok"
    assert any(p["id"] == "mock-openai" for p in health["providers"])


def test_key_create_list_use_rotate(cli, cli_json, gateway):
    name = f"cli-key-{RUN}"
    key = new_key(cli, name)
    listed = [k for k in cli_json("key", "list")["data"] if k["name"] == name]
    assert len(listed) == 1
    assert listed[0]["prefix"] == key[:8]
    assert "key" not in listed[0]
    assert key not in cli("key", "list").stdout
    assert key not in json.dumps(cli_json("key", "list"))

    status, answer = chat(gateway, key)
    assert status == 200, answer
    assert reply_text(answer) == "Hello from mock: ping"

    rotated = cli("key", "rotate", name).stdout.strip()
    assert rotated and rotated != key
    status, answer = chat(gateway, key)
    assert status == 401, answer
    status, answer = chat(gateway, rotated)
    assert status == 200, answer
    rows = [k for k in cli_json("key", "list")["data"] if k["name"] == name]
    assert rows[0]["prefix"] == rotated[:8]

    # A second key of the same name is a conflict: exit code 6.
    cli("key", "create", name, expect=6)
    cli("key", "remove", name)
    assert name not in [k["name"] for k in cli_json("key", "list")["data"]]


def test_key_update(cli_json, cli):
    name = f"cli-upd-{RUN}"
    new_key(cli, name, "--model", "mo/*", "--daily-budget", "5")
    k = cli_json("key", "update", name, "--daily-budget", "none", "--monthly-budget", "20", "--disable")
    assert (k["daily_budget_usd"], k["monthly_budget_usd"], k["enabled"]) == (None, 20, False)
    assert k["models"] == ["mo/*"]
    k = cli_json("key", "update", name, "--all-models", "--enable")
    assert (k["models"], k["enabled"]) == (None, True)
    cli("key", "remove", name)


def test_combo_set_list_remove(cli, cli_json):
    name = f"cli-combo-{RUN}"
    combo = cli_json("combo", "set", name, "--target", MODEL, "--target", "mc/claude-mock", "--strategy", "priority")
    assert combo["targets"] == [MODEL, "mc/claude-mock"]
    listed = {c["name"]: c for c in cli_json("combo", "list")["data"]}
    assert listed[name]["targets"] == [MODEL, "mc/claude-mock"]
    assert listed[name]["strategy"] == "priority"
    assert name in cli("combo", "list").stdout
    cli("combo", "remove", name)
    assert name not in {c["name"] for c in cli_json("combo", "list")["data"]}
    cli("combo", "remove", name, expect=5)


def test_alias_routes_requests(cli, cli_json, gateway, key):
    alias = f"cli-alias-{RUN}"
    cli("alias", "set", alias, MODEL)
    assert {"alias": alias, "target": MODEL} in cli_json("alias", "list")["data"]
    status, answer = chat(gateway, key, model=alias, text="via alias")
    assert status == 200, answer
    assert reply_text(answer) == "Hello from mock: via alias"
    cli("alias", "remove", alias)


def test_pricing_then_usage_has_cost(cli, cli_json, gateway):
    name = f"cli-cost-{RUN}"
    key = new_key(cli, name)
    price = cli_json("pricing", "set", PRICED, "--input", "1000", "--output", "2000")
    assert (price["model"], price["input"], price["output"]) == (PRICED, 1000, 2000)
    assert PRICED in {p["model"] for p in cli_json("pricing", "list")["data"]}
    try:
        status, answer = chat(gateway, key)
        assert status == 200, answer
        # Usage rows are written in batches: wait for this one.
        deadline, mine = time.monotonic() + 15, None
        while time.monotonic() < deadline:
            usage = cli_json("usage", "--group-by", "key")
            mine = next((g for g in usage["data"] if g["group"] == name), None)
            if mine:
                break
            time.sleep(0.3)
        assert mine, f"no usage for key {name}"
        assert mine["requests"] >= 1
        assert mine["cost_usd"] > 0
        assert name in cli("usage", "--group-by", "key").stdout
    finally:
        cli("pricing", "remove", PRICED)
        cli("key", "remove", name)


def test_logs(cli, cli_json, gateway, key):
    assert chat(gateway, key)[0] == 200
    deadline = time.monotonic() + 15
    while True:
        logs = cli_json("logs", "--limit", "5")
        if logs["data"] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert 1 <= len(logs["data"]) <= 5
    assert {"id", "ts_ms", "status", "requested_model"} <= logs["data"][0].keys()
    assert "next_before" in logs
    assert cli("logs", "--limit", "5").stdout.startswith("ID")


def test_audit_records_actions_without_secrets(cli, cli_json):
    name = f"cli-audit-{RUN}"
    key = new_key(cli, name)
    cli("combo", "set", name, "--target", MODEL)
    cli("combo", "remove", name)
    audit = cli_json("audit", "--limit", "50")
    actions = {(e["action"], e["target"]) for e in audit["data"]}
    for action in ["key.create", "combo.create", "combo.delete"]:
        assert (action, name) in actions, f"{action} {name} not in the audit log"
    assert all(e["actor"] == "token:env" for e in audit["data"] if e["target"] == name)
    assert key not in json.dumps(audit)
    assert key not in cli("audit", "--limit", "50").stdout
    cli("key", "remove", name)


def test_config_export_has_the_combo_and_no_key(cli, tmp_path):
    name = f"cli-export-{RUN}"
    key = new_key(cli, name)
    cli("combo", "set", name, "--target", MODEL)
    try:
        exported = cli("config", "export").stdout
        assert name in exported
        assert key not in exported
        assert key not in cli("config", "export", "--secrets").stdout
        out = tmp_path / "config.toml"
        cli("config", "export", "--out", str(out))
        assert name in out.read_text()
        cli("config", "export", "--out", str(out), expect=1)
    finally:
        cli("combo", "remove", name)
        cli("key", "remove", name)


def test_backup_writes_sqlite(cli, tmp_path):
    out = tmp_path / "omniroute-backup.db"
    cli("backup", "--out", str(out))
    assert out.read_bytes().startswith(b"SQLite format 3\0")
    # An existing file is kept unless --force.
    out.write_bytes(b"keep me")
    cli("backup", "--out", str(out), expect=1)
    assert out.read_bytes() == b"keep me"
    cli("backup", "--out", str(out), "--force")
    assert out.read_bytes().startswith(b"SQLite format 3\0")


def test_exit_codes(cli):
    cli("key", "list", token="not-the-admin-token-0123456789", expect=4)
    cli("combo", "remove", "does-not-exist", expect=5)
    cli("health", url="http://127.0.0.1:1", expect=3)
    cli("pricing", "set", "no-slash", "--input", "1", "--output", "1", expect=2)


def test_offline_init_migrate_backup_rotate(tmp_path):
    """The offline commands on a fresh data directory, no server involved."""
    data, config = tmp_path / "data", tmp_path / "cli.toml"
    env = {k: v for k, v in os.environ.items() if k not in ("OMNIROUTE_ADMIN_TOKEN", "OMNIROUTE_SECRET_KEY")}
    env["OMNIROUTE_CLI_CONFIG"] = str(config)

    def run(*args, expect=0):
        p = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == expect, f"{args}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    p = run("--url", "http://127.0.0.1:1", "init", "--data-dir", str(data))
    assert "admin password (shown only this once)" in p.stderr
    saved = config.read_text()
    assert 'url = "http://127.0.0.1:1"' in saved and "omr-admin-" in saved
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert oct((data / "secret.key").stat().st_mode & 0o777) == "0o600"
    p = run("init", "--data-dir", str(data), "--name", "second")
    assert "admin password" not in p.stderr, "a second init keeps the password"
    assert "up to date" in run("migrate", "--data-dir", str(data)).stdout
    out = tmp_path / "copy.db"
    run("backup", "--data-dir", str(data), "--out", str(out))
    assert out.read_bytes().startswith(b"SQLite format 3\x00")
    run("backup", "--data-dir", str(data), "--out", str(out), expect=1)
    key = (data / "secret.key").read_text()
    assert "re-encrypted 0 credential" in run("rotate-secret", "--data-dir", str(data)).stdout
    assert (data / "secret.key").read_text() != key
    run("migrate", "--data-dir", str(tmp_path / "nothing"), expect=1)


def test_route_explain(cli, cli_json):
    # The e2e combo `fallback` is ["mc/fail-503", "mo/gpt-mock"], strategy priority.
    v = cli_json("route", "explain", "fallback")
    assert v["model"] == "fallback"
    assert v["combo"]["name"] == "fallback" and v["combo"]["strategy"] == "priority"
    assert [o["target"] for o in v["order"]] == ["mock-claude/fail-503", "mock-openai/gpt-mock"]
    assert all(o["why"] for o in v["order"])
    assert "mock-openai/gpt-mock" in [c["target"] for c in v["candidates"]]
    assert all({"target", "connection", "reason", "until"} <= s.keys() for s in v["skipped"])
    text = cli("route", "explain", "fallback", "--tokens", "100").stdout
    assert "fallback" in text and "combo fallback (strategy priority)" in text
    assert "Candidates, in try order" in text and "mock-openai/gpt-mock" in text
    cli("route", "explain", "no-such/model", expect=5)


def test_weighted_combo_round_trip(cli, cli_json):
    name = f"weighted-{RUN}"
    try:
        cli(
            "combo", "set", name,
            "--target", "mo/gpt-mock@3", "--target", "mc/claude-mock@1",
            "--strategy", "weighted", "--sticky-limit", "2",
        )
        combo = next(c for c in cli_json("combo", "list")["data"] if c["name"] == name)
        assert combo["targets"] == [{"model": "mo/gpt-mock", "weight": 3}, {"model": "mc/claude-mock", "weight": 1}]
        assert combo["strategy"] == "weighted"
        assert combo["config"]["sticky_limit"] == 2
        row = next(line for line in cli("combo", "list").stdout.splitlines() if line.startswith(name))
        assert "mo/gpt-mock@3" in row and "sticky_limit=2" in row
        # A weight of 0 is a usage error, caught before anything is sent.
        cli("combo", "set", name, "--target", "mo/gpt-mock@0", expect=2)
    finally:
        cli("combo", "remove", name)
    assert name not in {c["name"] for c in cli_json("combo", "list")["data"]}


def test_health_sections(cli, cli_json, gateway, key):
    # One request first, so the routing memory holds at least mock-openai's connection.
    assert chat(gateway, key)[0] == 200
    h = cli_json("health")
    assert isinstance(h["breakers"], list) and isinstance(h["connections"], list)
    assert "model_locks" in h and isinstance(h["now"], int)
    assert {c["provider"] for c in h["connections"]} >= {"mock-openai"}
    text = cli("health").stdout
    for heading in ["Breakers", "Connections", "Model lockouts"]:
        assert f"\n{heading}\n" in text, f"no {heading} section in:\n{text}"


def test_combo_strategies(cli, cli_json):
    ids = [s["id"] for s in cli_json("combo", "strategies")["data"]]
    assert "p2c" in ids and "priority" in ids
    text = cli("combo", "strategies").stdout
    assert any(line.startswith("p2c ") for line in text.splitlines()), text


def test_scopes_mcp_audit_and_a2a(cli, cli_json):
    name = f"scoped-{RUN}"
    cli("key", "create", name, "--scope", "monitor")
    key = next(k for k in cli_json("key", "list")["data"] if k["name"] == name)
    assert key["scopes"] == ["monitor"]
    cli("key", "create", f"bad-{RUN}", "--scope", "root", expect=6)
    cli("key", "remove", name)
    audit = cli_json("mcp", "audit", "--limit", "5")
    assert "data" in audit
    assert "TOOL" in cli("mcp", "audit").stdout
    assert cli_json("mcp", "status")["tools"] == 21
    assert cli_json("a2a", "status")["enabled"] is True
    cli("a2a", "cancel", "no-such-task", expect=5)
