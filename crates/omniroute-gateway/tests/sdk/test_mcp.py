"""The MCP server with the official `mcp` Python SDK: the stdio binary (`omniroute-mcp`, driving
the running gateway) and Streamable HTTP at /api/mcp/stream. Needs OMNIROUTE_MCP (the built
binary), OMNIROUTE_AGENT_KEY (a client key with scopes = ["full"]) and OMNIROUTE_KEY (a key
with the default, read-only scopes)."""

import json
import os
import urllib.request

import anyio
import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

MCP = os.environ.get("OMNIROUTE_MCP")
if not MCP:
    pytest.skip("OMNIROUTE_MCP is not set", allow_module_level=True)

AGENT_KEY = os.environ["OMNIROUTE_AGENT_KEY"]
READ_KEY = os.environ["OMNIROUTE_KEY"]
ADMIN = os.environ["OMNIROUTE_ADMIN_TOKEN"]


def structured(result):
    assert not result.is_error, result
    data = result.structured_content
    if data is None:
        data = json.loads(result.content[0].text)
    return data


async def exercise(session, transport):
    init = await session.initialize()
    assert init.server_info.name == "omniroute"
    tools = (await session.list_tools()).tools
    names = {t.name for t in tools}
    assert len(names) == 21 and "omniroute_route_request" in names
    assert all(t.input_schema.get("type") == "object" for t in tools)
    health = structured(await session.call_tool("omniroute_get_health", {}))
    assert health["status"] == "ok"
    combos = structured(await session.call_tool("omniroute_list_combos", {}))
    assert any(c["name"] == "fallback" for c in combos["combos"])
    answer = structured(
        await session.call_tool(
            "omniroute_route_request",
            {"model": "mo/gpt-mock", "messages": [{"role": "user", "content": f"via {transport}"}]},
        )
    )
    assert answer["content"] == f"Hello from mock: via {transport}"
    assert answer["served_by"].startswith("mock-openai/")


def stdio_params(key, data_dir):
    return StdioServerParameters(
        command=MCP,
        args=["--url", os.environ["OMNIROUTE_URL"], "--api-key", key, "--data-dir", str(data_dir)],
    )


def test_stdio(tmp_path):
    async def run():
        async with stdio_client(stdio_params(AGENT_KEY, tmp_path)) as (read, write):
            async with ClientSession(read, write) as session:
                await exercise(session, "stdio")
        beat = json.loads((tmp_path / "runtime" / "mcp-heartbeat.json").read_text())
        assert beat["transport"] == "stdio" and beat["tool_count"] == 21 and beat["pid"] > 0

    anyio.run(run)


def test_stdio_scope_refusal(tmp_path):
    async def run():
        async with stdio_client(stdio_params(READ_KEY, tmp_path)) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                ok = await session.call_tool("omniroute_get_health", {})
                assert not ok.is_error
                refused = await session.call_tool(
                    "omniroute_switch_combo", {"name": "fallback", "enabled": False}
                )
                assert refused.is_error
                assert "forbidden" in refused.content[0].text
                assert "write:combos" in refused.content[0].text

    anyio.run(run)


def test_streamable_http():
    async def run():
        url = os.environ["OMNIROUTE_URL"] + "/api/mcp/stream"
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {AGENT_KEY}"}, timeout=60) as http:
            async with streamable_http_client(url, http_client=http) as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(read, write) as session:
                    await exercise(session, "http")

    anyio.run(run)


def test_http_needs_a_key_and_a_local_origin():
    url = os.environ["OMNIROUTE_URL"] + "/api/mcp/stream"
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    for headers, status in (
        ({}, 401),
        ({"Authorization": f"Bearer {AGENT_KEY}", "Origin": "https://evil.example"}, 403),
    ):
        req = urllib.request.Request(url, data=body, headers={"content-type": "application/json", "accept": "application/json, text/event-stream", **headers})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == status


def test_the_audit_shows_both_transports():
    req = urllib.request.Request(
        os.environ["OMNIROUTE_URL"] + "/api/mcp/audit?limit=500",
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        rows = json.load(r)["data"]
    transports = {r["transport"] for r in rows if r["tool"] == "omniroute_route_request" and r["success"]}
    assert {"stdio", "mcp-http"} <= transports, transports
    assert any(r["tool"] == "omniroute_switch_combo" and r["error_code"] == "forbidden" for r in rows)
