"""Where a thought may be closed softly: the end of a word, a line or a sentence, read from its text.

A soft close lets the model write on past its cap and closes the thought at the first boundary. The
loop checks the text: before sampling, whether the thought already ends a unit; after sampling,
whether the token would start a new one (then the close takes its place, and the thought ends at the
boundary before it). Text only, so every loop (local, inside an engine, over an endpoint) applies
the same rule.
"""

from __future__ import annotations

import re
from typing import Sequence

UNITS = ("word", "line", "sentence")
TAIL = 8  # the thought's last tokens, whose text says whether it ends a unit
WORD_CHARS = "'’-_"  # inside a word with letters and digits: "don't", "well-known"
SENTENCE_END = re.compile(r"[.!?][\"'’”)\]]*$")


def in_word(char: str) -> bool:
    return char.isalnum() or char in WORD_CHARS


def ends_unit(unit: str, text: str) -> bool:
    """Whether a thought that ends with ``text`` ends a unit, whatever follows (an empty one does)."""
    if not text:
        return True
    if unit == "word":
        return not in_word(text[-1])
    if unit == "line":
        return text.endswith("\n")
    return text.endswith("\n") or (text[-1:].isspace() and bool(SENTENCE_END.search(text.rstrip())))


def starts_unit(unit: str, before: str, piece: str) -> bool:
    """Whether ``piece`` written after ``before`` starts a new unit: the boundary falls before it."""
    if not piece:
        return False
    if unit == "word":
        return not in_word(piece[0]) or not in_word(before[-1:] or " ")
    if unit == "line":
        return piece[0] == "\n"
    return piece[0] == "\n" or (piece[0].isspace() and bool(SENTENCE_END.search(before)))


def first_boundary(unit: str, before: str, text: str) -> int | None:
    """Where in ``text``, written after ``before``, the thought first reaches a boundary (a character index), or
    None: for a loop that sees a continuation's text only (over an endpoint)."""
    for i in range(len(text) + 1):
        head = before + text[:i]
        if ends_unit(unit, head) or starts_unit(unit, head, text[i:]):
            return i
    return None


def mid_word(before: str, after: str) -> bool:
    """Whether a thought cut between ``before`` and ``after`` (what the model would have written next) ends
    inside a word."""
    return bool(before) and bool(after) and in_word(before[-1]) and in_word(after[0])


class UnitStarts:
    """The vocabulary's tokens that start a new unit, by their text: what a loop that cannot see the sampled
    token first (inside an engine) bans, or closes on, in a soft close's slack."""

    def __init__(self, pieces: Sequence[str]) -> None:
        def having(test) -> frozenset[int]:
            return frozenset(i for i, piece in enumerate(pieces) if piece and test(piece[0]))
        self.line = having(lambda c: c == "\n")
        self.space = having(str.isspace)
        self.not_word = having(lambda c: not in_word(c))

    def after(self, unit: str, before: str) -> frozenset[int]:
        """The tokens that, written after ``before``, start a new unit (``starts_unit`` over the vocabulary)."""
        if unit == "word":
            return self.not_word
        if unit == "line":
            return self.line
        return self.space if SENTENCE_END.search(before) else self.line
