"""Seeded problems for the tiny models, with worked steps, and the split that keeps evaluation items unseen.

Every task's problem space is split by a hash of the question: about one
question in ten is held out. Training draws only from the rest, evaluation
(the sweep's ``tiny-*`` tasks, the experiments) only from the held-out part,
so no reported accuracy comes from an item the model was trained on.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from itertools import accumulate, combinations

from ...errors import PonderError

HELD_OUT = 10  # one question in HELD_OUT belongs to the held-out split
LEAD = "\nFinal Answer: "  # what opens the answer after the thinking, unless a task answers at once
LABELS = "ABCDEFGHIJ"  # the names of 3SUM's vectors


@dataclass(frozen=True)
class Problem:
    question: str
    steps: tuple[str, ...]  # one worked step per line, each ending in "\n"
    answer: str
    wrong: str = ""  # a plausible wrong version of the last step, for verify traces
    lead: str = LEAD  # between the end of the thinking and the answer


def held_out(question: str) -> bool:
    """Whether a question belongs to the held-out (evaluation) split: a fixed hash, the same on every machine."""
    digest = hashlib.blake2b(question.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % HELD_OUT == 0


def draw(task, r: random.Random, evaluation: bool = False) -> Problem:
    """A problem from the training split, or with ``evaluation`` from the held-out split."""
    while True:
        problem = task.sample(r)
        if held_out(problem.question) == evaluation:
            return problem


def digits_of(n: int) -> list[int]:
    return [int(c) for c in reversed(str(n))]


def column_totals(problem: Problem) -> list[int]:
    """The total of each column, least significant first, for tasks whose steps end in "=TOTAL"."""
    return [int(step.rstrip("\n").split("=")[1]) for step in problem.steps]


def number(r: random.Random, digits: int) -> int:
    """A number of exactly ``digits`` digits, so that columns line up the same way in every problem."""
    return r.randint(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1)


@dataclass(frozen=True)
class Addition:
    """a + b with ``digits`` digits each; steps go digit by digit from the right, carries shown."""

    digits: int = 3

    def sample(self, r: random.Random) -> Problem:
        a, b = number(r, self.digits), number(r, self.digits)
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

    digits: int = 3

    def sample(self, r: random.Random) -> Problem:
        a, b = number(r, self.digits), r.randint(2, 9)
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

    def __post_init__(self) -> None:
        if self.n < 3:
            raise PonderError(f"3sum needs at least 3 digits (--difficulty), got {self.n}")

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


@dataclass(frozen=True)
class VectorThreeSum:
    """Do three of ``n`` labelled vectors of ``dim`` digits sum to zero mod ``mod`` in every coordinate?

    After arXiv 2404.15758. As in the paper, half the problems hold such a triple
    and the others are near misses: a true triple with one coordinate changed, so
    no shortcut tells them apart. The steps are a parallelizable chain of thought:
    for every triple in a fixed order, its three labelled vectors copied, "=", their
    sum in each coordinate in two digits, and whether every sum is 0 mod ``mod``
    ("y") or not ("n"). A step depends on its position only, never on the steps
    before it, which is what lets filler stand in for it. The sums are written in
    full: a sum mod m of uniform digits says nothing about any one of them, so a
    small model gets no signal from it until it has all three at once.
    """

    n: int = 5
    dim: int = 2
    mod: int = 5  # the form dot by dot trains on (mod 10 was tried only with sums written mod 10)

    def __post_init__(self) -> None:
        if not 3 <= self.n <= len(LABELS):
            raise PonderError(f"3sum-vectors takes 3 to {len(LABELS)} vectors (--difficulty), got {self.n}")
        if self.dim < 1 or not 2 <= self.mod <= 10:
            raise PonderError(f"3sum-vectors needs a dimension of at least 1 and a modulus of 2 to 10, "
                              f"got {self.dim} and {self.mod}")

    def sample(self, r: random.Random) -> Problem:
        want = r.random() < 0.5
        while True:
            vectors = self._near_triple(r, corrupt=not want)
            if self.found(vectors) == want:
                break
        named = [LABELS[i] + "".join(map(str, v)) for i, v in enumerate(vectors)]
        steps = []
        for triple in combinations(range(self.n), 3):
            totals = [sum(vectors[i][d] for i in triple) for d in range(self.dim)]
            copied = "".join(named[i] for i in triple)
            zero = all(t % self.mod == 0 for t in totals)
            steps.append(copied + "=" + "".join(f"{t:02d}" for t in totals) + ("y" if zero else "n"))
        return Problem(" ".join(named), tuple(steps), "yes" if want else "no")

    def _near_triple(self, r: random.Random, corrupt: bool) -> list[tuple[int, ...]]:
        m = self.mod
        a, b = (tuple(r.randrange(m) for _ in range(self.dim)) for _ in range(2))
        c = [(-x - y) % m for x, y in zip(a, b)]
        if corrupt:
            d = r.randrange(self.dim)
            c[d] = (c[d] + r.randrange(1, m)) % m
        vectors = [a, b, tuple(c)] + [tuple(r.randrange(m) for _ in range(self.dim)) for _ in range(self.n - 3)]
        r.shuffle(vectors)
        return vectors

    def found(self, vectors) -> bool:
        return any(all(sum(v[d] for v in t) % self.mod == 0 for d in range(self.dim)) for t in combinations(vectors, 3))


@dataclass(frozen=True)
class Parity:
    """Is the number of ones among ``n`` bits odd (after arXiv 2505.21024)? The answer is 1 or 0.

    The answer follows the end of the thinking at once (no lead): every position
    between the bits and the answer is one the trace gives, so pauses are the only
    extra computation a model gets. The steps are the running parity, one digit per
    bit: the chain of thought that makes the task easy, and the count of pauses
    and fillers the other formats get.
    """

    n: int = 20

    def __post_init__(self) -> None:
        if self.n < 8:  # below, the held-out split (one question in ten of 2^n) may hold none
            raise PonderError(f"parity needs at least 8 bits (--difficulty), got {self.n}")

    def sample(self, r: random.Random) -> Problem:
        bits = [r.randrange(2) for _ in range(self.n)]
        running = list(accumulate(bits, lambda a, b: a ^ b))
        return Problem("".join(map(str, bits)), tuple(map(str, running)), str(running[-1]), lead="")


TASKS = {"addition": Addition, "multiplication": Multiplication, "3sum": ThreeSum, "3sum-vectors": VectorThreeSum,
         "parity": Parity}
KNOBS = {"addition": "digits", "multiplication": "digits", "3sum": "n", "3sum-vectors": "n", "parity": "n"}
COLUMN_TASKS = ("addition", "multiplication")  # tasks whose steps are column totals (the recheck format)


def make_task(name: str, difficulty: int | None = None):
    if name not in TASKS:
        raise PonderError(f"unknown training task {name!r}: choose one of {', '.join(TASKS)}")
    cls = TASKS[name]
    return cls() if difficulty is None else cls(**{KNOBS[name]: difficulty})
