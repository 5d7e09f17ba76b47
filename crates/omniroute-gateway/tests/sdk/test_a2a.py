"""The A2A agent: the official `a2a-sdk` client (card discovery, send, stream, get, cancel),
and the JSON-RPC wire shapes of protocol 0.3 checked field by field. Needs OMNIROUTE_AGENT_KEY
(a client key with scopes = ["full"]); the e2e config sets `[a2a] default_model`."""

import json
import os
import urllib.error
import urllib.request
import uuid

import anyio
import httpx
import pytest

AGENT_KEY = os.environ.get("OMNIROUTE_AGENT_KEY")
if not AGENT_KEY:
    pytest.skip("OMNIROUTE_AGENT_KEY is not set", allow_module_level=True)

from a2a.client import ClientConfig, create_client  # noqa: E402
from a2a.types import (  # noqa: E402
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)

URL = os.environ["OMNIROUTE_URL"]
ADMIN = os.environ["OMNIROUTE_ADMIN_TOKEN"]


def rpc(method, params, key=AGENT_KEY, raw=None):
    body = raw if raw is not None else json.dumps({"jsonrpc": "2.0", "id": "r1", "method": method, "params": params}).encode()
    req = urllib.request.Request(
        URL + "/a2a",
        data=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def user_message(text, **metadata):
    m = {"kind": "message", "messageId": str(uuid.uuid4()), "role": "user", "parts": [{"kind": "text", "text": text}]}
    if metadata:
        m["metadata"] = metadata
    return m


def test_the_card_is_discoverable():
    for path in ("/.well-known/agent-card.json", "/.well-known/agent.json"):
        with urllib.request.urlopen(URL + path, timeout=10) as r:
            card = json.load(r)
        assert card["protocolVersion"] == "0.3.0"
        assert card["url"] == URL + "/a2a"
        assert card["capabilities"]["streaming"] is True
        assert card["preferredTransport"] == "JSONRPC"
        ids = {s["id"] for s in card["skills"]}
        assert {"smart-routing", "quota-management", "provider-discovery", "cost-analysis", "health-report", "list-capabilities"} <= ids
        assert card["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_message_send_returns_a_completed_task():
    out = rpc("message/send", {"message": user_message("hello agent")})
    assert out["jsonrpc"] == "2.0" and out["id"] == "r1"
    task = out["result"]
    assert task["kind"] == "task"
    assert task["status"]["state"] == "completed"
    texts = [p["text"] for a in task["artifacts"] for p in a["parts"] if p["kind"] == "text"]
    assert "Hello from mock: hello agent" in texts
    data = [p["data"] for a in task["artifacts"] for p in a["parts"] if p["kind"] == "data"]
    assert data[0]["served_by"].startswith("mock-openai/")
    got = rpc("tasks/get", {"id": task["id"]})["result"]
    assert got["id"] == task["id"] and got["status"]["state"] == "completed"
    refused = rpc("tasks/cancel", {"id": task["id"]})
    assert refused["error"]["code"] == -32002


def test_errors_use_the_spec_codes():
    assert rpc("tasks/get", {"id": "no-such-task"})["error"]["code"] == -32001
    assert rpc("tasks/pushNotificationConfig/nope", {})["error"]["code"] == -32601
    bad = rpc(None, None, raw=b"{not json")
    assert bad["error"]["code"] == -32700 and bad["id"] is None
    assert rpc("message/send", {"message": {"role": "user"}})["error"]["code"] == -32602


def test_message_stream_sends_jsonrpc_responses_and_a_final_event():
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "message/stream", "params": {"message": user_message("stream me")}})
    events = []
    with httpx.stream("POST", URL + "/a2a", content=body, headers={"authorization": f"Bearer {AGENT_KEY}", "content-type": "application/json"}, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
    assert all(e["jsonrpc"] == "2.0" and e["id"] == 7 for e in events)
    kinds = [e["result"]["kind"] for e in events]
    assert kinds[0] == "task" and "artifact-update" in kinds
    last = events[-1]["result"]
    assert last["kind"] == "status-update" and last["final"] is True and last["status"]["state"] == "completed"


def test_the_official_client_sends_streams_gets_and_cancels():
    async def run():
        async with httpx.AsyncClient(headers={"authorization": f"Bearer {AGENT_KEY}"}, timeout=60) as http:
            client = await create_client(URL, ClientConfig(httpx_client=http, streaming=False))
            request = SendMessageRequest(message=Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text="from the sdk")]))
            responses = [r async for r in client.send_message(request)]
            task = responses[-1].task
            assert task.status.state == TaskState.TASK_STATE_COMPLETED
            assert any(p.text == "Hello from mock: from the sdk" for a in task.artifacts for p in a.parts)
            fetched = await client.get_task(GetTaskRequest(id=task.id))
            assert fetched.id == task.id

            streaming = await create_client(URL, ClientConfig(httpx_client=http, streaming=True))
            request = SendMessageRequest(message=Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text="streamed")]))
            updates = [r async for r in streaming.send_message(request)]
            assert updates, "events arrived"
            final = [u for u in updates if u.HasField("status_update")][-1].status_update
            assert final.status.state == TaskState.TASK_STATE_COMPLETED

            # A slow task can be canceled while it runs.
            slow = SendMessageRequest(message=Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text="wait")]))
            slow.message.metadata.update({"model": "mo/slow-5000"})
            slow.configuration.return_immediately = True
            first = [r async for r in client.send_message(slow)][-1].task
            canceled = await client.cancel_task(CancelTaskRequest(id=first.id))
            assert canceled.status.state == TaskState.TASK_STATE_CANCELED

    anyio.run(run)


def test_management_mirrors_show_the_tasks():
    def admin(path, method="GET"):
        req = urllib.request.Request(URL + path, method=method, headers={"authorization": f"Bearer {ADMIN}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    status = admin("/api/a2a/status")
    assert status["enabled"] is True
    tasks = admin("/api/a2a/tasks")["data"]
    assert any(t["task"]["status"]["state"] == "canceled" for t in tasks), tasks
    one = admin(f"/api/a2a/tasks/{tasks[0]['task']['id']}")
    assert one["task"]["id"] == tasks[0]["task"]["id"]
