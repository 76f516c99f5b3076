"""The tiny models' training data: evaluation items are never trained on; what the re-check traces teach."""

from __future__ import annotations

import random
import re

import pytest

from ponder.lab.tasks import get_task
from ponder.lab.train.problems import Addition, Multiplication, VectorThreeSum, draw, held_out
from ponder.lab.train.trainer import TrainConfig, step_rows
from ponder.lab.train.traces import END, EOS, answer_line, completion, full_check, rechecked, text_of
from ponder.lab.train.vocab import TOKENS


def question_of(ids: list[int]) -> str:
    text = "".join(TOKENS[i] for i in ids)
    return text[: text.index("\n<think>")]


@pytest.mark.parametrize("sweep_task, train_task, fmt", [
    ("tiny-addition", "addition", "cot"), ("tiny-multiplication", "multiplication", "recheck"),
    ("tiny-3sum", "3sum", "direct"), ("tiny-3sum-vectors", "3sum-vectors", "cot+filler"),
])
def test_no_evaluation_item_appears_in_training_batches(sweep_task, train_task, fmt):
    evaluation = {item.question for seed in (0, 1, 7) for item in get_task(sweep_task).items(200, seed)}
    assert all(held_out(q) for q in evaluation)
    config = TrainConfig(task=train_task, format=fmt)
    trained = {question_of(ids) for step in range(120) for ids, _ in step_rows(config, step)}  # 7,680 problems
    assert len(trained) > 500 and not evaluation & trained


def test_the_split_holds_out_about_one_question_in_ten():
    r = random.Random(0)
    questions = {Addition(4).sample(r).question for _ in range(5000)}
    share = sum(held_out(q) for q in questions) / len(questions)
    assert 0.08 < share < 0.12


def learned(segments) -> str:
    return "".join(text for text, learn in segments if learn)


@pytest.mark.parametrize("task", [Multiplication(3), Addition(4)])
def test_recheck_traces_fix_one_column_per_wait_and_answer_with_the_last_line(task):
    r, wrong, cut = random.Random(3), 0, 0
    for _ in range(400):
        problem = draw(task, r)
        segments = completion(problem, "recheck", r)
        text = text_of(segments)
        thinking, answer = text.split(END)
        assert all(not learn for t, learn in segments if t == "Wait")  # never learned: every re-check is forced
        assert "Wait" not in learned(segments)
        lines = [line[1:] for line in thinking.split("\n") if line.startswith(">")]  # the answer lines
        right = answer_line(problem)
        wrong += bool(lines) and lines[0] != right[: len(lines[0])]
        said = re.fullmatch(rf"\nFinal Answer: (\d+){EOS}", answer).group(1)
        if (END, False) in segments:  # cut where a forced wrap-up cuts: the line it was writing or had earned
            cut += 1
            ended = thinking.count("\n")
            if ended == 0:  # cut inside the guess (or before it): the guess it was writing
                assert (">" + said).startswith(thinking)
                continue
            whole = text_of(rechecked(problem, lines[0], 99)[0]).split("\n")  # the thinking, had it gone on
            last = whole[ended - 1]
            if last.startswith(">") or last == "Wait":  # an answer line was the last thing ended: that line
                assert said == [line for line in whole[:ended] if line.startswith(">")][-1][1:]
            else:  # a check (or an "ok") was: the line it earns, whole
                assert said == whole[ended][1:]
            continue
        assert (END, True) in segments and said == lines[-1]
        checks = thinking.count("Wait")
        columns = len(problem.steps)
        for k, line in enumerate(lines[1:], 1):  # after k checks the k lowest columns are right
            assert line[len(line) - k:] == right[len(right) - k:]
        if checks >= columns:
            assert lines[-1] == right and thinking.count("ok\n") == checks - columns
    assert 150 < wrong < 250 and 110 < cut < 210


def test_a_full_check_is_the_guess_and_every_column():
    problem = draw(Multiplication(3), random.Random(0))
    text = full_check(problem)
    assert text.count("Wait") == 3 and text.startswith(">" + answer_line(problem) + "\n")
    assert text.endswith(">" + answer_line(problem) + "\n")


def test_vector_three_sum_is_balanced_with_near_misses_and_its_steps_find_the_triple():
    task, r, yes = VectorThreeSum(5, 2, 5), random.Random(4), 0
    for _ in range(300):
        problem = task.sample(r)
        labelled = problem.question.split()
        assert [v[0] for v in labelled] == list("ABCDE")
        vectors = [tuple(map(int, v[1:])) for v in labelled]
        assert task.found(vectors) == (problem.answer == "yes")
        assert len(problem.steps) == 10 and (problem.answer == "yes") == any(s.endswith("y") for s in problem.steps)
        first = problem.steps[0]  # A, B and C copied, then their sums, and whether both are 0 mod 5
        totals = [sum(v[d] for v in vectors[:3]) for d in range(2)]
        zero = "y" if all(t % 5 == 0 for t in totals) else "n"
        assert first == "".join(labelled[:3]) + "=" + "".join(f"{t:02d}" for t in totals) + zero
        yes += problem.answer == "yes"
    assert 120 < yes < 180
