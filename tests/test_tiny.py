"""ponder-tiny, the model ponder trained itself: thinking buys accuracy, and one wait triggers a re-check."""

from __future__ import annotations

import pytest

import ponder
from ponder import Budget, NoThinking
from ponder.lab.tasks import extract, get_task, grade

ITEMS = get_task("tiny-addition").items(30, seed=7)


@pytest.fixture(scope="module")
def tiny():
    return ponder.load_backend("ponder-tiny")


def accuracy(backend, thinking):
    results = [ponder.generate(i.question, model=backend, thinking=thinking, max_tokens=120) for i in ITEMS]
    correct = [grade(extract(r.answer, i.kind), i.answer, i.kind) for r, i in zip(results, ITEMS)]
    return sum(correct) / len(ITEMS), results


def test_ponder_tiny_is_bundled_with_native_markers(tiny):
    assert tiny.name == "transformers" and tiny.special_id("</think>") is not None
    result = ponder.generate("123+456", model=tiny)
    assert result.thinking == "3+6+0=9\n2+5+0=7\n1+4+0=5\n" and result.answer == "\nFinal Answer: 579"


def test_accuracy_rises_from_no_thinking_to_full_thinking(tiny):
    none, _ = accuracy(tiny, NoThinking())
    short, _ = accuracy(tiny, Budget(max_tokens=12))
    full, results = accuracy(tiny, Budget(max_tokens=64))
    assert none <= 0.1 and short <= 0.1 and full >= 0.8
    assert all(r.usage.thinking_tokens <= 64 for r in results)


def test_one_injected_wait_makes_it_recheck_the_last_step(tiny):
    score, results = accuracy(tiny, Budget(min_tokens=32, max_waits=1))
    injected = [r for r in results if r.waits == 1]  # the others wrote a "Wait" of their own, as trained
    assert len(injected) >= len(results) / 2 and all("Wait" in r.thinking for r in results)
    rechecked = [r for r in injected if r.thinking.split("Wait")[1].strip() in r.thinking.split("Wait")[0]]
    assert len(rechecked) >= 0.8 * len(injected)  # the line after the wait repeats a step it already did
    assert score >= 0.8
