"""The mapping from a request's ``thinking`` / ``reasoning_effort`` to ponder policies: pure, no model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ponder import Adaptive, Budget, EntropyPause, Filler, NoThinking, Pause, PonderError, Prefix
from ponder.server.schemas import ChatRequest, ReasoningOptions, ThinkingOptions
from ponder.server.thinking import EFFORTS, ThinkingAsk, describe, resolve_thinking
from ponder.server.thinking import resolve as resolve_ask


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
    assert resolve({"max_tokens": 100}, "high") == [Budget(min_tokens=100, max_tokens=100)]  # the effort bends
    assert resolve({"min_tokens": 0}, "high") == [Budget(min_tokens=0, max_tokens=1024)]
    assert resolve({"enabled": True}, "none") is None


def test_anthropic_budget_tokens_is_the_maximum():
    assert resolve({"type": "enabled", "budget_tokens": 100}) == [Budget(max_tokens=100)]


@pytest.mark.parametrize("thinking, effort, message", [
    ({"min_tokens": 50, "max_tokens": 10}, None, "lower the minimum or raise the maximum"),
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
    {"min_tokens": "five"},  # neither a count nor a relative budget ("0.5p+256")
    {"wait": ""},
    {"wait": []},
    {"filler": {"count": 4, "where": "somewhere"}},
    {"filler": 5000},
    {"pause": {"count": 2, "text": "." * 17}},
    {"entropy_pause": -2},
    {"type": "sometimes"},
    {"display": "hidden"},
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
        '"frequency_penalty": 0, "logit_bias": {}, "service_tier": "auto", '
        '"thinking": {"max_tokens": 8, "colour": "blue"}}')
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


def ask(thinking=None, reasoning=None, effort=None, enable_thinking=None, default_on=True):
    return resolve_ask(ThinkingAsk(None if thinking is None else ThinkingOptions(**thinking),
                               None if reasoning is None else ReasoningOptions(**reasoning), effort,
                               enable_thinking, default_on))


def budget(min_tokens=0, max_tokens=None):
    return [Budget(min_tokens=min_tokens, max_tokens=max_tokens)]


@pytest.mark.parametrize("given, expected", [
    # OpenRouter's reasoning object
    (dict(reasoning={"effort": "low"}), budget(0, 64)),
    (dict(reasoning={"max_tokens": 100}), budget(0, 100)),
    (dict(reasoning={"enabled": True}), budget(0, 256)),  # OpenRouter's default effort: medium
    (dict(reasoning={}), budget(0, 256)),
    (dict(reasoning={"enabled": False}), False),
    (dict(reasoning={"effort": "none"}), False),
    # the thinking object wins over the reasoning object, which wins over reasoning_effort, field by field
    (dict(thinking={"max_tokens": 500}, reasoning={"effort": "high"}), budget(256, 500)),
    # the effort's minimum comes down to the request's own maximum
    (dict(thinking={"max_tokens": 100}, effort="high"), budget(100, 100)),
    (dict(reasoning={"max_tokens": 100}, effort="high"), budget(100, 100)),
    (dict(thinking={"min_tokens": 5}, reasoning={"max_tokens": 40}, effort="high"), budget(5, 40)),
    (dict(reasoning={"effort": "low"}, effort="high"), budget(0, 64)),
    (dict(thinking={"enabled": True}, reasoning={"enabled": False}), None),
    (dict(reasoning={"enabled": True}, effort="none"), budget(0, 256)),
    (dict(reasoning={"enabled": False}, effort="high"), False),
    # Anthropic's adaptive thinking is the Adaptive policy, capped by the effort's maximum (high when none given)
    (dict(thinking={"type": "adaptive"}), [Adaptive(max_tokens=1024)]),
    (dict(thinking={"type": "adaptive"}, effort="low"), [Adaptive(max_tokens=64)]),
    (dict(thinking={"type": "adaptive", "max_tokens": 300}, effort="medium"), [Adaptive(max_tokens=300)]),
    (dict(thinking={"adaptive": {"every": 8, "agree": 3}, "min_tokens": 4}, effort="xhigh"),
     [Adaptive(every=8, agree=3, min_tokens=4, max_tokens=2048)]),
    (dict(thinking={"adaptive": True, "budget_tokens": 50}), [Adaptive(max_tokens=50)]),
    (dict(default_on=False, thinking={"adaptive": True}), [Adaptive(max_tokens=1024)]),
    (dict(thinking={"adaptive": False}), None),
    # chat_template_kwargs.enable_thinking is the lowest level with a say
    (dict(enable_thinking=False), False),
    (dict(enable_thinking=False, effort="low"), budget(0, 64)),
    (dict(enable_thinking=True, thinking={"type": "disabled"}), False),
    # the Messages API's default: no thinking, unless something asks for it
    (dict(default_on=False), False),
    (dict(default_on=False, thinking={"max_tokens": 12}), budget(0, 12)),
    (dict(default_on=False, effort="minimal"), budget(0, 16)),
    (dict(default_on=False, thinking={"type": "enabled"}), None),
])
def test_precedence_between_dialects(given, expected):
    assert ask(**given).thinking == expected


def test_excluded_thinking_still_runs():
    excluded = ask(reasoning={"effort": "low", "exclude": True})
    assert excluded.exclude and excluded.thinking == budget(0, 64)
    omitted = ask(thinking={"type": "enabled", "budget_tokens": 20, "display": "omitted"})
    assert omitted.exclude and omitted.thinking == budget(0, 20)
    assert not ask(reasoning={"effort": "low"}).exclude


@pytest.mark.parametrize("given, message", [
    (dict(reasoning={"effort": "low", "max_tokens": 10}), "not both"),
    # off at a lower level, and the thinking object shapes a thinking it did not switch on
    (dict(reasoning={"enabled": False}, thinking={"max_tokens": 5}), "thinking.max_tokens cannot apply"),
    (dict(enable_thinking=False, thinking={"max_tokens": 5}), "thinking.max_tokens cannot apply"),
    (dict(reasoning={"enabled": False}, thinking={"prefix": "Ok"}, effort="low"), "thinking.prefix cannot apply"),
    (dict(effort="none", thinking={"prefix": "Ok"}), "thinking.prefix cannot apply"),
])
def test_conflicts_between_dialects(given, message):
    with pytest.raises(PonderError, match=message):
        ask(**given)
