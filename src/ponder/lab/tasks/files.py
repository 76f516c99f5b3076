"""Tasks read from JSONL files: a generic schema and the public schemas of GSM8K, MATH-500, AIME 2024
and GPQA-Diamond. Without a path the public sets load from the Hugging Face hub through ``datasets``."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Callable, Iterable

from ...errors import PonderError
from .base import Item, kind_of


def read_jsonl(path: str) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a malformed line is named in the error."""
    try:
        handle = open(path, encoding="utf-8")
    except OSError as err:
        raise PonderError(f"cannot read {path!r} ({err.strerror}): pass an existing JSONL file") from err
    rows = []
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise PonderError(f"{path}:{number}: not valid JSON ({err.msg}): fix or remove that line") from err
            if not isinstance(row, dict):
                raise PonderError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            rows.append((number, row))
    return rows


def field(row: dict, name: str, where: str):
    if name not in row or row[name] in (None, ""):
        raise PonderError(f"{where}: missing field {name!r} (fields: {', '.join(row) or 'none'})")
    return row[name]


def generic(row: dict, where: str, index: int) -> Item:
    """{"question", "answer", optional "id", optional "choices"}; with choices the answer may be
    the letter, the index or the text of the right choice."""
    question, answer = str(field(row, "question", where)), str(field(row, "answer", where))
    choices = tuple(str(c) for c in row.get("choices") or ())
    item_id = str(row.get("id", index))
    if not choices:
        return Item(item_id, question, answer, kind_of(answer))
    letters = "ABCDEFGH"[: len(choices)]
    if answer.upper() in letters:
        letter = answer.upper()
    elif answer in choices:
        letter = letters[choices.index(answer)]
    elif answer.isdigit() and int(answer) < len(choices):
        letter = letters[int(answer)]
    else:
        raise PonderError(f"{where}: answer {answer!r} is not a letter, index or text of the choices")
    return Item(item_id, question, letter, "choice", choices)


def gsm8k(row: dict, where: str, index: int) -> Item:
    """{"question", "answer": "worked solution #### 72"}."""
    solution = str(field(row, "answer", where))
    if "####" not in solution:
        raise PonderError(f"{where}: a GSM8K answer ends with '#### <number>'")
    answer = solution.rsplit("####", 1)[1].strip()
    return Item(f"gsm8k-{index}", str(field(row, "question", where)), answer, "number")


def math500(row: dict, where: str, index: int) -> Item:
    """{"problem", "solution", "answer", "subject", "level", "unique_id"}."""
    answer = str(field(row, "answer", where))
    item_id = str(row.get("unique_id", f"math500-{index}"))
    return Item(item_id, str(field(row, "problem", where)), answer, kind_of(answer))


def aime(row: dict, where: str, index: int) -> Item:
    """{"ID", "Problem", "Solution", "Answer"}: integer answers 0-999."""
    return Item(str(row.get("ID", f"aime-{index}")), str(field(row, "Problem", where)),
                str(field(row, "Answer", where)), "number")


def gpqa(row: dict, where: str, index: int) -> Item:
    """{"Question", "Correct Answer", "Incorrect Answer 1..3"}: choices shuffled by item, answer a letter."""
    right = str(field(row, "Correct Answer", where)).strip()
    choices = [right] + [str(field(row, f"Incorrect Answer {k}", where)).strip() for k in (1, 2, 3)]
    random.Random(f"gpqa:{index}").shuffle(choices)
    item_id = str(row.get("Record ID", f"gpqa-{index}"))
    return Item(item_id, str(field(row, "Question", where)).strip(), "ABCD"[choices.index(right)], "choice",
                tuple(choices))


def unique_ids(items: list[Item], wheres: list[str]) -> None:
    """Refuse two items with one id: a sweep keys its rows by id, so a rerun would take one for the other."""
    first: dict[str, str] = {}
    for item, where in zip(items, wheres):
        if item.id in first:
            raise PonderError(f"{where}: id {item.id!r} is already the id of {first[item.id]}: "
                              "give every item its own id")
        first[item.id] = where


@dataclass(frozen=True)
class Schema:
    parse: Callable[[dict, str, int], Item]
    hub: tuple[str, str | None, str] | None = None  # (dataset, config, split)


SCHEMAS = {
    "jsonl": Schema(generic),
    "gsm8k": Schema(gsm8k, ("openai/gsm8k", "main", "test")),
    "math500": Schema(math500, ("HuggingFaceH4/MATH-500", None, "test")),
    "aime2024": Schema(aime, ("Maxwell-Jia/AIME_2024", None, "train")),
    "gpqa-diamond": Schema(gpqa, ("Idavidrein/gpqa", "gpqa_diamond", "train")),
}


@dataclass(frozen=True)
class FileTask:
    """A task read from ``path`` (JSONL in the schema's shape) or, without a path, from the hub."""

    schema: str
    path: str | None = None

    @property
    def name(self) -> str:
        return f"{self.schema}:{self.path}" if self.path else self.schema

    def items(self, n: int, seed: int) -> list[Item]:
        rows = self._rows()
        parse = SCHEMAS[self.schema].parse
        items = [parse(row, where, i) for i, (where, row) in enumerate(rows)]
        if not items:
            raise PonderError(f"{self.name} has no items")
        unique_ids(items, [where for where, _ in rows])
        return items[:n]

    def _rows(self) -> Iterable[tuple[str, dict]]:
        if self.path:
            return [(f"{self.path}:{number}", row) for number, row in read_jsonl(self.path)]
        hub = SCHEMAS[self.schema].hub
        if hub is None:
            raise PonderError("the jsonl task needs a file: --task jsonl:PATH")
        try:
            import datasets
        except ImportError as err:
            raise PonderError(f"loading {self.schema} from the hub needs the datasets package "
                              f"(pip install datasets), or pass a local file: --task {self.schema}:PATH") from err
        name, config, split = hub
        data = datasets.load_dataset(name, config, split=split)
        return [(f"{name}[{i}]", dict(row)) for i, row in enumerate(data)]
