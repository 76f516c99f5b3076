"""Steering a generation while it runs: end its thinking now, or give it more (a "stop thinking" button).

A ``Control`` is handed to ``generate(control=...)`` (or a request of ``generate_many``); another
thread calls ``end_thinking()`` or ``extend(tokens)``, and the generation takes it at its next step,
batched or not. Ending forces the wrap-up (the end marker and the answer lead) whatever the budget's
minimum; extending raises the budget's cap (the overall ``max_tokens`` still holds).
"""

from __future__ import annotations

import threading

from .errors import PonderError

END_THINKING, EXTEND = "end_thinking", "extend"


class Control:
    """A handle on running generations: thread-safe, read by the decoding loop once per step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[str, int]] = []
        self.taken: list[tuple[str, int]] = []  # what the generation applied, in order (too late: left out)

    def end_thinking(self) -> None:
        self._push(END_THINKING, 0)

    def extend(self, tokens: int) -> None:
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
            raise PonderError(f"extend takes a whole number of thinking tokens >= 1, got {tokens!r}")
        self._push(EXTEND, tokens)

    def _push(self, action: str, tokens: int) -> None:
        with self._lock:
            self._pending.append((action, tokens))

    @property
    def pending(self) -> bool:
        return bool(self._pending)  # read without the lock: a list's truth is atomic, and take() locks

    def take(self) -> list[tuple[str, int]]:
        with self._lock:
            taken, self._pending = self._pending, []
        return taken
