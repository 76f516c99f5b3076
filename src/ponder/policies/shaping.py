"""Policies that shape the thinking without a budget: prefix, no thinking, filler, pause."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import (
    ANSWER, FOREVER, INSERTING, LAST, OPENING, THINKING, Action, Force, Part, PolicyBase, Probe, View, force,
    require,
)
from .budget import wrap_up

FILLER_PLACES = ("replace", "before_end")


def repeated(view: View, text: str, count: int) -> tuple[int, ...]:
    """``count`` copies of the tokens of ``text``, tokenized once so "." stays one token each."""
    return view.vocab.encode(text) * count


@dataclass(frozen=True)
class Prefix(PolicyBase):
    """Open the thinking with a phrase, e.g. "Ok, so"."""

    text: str = "Ok, so"

    stage: ClassVar[int] = OPENING

    def __post_init__(self) -> None:
        require(isinstance(self.text, str) and self.text != "", "prefix text must be a non-empty string")

    def texts(self) -> tuple[tuple[str, str], ...]:
        return (("prefix", self.text),)

    def step(self, view: View, proposed: Action) -> Action:
        if view.phase == THINKING and not view.tokens:
            return force(Part("prefix", view.vocab.encode(self.text)))
        return proposed

    def quiet_steps(self, view: View) -> int:
        return opening_quiet(view)


@dataclass(frozen=True)
class NoThinking(PolicyBase):
    """Prefill the thought (empty by default) and close it, so the model answers at once."""

    text: str = ""

    stage: ClassVar[int] = OPENING

    def texts(self) -> tuple[tuple[str, str], ...]:
        return (("no thinking text", self.text),) if self.text else ()

    def step(self, view: View, proposed: Action) -> Action:
        if view.phase == THINKING and not view.tokens:
            thought = view.vocab.encode(self.text) if self.text else ()
            return wrap_up(view).after(Part("thought", thought))
        return proposed

    def quiet_steps(self, view: View) -> int:
        return opening_quiet(view)


def opening_quiet(view: View) -> int:
    """What opens the thinking acts on its first step only."""
    return 0 if view.phase == THINKING and not view.tokens else FOREVER


@dataclass(frozen=True)
class Filler(PolicyBase):
    """``count`` filler units (default ".") as thinking, cut to fit the chain's cap.

    ``where="replace"``: the thinking is only filler, then the wrap-up (dot by dot,
    arXiv 2404.15758). ``where="before_end"``: the model thinks, and the filler
    goes between its thinking and the end marker, whoever ends the thinking; near
    the cap the thinking is ended early enough for the filler to fit.
    """

    count: int = 16
    text: str = "."
    where: str = "replace"

    stage: ClassVar[int] = LAST

    def __post_init__(self) -> None:
        require(self.count >= 1, f"filler count must be >= 1, got {self.count}")
        require(isinstance(self.text, str) and self.text != "", "filler text must be a non-empty string")
        require(self.where in FILLER_PLACES, f"filler where must be one of {FILLER_PLACES}, got {self.where!r}")

    def texts(self) -> tuple[tuple[str, str], ...]:
        return (("filler_text", self.text),)

    def step(self, view: View, proposed: Action) -> Action:
        if view.phase != THINKING or view.count("filler") or isinstance(proposed, Probe):
            return proposed  # a probe changes nothing: the filler goes in when the thinking really ends
        units = repeated(view, self.text, self.count)
        if self.where == "replace":
            cut = view.cap is not None and len(units) > view.cap  # capped only where the cap cut the filler
            return wrap_up(view, rewind=len(view.tokens), capped=cut).after(Part("filler", fit(units, view.cap)))
        if isinstance(proposed, Force):
            if not proposed.ends_thinking:
                return proposed  # a wait, a prefix: the thinking goes on
            return proposed.after(Part("filler", fit(units, room_after(view, proposed))))
        room = None if view.cap is None else view.cap - view.thinking_tokens
        ending = view.ending
        if ending is not None:  # the model ends its thinking and no stage objected
            kept = ending.kept if room is None or len(ending.kept) <= room else ()
            room = None if room is None else room - len(kept)
            return wrap_up(view, rewind=ending.tokens).after(Part("kept", kept), Part("filler", fit(units, room)))
        if room is not None and room <= len(units):  # one more token and the filler would not fit
            return wrap_up(view, capped=True).after(Part("filler", fit(units, room)))
        return proposed

    def quiet_steps(self, view: View) -> int:
        """Before the end, quiet until the filler would no longer fit under the cap (an ending is an event)."""
        if view.phase != THINKING or view.count("filler"):
            return FOREVER
        if self.where == "replace":
            return 0
        if view.cap is None:
            return FOREVER
        units = len(view.vocab.encode(self.text)) * self.count
        return max(0, view.cap - view.thinking_tokens - units)


def fit(ids: tuple[int, ...], room: int | None) -> tuple[int, ...]:
    return ids if room is None else ids[: max(0, room)]


def room_after(view: View, action: Force) -> int | None:
    """Thinking tokens left under the cap once ``action`` ends the thinking (its rewind and kept text applied)."""
    if view.cap is None:
        return None
    pending = view.ending.tokens if view.ending is not None else 0  # not counted as thinking
    kept = sum(len(part.ids) for part in action.parts if part.reason == "kept")
    return view.cap - (view.thinking_tokens - max(0, action.rewind - pending)) - kept


@dataclass(frozen=True)
class Pause(PolicyBase):
    """``count`` pause units at the start of the answer, and again every ``every`` sampled answer tokens."""

    count: int = 4
    text: str = " ..."
    every: int | None = None

    stage: ClassVar[int] = INSERTING

    def __post_init__(self) -> None:
        require(self.count >= 1, f"pause count must be >= 1, got {self.count}")
        require(isinstance(self.text, str) and self.text != "", "pause text must be a non-empty string")
        require(self.every is None or self.every >= 1, f"pause every must be >= 1, got {self.every}")

    def texts(self) -> tuple[tuple[str, str], ...]:
        return (("pause_text", self.text),)

    def step(self, view: View, proposed: Action) -> Action:
        if view.phase != ANSWER or isinstance(proposed, Force):
            return proposed
        last = view.last("pause")
        due = last is None or (
            self.every is not None and view.sampled_since(last.start + last.length) >= self.every
        )
        return force(Part("pause", repeated(view, self.text, self.count))) if due else proposed

    def quiet_steps(self, view: View) -> int:
        """Quiet while thinking; in the answer, until ``every`` tokens have been sampled since the last pause."""
        if view.phase != ANSWER:
            return FOREVER
        last = view.last("pause")
        if last is None:
            return 0
        if self.every is None:
            return FOREVER
        return max(0, self.every - view.sampled_since(last.start + last.length))
