"""The prefix cache of a batch's rows: what an idle row's KV cache still holds, to start the next generation from.

When a generation ends, its row keeps the tokens its cache holds (the prompt and the completion
evaluated so far) instead of emptying them. A new generation goes to the idle row that holds the
longest prefix of its prompt, and only the rest of its prompt is evaluated: an agent's next turn,
a chat's growing history and the s1 loop's re-sent prompt and thinking cost only what is new.
The entries live in the rows' own cells, allocated once for the rows, so the cache takes no memory
beyond them and stays flat under load; the least recently used entry goes first.

A prompt that shares only an opening with a held entry (the same system prompt, a different question)
gets a copy of that opening in an empty row (or the oldest other entry's), and the entry stays. After
that nothing is shared: a row's rewinds and forced runs touch only its own cells.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

MIN_REUSE = 8  # a held row is taken over an empty one only for a prefix at least this long


@dataclass
class RowPrefixes:
    """The idle rows of a batch, and the tokens each one's cache holds (by last use, oldest first)."""

    capacity: int
    enabled: bool = True
    empty: list[int] = field(init=False)  # a heap of the idle rows that hold nothing
    held: dict[int, np.ndarray] = field(default_factory=dict)  # idle rows that hold tokens
    hits: int = 0  # generations that started from a held prefix
    reused_tokens: int = 0  # prompt tokens they did not evaluate

    def __post_init__(self) -> None:
        self.empty = list(range(self.capacity))

    def __len__(self) -> int:
        return len(self.empty) + len(self.held)

    def __iter__(self) -> Iterator[int]:
        """Every idle row, empty or holding tokens."""
        return iter([*self.empty, *self.held])

    def take(self, prompt: Sequence[int], reuse: bool = True) -> tuple[int, int, int | None]:
        """A row for a new generation, how many of the prompt's first tokens it starts from, and the row to copy them from.

        The row holding the longest prefix (of at least ``MIN_REUSE`` tokens) is taken when all it holds is
        that prefix; when it holds more (another prompt with the same opening), the prefix is copied from it
        into an empty row, so that its entry stays. Without an empty row, a prompt that parts from the entry
        (another conversation with the same opening) is copied into the least recently used other entry's
        row: the entry may be a conversation between two calls, whose next call would find it gone and
        evaluate all of it again, and the oldest entry is the likeliest to be done with. Without a prefix:
        the lowest empty row (a batch running dry keeps its rows together), else the least recently used
        one, emptied. At most all but the prompt's last token are reused: its logits are what the
        generation starts from.
        """
        best, longest = self.longest(prompt) if reuse else (None, 0)
        kept = min(longest, len(prompt) - 1)
        if longest < MIN_REUSE:  # too short to be worth a pass of another shape
            if self.empty:
                return heapq.heappop(self.empty), 0, None
            return self._evict(next(iter(self.held))), 0, None  # the oldest entry goes
        self.hits += 1
        self.reused_tokens += kept
        diverges = longest < len(prompt)  # another conversation with the same opening, not this one again
        if longest < len(self.held[best]) and (self.empty or diverges and len(self.held) > 1):
            self.held[best] = self.held.pop(best)  # used just now: the last to go
            target = heapq.heappop(self.empty) if self.empty else self._evict(next(iter(self.held)))
            return target, kept, best
        return self._evict(best), kept, None

    def longest(self, prompt: Sequence[int]) -> tuple[int | None, int]:
        """The held row that shares the longest prefix with the prompt, and its length (None, 0: none)."""
        best, longest = None, 0
        if self.held:
            ids = np.asarray(prompt, np.int64)
            for row, tokens in self.held.items():
                n = shared(tokens, ids)
                if n > longest:
                    best, longest = row, n
        return best, longest

    def _evict(self, row: int) -> int:
        del self.held[row]
        return row

    def give_back(self, row: int, tokens: Sequence[int] | None) -> None:
        """The row is idle again, its cache holding ``tokens`` (None or empty: nothing kept)."""
        if self.enabled and tokens is not None and len(tokens):
            self.held[row] = np.asarray(tokens, np.int64)
        else:
            heapq.heappush(self.empty, row)

    def clear(self) -> list[int]:
        """Forget every entry (the rows' caches can no longer be trusted); the rows that held one."""
        rows = list(self.held)
        for row in rows:
            heapq.heappush(self.empty, row)
        self.held.clear()
        return rows


def shared(a: np.ndarray, b: np.ndarray) -> int:
    """The length of the common prefix of two id arrays."""
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if len(differ) else n
