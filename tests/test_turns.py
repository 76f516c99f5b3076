"""One thinking budget across a turn: in Python, through the server's three dialects, and over an endpoint."""

from __future__ import annotations

import anthropic
import openai
import pytest

import ponder
from ponder import Budget, PonderError, TurnBudget
from ponder.turns import remember, turn_thinking

pytest.register_assert_rewrite("serving")
from serving import details  # noqa: E402

pytest_plugins = ["serving"]

CALC = {"type": "function", "function": {"name": "calculator", "parameters": {
    "type": "object", "properties": {"expression": {"type": "string", "maxLength": 16}}, "required": ["expression"]}}}
QUESTION = [{"role": "user", "content": "What is 17 * 23 + 5?"}]


def words(text: str) -> int:
    return len(text.split())


def test_the_turn_is_what_follows_the_last_user_message():
    chat = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "", "reasoning_content": "one two"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "", "reasoning_content": "three four five", "tool_calls": []},
            {"role": "tool", "tool_call_id": "x", "content": "1"},
            {"role": "assistant", "content": "", "reasoning": "six"}]
    assert turn_thinking(chat, words) == 4
    assert turn_thinking(chat + [{"role": "user", "content": "c"}], words) == 0
    assert TurnBudget(10, spent=7).spent_in(chat, words) == 7


def test_a_thinking_this_process_generated_counts_as_generated():
    chat = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "", "reasoning_content": "seven eight"}]
    assert turn_thinking(chat, words) == 2
    remember("seven eight", 3)  # generated as three tokens, re-counted as two
    assert turn_thinking(chat, words) == 3
    remember("   ", 9)  # an empty thinking is not remembered
    assert turn_thinking([{"role": "assistant", "reasoning_content": " "}], words) == 0


def test_a_turn_budget_leaves_a_generation_what_is_left():
    assert TurnBudget(10).thinking(None, 10) is False  # nothing left: no thinking
    [budget] = [p for p in TurnBudget(10, min_tokens=6).thinking(None, 4) if isinstance(p, Budget)]
    assert (budget.min_tokens, budget.max_tokens) == (2, 6)
    own = TurnBudget(10).thinking([Budget(min_tokens=8, max_tokens=50, wait="Hmm")], 4)
    assert [(p.min_tokens, p.max_tokens, p.wait) for p in own if isinstance(p, Budget)] == [(6, 6, ("Hmm",))]
    with pytest.raises(PonderError, match="more than its budget"):
        TurnBudget(10).thinking(None, 11)
    with pytest.raises(PonderError, match="min_tokens"):
        TurnBudget(4, min_tokens=5)


def tool_loop(backend, steps: int, thinking, turn: TurnBudget | None, **kw) -> list:
    """A loop of forced calls and their results: each generation's result."""
    chat, results = list(QUESTION), []
    for _ in range(steps):
        r = ponder.generate(chat, backend, thinking, tools=[CALC], tool_choice="required", max_tokens=200,
                            turn=turn, **kw)
        results.append(r)
        [call] = r.tool_calls
        chat += [{"role": "assistant", "content": r.answer, "reasoning_content": r.thinking,
                  "tool_calls": [call.to_openai()]}, {"role": "tool", "tool_call_id": call.id, "content": "42"}]
    return results


def test_a_tool_loops_thinking_stays_within_the_turn_budget():
    backend = ponder.load_backend()
    held = tool_loop(backend, 3, Budget(min_tokens=30), TurnBudget(max_tokens=50))
    assert sum(r.usage.thinking_tokens for r in held) <= 50
    assert held[0].turn["spent_before"] == 0 and held[-1].turn["remaining"] >= 0
    assert held[1].turn["spent_before"] > 0  # counted from the history the loop sent back
    per_request = tool_loop(backend, 3, Budget(min_tokens=30, max_tokens=50), None)
    assert sum(r.usage.thinking_tokens for r in per_request) > 50  # each generation alone: the turn passes it


