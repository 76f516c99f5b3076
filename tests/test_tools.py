"""Tool calls in Python: tools checked, rendered into the prompt, calls read from the answer and forced by a grammar.

Real models: SmolLM2 (its template has no tools: ponder's fallback) and the tiny random Qwen3 (its
own template writes tools). A forced call must parse and follow its schema whatever the model is.
"""

from __future__ import annotations

import json

import jsonschema_rs
import pytest

import ponder
import qwen3_tiny
from ponder import Budget, PonderError, Tool, ToolCall
from ponder.tools import CallReader, ToolUse, read_calls
from ponder.tools.formats import FALLBACK

CALC = {"type": "function", "function": {
    "name": "calculator", "description": "Evaluate an arithmetic expression",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}
WEATHER = Tool("weather", "The weather in a city", {
    "type": "object", "properties": {"city": {"type": "string", "maxLength": 20},
                                     "unit": {"enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer"}},
    "required": ["city", "unit", "days"], "additionalProperties": False})
QUESTIONS = ["What is 17 * 23?", "Compute 2 + 2 * 2.", "How much is 1000 / 8?", "What is the weather in Paris?",
             "Is it cold in Oslo this week?", "Add 5 and 7."]


@pytest.fixture(scope="module")
def smol():
    return ponder.load_backend()


@pytest.fixture(scope="module")
def qwen():
    return ponder.load_backend(qwen3_tiny.folder(), "transformers")


def valid(call: ToolCall, tools) -> bool:
    schema = next(dict(t.parameters) for t in map(ponder.tools.tool_from, tools) if t.name == call.name)
    return jsonschema_rs.validator_for(schema).is_valid(call.parsed_arguments())


# the shapes

@pytest.mark.parametrize("spec, message", [
    ({"type": "function", "function": {"name": "has space"}}, "name"),
    ({"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}, "object"),
    ({"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": 3}}},
     "not a JSON Schema"),
    ({"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
        "a": {"type": "nonsense"}}}}}, "not a JSON Schema"),
    ({"type": "web_search"}, "not supported"),
])
def test_a_bad_tool_is_refused_with_what_is_wrong(spec, message):
    with pytest.raises(PonderError, match=message):
        ToolUse.make([spec])


def test_a_tool_choice_is_checked_against_the_tools():
    with pytest.raises(PonderError, match="not among the tools"):
        ToolUse.make([CALC], {"name": "nope"})
    with pytest.raises(PonderError, match="needs tools"):
        ToolUse.make([], "required")
    with pytest.raises(PonderError, match="unique"):
        ToolUse.make([CALC, CALC])
    assert ToolUse.make([CALC], {"type": "function", "function": {"name": "calculator"}}).choice.name == "calculator"
    assert not ToolUse.make([CALC], "none").reads_calls


def test_the_reader_splits_an_answer_fed_in_pieces_as_it_does_whole():
    call = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "17*23"}}\n</tool_call>'
    bad = '<tool_call>\n{"name": "calculator", "arguments": {"expression": </tool_call>'
    unknown = '<tool_call>\n{"name": "rm", "arguments": {}}\n</tool_call>'
    answer = f"Let me see. {call}\n{bad} and {unknown} then <tool_ca"
    whole_text, whole_calls = read_calls(answer, FALLBACK, ToolUse.make([CALC]).tools)
    assert [c.name for c in whole_calls] == ["calculator"]
    assert whole_calls[0].parsed_arguments() == {"expression": "17*23"}
    assert whole_text == answer.replace(call, "")  # what does not parse as a call stays as written
    reader = CallReader(FALLBACK, ToolUse.make([CALC]).tools)
    pieces = [item for ch in answer for item in reader.feed(ch)] + reader.close()
    assert "".join(item for kind, item in pieces if kind == "text") == whole_text
    assert [item.name for kind, item in pieces if kind == "call"] == ["calculator"]
    text_before_call = next(i for i, (kind, _) in enumerate(pieces) if kind == "call")
    assert "".join(item for _, item in pieces[:text_before_call]) == "Let me see. "  # nothing of the tag leaked
    unclosed = read_calls('<tool_call>\n{"name": "calculator", "arguments": {"expression": "1"}}', FALLBACK,
                          ToolUse.make([CALC]).tools)
    assert unclosed[0] == "" and unclosed[1][0].name == "calculator"


# SmolLM2: ponder's fallback rendering

def test_the_fallback_writes_tools_calls_and_results_into_the_prompt(smol):
    history = [{"role": "user", "content": "What is 17 * 23?"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_1", "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression": "17*23"}'}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": "391"}]
    result = ponder.generate(history, smol, thinking=False, tools=[CALC], max_tokens=4)
    prompt = result.prompt
    assert '"name": "calculator"' in prompt and "<tools>" in prompt  # the tool, in the system message
    assert '<tool_call>\n{"name": "calculator", "arguments": {"expression": "17*23"}}\n</tool_call>' in prompt
    assert "<|im_start|>user\n<tool_response>\n391\n</tool_response>" in prompt


