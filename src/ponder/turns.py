"""One thinking budget across a turn: the thinking of a tool loop's several generations counted together.

A turn is everything since the last user message: the assistant's calls, the tools' results, and
the assistant's thinking before each call. ``TurnBudget`` caps (and may floor) that thinking as a
whole: a generation gets what earlier ones in the turn left, and with nothing left it answers (or
calls its tool) without thinking. The thinking already spent is counted from the history with the
model's tokenizer (each assistant message's ``reasoning_content``, ``reasoning`` or ``thinking``),
or given by the client (``spent``). A thinking this process generated is counted as it was
generated: re-tokenizing a text can come out a token short of the tokens that wrote it (a token
shared with the end marker, pieces that merge), and a turn's budget would then pass its cap.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from .errors import PonderError
from .policies import Budget, Thinking, chain
from .policies.chain import CloseOnEos

REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")  # what clients call an assistant message's thinking
KEEP = 4096  # thinkings whose generated token counts are remembered
_generated: "OrderedDict[str, int]" = OrderedDict()
_lock = threading.Lock()


def remember(thinking: str, tokens: int) -> None:
    """A generated thinking's token count, for a later turn budget that finds it in a history."""
    key = thinking.strip()
    if not key:
        return
    with _lock:
        _generated[key] = tokens
        _generated.move_to_end(key)
        while len(_generated) > KEEP:
            _generated.popitem(last=False)


def thinking_tokens(text: str, count: Callable[[str], int]) -> int:
    """A history's thinking in tokens: as generated where this process generated it, else counted."""
    with _lock:
        known = _generated.get(text.strip())
    return known if known is not None else count(text)


@dataclass(frozen=True)
class TurnBudget:
    """At most ``max_tokens`` (and at least ``min_tokens``) thinking tokens in the whole turn."""

    max_tokens: int | None = None
    min_tokens: int = 0
    spent: int | None = None  # the turn's thinking so far, as the client counted it (None: count the history)

    def __post_init__(self) -> None:
        for name in ("max_tokens", "min_tokens", "spent"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise PonderError(f"a turn budget's {name} must be a whole number >= 0, got {value!r}")
        if self.max_tokens is not None and self.min_tokens > self.max_tokens:
            raise PonderError(f"a turn budget's min_tokens ({self.min_tokens}) is above its max_tokens "
                              f"({self.max_tokens})")

    def spent_in(self, messages: Sequence[dict], count: Callable[[str], int]) -> int:
        return self.spent if self.spent is not None else turn_thinking(messages, count)

    def thinking(self, thinking: Thinking, spent: int) -> Thinking:
        """The generation's thinking within what the turn has left: ``thinking``'s policies plus a budget for
        the rest, or no thinking when nothing is left."""
        if self.max_tokens is not None and spent > self.max_tokens:
            raise PonderError(f"the turn has spent {spent} thinking tokens already, more than its budget of "
                              f"{self.max_tokens}: raise turn_max_tokens, or start a new turn")
        left = None if self.max_tokens is None else self.max_tokens - spent
        if left == 0:
            return False
        if thinking is False:
            return False
        floor = max(0, self.min_tokens - spent)
        policies = [p for p in chain(None if thinking is True else thinking).policies if not isinstance(p, CloseOnEos)]
        own = next((p for p in policies if isinstance(p, Budget)), None)
        if own is None:
            return (*policies, Budget(min_tokens=floor, max_tokens=left))
        cap = left if own.max_tokens is None else own.max_tokens if left is None else min(own.max_tokens, left)
        merged = replace(own, min_tokens=min(max(own.min_tokens, floor), cap if cap is not None else floor),
                         max_tokens=cap)  # one budget: the request's own, held within the turn's
        return tuple(merged if p is own else p for p in policies)

    def report(self, spent_before: int, spent_now: int) -> dict:
        left = None if self.max_tokens is None else self.max_tokens - spent_before - spent_now
        return {"max_tokens": self.max_tokens, "min_tokens": self.min_tokens, "spent_before": spent_before,
                "spent": spent_before + spent_now, "remaining": left}


def turn_thinking(messages: Sequence[dict], count: Callable[[str], int]) -> int:
    """Thinking tokens of the assistant messages after the last user message."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    total = 0
    for m in messages[last_user + 1:]:
        if m.get("role") == "assistant":
            text = next((m[k] for k in REASONING_KEYS if isinstance(m.get(k), str) and m.get(k)), "")
            total += thinking_tokens(text, count) if text else 0
    return total
