"""Adaptive thinking: probe the answer mid-thought and stop once it has settled (after Dynasor-CoT and DEER).

From ``min_tokens`` on, every ``every`` thinking tokens, and wherever the model
tries to end its thinking, the policy asks the loop for a probe: the end marker
and the answer lead forced on a copy of the sequence, a few answer tokens written
greedily, all of it cut back out. When the last ``agree`` probes gave the same
answer, the thinking ends there (the wrap-up, or the model's own ending). When
the model tries to end before that, a wait is injected instead, so the policy
extends the thinking as well as cutting it short. ``max_tokens`` is a hard cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

from .base import (
    LEAD, LIMITING, THINKING, Action, Force, Part, PolicyBase, Probe, ProbeAnswer, View, force, require,
)
from .budget import Budget, as_tuple, limit_texts, wrap_up

MAX_PROBE_TOKENS = 256  # an answer to read, not a second generation


@dataclass(frozen=True)
class Adaptive(PolicyBase):
    """Think until ``agree`` probes in a row give the same answer, between ``min_tokens`` and ``max_tokens``.

    A probe every ``every`` thinking tokens (and where the model tries to end its
    thinking) writes at most ``probe_tokens`` answer tokens. Below ``min_tokens``
    the policy acts as a budget's minimum (an ending gets a wait). ``wait`` and
    ``wrap_up`` are as in ``Budget``; the probe forces the same lead as the wrap-up.
    ``soft_close`` and ``close_at`` soften the cap as a budget's do.
    """

    every: int = 32
    agree: int = 2
    probe_tokens: int = 16
    min_tokens: int = 0
    max_tokens: int | None = None
    wait: tuple[str, ...] = ("Wait",)
    wrap_up: str | None = None
    soft_close: int = 0
    close_at: str = "word"

    stage: ClassVar[int] = LIMITING

    def __post_init__(self) -> None:
        object.__setattr__(self, "wait", as_tuple(self.wait, "wait"))
        require(isinstance(self.every, int) and self.every >= 1,
                f"adaptive every must be >= 1 thinking tokens between probes, got {self.every}")
        require(isinstance(self.agree, int) and self.agree >= 1,
                f"adaptive agree must be >= 1 probes, got {self.agree}")
        require(isinstance(self.probe_tokens, int) and 1 <= self.probe_tokens <= MAX_PROBE_TOKENS,
                f"adaptive probe_tokens must be between 1 and {MAX_PROBE_TOKENS}, got {self.probe_tokens}")
        self.limits  # noqa: B018 - building it checks min_tokens and max_tokens with the budget's messages

    @property
    def reads_text(self) -> bool:
        return bool(self.soft_close)

    def texts(self) -> tuple[tuple[str, str], ...]:
        return limit_texts(self.wait, self.wrap_up)

    @property
    def limits(self) -> Budget:
        """The minimum, the cap and the waits, as a budget applies them."""
        return Budget(min_tokens=self.min_tokens, max_tokens=self.max_tokens, wait=self.wait, wrap_up=self.wrap_up,
                      soft_close=self.soft_close, close_at=self.close_at)

    def step(self, view: View, proposed: Action) -> Action:
        if view.phase != THINKING or isinstance(proposed, Probe) or isinstance(proposed, Force) and \
                proposed.ends_thinking:
            return proposed  # another policy's probe, or a force that ends the thinking, goes through
        limits, thinking = self.limits, view.thinking_tokens
        if thinking < self.min_tokens or isinstance(proposed, Force):
            return limits.step(view, proposed)  # waits below the minimum; an injection clipped to the cap
        if view.ending is not None:
            return self._at_ending(view, proposed, limits)
        if self._at_cap(thinking):
            return limits.at_cap(view)
        if settled(view.probes, self.agree):
            return limits.close_thinking(view, capped=False)  # an answer settled before the cap
        if view.tail or thinking - last_probe_at(view.probes) < self.every:
            return proposed  # not due, or a half-written end marker decides in a token or two
        return self._probe(view)

    def _at_ending(self, view: View, proposed: Action, limits: Budget) -> Action:
        """The model tries to end: let it once the answer has settled (or at the cap), else probe, then wait."""
        if settled(view.probes, self.agree) or self._at_cap(view.thinking_tokens):
            return proposed
        probed_here = bool(view.probes) and view.probes[-1].at == view.thinking_tokens
        return limits.wait_instead(view) if probed_here else self._probe(view)

    def _at_cap(self, thinking: int) -> bool:
        return self.max_tokens is not None and thinking >= self.max_tokens

    def _probe(self, view: View) -> Probe:
        """The end marker and the lead; where the model just wrote its end marker, its own marker and the lead
        (so the probe builds on the cache as it is, never below it); an EOS is left out."""
        ending = view.ending
        if ending is None or ending.eos:
            return Probe(wrap_up(view, self.wrap_up, rewind=ending.tokens if ending else 0), self.probe_tokens)
        lead = view.vocab.lead_ids if self.wrap_up is None else view.vocab.encode(self.wrap_up)
        return Probe(force(Part(LEAD, lead)), self.probe_tokens)


def settled(probes: Sequence[ProbeAnswer], agree: int) -> bool:
    """Whether the last ``agree`` probes gave one and the same non-empty answer."""
    if len(probes) < agree:
        return False
    last = [normalise(p.text) for p in probes[-agree:]]
    return bool(last[0]) and all(text == last[0] for text in last)


def normalise(text: str) -> str:
    """Answers compare without case and surrounding or repeated whitespace."""
    return " ".join(text.split()).lower()


def last_probe_at(probes: Sequence[ProbeAnswer]) -> int:
    """The thinking tokens at the last probe (0 before any: the first comes after ``every`` tokens)."""
    return probes[-1].at if probes else 0
