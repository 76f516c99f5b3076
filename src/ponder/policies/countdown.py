"""A budget the model can see: a notice of the thinking tokens left, at set points (budget guidance,
arXiv 2506.13752, reports up to +26 % on MATH-500 under tight budgets for models trained to read it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import PonderError
from .base import FOREVER, INSERTING, THINKING, Action, Force, Part, PolicyBase, Probe, View, require

COUNTDOWN = "countdown"


@dataclass(frozen=True)
class Countdown(PolicyBase):
    """Every ``every`` thinking tokens, or at the fractions ``at`` of the cap, a notice (``text``, where
    ``{left}`` becomes the tokens left after it) goes into the thinking at the next end of a word.

    Needs the chain's cap (a budget's ``max_tokens``); its tokens count as injected thinking, and a
    notice that would not fit under the cap is left out.
    """

    every: int | None = None
    at: tuple[float, ...] = ()
    text: str = "\n({left} thinking tokens left)\n"

    stage: ClassVar[int] = INSERTING
    reads_text: ClassVar[bool] = True  # placed at a word's end: the loop reads the thought's text

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", tuple(sorted(float(f) for f in self.at)))
        require((self.every is None) != (not self.at), "a countdown needs every (thinking tokens between notices) "
                                                        "or at (fractions of the cap), one of the two")
        require(self.every is None or (isinstance(self.every, int) and self.every >= 1),
                f"countdown every must be >= 1 thinking tokens, got {self.every}")
        require(all(0 < f < 1 for f in self.at), f"countdown at must be fractions of the cap between 0 and 1, "
                                                 f"got {list(self.at)}")
        require(isinstance(self.text, str) and self.text.strip() != "", "countdown text must be a non-empty string")
        try:
            self.text.format(left=0)
        except (KeyError, IndexError, ValueError):
            raise PonderError(f"countdown text may hold {{left}} and no other field, got {self.text!r}") from None

    def texts(self) -> tuple[tuple[str, str], ...]:
        return (("countdown_text", self.text.format(left=0)),)

    def points(self, cap: int) -> list[int]:
        """The thinking tokens at which a notice is due."""
        if self.every is not None:
            return list(range(self.every, cap, self.every))
        return sorted({max(1, round(f * cap)) for f in self.at})

    def due(self, cap: int, done: int) -> int | None:
        """Where the notice after ``done`` of them is due (None: none left); asked at every step, so worked out
        without listing every point."""
        if self.every is not None:
            point = self.every * (done + 1)
            return point if point < cap else None
        points = self.points(cap)
        return points[done] if done < len(points) else None

    def step(self, view: View, proposed: Action) -> Action:
        if view.phase != THINKING or view.cap is None or view.ending is not None or \
                isinstance(proposed, (Force, Probe)):
            return proposed
        point = self.due(view.cap, view.count(COUNTDOWN))
        if point is None or view.thinking_tokens < point:
            return proposed
        notice = self.notice(view)
        return proposed if notice is None else Force((Part(COUNTDOWN, notice),), at_boundary="word")

    def notice(self, view: View) -> tuple[int, ...] | None:
        """The notice's tokens, saying what is left once it is in; None where it would not fit."""
        left = view.cap - view.thinking_tokens
        ids = view.vocab.encode(self.text.format(left=left))
        ids = view.vocab.encode(self.text.format(left=max(0, left - len(ids))))
        return ids if len(ids) < left else None

    def quiet_steps(self, view: View) -> int:
        """Quiet until the next notice is due (an ending is an event of its own)."""
        if view.phase != THINKING or view.cap is None:
            return FOREVER
        point = self.due(view.cap, view.count(COUNTDOWN))
        return FOREVER if point is None else max(0, point - view.thinking_tokens)
