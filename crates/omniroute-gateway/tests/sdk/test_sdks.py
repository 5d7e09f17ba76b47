"""The official SDKs against omniroute, in front of the project's mock upstream.

Every client format (OpenAI Chat, OpenAI Responses, Anthropic, Gemini) is driven by its own
official SDK against an upstream of every format, streamed and not, with tools, plus fallback
from a failing first target of a combo.
"""

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

# One model per upstream format; the mock answers "Hello from mock: <last user text>".
UPSTREAMS = ["mo/gpt-mock", "mc/claude-mock", "mock-gemini/gemini-mock", "mock-responses/codex-mock"]
WEATHER_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def oai(gateway, key):
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0)


@pytest.fixture
def claude(gateway, key):
    return anthropic.Anthropic(base_url=gateway, api_key=key, max_retries=0)


@pytest.fixture
def gem(gateway, key):
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gateway))


@pytest.mark.parametrize("model", UPSTREAMS)
def test_openai_chat(oai, model):
    r = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "ping"}])
    assert r.choices[0].message.content == "Hello from mock: ping"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0


@pytest.mark.parametrize("model", UPSTREAMS)
def test_openai_chat_stream_with_usage(oai, model):
    stream = oai.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "ping pong"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert text == "Hello from mock: ping pong"
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


@pytest.mark.parametrize("model", UPSTREAMS)
def test_openai_chat_tools(oai, model):
    r = oai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER_OPENAI]
    )
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert '"city"' in call.function.arguments
    assert r.choices[0].finish_reason == "tool_calls"
    follow = oai.chat.completions.create(
        model=model,
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
        tools=[WEATHER_OPENAI],
    )
    assert follow.choices[0].message.content == "Tool result received: sunny"


@pytest.mark.parametrize("model", UPSTREAMS)
def test_openai_responses(oai, model):
    r = oai.responses.create(model=model, input="ping")
    assert r.output_text == "Hello from mock: ping"
    events = [e.type for e in oai.responses.create(model=model, input="ping", stream=True)]
    assert events[0] == "response.created"
    assert events[-1] == "response.completed"
    assert "response.output_text.delta" in events


@pytest.mark.parametrize("model", UPSTREAMS)
def test_anthropic_messages(claude, model):
    r = claude.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "ping"}])
    assert r.content[0].text == "Hello from mock: ping"
    assert r.stop_reason == "end_turn"
    with claude.messages.stream(model=model, max_tokens=64, messages=[{"role": "user", "content": "ping"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Hello from mock: ping"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", UPSTREAMS)
def test_anthropic_tools_streamed(claude, model):
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_OPENAI["function"]["parameters"]}]
    with claude.messages.stream(
        model=model, max_tokens=64, tools=tools, messages=[{"role": "user", "content": "weather?"}]
    ) as s:
        final = s.get_final_message()
    use = [b for b in final.content if b.type == "tool_use"][0]
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize("model", UPSTREAMS)
def test_gemini(gem, model):
    r = gem.models.generate_content(model=model, contents="ping")
    assert r.text == "Hello from mock: ping"
    text = "".join(c.text or "" for c in gem.models.generate_content_stream(model=model, contents="ping"))
    assert text == "Hello from mock: ping"


@pytest.mark.parametrize("model", UPSTREAMS)
def test_gemini_tools(gem, model):
    decl = types.FunctionDeclaration(
        name="get_weather",
        description="Weather",
        parameters_json_schema=WEATHER_OPENAI["function"]["parameters"],
    )
    r = gem.models.generate_content(
        model=model,
        contents="weather?",
        config=types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[decl])],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        ),
    )
    call = r.function_calls[0]
    assert call.name == "get_weather" and call.args == {"city": "Paris"}


def test_fallback_from_a_failing_target(oai, claude, gem):
    assert oai.chat.completions.create(model="fallback", messages=[{"role": "user", "content": "x"}]).choices
    assert claude.messages.create(model="fallback", max_tokens=8, messages=[{"role": "user", "content": "x"}]).content
    assert gem.models.generate_content(model="fallback", contents="x").text


def test_errors_reach_each_sdk_as_its_own_exception(oai, claude, gem):
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="nope/x", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="mc/fail-429", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(genai.errors.ClientError) as e:
        gem.models.generate_content(model="mo/fail-400", contents="x")
    assert e.value.code == 400


def test_models_list(oai):
    ids = [m.id for m in oai.models.list()]
    assert "mock-openai/gpt-mock" in ids and "fallback" in ids
