"""A budget the model can see: notices of the thinking tokens left, at word ends, counted as injected thinking."""

from __future__ import annotations

import re

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ponder
from ponder import Budget, Countdown, PonderError
from ponder.cli import build_parser, thinking_from_args
from ponder.policies.boundaries import ends_unit
from synthetic import SyntheticBackend

pytest.register_assert_rewrite("serving")
from serving import chat  # noqa: E402

pytest_plugins = ["serving"]

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
models = st.builds(SyntheticBackend, seed=st.integers(0, 2**16), bias=st.floats(0, 1), native=st.booleans())


def notices(result) -> list[dict]:
    return [i for i in result.injections if i["reason"] == "countdown"]


@PROPS
@given(model=models, cap=st.integers(4, 60), every=st.integers(1, 20))
def test_notices_come_after_their_points_at_word_ends_and_fit_the_cap(model, cap, every):
    countdown = Countdown(every=every, text=" so")
    result = ponder.generate("ab\n", model=model, thinking=[Budget(max_tokens=cap), countdown], raw_prompt=True,
                             max_tokens=200)
    assert result.usage.thinking_tokens <= cap
    ids = result.token_ids
    points = countdown.points(cap)
    for n, notice in enumerate(notices(result)):
        before = notice["start"]  # the thinking tokens before it (all of the completion so far is thinking)
        assert before >= points[n]
        assert ends_unit("word", model.detokenize(list(ids[:before]))) or \
            model.detokenize(list(ids[before:before + 1])).startswith(" ")
    assert result.usage.thinking_injected >= len(notices(result))


def test_a_countdown_is_checked_when_made():
    with pytest.raises(PonderError, match="every .* or at"):
        Countdown()
    with pytest.raises(PonderError, match="between 0 and 1"):
        Countdown(at=(0.5, 1.5))
    with pytest.raises(PonderError, match="no other field"):
        Countdown(every=8, text="{spent} used")
    assert Countdown(at=(0.9, 0.5)).points(100) == [50, 90] and Countdown(every=30).points(100) == [30, 60, 90]


@pytest.mark.parametrize("name", ["smollm2", "ponder-tiny"])
def test_the_model_reads_what_is_left(name, llama):
    model = llama if name == "smollm2" else ponder.load_backend("ponder-tiny")
    question = "What is 4821 * 37?" if name == "smollm2" else "844*3"
    text = "\n({left} thinking tokens left)\n" if name == "smollm2" else "\n{left} left\n"  # ponder-tiny has no "("
    result = ponder.generate(question, model, [Budget(min_tokens=96, max_tokens=96),
                                               Countdown(at=(0.25, 0.5), text=text)], max_tokens=140)
    found = [int(re.search(r"\d+", i["text"]).group()) for i in notices(result)]  # the model may write its own
    assert len(found) == 2 and found[0] > found[1] > 0
    ends = [i["start"] + i["length"] for i in notices(result)]
    assert [96 - end for end in ends] == found  # each says what is left once it is in
    assert result.usage.thinking_tokens == 96


def test_without_a_cap_a_countdown_is_refused_on_every_surface(up):
    with pytest.raises(PonderError, match="give --max-think"):
        thinking_from_args(build_parser().parse_args(["generate", "q", "--countdown", "8"]))
    with pytest.raises(openai.BadRequestError, match="thinking.countdown counts down to the cap"):
        chat(up, {"countdown": 8})
    reply = chat(up, {"max_tokens": 40, "min_tokens": 40, "countdown": 16}, max_tokens=60)
    assert "thinking tokens left)" in reply.choices[0].message.model_extra["reasoning_content"]
