"""Entropy pause (after the entropix project): inject a pause where the model is unsure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import ANSWER, FOREVER, INSERTING, THINKING, Action, Force, Part, PolicyBase, View, force, require

PHASES = (THINKING, ANSWER, "both")


@dataclass(frozen=True)
class EntropyPause(PolicyBase):
    """Inject ``text`` instead of sampling when next-token entropy (bits) is above ``threshold``.

    With ``varentropy_max`` set, only where the varentropy is also below it
    (uncertain, but uniformly so). ``cooldown`` sampled tokens must pass between
    two insertions, and at most ``max_insertions`` are made.
    """

    threshold: float = 3.0
    varentropy_max: float | None = None
    text: str = " ..."
    cooldown: int = 8
    max_insertions: int = 4
    phase: str = THINKING

    stage: ClassVar[int] = INSERTING
    wants_stats: ClassVar[bool] = True

    def __post_init__(self) -> None:
        require(self.threshold >= 0, f"entropy threshold must be >= 0 bits, got {self.threshold}")
        require(isinstance(self.text, str) and self.text != "", "entropy pause text must be a non-empty string")
        require(self.cooldown >= 0, f"cooldown must be >= 0, got {self.cooldown}")
        require(self.max_insertions >= 0, f"max_insertions must be >= 0, got {self.max_insertions}")
        require(self.phase in PHASES, f"entropy pause phase must be one of {PHASES}, got {self.phase!r}")

    def texts(self) -> tuple[tuple[str, str], ...]:
        return (("entropy_text", self.text),)

    def step(self, view: View, proposed: Action) -> Action:
        if isinstance(proposed, Force) or view.ending is not None or view.entropy is None:
            return proposed
        if self.phase not in (view.phase, "both") or view.count("entropy") >= self.max_insertions:
            return proposed
        last = view.last("entropy")
        if last is not None and view.sampled_since(last.start + last.length) < self.cooldown:
            return proposed
        calm = self.varentropy_max is None or (view.varentropy or 0.0) < self.varentropy_max
        if view.entropy > self.threshold and calm:
            return force(Part("entropy", view.vocab.encode(self.text)))
        return proposed

    def quiet_steps(self, view: View) -> int:
        """Quiet in another phase, once its insertions are spent, and through the cooldown; else every step."""
        if self.phase not in (view.phase, "both") or view.count("entropy") >= self.max_insertions:
            return FOREVER
        last = view.last("entropy")
        if last is None:
            return 0
        return max(0, self.cooldown - view.sampled_since(last.start + last.length))