def test_the_servers_dialects_hold_a_turn_budget(up):
    history = QUESTION + [{"role": "assistant", "content": None, "reasoning_content": "Let me think about this.",
                           "tool_calls": [{"id": "call_1", "type": "function", "function": {
                               "name": "calculator", "arguments": '{"expression": "17*23"}'}}]},
                          {"role": "tool", "tool_call_id": "call_1", "content": "391"}]
    client = up.client()
    r = client.chat.completions.create(model="x", messages=history, tools=[CALC], max_tokens=64,
                                       extra_body={"thinking": {"min_tokens": 40, "turn_max_tokens": 20}})
    turn = details(r)["turn"]
    spent = r.usage.completion_tokens_details.reasoning_tokens
    assert turn["spent_before"] > 0 and spent <= 20 - turn["spent_before"]
    assert turn["spent"] == turn["spent_before"] + spent and turn["remaining"] == 20 - turn["spent"]
    told = client.chat.completions.create(model="x", messages=history, max_tokens=16,
                                          extra_body={"thinking": {"turn_max_tokens": 12, "turn_spent_tokens": 12}})
    assert told.usage.completion_tokens_details.reasoning_tokens == 0 and details(told)["turn"]["remaining"] == 0
    with pytest.raises(openai.BadRequestError, match="more than its budget"):
        client.chat.completions.create(model="x", messages=history, max_tokens=8,
                                       extra_body={"thinking": {"turn_max_tokens": 5, "turn_spent_tokens": 9}})
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="x", messages=history, max_tokens=8,
                                       extra_body={"thinking": {"turn_spent_tokens": 9}})
    assert caught.value.body["param"] == "thinking.turn_spent_tokens"
    claude = anthropic.Anthropic(base_url=up.url, api_key="unused", max_retries=0, timeout=120)
    turn_history = QUESTION + [
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "Let me think about this.", "signature": "s"},
                                          {"type": "tool_use", "id": "t1", "name": "calculator",
                                           "input": {"expression": "17*23"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "391"}]}]
    message = claude.messages.create(model="x", max_tokens=64, messages=turn_history,
                                     tools=[{"name": "calculator", "input_schema": CALC["function"]["parameters"]}],
                                     thinking={"type": "enabled", "budget_tokens": 40, "turn_max_tokens": 20})
    turn = message.model_extra["ponder"]["turn"]
    assert turn["spent_before"] == details(r)["turn"]["spent_before"]  # the same thought, counted alike
    assert turn["spent"] <= 20


def test_the_remote_loop_holds_a_turn_budget(up):
    history = QUESTION + [{"role": "assistant", "content": "391 + 5", "reasoning_content": "Some earlier thought."}]
    result = ponder.generate(history, thinking=Budget(min_tokens=30), endpoint=up.api, max_tokens=64,
                             turn=TurnBudget(max_tokens=100, spent=90))
    assert result.turn["spent_before"] == 90 and result.usage.thinking_tokens <= 10
    counted = ponder.generate(history, thinking=Budget(min_tokens=30), endpoint=up.api, max_tokens=64,
                              turn=TurnBudget(max_tokens=100))
    assert 0 < counted.turn["spent_before"] < 10  # the earlier thought, counted by the server's tokenizer


def test_the_vllm_plugin_takes_a_turn_budget_with_the_clients_count():
    from ponder.vllm.extra_args import request_thinking

    chain, _ = request_thinking({"min_think": 40, "turn_max_think": 50, "turn_spent": 30})
    assert [(p.min_tokens, p.max_tokens) for p in chain.policies if isinstance(p, Budget)] == [(20, 20)]
    spent, _ = request_thinking({"turn_max_think": 10, "turn_spent": 10})
    assert any(type(p).__name__ == "NoThinking" for p in spent.policies)
    with pytest.raises(PonderError, match="more than its budget"):
        request_thinking({"turn_max_think": 10, "turn_spent": 11})
    with pytest.raises(PonderError, match="turn_max_think"):
        request_thinking({"turn_spent": 3})

