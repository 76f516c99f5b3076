"""Batched controlled decoding: many generations, one forward pass per round.

Each generation is a ``Decoder`` coroutine with its own policies, trace, sampler
and stop conditions. In a round every live row hands over the tokens it needs
evaluated (the prompt, one sampled token, a forced run of any length, or the
replay after a rewind) and one forward pass of the backend's ``Rows`` evaluates
them all. Rows finish, rewind and join independently: a row freed in one round
takes a new generation in the next. A row's tokens are exactly what the same
generation gives alone, up to the last bits of the logits (batch shapes change
floating-point sums).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from .decoding import Decoder, Pass, Steps
from .prefixes import RowPrefixes
from .trace import Trace

logger = logging.getLogger("ponder.batching")


class Rows(Protocol):
    """The KV caches of up to ``capacity`` sequences in one model, evaluated together."""

    capacity: int
    can_copy: bool  # whether ``copy`` can hand one row's cached prefix to another

    def forward(self, work: Sequence[tuple[int, Sequence[int]]],
                all_positions: Sequence[bool] | None = None) -> list[np.ndarray]:
        """Evaluate each (row, ids) after what the row's cache holds, in one pass; the logits after each row's last id.

        Where ``all_positions[k]`` is true, work item k gets the logits after each of its ids (one row per id).
        """
        ...

    def truncate(self, row: int, n_keep: int) -> None: ...  # keep the row's first n_keep tokens

    def release(self, row: int) -> None: ...  # empty the row for another sequence

    def close(self) -> None: ...  # free the caches; the model stays loaded

    def copy(self, source: int, row: int, n_tokens: int) -> None: ...  # the source row's first tokens, where can_copy


@dataclass(frozen=True)
class RowCache:
    """One row as a decoder sees its cache: what its rewinds cut back."""

    rows: Rows
    row: int

    def truncate(self, n_keep: int) -> None:
        self.rows.truncate(self.row, n_keep)


class SerialRows:
    """A backend that cannot batch, behind the same interface: one row, its own forward passes."""

    capacity = 1
    can_copy = False  # one row: nothing to copy from

    def __init__(self, backend) -> None:
        self.backend = backend
        self.fresh = True

    def forward(self, work, all_positions=None):
        (row, ids), = work
        all_rows = bool(all_positions and all_positions[0])
        logits = self.backend.prefill(ids, all_rows) if self.fresh else self.backend.evaluate(ids, all_rows)
        self.fresh = False
        return [logits]

    def truncate(self, row: int, n_keep: int) -> None:
        self.backend.truncate(n_keep)

    def release(self, row: int) -> None:
        self.fresh = True

    def close(self) -> None:
        pass

    def copy(self, source: int, row: int, n_tokens: int) -> None:
        raise RuntimeError("a serial row has no other row to copy from")


def rows_for(backend, capacity: int) -> Rows:
    """The backend's batched rows, or one serial row where it cannot batch (or one row is asked for)."""
    rows = backend.open_rows(capacity) if capacity > 1 else None
    return SerialRows(backend) if rows is None else rows


@dataclass(eq=False)
class Running:
    """A generation in the batch: its decoder, its coroutine, its row and the pass it waits on."""

    decoder: Decoder
    steps: Steps
    row: int
    pending: Pass
    done: Callable[[Trace | None, BaseException | None], None]
    prompt: tuple[int, ...] = ()
    leader: "Running | None" = None  # a row with the same prompt whose prefill this one will share
    prefilled: bool = False  # its prompt has been evaluated (or copied): it can no longer lead


