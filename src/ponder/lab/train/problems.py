"""Seeded problems for the tiny models, with worked steps, and the trace formats trained on them.

A trace is what follows the prompt "QUESTION\n<think>\n": the thinking, "</think>",
"\nFinal Answer: ANSWER" and the end token. Every format of a task has the same
prompt and answer; they differ only in what fills the thinking.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import combinations

from ...errors import PonderError

THINK, END, PAUSE, EOS = "<think>", "</think>", "<pause>", "<eos>"
FORMATS = ("cot", "direct", "filler", "pause", "verify")


@dataclass(frozen=True)
class Problem:
    question: str
    steps: tuple[str, ...]  # one worked step per line, each ending in "\n"
    answer: str
    wrong: str = ""  # a plausible wrong version of the last step, for verify traces


def digits_of(n: int) -> list[int]:
    return [int(c) for c in reversed(str(n))]


@dataclass(frozen=True)
class Addition:
    """a + b with ``digits`` digits each; steps go digit by digit from the right, carries shown."""

    digits: int = 3

    def sample(self, r: random.Random) -> Problem:
        a, b = (r.randint(0, 10**self.digits - 1) for _ in range(2))
        steps, carry = [], 0
        da, db = digits_of(a), digits_of(b)
        for i in range(self.digits):
            x, y = (da[i] if i < len(da) else 0), (db[i] if i < len(db) else 0)
            total = x + y + carry
            steps.append(f"{x}+{y}+{carry}={total}\n")
            carry = total // 10
        wrong = steps[-1][:-2] + str((int(steps[-1].split("=")[1]) + 1) % 20) + "\n"
        return Problem(f"{a}+{b}", tuple(steps), str(a + b), wrong)


@dataclass(frozen=True)
class Multiplication:
    """a (``digits`` digits) times a one-digit b; steps digit by digit with carries."""

    digits: int = 2

    def sample(self, r: random.Random) -> Problem:
        a, b = r.randint(0, 10**self.digits - 1), r.randint(2, 9)
        steps, carry = [], 0
        da = digits_of(a)
        for i in range(self.digits):
            x = da[i] if i < len(da) else 0
            total = x * b + carry
            steps.append(f"{x}*{b}+{carry}={total}\n")
            carry = total // 10
        wrong = steps[-1][:-2] + str(int(steps[-1].split("=")[1]) + 1) + "\n"
        return Problem(f"{a}*{b}", tuple(steps), str(a * b), wrong)


@dataclass(frozen=True)
class ThreeSum:
    """Is there a triple among ``n`` digits summing to 0 mod 10 (after arXiv 2404.15758)?

    Steps list each triple with its sum mod 10; half the problems have such a triple.
    """

    n: int = 5

    def sample(self, r: random.Random) -> Problem:
        want = r.random() < 0.5
        while True:
            xs = [r.randint(0, 9) for _ in range(self.n)]
            found = any(sum(t) % 10 == 0 for t in combinations(xs, 3))
            if found == want:
                break
        steps = tuple(f"{a}{b}{c}:{(a + b + c) % 10}\n" for a, b, c in combinations(xs, 3))
        answer = "yes" if found else "no"
        return Problem(" ".join(map(str, xs)), steps, answer, steps[-1][:-2] + str((int(steps[-1][-2]) + 5) % 10) + "\n")


TASKS = {"addition": Addition, "multiplication": Multiplication, "3sum": ThreeSum}
KNOBS = {"addition": "digits", "multiplication": "digits", "3sum": "n"}


def make_task(name: str, difficulty: int | None = None):
    if name not in TASKS:
        raise PonderError(f"unknown training task {name!r}: choose one of {', '.join(TASKS)}")
    cls = TASKS[name]
    return cls() if difficulty is None else cls(**{KNOBS[name]: difficulty})


def thinking(problem: Problem, fmt: str, r: random.Random) -> str:
    """The thinking of one trace in format ``fmt``."""
    cot = "".join(problem.steps)
    if fmt == "cot":
        return cot
    if fmt == "direct":
        return ""
    if fmt == "filler":
        return "." * len(cot)
    if fmt == "pause":
        return PAUSE * len(cot)
    if fmt == "verify":
        head = "".join(problem.steps[:-1])
        roll = r.random()
        if roll < 0.3:  # a slip in the last step, caught by a re-check
            return head + problem.wrong + "Wait\n" + problem.steps[-1]
        if roll < 0.5:  # a re-check that confirms
            return cot + "Wait\n" + problem.steps[-1]
        return cot
    raise PonderError(f"unknown trace format {fmt!r}: choose one of {', '.join(FORMATS)}")


def prompt(problem: Problem) -> str:
    """What ponder sends for this problem (no chat template: the question, then the opened thinking)."""
    return f"{problem.question}\n{THINK}\n"


def completion(problem: Problem, fmt: str, r: random.Random) -> str:
    return f"{thinking(problem, fmt, r)}{END}\nFinal Answer: {problem.answer}{EOS}"
