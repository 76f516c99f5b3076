"""``Result.capped`` says the cap forced the close (or cut a replacing filler): never a skipped, settled or
self-ended thought."""

from __future__ import annotations

import pytest

import ponder
from ponder import Adaptive, Budget, Filler, NoThinking
from ponder.lab.tasks import get_task

ITEMS = get_task("tiny-multiplication").items(8, seed=11)


@pytest.fixture(scope="module")
def tiny():
    return ponder.load_backend("ponder-tiny")


def run(backend, thinking, max_tokens=160):
    requests = [dict(prompt=i.question, thinking=thinking, max_tokens=max_tokens) for i in ITEMS]
    results = dict(ponder.generate_many(requests, model=backend))
    return [results[k] for k in range(len(ITEMS))]


def test_a_budget_is_capped_only_where_its_cap_closed_the_thinking(tiny):
    forced = run(tiny, Budget(min_tokens=30, max_tokens=30))
    assert all(r.capped and r.usage.thinking_tokens == 30 for r in forced)
    own = run(tiny, Budget(max_tokens=100))  # ponder-tiny guesses and stops long before 100
    assert all(not r.capped and r.usage.thinking_tokens < 100 and r.waits == 0 for r in own)
    waited = run(tiny, Budget(min_tokens=12, max_tokens=100))  # waits to the minimum, then its own ending
    assert all(not r.capped and 12 <= r.usage.thinking_tokens < 100 and r.waits >= 1 for r in waited)


def test_no_thinking_and_replaced_thinking_are_not_capped(tiny):
    assert not any(r.capped for r in run(tiny, NoThinking(), max_tokens=20))
    dots = run(tiny, [Filler(count=8), Budget(max_tokens=20)])
    assert all(not r.capped and r.thinking == "." * 8 for r in dots)
    cut = run(tiny, [Filler(count=30), Budget(max_tokens=20)])  # the cap cuts the filler: capped
    assert all(r.capped and r.usage.thinking_tokens == 20 for r in cut)


def test_a_filler_before_the_end_is_capped_where_the_cap_made_room_for_it(tiny):
    near_cap = run(tiny, [Filler(count=8, where="before_end"), Budget(min_tokens=20, max_tokens=20)])
    assert all(r.capped and r.usage.thinking_tokens == 20 and r.thinking.endswith("." * 8) for r in near_cap)
    own = run(tiny, [Filler(count=4, where="before_end"), Budget(max_tokens=100)])
    assert all(not r.capped and r.thinking.endswith("....") and r.usage.thinking_tokens < 100 for r in own)


def test_adaptive_thinking_is_capped_at_its_cap_and_not_where_its_answer_settled(tiny):
    settled = run(tiny, Adaptive(every=4, agree=2, max_tokens=120))
    early = [r for r in settled if r.usage.thinking_tokens < 120]
    assert early and not any(r.capped for r in early)
    assert all(r.capped == (r.usage.thinking_tokens == 120) for r in settled)
    at_cap = run(tiny, Adaptive(every=64, agree=3, max_tokens=10))  # no probe can settle before the cap
    assert all(r.capped and r.usage.thinking_tokens == 10 for r in at_cap)
