"""Tasks, loaders, grading and the s1 metrics (no model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ponder import PonderError
from ponder.lab.metrics import s1_metrics, summarise, wilson
from ponder.lab.tasks import extract, get_task, grade

FIXTURES = Path(__file__).parent / "fixtures"


def test_wilson_interval_matches_hand_computed_values():
    # 5/10: centre 0.5, half-width 1.96*sqrt(.025+.0096)/1.384 = 0.2634
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson(10, 10)[1] == pytest.approx(1.0) and wilson(10, 10)[0] == pytest.approx(0.7225, abs=1e-4)


def test_s1_metrics_follow_the_paper_definitions():
    # three budgets: slopes 0.2/100, 0.1/200 and -0.1/100; their mean is 0.0005 per token
    m = s1_metrics("budget", [(0, 0.1), (100, 0.3), (200, 0.2)], control=0.75)
    assert m.scaling == pytest.approx((0.002 + 0.0005 - 0.001) / 3)
    assert m.scaling_per_1k == pytest.approx(0.5)
    assert m.performance == 0.3 and m.control == 0.75
    assert s1_metrics("no_thinking", [(0, 0.4)], control=1.0).scaling is None


def test_control_is_the_share_of_runs_within_the_asked_range():
    rows = [{"policy": "cap", "budget": 64, "correct": c, "thinking_tokens": t, "completion_tokens": t + 5,
             "seconds": 1.0, "within_budget": w}
            for c, t, w in [(True, 10, True), (False, 64, True), (True, 70, False), (False, 0, True)]]
    s = summarise(rows)
    assert s.control == 0.75 and s.accuracy == 0.5 and s.thinking_mean == 36
    assert s.tokens_per_correct == (15 + 69 + 75 + 5) / 2


@pytest.mark.parametrize("name", ["arithmetic", "arithmetic-2step", "addition", "count-letters", "compare"])
def test_synthetic_tasks_are_seeded_and_stable(name):
    task = get_task(name)
    a, b = task.items(10, seed=1), task.items(20, seed=1)
    assert a == b[:10]  # item i does not depend on n
    assert a != task.items(10, seed=2)
    assert len({item.id for item in b}) == 20
    assert all(grade(extract(f"Final Answer: {i.answer}", i.kind), i.answer, i.kind) for i in b)


def test_two_step_answers_are_right():
    for item in get_task("arithmetic-2step").items(50, seed=0):
        assert int(item.answer) >= 0 and item.question.count(".") >= 3


@pytest.mark.parametrize("seed", range(30))
def test_two_step_problems_build_for_every_seed(seed):
    """A first step that gives all but one away once left the second "give" no amount to draw."""
    for item in get_task("arithmetic-2step").items(60, seed=seed):
        assert int(item.answer) >= 1


@pytest.mark.parametrize("text, kind, expected", [
    ("\nFinal Answer: 42", "number", "42"),
    ("The answer is 12, then 30.", "number", "30"),
    ("Final Answer: 1,000 apples", "number", "1000"),
    ("Final Answer: Li has 11 - 5 = 6 cards left.\n\nSo 11 it is.", "number", "6"),
    ("so \\boxed{\\frac{3}{4}}", "text", "\\frac{3}{4}"),
    ("Final Answer: 0.50", "number", "1/2"),
    ("Final Answer: (C) 7", "choice", "C"),
    ("Final Answer: Green.", "text", "green"),
    ("no number here", "number", None),
])
def test_answer_extraction(text, kind, expected):
    assert extract(text, kind) == expected


def test_gsm8k_loader_reads_the_public_schema():
    items = get_task(f"gsm8k:{FIXTURES / 'gsm8k.jsonl'}").items(10, 0)
    assert [i.answer for i in items] == ["19", "36", "880"]
    assert items[0].question.startswith("Ana has 4 boxes")


def test_math500_aime_and_gpqa_loaders():
    math = get_task(f"math500:{FIXTURES / 'math500.jsonl'}").items(10, 0)
    assert [i.answer for i in math] == ["7", "\\frac{3}{4}"] and math[1].id == "test/prealgebra/0002.json"
    assert grade(extract("Final Answer: \\boxed{\\frac{3}{4}}", math[1].kind), math[1].answer, math[1].kind)
    aime = get_task(f"aime2024:{FIXTURES / 'aime2024.jsonl'}").items(10, 0)
    assert [i.answer for i in aime] == ["1", "30"] and aime[0].id == "2024-I-1"
    gpqa = get_task(f"gpqa-diamond:{FIXTURES / 'gpqa_diamond.jsonl'}").items(10, 0)
    for item in gpqa:
        assert len(item.choices) == 4 and item.kind == "choice"
        assert item.choices["ABCD".index(item.answer)] in ("The photon", "Nitrogen")
        assert "A) " in item.prompt() and "D) " in item.prompt()


def test_generic_jsonl_loader():
    items = get_task(f"jsonl:{FIXTURES / 'generic.jsonl'}").items(10, 0)
    assert [(i.id, i.answer, i.kind) for i in items] == [("q1", "7", "number"), ("q2", "green", "text"),
                                                         ("q3", "C", "choice")]


def test_malformed_jsonl_names_the_line():
    with pytest.raises(PonderError, match=r"malformed.jsonl:2: not valid JSON"):
        get_task(f"jsonl:{FIXTURES / 'malformed.jsonl'}").items(10, 0)


def test_missing_field_and_unknown_task_say_what_to_do(tmp_path):
    path = tmp_path / "no_answer.jsonl"
    path.write_text('{"question": "hi"}\n')
    with pytest.raises(PonderError, match=r"no_answer.jsonl:1: missing field 'answer'"):
        get_task(f"jsonl:{path}").items(1, 0)
    with pytest.raises(PonderError, match="unknown task 'trivia': choose one of arithmetic"):
        get_task("trivia")
    with pytest.raises(PonderError, match="pass an existing JSONL file"):
        get_task("gsm8k:/no/such.jsonl").items(1, 0)


def test_error_bars_are_never_negative_where_every_answer_is_right():
    """wilson(60, 60)'s upper bound rounds below 1.0; matplotlib refuses a negative error bar."""
    from types import SimpleNamespace

    from ponder.lab.report import error_bars

    low, high = wilson(60, 60)
    assert high < 1.0  # the rounding this guards against
    bars = error_bars([SimpleNamespace(accuracy=1.0, ci_low=low, ci_high=high)])
    assert min(bars[0] + bars[1]) >= 0.0 and bars[0][0] > 0
