"""Tasks registered by name. ``get_task("addition")``, ``get_task("gsm8k:path.jsonl")``."""

from __future__ import annotations

from ...errors import PonderError
from .base import Item, Task, extract, grade
from .files import SCHEMAS, FileTask
from .synthetic import Addition, CompareTask, CountLetters, WordProblems
from .tiny import TINY_TASKS

TASKS = {
    "arithmetic": lambda: WordProblems(steps=1, name="arithmetic"),
    "arithmetic-2step": lambda: WordProblems(steps=2, name="arithmetic-2step"),
    "addition": lambda: Addition(digits=2, name="addition"),
    "addition-3digit": lambda: Addition(digits=3, name="addition-3digit"),
    "count-letters": CountLetters,
    "compare": CompareTask,
    **TINY_TASKS,  # the tasks the tiny models of ``ponder lab train`` learn, in their own prompt format
}


def task_names() -> list[str]:
    return [*TASKS, *(f"{s}[:PATH]" if s != "jsonl" else "jsonl:PATH" for s in SCHEMAS)]


def get_task(spec: str) -> Task:
    """A synthetic task by name, or a file task as SCHEMA[:PATH]."""
    if spec in TASKS:
        return TASKS[spec]()
    schema, _, path = spec.partition(":")
    if schema in SCHEMAS:
        return FileTask(schema, path or None)
    raise PonderError(f"unknown task {spec!r}: choose one of {', '.join(task_names())}")


__all__ = ["Item", "TASKS", "Task", "extract", "get_task", "grade", "task_names"]
