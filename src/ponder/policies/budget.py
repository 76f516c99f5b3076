"""Budget forcing (s1, arXiv 2501.19393): a minimum and a maximum of thinking tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import END, LEAD, THINKING, Action, Force, Part, PolicyBase, View, force, require


def wrap_up(view: View, lead: str | None = None, rewind: int = 0) -> Force:
    """Close the thinking: the end marker, then the answer lead."""
    lead_ids = view.vocab.lead_ids if lead is None else view.vocab.encode(lead)
    return force(Part(END, view.vocab.end_ids), Part(LEAD, lead_ids), rewind=rewind)


def as_tuple(value, name: str) -> tuple[str, ...]:
    """Accept one string or a sequence of strings for a text option."""
    items = (value,) if isinstance(value, str) else tuple(value)
    require(all(isinstance(t, str) and t for t in items), f"{name} must be non-empty strings, got {value!r}")
    return items


@dataclass(frozen=True)
class Budget(PolicyBase):
    """Keep the thinking between ``min_tokens`` and ``max_tokens``.

    Below the minimum, an attempt to end the thinking (the end marker or EOS)
    is undone and the next wait string is injected instead. At the maximum the
    wrap-up is forced: the end marker, then ``wrap_up`` (the format's answer
    lead when None). Injected tokens count as thinking tokens.
    """

    min_tokens: int = 0
    max_tokens: int | None = None
    wait: tuple[str, ...] = ("Wait",)
    max_waits: int | None = None
    wrap_up: str | None = None

    stage: ClassVar[int] = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "wait", as_tuple(self.wait, "wait"))
        require(self.min_tokens >= 0, f"min_tokens must be >= 0, got {self.min_tokens}")
        if self.max_tokens is not None:
            require(self.max_tokens >= 0, f"max_tokens must be >= 0, got {self.max_tokens}")
            require(
                self.min_tokens <= self.max_tokens,
                f"min_tokens ({self.min_tokens}) is above max_tokens ({self.max_tokens}): "
                "lower the minimum or raise the maximum",
            )
        if self.max_waits is not None:
            require(self.max_waits >= 0, f"max_waits must be >= 0, got {self.max_waits}")

    def step(self, view: View, proposed: Action) -> Action:
        if view.phase != THINKING:
            return proposed
        if view.ending is not None:
            if view.thinking_tokens < self.min_tokens and self._waits_left(view):
                ids = self._next_wait(view)
                if self._fits(view.thinking_tokens + len(ids)):
                    return force(Part("wait", ids), rewind=view.ending.tokens)
                return wrap_up(view, self.wrap_up, rewind=view.ending.tokens)
            return proposed
        if not self._fits(view.thinking_tokens + 1):
            return wrap_up(view, self.wrap_up, rewind=view.tail)
        if isinstance(proposed, Force) and not proposed.ends_thinking:
            if not self._fits(view.thinking_tokens - proposed.rewind + len(proposed.ids)):
                return wrap_up(view, self.wrap_up, rewind=view.tail)
        return proposed

    def _fits(self, thinking_tokens: int) -> bool:
        """Whether a thinking phase of this many tokens stays within the cap."""
        return self.max_tokens is None or thinking_tokens <= self.max_tokens

    def _waits_left(self, view: View) -> bool:
        return self.max_waits is None or view.count("wait") < self.max_waits

    def _next_wait(self, view: View) -> tuple[int, ...]:
        return view.vocab.encode(self.wait[view.count("wait") % len(self.wait)])
