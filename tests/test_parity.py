"""The parity task of the pause experiment: its traces answer right after the thinking, its pauses are unlearned."""

import random

import pytest

from ponder import FORMATS, Filler, NoThinking
from ponder.errors import PonderError
from ponder.lab.methods import METHODS
from ponder.lab.tasks import get_task
from ponder.lab.train.problems import Parity, draw, held_out
from ponder.lab.train.traces import END, EOS, PAUSE, completion


def test_parity_answer_is_the_parity_of_its_bits_and_the_steps_its_running_parity():
    for seed in range(50):
        problem = Parity(12).sample(random.Random(seed))
        assert len(problem.question) == 12 and set(problem.question) <= {"0", "1"}
        assert problem.answer == str(problem.question.count("1") % 2)
        assert problem.steps[-1] == problem.answer and len(problem.steps) == 12


def test_pause_traces_hold_as_many_unlearned_pauses_as_bits_and_no_answer_lead():
    problem = Parity(10).sample(random.Random(3))
    segments = completion(problem, "pause", random.Random(0))
    assert segments == [(PAUSE * 10, False), (END, True), (problem.answer + EOS, True)]
    assert completion(problem, "direct", random.Random(0)) == [(END, True), (problem.answer + EOS, True)]
    assert completion(problem, "filler", random.Random(0))[0] == ("." * 10, True)


def test_parity_refuses_too_few_bits_for_a_held_out_split():
    with pytest.raises(PonderError, match="at least 8 bits"):
        Parity(4)


def test_tiny_parity_items_come_from_the_held_out_split():
    items = get_task("tiny-parity").items(30, seed=1)
    assert all(held_out(item.question) for item in items)
    assert all(not held_out(draw(Parity(), random.Random(i)).question) for i in range(30))


def test_the_pause_method_forces_pause_tokens_and_nothing_at_zero():
    assert METHODS["pause"].build(8) == [Filler(count=8, text=PAUSE)]
    assert METHODS["pause"].build(0) == [NoThinking()]


def test_the_bare_format_answers_right_after_the_end_marker():
    assert FORMATS["bare"].answer_lead == "" and FORMATS["bare"].end == "</think>"
