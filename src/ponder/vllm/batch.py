"""vLLM's persistent batch as ponder steers it: a step checks every quiet row at once.

vLLM keeps each running request in a slot of its persistent batch and tells the logits processor
when requests join, leave or move. A steered row needs its policies only where they may act (its
``due`` position) or where the token about to be sampled may end its thinking (its ``watched``
tokens). Everything else is a few array operations over the batch, kept per slot so that a join,
a leave or a move costs a few writes, never a rebuild. No vLLM import: the plugin hands the
batch's changes over as plain values, and tests drive the batch with any logits.
"""

from __future__ import annotations

import numpy as np
import torch

from .logits import TorchRow, ending_bounds, greedy_may_end, shaped
from .steer import Steer, Step

NEVER = np.iinfo(np.int64).max


class SteeredBatch:
    """The steers of vLLM's batch slots, with the state a step reads held in arrays by slot."""

    def __init__(self) -> None:
        self.steers: list[Steer | None] = []
        self.outputs: list[list[int] | None] = []  # the engine's output ids of each slot (vLLM's own lists)
        self.due = np.zeros(0, np.int64)  # the output length at which a slot's policies must be asked
        self.watching = np.zeros(0, bool)  # whether the slot's next sample may end its thinking
        self.greedy = np.zeros(0, bool)
        self.temperature = np.ones(0)
        self.ends = np.zeros((0, 1), np.int64)  # the watched tokens, padded with the first
        self.counts = np.zeros(0, np.int64)  # how many of a slot's ``ends`` are its own
        self._changed()

    def __bool__(self) -> bool:
        return len(self.active) > 0

    # the batch's changes

    def put(self, slot: int, steer: Steer | None, output: list[int] | None = None) -> None:
        """A request joins at ``slot`` (``steer`` None: an unsteered one, or the slot emptied)."""
        self._reserve(slot)
        self.steers[slot], self.outputs[slot] = steer, output if steer is not None else None
        self._store(slot)

    def move(self, source: int, target: int, swap: bool) -> None:
        self._reserve(max(source, target))
        moving = self.steers[source], self.outputs[source]
        self.steers[source], self.outputs[source] = (self.steers[target], self.outputs[target]) if swap else (None, None)
        self.steers[target], self.outputs[target] = moving
        self._store(source)
        self._store(target)

    def changed(self) -> None:
        """After a round of changes: the slots that hold a steer, in order."""
        self._changed()

    def _changed(self) -> None:
        self.active = np.array([i for i, steer in enumerate(self.steers) if steer is not None], np.int64)
        self.active_outputs = [self.outputs[i] for i in self.active.tolist()]
        self._plan = None

    def _reserve(self, slot: int) -> None:
        size = len(self.steers)
        if slot < size:
            return
        grow = max(slot + 1, 2 * size, 8) - size
        self.steers += [None] * grow
        self.outputs += [None] * grow
        self.due = np.concatenate([self.due, np.full(grow, NEVER, np.int64)])
        self.watching = np.concatenate([self.watching, np.zeros(grow, bool)])
        self.greedy = np.concatenate([self.greedy, np.zeros(grow, bool)])
        self.temperature = np.concatenate([self.temperature, np.ones(grow)])
        self.ends = np.concatenate([self.ends, np.zeros((grow, self.ends.shape[1]), np.int64)])
        self.counts = np.concatenate([self.counts, np.zeros(grow, np.int64)])

    def _store(self, slot: int) -> None:
        """The slot's arrays from its steer, as of its last decision."""
        self._plan = None
        steer = self.steers[slot]
        if steer is None:
            self.due[slot], self.watching[slot], self.counts[slot] = NEVER, False, 0
            return
        self.due[slot], self.greedy[slot], self.temperature[slot] = steer.due, steer.greedy, steer.temperature
        watched = steer.watched
        self.watching[slot], self.counts[slot] = bool(watched), len(watched)
        if len(watched) > self.ends.shape[1]:
            extra = len(watched) - self.ends.shape[1]
            self.ends = np.concatenate([self.ends, np.repeat(self.ends[:, :1], extra, axis=1)], axis=1)
        if watched:
            self.ends[slot] = watched + (watched[0],) * (self.ends.shape[1] - len(watched))

    # each step

    def plan(self) -> "Plan":
        """What a step reads of the active slots, worked out again only after a change or a decision."""
        if self._plan is None:
            self._plan = Plan(self)
        return self._plan

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Ask the policies of the rows that need them; every other row costs a check in the batch's arrays.

        A row needs its policies when its output reached the position they asked to be asked at (``due``), or
        when the token it is about to sample may end its thinking. A quiet row that samples has its ending
        tokens banned for the step instead (its draw said it would not end); nothing else is done. A step
        where no row needs anything is a handful of array operations (a row's ending read from one column).
        """
        active = self.active
        if not len(active):
            return logits
        plan = self.plan()
        lengths = plan.lengths(self.active_outputs)
        looks = None if lengths is None else lengths >= plan.due
        may_end = None
        if len(plan.greedy_at):
            flags = greedy_may_end(logits, plan.greedy_slots, plan.greedy_ends, plan.greedy_index)
            if flags.any():
                may_end = np.zeros(len(active), bool)
                may_end[plan.greedy_at[flags]] = True
                looks = may_end.copy() if looks is None else looks | may_end
        bans: list[tuple[np.ndarray, np.ndarray]] = []
        if len(plan.sampling_at):  # then the lengths and looks were read (the draws are by position)
            quiet = plan.sampling_at[~looks[plan.sampling_at]]
            if len(quiet):
                looks[quiet[self._draws_may_end(logits, active[quiet], lengths[quiet], bans)]] = True
        if looks is None:
            return logits
        forced: list[tuple[int, int]] = []
        for k in np.flatnonzero(looks).tolist():
            slot = int(active[k])
            steer = self.steers[slot]
            steer.sync(self.outputs[slot])
            ending = may_end is not None and bool(may_end[k])
            step: Step = steer.next(TorchRow(logits[slot], ending or not steer.greedy))
            self._store(slot)
            if step.force is not None:
                forced.append((slot, step.force))
            elif step.ban:
                ids = sorted(step.ban)
                bans.append((np.full(len(ids), slot), np.array(ids, np.int64)))
        return shaped(logits, forced, bans) if forced or bans else logits

    def _draws_may_end(self, logits: torch.Tensor, slots: np.ndarray, lengths: np.ndarray, bans: list) -> np.ndarray:
        """Which quiet sampling rows' draws may pick an ending; the others get their endings banned.

        The chance of an ending is bounded from above with the first ``logits.HEAD`` tokens' share of the
        probability, so a draw above the bound (with a margin over rounding) cannot be an ending.
        """
        ends, counts = self.ends[slots], self.counts[slots]
        own = np.arange(ends.shape[1]) < counts[:, None]
        chances = (ending_bounds(logits, slots, ends, self.temperature[slots]) * own).sum(1)
        draws = np.array([self.steers[s].draw(at=n) for s, n in zip(slots.tolist(), lengths.tolist())])
        flagged = draws < chances * (1 + 1e-4)
        quiet = ~flagged
        if quiet.any():
            rows = np.repeat(slots[quiet], counts[quiet])
            bans.append((rows, ends[quiet][own[quiet]]))
        return flagged


class Plan:
    """The active slots' arrays a step reads, by position among the active slots (``*_at``) or by slot.

    ``greedy_*``: the watched greedy rows and their ending tokens, cut to the most any of them watches;
    ``sampling_at``: the watched sampling rows.
    """

    def __init__(self, batch: SteeredBatch) -> None:
        active = batch.active
        self.due = batch.due[active]
        watching, greedy = batch.watching[active], batch.greedy[active]
        self.greedy_at = np.flatnonzero(watching & greedy)
        self.sampling_at = np.flatnonzero(watching & ~greedy)
        self.greedy_slots = active[self.greedy_at]
        width = int(batch.counts[self.greedy_slots].max()) if len(self.greedy_slots) else 1
        self.greedy_ends = batch.ends[self.greedy_slots, :width]
        self.idle = 0  # steps to come at which no row can have reached its due
        self._on_device: dict = {}

    def greedy_index(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``greedy_slots`` and ``greedy_ends`` as tensors on ``device``, copied there once per plan, not per step."""
        if device not in self._on_device:
            self._on_device[device] = (torch.as_tensor(self.greedy_slots, device=device),
                                       torch.as_tensor(self.greedy_ends, device=device))
        return self._on_device[device]

    def lengths(self, outputs: list) -> np.ndarray | None:
        """The active rows' output lengths, or None at a step where none can have reached its due position
        (with sampling rows, whose draws are by position, always read).

        vLLM adds at most one token to a row per step (ponder refuses speculative decoding; a row in
        its prefill adds none), so a row ``k`` tokens short of its due needs ``k`` steps: the lengths are
        read again only then.
        """
        if self.idle and not len(self.sampling_at):
            self.idle -= 1
            return None
        lengths = np.fromiter(map(len, outputs), np.int64, len(outputs))
        self.idle = max(0, int((self.due - lengths).min()) - 1)
        return lengths
