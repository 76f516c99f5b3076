"""The mapping from a request's ``thinking`` / ``reasoning_effort`` to ponder policies: pure, no model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ponder import Budget, EntropyPause, Filler, NoThinking, Pause, PonderError, Prefix
from ponder.server.schemas import ChatRequest, ThinkingOptions
from ponder.server.thinking import EFFORTS, describe, resolve_thinking


def resolve(thinking: dict | None = None, effort: str | None = None):
    return resolve_thinking(ThinkingOptions(**thinking) if thinking is not None else None, effort)


def test_nothing_asked_lets_the_model_think_freely():
    assert resolve() is None
    assert resolve({}) is None
    assert resolve({"enabled": True}) is None
    assert resolve({"type": "enabled"}) is None


def test_budget_fields_make_one_budget():
    [budget] = resolve({"min_tokens": 32, "max_tokens": 64, "wait": ["Wait", "Hmm"], "max_waits": 3,
                        "wrap_up": "\nSo:"})
    assert budget == Budget(min_tokens=32, max_tokens=64, wait=("Wait", "Hmm"), max_waits=3, wrap_up="\nSo:")
    assert resolve({"wait": "Hmm"}) == [Budget(wait=("Hmm",))]
    assert resolve({"min_tokens": 5}) == [Budget(min_tokens=5, max_tokens=None)]


def test_every_policy_field_maps_to_its_policy():
    policies = resolve({"prefix": "Ok, so", "filler": 8, "pause": 2, "entropy_pause": 2.5, "max_tokens": 40})
    assert policies == [Budget(max_tokens=40), Prefix("Ok, so"), Filler(8), Pause(2), EntropyPause(2.5)]


def test_policy_objects_carry_their_options():
    policies = resolve({
        "filler": {"count": 4, "text": " ...", "where": "before_end"},
        "pause": {"count": 3, "text": " hmm", "every": 5},
        "entropy_pause": {"threshold": 1.5, "varentropy_max": 4, "text": " ..", "cooldown": 2,
                          "max_insertions": 6, "phase": "both"},
    })
    assert policies == [Filler(4, " ...", "before_end"), Pause(3, " hmm", 5),
                        EntropyPause(1.5, 4.0, " ..", 2, 6, "both")]


@pytest.mark.parametrize("thinking, effort", [
    ({"enabled": False}, None),
    ({"type": "disabled"}, None),
    (None, "none"),
])
def test_the_three_ways_to_turn_thinking_off(thinking, effort):
    assert resolve(thinking, effort) is False


def test_no_thinking_keeps_a_pause_in_the_answer():
    assert resolve({"enabled": False, "pause": 2}) == [NoThinking(), Pause(2)]


@pytest.mark.parametrize("effort", [e for e, v in EFFORTS.items() if v is not None])
def test_reasoning_effort_budgets(effort):
    expected = EFFORTS[effort]
    assert resolve(None, effort) == [Budget(min_tokens=expected.min_tokens, max_tokens=expected.max_tokens)]


def test_documented_effort_budgets():
    assert (EFFORTS["low"].min_tokens, EFFORTS["low"].max_tokens) == (0, 64)
    assert (EFFORTS["medium"].min_tokens, EFFORTS["medium"].max_tokens) == (0, 256)
    assert (EFFORTS["high"].min_tokens, EFFORTS["high"].max_tokens) == (256, 1024)


def test_explicit_fields_win_over_reasoning_effort():
    assert resolve({"max_tokens": 500}, "high") == [Budget(min_tokens=256, max_tokens=500)]
    assert resolve({"min_tokens": 0}, "high") == [Budget(min_tokens=0, max_tokens=1024)]
    assert resolve({"enabled": True}, "none") is None


def test_anthropic_budget_tokens_is_the_maximum():
    assert resolve({"type": "enabled", "budget_tokens": 100}) == [Budget(max_tokens=100)]


@pytest.mark.parametrize("thinking, effort, message", [
    ({"min_tokens": 50, "max_tokens": 10}, None, "lower the minimum or raise the maximum"),
    ({"max_tokens": 100}, "high", "lower the minimum or raise the maximum"),
    ({"enabled": False, "max_tokens": 5}, None,
     "thinking is off \\(thinking.enabled: false\\), so thinking.max_tokens cannot apply"),
    ({"type": "disabled", "prefix": "Ok"}, None, "thinking.prefix cannot apply"),
    ({"enabled": True, "type": "disabled"}, None, "disagree"),
    ({"budget_tokens": 5, "max_tokens": 6}, None, "not both"),
    ({"filler": 0}, None, "filler count must be >= 1"),
    ({"pause": {"count": 2, "every": 0}}, None, "pause every must be >= 1"),
])
def test_bad_combinations_raise_a_clear_ponder_error(thinking, effort, message):
    with pytest.raises(PonderError, match=message):
        resolve(thinking, effort)


@pytest.mark.parametrize("thinking", [
    {"min_tokens": -1},
    {"min_tokens": "many"},
    {"min_tokens": 1.5},
    {"min_tokens": True},
    {"min_tokens": "5"},
    {"wait": ""},
    {"wait": []},
    {"filler": {"count": 4, "where": "somewhere"}},
    {"filler": 5000},
    {"pause": {"count": 2, "text": "." * 17}},
    {"entropy_pause": -2},
    {"type": "adaptive"},
    {"enabled": "yes"},
    {"prefix": "\ud800"},
])
def test_wrong_types_and_values_fail_validation(thinking):
    with pytest.raises(ValidationError):
        ThinkingOptions(**thinking)


def test_a_whole_float_is_a_whole_number():
    assert ThinkingOptions(min_tokens=5.0, filler=3.0).min_tokens == 5
    assert resolve({"filler": 3.0}) == [Filler(3)]


def test_unknown_fields_are_ignored_and_nan_refused():
    request = ChatRequest.model_validate_json(
        '{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi", "name": "x"}], '
        '"frequency_penalty": 0.5, "logit_bias": {"1": 2}, "thinking": {"max_tokens": 8, "colour": "blue"}}')
    assert request.thinking.max_tokens == 8 and request.chat() == [{"role": "user", "content": "hi"}]
    with pytest.raises(ValidationError):
        ChatRequest.model_validate_json('{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}')


def test_text_parts_are_joined():
    request = ChatRequest(messages=[{"role": "user", "content": [{"type": "text", "text": "a"},
                                                                  {"type": "text", "text": "b"}]}])
    assert request.chat() == [{"role": "user", "content": "ab"}]
    with pytest.raises(ValidationError):
        ChatRequest(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])


def test_describe_labels_the_policy_for_the_live_view():
    assert describe(resolve({"min_tokens": 8, "max_tokens": 32, "prefix": "Ok"})) == "budget 8-32 + prefix"
    assert describe(resolve(None, "none")) == "no thinking"
    assert describe(resolve()) == "free"
