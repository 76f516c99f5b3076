"""Seeded synthetic tasks that a 135M model sometimes solves and sometimes not."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ...errors import PonderError
from .base import Item

NAMES = ["Tom", "Ana", "Li", "Sam", "Maya", "Omar", "Ivy", "Ben"]
THINGS = ["apples", "pens", "books", "coins", "stickers", "marbles", "cards", "shells"]
WORDS = ["strawberry", "banana", "mississippi", "letter", "balloon", "committee", "bookkeeper", "coffee",
         "address", "parallel", "success", "pepper", "grammar", "assessment", "tomorrow", "raccoon"]


def rng_for(name: str, seed: int, index: int) -> random.Random:
    """One generator per item, so item i is the same whatever n is."""
    return random.Random(f"{name}:{seed}:{index}")


class Seeded:
    """A task whose item i is drawn from its own generator: ``make(r)`` returns (question, answer)."""

    name: str

    def items(self, n: int, seed: int) -> list[Item]:
        return [Item(f"{self.name}-{seed}-{i}", *self.make(rng_for(self.name, seed, i))) for i in range(n)]

    def make(self, r: random.Random) -> tuple[str, str]:
        raise NotImplementedError


@dataclass(frozen=True)
class Addition(Seeded):
    """Multi-digit addition: "What is 47 + 38?"."""

    digits: int = 2
    name: str = "addition"

    def __post_init__(self) -> None:
        if not 1 <= self.digits <= 12:
            raise PonderError(f"addition digits must be between 1 and 12, got {self.digits}")

    def make(self, r: random.Random) -> tuple[str, str]:
        a, b = (r.randint(10 ** (self.digits - 1), 10**self.digits - 1) for _ in range(2))
        return f"What is {a} + {b}?", str(a + b)


@dataclass(frozen=True)
class WordProblems(Seeded):
    """Arithmetic word problems of one or two steps (buy, give away, share equally)."""

    steps: int = 1
    name: str = "arithmetic"

    def __post_init__(self) -> None:
        if self.steps not in (1, 2):
            raise PonderError(f"word problems have 1 or 2 steps, got {self.steps}")

    def make(self, r: random.Random) -> tuple[str, str]:
        who, what = r.choice(NAMES), r.choice(THINGS)
        start = r.randint(3, 20)
        text, value = f"{who} has {start} {what}.", start
        for _ in range(self.steps):
            op = r.choice(["buy", "find", "give", "double"] if value <= 30 else ["give"])
            if op in ("buy", "find"):
                k = r.randint(2, 15)
                text, value = text + f" {who} {op}s {k} more.", value + k
            elif op == "give" and value > 1:  # with one left there is nothing to give away: it doubles
                k = r.randint(1, value - 1)
                text, value = text + f" {who} gives {k} away.", value - k
            else:
                text, value = text + f" Then the number of {what} doubles.", value * 2
        return f"{text} How many {what} does {who} have now?", str(value)


@dataclass(frozen=True)
class CountLetters(Seeded):
    """Counting a letter in a word: "How many times does 'r' appear in 'strawberry'?"."""

    name: str = "count-letters"

    def make(self, r: random.Random) -> tuple[str, str]:
        word = r.choice(WORDS)
        letter = r.choice(sorted(set(word)))
        return f"How many times does the letter '{letter}' appear in the word '{word}'?", str(word.count(letter))


@dataclass(frozen=True)
class CompareTask(Seeded):
    """Which of two numbers is larger, decimals included ("9.11 or 9.9")."""

    name: str = "compare"

    def make(self, r: random.Random) -> tuple[str, str]:
        whole = r.randint(1, 99)
        a, b = f"{whole}.{r.randint(1, 99)}", f"{whole}.{r.randint(1, 9)}"
        if float(a) == float(b):
            b = f"{whole + 1}"
        return f"Which number is larger, {a} or {b}? Answer with the number.", a if float(a) > float(b) else b
