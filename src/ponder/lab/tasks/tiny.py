"""The tiny models' training tasks as sweep tasks (held-out items, the prompts they were trained on)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..train.problems import Addition, Multiplication, ThreeSum
from .base import Item, kind_of


@dataclass(frozen=True)
class TinyTask:
    name: str
    task: object  # a problem generator from lab.train.problems

    def items(self, n: int, seed: int) -> list[Item]:
        out = []
        for i in range(n):
            problem = self.task.sample(random.Random(f"sweep:{self.name}:{seed}:{i}"))
            out.append(Item(f"{self.name}-{seed}-{i}", problem.question, problem.answer, kind_of(problem.answer)))
        return out


TINY_TASKS = {
    "tiny-addition": lambda: TinyTask("tiny-addition", Addition(3)),
    "tiny-multiplication": lambda: TinyTask("tiny-multiplication", Multiplication(2)),
    "tiny-3sum": lambda: TinyTask("tiny-3sum", ThreeSum(5)),
}
