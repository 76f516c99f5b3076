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


@dataclass(frozen=True)
class Addition:
    """Multi-digit addition: "What is 47 + 38?"."""

    digits: int = 2
    name: str = "addition"

    def __post_init__(self) -> None:
        if not 1 <= self.digits <= 12:
            raise PonderError(f"addition digits must be between 1 and 12, got {self.digits}")

    def items(self, n: int, seed: int) -> list[Item]:
        out = []
        for i in range(n):
            r = rng_for(self.name, seed, i)
            a, b = (r.randint(10 ** (self.digits - 1), 10**self.digits - 1) for _ in range(2))
            out.append(Item(f"{self.name}-{seed}-{i}", f"What is {a} + {b}?", str(a + b)))
        return out


@dataclass(frozen=True)
class WordProblems:
    """Arithmetic word problems of one or two steps (buy, give away, share equally)."""

    steps: int = 1
    name: str = "arithmetic"

    def __post_init__(self) -> None:
        if self.steps not in (1, 2):
            raise PonderError(f"word problems have 1 or 2 steps, got {self.steps}")

    def items(self, n: int, seed: int) -> list[Item]:
        return [self._item(rng_for(self.name, seed, i), f"{self.name}-{seed}-{i}") for i in range(n)]

    def _item(self, r: random.Random, item_id: str) -> Item:
        who, what = r.choice(NAMES), r.choice(THINGS)
        start = r.randint(3, 20)
        text, value = f"{who} has {start} {what}.", start
        for _ in range(self.steps):
            op = r.choice(["buy", "find", "give", "double"] if value <= 30 else ["give"])
            if op in ("buy", "find"):
                k = r.randint(2, 15)
                text, value = text + f" {who} {op}s {k} more.", value + k
            elif op == "give":
                k = r.randint(1, value - 1)
                text, value = text + f" {who} gives {k} away.", value - k
            else:
                text, value = text + f" Then the number of {what} doubles.", value * 2
        return Item(item_id, f"{text} How many {what} does {who} have now?", str(value))


@dataclass(frozen=True)
class CountLetters:
    """Counting a letter in a word: "How many times does 'r' appear in 'strawberry'?"."""

    name: str = "count-letters"

    def items(self, n: int, seed: int) -> list[Item]:
        out = []
        for i in range(n):
            r = rng_for(self.name, seed, i)
            word = r.choice(WORDS)
            letter = r.choice(sorted(set(word)))
            question = f"How many times does the letter '{letter}' appear in the word '{word}'?"
            out.append(Item(f"{self.name}-{seed}-{i}", question, str(word.count(letter))))
        return out


@dataclass(frozen=True)
class CompareTask:
    """Which of two numbers is larger, decimals included ("9.11 or 9.9")."""

    name: str = "compare"

    def items(self, n: int, seed: int) -> list[Item]:
        out = []
        for i in range(n):
            r = rng_for(self.name, seed, i)
            whole = r.randint(1, 99)
            a, b = f"{whole}.{r.randint(1, 99)}", f"{whole}.{r.randint(1, 9)}"
            if float(a) == float(b):
                b = f"{whole + 1}"
            question = f"Which number is larger, {a} or {b}? Answer with the number."
            out.append(Item(f"{self.name}-{seed}-{i}", question, a if float(a) > float(b) else b))
        return out
