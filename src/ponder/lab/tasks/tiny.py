"""The tiny models' training tasks as sweep tasks: held-out items, in the prompts they were trained on."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..train.problems import Addition, Multiplication, Parity, ThreeSum, VectorThreeSum, draw
from .base import Item, kind_of


@dataclass(frozen=True)
class TinyTask:
    name: str
    task: object  # a problem generator from lab.train.problems

    def items(self, n: int, seed: int) -> list[Item]:
        """Item i is drawn from the held-out split only: the split training never draws from."""
        out = []
        for i in range(n):
            problem = draw(self.task, random.Random(f"sweep:{self.name}:{seed}:{i}"), evaluation=True)
            out.append(Item(f"{self.name}-{seed}-{i}", problem.question, problem.answer, kind_of(problem.answer)))
        return out


TINY_TASKS = {
    "tiny-addition": lambda: TinyTask("tiny-addition", Addition()),
    "tiny-multiplication": lambda: TinyTask("tiny-multiplication", Multiplication()),
    "tiny-3sum": lambda: TinyTask("tiny-3sum", ThreeSum()),
    "tiny-3sum-vectors": lambda: TinyTask("tiny-3sum-vectors", VectorThreeSum()),
    "tiny-parity": lambda: TinyTask("tiny-parity", Parity()),
}
