"""Items, tasks and answer grading shared by every task."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol, Sequence

LEAD = re.compile(r"final answer\s*(?:is)?\s*[:=]?\s*", re.I)
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")


@dataclass(frozen=True)
class Item:
    """One question with its reference answer; with ``choices``, the answer is a letter."""

    id: str
    question: str
    answer: str
    kind: str = "number"  # how answers compare: "number", "text" or "choice"
    choices: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict, compare=False)

    def prompt(self) -> str:
        if not self.choices:
            return self.question
        options = "\n".join(f"{letter}) {text}" for letter, text in zip("ABCDEFGH", self.choices))
        return f"{self.question}\n{options}\nAnswer with the letter of the correct option."


class Task(Protocol):
    name: str

    def items(self, n: int, seed: int) -> Sequence[Item]: ...


def kind_of(answer: str) -> str:
    return "number" if normalise_number(answer) is not None else "text"


def final_part(text: str) -> tuple[bool, str]:
    """(found, text): the text after the last \\boxed{} or "Final Answer:", else the whole text."""
    boxed = BOXED.findall(text)
    if boxed:
        return True, boxed[-1]
    leads = list(LEAD.finditer(text))
    return (True, text[leads[-1].end():]) if leads else (False, text)


def extract(text: str, kind: str) -> str | None:
    """The predicted answer in ``text``, normalised for comparison, or None if there is none.

    After an answer lead only its first line counts (its last number, as in
    "11 - 5 = 6 cards", or its first letter, or the line); without a lead, the
    last number in the text.
    """
    led, part = final_part(text)
    part = part.strip()
    if led and part:
        part = part.splitlines()[0]
    if kind == "number":
        numbers = NUMBER.findall(part)
        return normalise_number(numbers[-1]) if numbers else None
    if kind == "choice":
        match = re.search(r"\b([A-H])\b", part)
        return match.group(1) if match else None
    return normalise_text(part.splitlines()[0] if part else "") or None


def normalise_number(token: str) -> str | None:
    token = token.replace(",", "").strip()
    try:
        value = Fraction(token)
    except (ValueError, ZeroDivisionError):
        return None
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def normalise_text(text: str) -> str:
    text = text.strip().strip(".").strip().lower()
    text = re.sub(r"^\$|\$$", "", text)
    return re.sub(r"\s+", " ", text)


def grade(prediction: str | None, reference: str, kind: str) -> bool:
    if prediction is None:
        return False
    if kind == "number":
        return prediction == normalise_number(reference)
    if kind == "choice":
        return prediction == reference.strip().upper()
    return prediction == normalise_text(reference)
