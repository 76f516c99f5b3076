"""Tool calls through ``ponder serve`` with the official openai and anthropic clients, on real models."""

from __future__ import annotations

import json

import anthropic
import jsonschema_rs
import openai
import pytest

import qwen3_tiny

pytest.register_assert_rewrite("serving")
from serving import start, stop  # noqa: E402

pytest_plugins = ["serving"]

PARAMETERS = {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}
CALC = {"type": "function", "function": {"name": "calculator", "description": "Evaluate an arithmetic expression",
                                         "parameters": PARAMETERS}}
ASK = [{"role": "user", "content": "What is 17 * 23? Use the calculator."}]
SHORT = {"thinking": {"max_tokens": 8}}


def follows_schema(arguments: str) -> bool:
    return jsonschema_rs.validator_for(PARAMETERS).is_valid(json.loads(arguments))


def anthropic_client(served):
    return anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0, timeout=120)


def test_a_required_call_comes_back_as_tool_calls_and_its_result_goes_back_in(up):
    client = up.client()
    r = client.chat.completions.create(model="x", messages=ASK, tools=[CALC], tool_choice="required", max_tokens=96,
                                       extra_body=SHORT)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "calculator" and call.id.startswith("call_")
    assert follows_schema(call.function.arguments)
    history = ASK + [choice.message.model_dump(include={"role", "content", "tool_calls"}),
                     {"role": "tool", "tool_call_id": call.id, "content": "391"}]
    answer = client.chat.completions.create(model="x", messages=history, tools=[CALC], max_tokens=48, extra_body=SHORT)
    assert answer.usage.prompt_tokens > r.usage.prompt_tokens  # the call and its result are in the prompt
    assert answer.choices[0].finish_reason in ("stop", "length", "tool_calls")


def test_a_streamed_call_arrives_as_a_tool_calls_delta(up):
    stream = up.client().chat.completions.create(
        model="x", messages=ASK, tools=[CALC], tool_choice={"type": "function", "function": {"name": "calculator"}},
        max_tokens=96, stream=True, extra_body=SHORT)
    deltas, finish, content = [], None, ""
    for chunk in stream:
        for choice in chunk.choices:
            deltas += choice.delta.tool_calls or []
            content += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert finish == "tool_calls" and content == ""
    assert [d.index for d in deltas] == [0] and deltas[0].function.name == "calculator"
    assert follows_schema(deltas[0].function.arguments)


def test_tool_choice_none_and_auto_answer_in_text(up):
    for choice in ("none", "auto"):
        r = up.client().chat.completions.create(model="x", messages=ASK, tools=[CALC], tool_choice=choice,
                                                max_tokens=48, extra_body=SHORT)
        message = r.choices[0].message
        if choice == "none":
            assert message.tool_calls is None and r.choices[0].finish_reason in ("stop", "length")
        assert isinstance(message.content, str) or message.tool_calls


@pytest.mark.parametrize("fields, param", [
    ({"tools": [CALC], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"type": "nonsense"}}}}}]}, "tools"),
    ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools"),
    ({"messages": ASK + [{"role": "tool", "tool_call_id": "call_never_made", "content": "1"}]}, "messages"),
])
def test_bad_tools_are_400s_naming_the_field(up, fields, param):
    body = {"model": "x", "messages": ASK, "max_tokens": 8, **fields}
    with pytest.raises(openai.BadRequestError) as caught:
        up.client().chat.completions.create(**body)
    assert caught.value.body["param"] == param, caught.value.body


def test_anthropic_tool_use_whole_streamed_and_its_result(up):
    client = anthropic_client(up)
    tools = [{"name": "calculator", "description": "Evaluate an arithmetic expression", "input_schema": PARAMETERS}]
    message = client.messages.create(model="x", max_tokens=96, messages=ASK, tools=tools, tool_choice={"type": "any"})
    assert message.stop_reason == "tool_use"
    [use] = [b for b in message.content if b.type == "tool_use"]
    assert use.name == "calculator" and jsonschema_rs.validator_for(PARAMETERS).is_valid(use.input)
    with client.messages.stream(model="x", max_tokens=96, messages=ASK, tools=tools,
                                tool_choice={"type": "tool", "name": "calculator"}) as stream:
        events = [e.type for e in stream]
        final = stream.get_final_message()
    assert "input_json" in events and final.stop_reason == "tool_use"
    assert [b.type for b in final.content][-1] == "tool_use" and "expression" in final.content[-1].input
    turn = ASK + [{"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name,
                                                    "input": use.input}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "391"}]}]
    reply = client.messages.create(model="x", max_tokens=24, messages=turn, tools=tools)
    assert reply.stop_reason in ("end_turn", "max_tokens", "tool_use")
    counted = client.messages.count_tokens(model="x", messages=turn, tools=tools).input_tokens
    assert counted == reply.usage.input_tokens + (reply.usage.cache_read_input_tokens or 0)
    assert counted > client.messages.count_tokens(model="x", messages=ASK).input_tokens
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="x", max_tokens=8, messages=ASK, tools=tools,
                               tool_choice={"type": "tool", "name": "other"})
    assert "not among the tools" in caught.value.body["error"]["message"]


@pytest.fixture(scope="module")
def qwen_server():
    served = start("--model", qwen3_tiny.gguf(), "--max-tokens", "256")
    yield served
    stop(served)


def test_qwen3s_own_template_writes_the_tools_and_its_calls_parse(qwen_server):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(qwen3_tiny.folder())
    weather = {"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["unit"]}}}
    question = [{"role": "user", "content": "Weather?"}]
    r = qwen_server.client().chat.completions.create(model="x", messages=question, tools=[weather],
                                                     tool_choice="required", max_tokens=120, extra_body=SHORT)
    rendered = reference.apply_chat_template(question, tools=[weather], tokenize=False, add_generation_prompt=True)
    assert r.usage.prompt_tokens == len(reference.encode(rendered + "<think>\n"))
    [call] = r.choices[0].message.tool_calls
    assert call.function.name == "weather" and json.loads(call.function.arguments)["unit"] in ("celsius", "fahrenheit")


# the agent example, run as a user runs it

@pytest.mark.parametrize("which", ["smollm2", "qwen3"])
def test_the_agent_example_runs_its_tool_loop_within_the_turn_budget(which, up, qwen_server):
    import subprocess
    import sys
    from pathlib import Path

    served = up if which == "smollm2" else qwen_server
    script = Path(__file__).resolve().parent.parent / "examples" / "agent.py"
    done = subprocess.run([sys.executable, str(script), "--base-url", served.api, "--turn-budget", "40"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(summary["calls"]) >= 2  # the two forced steps each made a call, evaluated by the example
    assert all(c["result"] for c in summary["calls"])
    assert summary["turn"]["spent"] <= 40 and summary["turn"]["max_tokens"] == 40
    assert "step 3:" in done.stdout or summary["turn"]["remaining"] is not None
