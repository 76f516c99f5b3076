"""ponder-tiny, the model ponder trained itself: it guesses and stops; each forced wait checks one more column."""

from __future__ import annotations

import re

import pytest

import ponder
from ponder import Budget, NoThinking
from ponder.lab.tasks import extract, get_task, grade

TASK = "tiny-multiplication"
ITEMS = get_task(TASK).items(60, seed=7)  # held-out: never trained on
UNBOUNDED = 1 << 30


@pytest.fixture(scope="module")
def tiny():
    return ponder.load_backend("ponder-tiny")


def run(backend, thinking, max_tokens=200):
    requests = [dict(prompt=i.question, thinking=thinking, max_tokens=max_tokens) for i in ITEMS]
    results = dict(ponder.generate_many(requests, model=backend))
    ordered = [results[k] for k in range(len(ITEMS))]
    correct = [grade(extract(r.answer, i.kind), i.answer, i.kind) for r, i in zip(ordered, ITEMS)]
    return sum(correct) / len(ITEMS), ordered


def waits(w: int) -> Budget:
    return Budget(min_tokens=UNBOUNDED, max_waits=w)


def test_ponder_tiny_is_bundled_with_native_markers_and_stops_after_its_guess(tiny):
    assert tiny.name == "transformers" and tiny.special_id("</think>") is not None
    _, results = run(tiny, None)
    assert all(re.fullmatch(r">\d{4}\n", r.thinking) and r.waits == 0 for r in results)


def test_each_wait_checks_the_next_column(tiny):
    item = ITEMS[0]
    a, b = map(int, item.question.split("*"))
    result = ponder.generate(item.question, model=tiny, thinking=waits(2), max_tokens=120)
    lines = result.thinking.split("\n")
    assert result.waits == 2 and lines[1] == "Wait" and lines[4] == "Wait"
    first, second = a % 10 * b, (a // 10) % 10 * b + a % 10 * b // 10
    assert lines[2] == f"{a % 10}*{b}+0={first}" and lines[5] == f"{a // 10 % 10}*{b}+{first // 10}={second}"


def test_forced_waits_raise_accuracy_and_more_do_not_hurt(tiny):
    scores = [run(tiny, waits(w))[0] for w in (0, 1, 3, 5)]
    assert scores[2] >= scores[0] + 0.1 and scores[2] >= 0.95
    assert scores[3] >= scores[2] - 0.05
    assert scores[1] >= scores[0] - 0.05


def test_a_wrap_up_forced_mid_recheck_still_answers_with_the_best_line_so_far(tiny):
    guess, _ = run(tiny, waits(0))
    for budget in (12, 30, 45, 58):  # inside the first, second and third checks
        score, results = run(tiny, Budget(min_tokens=budget, max_tokens=budget))
        assert all(r.usage.thinking_tokens == budget and r.capped for r in results)
        assert all(re.fullmatch(r"\nFinal Answer: \d+", r.answer) for r in results)
        assert score >= guess - 0.05


def test_no_thinking_answers_directly(tiny):
    _, results = run(tiny, NoThinking(), max_tokens=20)
    assert all(re.fullmatch(r"\nFinal Answer: \d+", r.answer) for r in results)
