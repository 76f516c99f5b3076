"""Budget forcing (s1, arXiv 2501.19393): a minimum and a maximum of thinking tokens."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from .boundaries import UNITS
from .relative import is_relative, parse, relative
from .base import END, FOREVER, LEAD, LIMITING, THINKING, Action, Force, Part, PolicyBase, View, force, require


def wrap_up(view: View, lead: str | None = None, rewind: int = 0, kept: tuple[int, ...] = (),
            capped: bool = False) -> Force:
    """Close the thinking: the end marker, then the answer lead (after ``kept`` text, if any)."""
    lead_ids = view.vocab.lead_ids if lead is None else view.vocab.encode(lead)
    return force(Part("kept", kept), Part(END, view.vocab.end_ids), Part(LEAD, lead_ids), rewind=rewind,
                 capped=capped)


def as_tuple(value, name: str) -> tuple[str, ...]:
    """Accept one string or a sequence of strings for a text option."""
    items = (value,) if isinstance(value, str) else tuple(value)
    require(bool(items) and all(isinstance(t, str) and t for t in items),
            f"{name} must be one or more non-empty strings, got {value!r}")
    return items


def check_bounds(min_tokens: int, max_tokens: int | None) -> None:
    require(min_tokens >= 0, f"min_tokens must be >= 0, got {min_tokens}")
    if max_tokens is not None:
        require(max_tokens >= 0, f"max_tokens must be >= 0, got {max_tokens}")
        require(min_tokens <= max_tokens, f"min_tokens ({min_tokens}) is above max_tokens ({max_tokens}): "
                                          "lower the minimum or raise the maximum")


def check_soft_close(slack: int, unit: str, cap: int | None) -> None:
    require(isinstance(slack, int) and slack >= 0, f"soft_close must be a whole number of tokens >= 0, got {slack!r}")
    require(unit in UNITS, f"close_at must be one of {', '.join(UNITS)}, got {unit!r}")
    require(not slack or cap is not None, "soft_close closes softly at the cap: give max_tokens too")


def limit_texts(wait: tuple[str, ...], wrap_up_text: str | None) -> tuple[tuple[str, str], ...]:
    """A budget's (or adaptive thinking's) forced texts: the waits and the wrap-up."""
    return tuple(("wait", w) for w in wait) + ((("wrap_up", wrap_up_text),) if wrap_up_text else ())


@dataclass(frozen=True)
class Budget(PolicyBase):
    """Keep the thinking between ``min_tokens`` and ``max_tokens``.

    Below the minimum, an attempt to end the thinking (the end marker or EOS)
    is undone and the next wait string is injected instead, until ``max_waits``
    waits are spent: after that the model may end its thinking below the
    minimum. At the maximum the wrap-up is forced: the end marker, then
    ``wrap_up`` (the format's answer lead when None). Injected tokens count as
    thinking tokens; a wait string that would pass the cap (and its slack) is
    cut to fit.

    ``soft_close`` (a slack in tokens): at the cap the model writes on, and the
    wrap-up comes at the first boundary of ``close_at`` (``word``, ``line`` or
    ``sentence``), or at ``max_tokens + soft_close`` at the latest. The slack's
    tokens are thinking tokens.

    ``min_tokens`` and ``max_tokens`` may be expressions of the prompt's and the
    context's tokens (``"0.5p+256"``, ``"25%ctx"``: ``policies.relative``), worked
    out when the prompt is known.
    """

    min_tokens: int | str = 0  # a string: relative to the prompt or the context (``policies.relative``)
    max_tokens: int | str | None = None
    wait: tuple[str, ...] = ("Wait",)
    max_waits: int | None = None
    wrap_up: str | None = None
    soft_close: int = 0
    close_at: str = "word"

    stage: ClassVar[int] = LIMITING

    def __post_init__(self) -> None:
        object.__setattr__(self, "wait", as_tuple(self.wait, "wait"))
        if relative(self):  # an expression of the prompt and the context: its value is checked once resolved
            for bound in (self.min_tokens, self.max_tokens):
                if is_relative(bound):
                    parse(bound)
        else:
            check_bounds(self.min_tokens, self.max_tokens)
        if self.max_waits is not None:
            require(self.max_waits >= 0, f"max_waits must be >= 0, got {self.max_waits}")
        check_soft_close(self.soft_close, self.close_at, self.max_tokens)

    def step(self, view: View, proposed: Action) -> Action:
        if view.phase != THINKING:
            return proposed
        ending = view.ending
        if ending is not None:
            if self.may_end(view.thinking_tokens, view.count("wait")):
                return proposed
            return self.wait_instead(view)
        if not self._fits(view.thinking_tokens + 1):
            return self.at_cap(view)
        if isinstance(proposed, Force) and not proposed.ends_thinking:
            if not self._fits(view.thinking_tokens - proposed.rewind + len(proposed.ids)):
                return self.close_thinking(view)
        return proposed

    def quiet_steps(self, view: View) -> int:
        """Only an ending acts below the cap: quiet until the thinking reaches it."""
        if view.phase != THINKING or self.max_tokens is None:
            return FOREVER
        return max(0, self.max_tokens - view.thinking_tokens)

    def wait_instead(self, view: View) -> Force:
        """Undo the model's ending and inject the next wait string (cut to fit the cap; none fits: the wrap-up)."""
        ending = view.ending
        kept = ending.kept if self._fits(view.thinking_tokens + len(ending.kept)) else ()
        thinking = view.thinking_tokens + len(kept)
        wait = self._next_wait(view)
        if self.max_tokens is not None:  # a wait that would pass the cap (and its slack) is cut to fit
            wait = wait[: self.max_tokens + self.soft_close - thinking]
        if wait:
            return force(Part("kept", kept), Part("wait", wait), rewind=ending.tokens)
        return wrap_up(view, self.wrap_up, rewind=ending.tokens, kept=kept)

    def close_thinking(self, view: View, capped: bool = True) -> Force:
        """The wrap-up at the cap, dropping a half-written end marker unless that falls below the minimum.

        ``capped=False``: the same close, made before the cap (adaptive thinking whose answer settled)."""
        tail = view.tail if view.thinking_tokens - view.tail >= self.min_tokens else 0
        return wrap_up(view, self.wrap_up, rewind=tail, capped=capped)

    @property
    def reads_text(self) -> bool:
        """A soft close reads the thought's text for its boundaries."""
        return bool(self.soft_close)

    def at_cap(self, view: View) -> Force:
        """The wrap-up at the cap: hard, or within the slack at the next boundary."""
        close = self.close_thinking(view)
        if self.soft_close and view.thinking_tokens < self.max_tokens + self.soft_close:
            return replace(close, at_boundary=self.close_at)
        return close

    def texts(self) -> tuple[tuple[str, str], ...]:
        return limit_texts(self.wait, self.wrap_up)

    def _fits(self, thinking_tokens: int) -> bool:
        """Whether a thinking phase of this many tokens stays within the cap."""
        return self.max_tokens is None or thinking_tokens <= self.max_tokens

    # the rules, by the counts alone: the local loop and the s1 loop over an endpoint both apply them

    def may_end(self, thinking_tokens: int, waits: int) -> bool:
        """Whether the model may end its thinking here: the minimum is met, or the waits are spent."""
        return thinking_tokens >= self.min_tokens or (self.max_waits is not None and waits >= self.max_waits)

    def wait_text(self, waits: int) -> str:
        """The wait string injected after ``waits`` of them, in turn."""
        return self.wait[waits % len(self.wait)]

    def _next_wait(self, view: View) -> tuple[int, ...]:
        return view.vocab.encode(self.wait_text(view.count("wait")))