@dataclass
class Batch:
    """Generations advancing together over a backend's rows; ``round`` runs one forward pass.

    A generation whose prompt is the same as that of a row still waiting for its prefill (the
    ``n`` choices of one request) shares that prefill: it sits the pass out, then takes a copy
    of the leader's cached prompt and its logits, where the rows can copy (unless a row the prefix
    cache kept holds the prompt: it takes that row and evaluates the last token). With ``prefix_cache``
    (batched rows only), a row keeps what its cache holds when its generation ends, and the next
    generation whose prompt starts the same evaluates only the rest (``ponder.prefixes``).
    """

    rows: Rows
    prefix_cache: bool = False
    running: list[Running] = field(default_factory=list)
    forward_passes: int = 0
    idle: RowPrefixes = field(init=False)  # the rows no generation holds, and what their caches keep

    def __post_init__(self) -> None:
        self.idle = RowPrefixes(self.rows.capacity, enabled=self.prefix_cache and self.rows.can_copy)

    @property
    def free(self) -> int:
        return self.rows.capacity - len(self.running)

    def add(self, decoder: Decoder, prompt_ids: Sequence[int],
            done: Callable[[Trace | None, BaseException | None], None]) -> None:
        """Join at the next round; ``done(trace, error)`` is called when the generation ends."""
        steps = decoder.steps(prompt_ids)
        first, prompt = next(steps), tuple(prompt_ids)  # the prompt's pass (the cache is not touched yet)
        leader = None
        if self.rows.can_copy:  # rows that cannot copy a cache evaluate every prompt themselves
            leader = next((r for r in self.running if r.prompt == prompt and not r.prefilled
                           and r.leader is None and r.pending[1] == first[1]), None)
        if leader is not None and not first[1] and self.idle.longest(prompt)[1] >= len(prompt) - 1:
            leader = None  # a kept row holds the prompt already: taking it beats emptying another for a copy
        # a leader's follower is handed the whole prompt; every position's logits need the whole prompt evaluated
        row, cached, source = self.idle.take(prompt, reuse=leader is None and not first[1])
        if source is None:
            self.rows.truncate(row, cached)
        else:
            self.rows.copy(source, row, cached)
        decoder.cache = RowCache(self.rows, row)
        if cached:
            first = (first[0][cached:], False)
            decoder.trace.cached_tokens = cached
        self.running.append(Running(decoder, steps, row, first, done, prompt, leader))

    def round(self) -> None:
        """One forward pass for every live row, then each row runs on until it needs logits again or ends."""
        if not self.running:
            return
        evaluated = [r for r in self.running if r.leader is None]
        work = [(r.row, r.pending[0]) for r in evaluated]  # each pass: (ids, all_positions)
        all_positions = [r.pending[1] for r in evaluated]  # rows that want every position's logits
        logits = self.rows.forward(work, all_positions) if any(all_positions) else self.rows.forward(work)
        self.forward_passes += 1
        given = dict(zip(map(id, evaluated), logits))
        for run in self.running:
            if run.leader is not None:  # the leader's prompt was just evaluated: take a copy of it
                self.rows.copy(run.leader.row, run.row, len(run.prompt))
                given[id(run)], run.leader = given[id(run.leader)].copy(), None
        still, ended = [], []
        for run in self.running:
            run.prefilled = True
            try:
                run.pending = run.steps.send(given[id(run)])
                still.append(run)
            except StopIteration as end:
                ended.append((run, end.value, None))
            except Exception as err:  # one row's failure (a policy bug...) ends that row alone
                ended.append((run, None, err))
        self.running = still  # before any callback runs: whatever one does, no row ends twice
        for run, trace, error in ended:
            self._end(run, trace, error)

    def fail(self, error: BaseException) -> None:
        """End every running generation with ``error`` (the forward pass itself failed)."""
        running, self.running = self.running, []
        for run in running:
            self._end(run, None, error)
        for row in self.idle.clear():  # what the rows' caches hold is no longer sure
            self.rows.release(row)

    def _end(self, run: Running, trace: Trace | None, error: BaseException | None) -> None:
        kept = None if error is not None or not self.idle.enabled else run.decoder.cached_ids()
        if kept:
            self.rows.truncate(run.row, len(kept))
        else:
            self.rows.release(run.row)
        self.idle.give_back(run.row, kept)
        try:
            run.done(trace, error)
        except Exception:  # the caller's bug: its row is free again, and the other rows go on
            logger.exception("a generation's done callback raised; the other rows go on")