@pytest.mark.parametrize("cap", [8, 48])
def test_a_forced_call_always_parses_and_follows_its_schema(smol, cap):
    tools = [CALC, WEATHER]
    for i, question in enumerate(QUESTIONS):
        choice = ["required", "calculator", "weather"][i % 3]
        result = ponder.generate(question, smol, Budget(max_tokens=cap), tools=tools, tool_choice=choice,
                                 max_tokens=96, temperature=0.8 if i % 2 else 0.0, seed=i)
        assert len(result.tool_calls) == 1, (question, result.answer)
        call = result.tool_calls[0]
        assert choice == "required" or call.name == choice
        assert valid(call, tools), call.arguments
        assert result.usage.thinking_tokens <= cap and result.finish_reason == "stop"
        assert result.answer.strip() == ""  # a forced answer is the call alone


def test_a_call_still_open_near_the_limit_is_closed_in_time(smol):
    result = ponder.generate("Describe the sea at length.", smol, False, tools=[CALC], tool_choice="calculator",
                             max_tokens=40)
    assert len(result.tool_calls) == 1 and valid(result.tool_calls[0], [CALC])
    assert result.usage.completion_tokens <= 40


def test_a_forced_call_keeps_room_from_the_thinking(smol):
    result = ponder.generate("What is 17 * 23?", smol, Budget(min_tokens=200), tools=[CALC],
                             tool_choice="required", max_tokens=100)
    assert result.usage.thinking_tokens <= 100 - 64 and len(result.tool_calls) == 1


def test_streamed_calls_arrive_whole_and_the_text_joins_to_the_answer(smol):
    seen = []
    result = ponder.generate("What is 17 * 23?", smol, Budget(max_tokens=8), tools=[CALC], tool_choice="required",
                             max_tokens=80, on_text=lambda phase, item: seen.append((phase, item)))
    calls = [item for phase, item in seen if phase == "tool_call"]
    assert calls == list(result.tool_calls)
    assert "".join(item for phase, item in seen if phase == "answer") == result.answer
    assert all("<tool_call>" not in item for phase, item in seen if phase == "answer")


def test_forced_calls_in_a_batch_parse_as_alone(smol):
    requests = [dict(prompt=q, thinking=Budget(max_tokens=8), tools=[CALC], tool_choice="required", max_tokens=80)
                for q in QUESTIONS[:4]]
    batched = dict(ponder.generate_many(requests, smol, batch_size=4, prefix_cache=False))
    alone = [ponder.generate(**r, model=smol) for r in requests]
    for i, result in enumerate(alone):
        assert [c.arguments for c in batched[i].tool_calls] == [c.arguments for c in result.tool_calls]
        assert valid(result.tool_calls[0], [CALC])


def test_tools_need_a_chat_prompt(smol):
    with pytest.raises(PonderError, match="chat prompt"):
        ponder.generate("<think>\n", smol, tools=[CALC], raw_prompt=True, max_tokens=4)
    with pytest.raises(PonderError, match="local model"):
        ponder.generate("hi", tools=[CALC], endpoint="http://127.0.0.1:9/v1")


# the tiny Qwen3: its own template writes the tools, and its calls' tags are special tokens

def test_qwen3s_template_writes_the_tools_and_the_history(qwen):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(qwen3_tiny.folder())
    history = [{"role": "user", "content": "What is 17 * 23?"},
               {"role": "assistant", "content": "", "tool_calls": [
                   {"id": "call_1", "type": "function",
                    "function": {"name": "calculator", "arguments": {"expression": "17*23"}}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": "391"}]
    result = ponder.generate(history, qwen, Budget(max_tokens=4), tools=[CALC], max_tokens=8)
    expected = reference.apply_chat_template(history, tools=[CALC], tokenize=False, add_generation_prompt=True)
    assert result.prompt == expected + "<think>\n"
    assert "<tool_response>\n391\n</tool_response>" in result.prompt and "calculator" in result.prompt


def test_a_forced_call_on_qwen3_writes_its_special_tags_and_parses(qwen):
    open_id, close_id = qwen.special_id("<tool_call>"), qwen.special_id("</tool_call>")
    assert open_id is not None and close_id is not None
    for seed in range(3):
        result = ponder.generate("What is the weather in Paris?", qwen, Budget(max_tokens=8), tools=[WEATHER],
                                 tool_choice="required", max_tokens=120, temperature=1.0, seed=seed)
        assert open_id in result.token_ids and close_id in result.token_ids
        [call] = result.tool_calls
        assert call.name == "weather" and valid(call, [WEATHER]), call.arguments
        assert json.loads(call.arguments)["unit"] in ("celsius", "fahrenheit")
