"""Steering one request from outside the engine: a token at a time, no rewinds.

Inside an engine such as vLLM, ponder sees each step's logits before the
engine samples, and can only shape them: force one token (every other logit to
-inf) or ban some. It cannot take back a token once sampled. So the steer keeps
the request's trace a little ahead of the engine:

- a forced run (a wait, the wrap-up, a filler) is scheduled into the trace at
  once and the engine is made to follow it, one token per step;
- an ending is decided before it is sampled. When the model would close its
  thinking (greedy: the best token is the end marker or EOS; sampling: a draw
  with the chance the model gives those tokens), the policies see that ending
  and may replace it, exactly as in the local decoding loop. Otherwise the
  ending tokens are banned for this step, so the engine samples from what is
  left: the same distribution as "sample, and the sample was not an ending".

Pure numpy and ponder policies: the vLLM plugin wraps this, and tests drive it
with any model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from ..errors import PonderError
from ..policies import THINKING, Ban, Chain, Ending, Force, View, Vocab
from ..policies.boundaries import TAIL, UnitStarts, ends_unit
from ..trace import Trace
from ..sampling import entropy_stats, log_softmax


class Row(Protocol):
    """One request's next-token logits, as the steer needs them."""

    def greedy_ending(self, ends: Sequence[int], banned: frozenset[int]) -> int | None: ...  # the greedy choice
    # if it is one of ``ends`` (with ``banned`` masked), else None

    def chances(self, ids: Sequence[int], banned: frozenset[int], temperature: float) -> np.ndarray: ...

    def best(self) -> int: ...  # the greedy choice

    def stats(self) -> tuple[float, float]: ...  # entropy and varentropy in bits


@dataclass(frozen=True)
class Step:
    """What to do with this step's logits: force one token, or ban some (neither: leave them)."""

    force: int | None = None
    ban: frozenset[int] = frozenset()


UNSHAPED = Step()  # leave the logits as they are


@dataclass(frozen=True)
class TokenText:
    """A vocabulary's text, for a soft close's boundaries: a decoder and the tokens that start each unit."""

    decode: Callable[[Sequence[int]], str]
    starts: UnitStarts


@dataclass
class Steer:
    """One request's trace and policies; ``next`` is called once per engine step."""

    policy: Chain
    vocab: Vocab  # its end marker one token (``native_end``): a step sees one token ahead
    temperature: float = 0.0
    seed: int | None = None
    rng: np.random.Generator | None = None  # for an unseeded request: shared, so every replica draws alike
    trace: Trace = field(default_factory=Trace)
    emitted: int = 0  # tokens the engine has produced so far (the trace may run ahead of them)
    text: TokenText | None = None  # needed by a soft close only

    def __post_init__(self) -> None:
        if self.vocab.native_end is None:
            raise PonderError("steering inside an engine needs the end-of-thinking marker as one token")
        self.end_id = self.vocab.native_end
        if self.rng is None or self.seed is not None:
            self.rng = np.random.default_rng(self.seed)
        self.decided_at: int | None = None  # the position of the last decision (it stands once emitted past)
        self.drawn: tuple[int, float] | None = None  # the position of the last random draw, and the draw
        self.draws = Draws(self.rng)
        # the engine's output length at which the policies must be asked again; until then only an ending
        # (a watched token about to be sampled) needs them
        self.due = 0
        self.watched = self.endings()  # as of the last decision: the phase changes only at a decision
        self.greedy = self.temperature < 1e-5  # vLLM's own threshold for greedy sampling

    def sync(self, output: Sequence[int]) -> None:
        """Catch up with the engine's output tokens; a token off the schedule replaces the rest of it.

        Read from where the last call stopped. Past the schedule every token is sampled: they go in at
        once (a row left quiet for many steps catches up in one call).
        """
        trace, start, end = self.trace, self.emitted, len(output)
        if start == len(trace.ids) and end > start:
            self._extend_sampled(output[start:end])
            self.emitted = end
            return
        for i in range(start, end):
            token = output[i]
            if i < len(trace.ids):
                if trace.ids[i] == token:
                    continue
                trace.pop(len(trace.ids) - i)
            self._extend_sampled((token,))
        self.emitted = end

    def _extend_sampled(self, tokens: Sequence[int]) -> None:
        """Sampled tokens; an end marker among them while thinking closes the thinking there."""
        trace, end_id = self.trace, self.end_id
        if trace.phase == THINKING and end_id in tokens:
            at = list(tokens).index(end_id)
            trace.extend_sampled(tokens[: at + 1])
            trace.close_thinking(len(trace.ids) - 1, capped=False)
            tokens = tokens[at + 1:]
        trace.extend_sampled(tokens)

    def next(self, row: Row) -> Step:
        """This step's shaping of the logits.

        A decision stands once the engine's output moves past its position. Asked again at the same
        position, the engine dropped the step's sample: the row was still in its prefill (a chunk of a
        long prompt), and its logits came from the middle of the prompt. So the decision, and what it
        scheduled, is undone and made again on these logits.
        """
        if self.decided_at == self.emitted:
            self.trace.pop(len(self.trace.ids) - self.emitted)
        elif self.emitted < len(self.trace.ids):
            return Step(force=self.trace.ids[self.emitted])  # follow the schedule
        self.decided_at = self.emitted
        step = self.decide(row)
        self.due = self.emitted + self.quiet_steps()
        self.watched = self.endings()
        return step

    def quiet_steps(self) -> int:
        """After a decision: how many steps, this one included, the policies are sure to leave alone unless the
        model tries to end its thinking (0: ask them again at the next step)."""
        if len(self.trace.ids) != self.emitted:
            return 0  # a forced run, or an ending, is under way
        return self.policy.quiet_steps(self.view())

    def endings(self) -> tuple[int, ...]:
        """The tokens that, sampled now, would be an ending the policies must see first."""
        if self.trace.phase != THINKING:
            return ()
        return (self.end_id, *sorted(self.vocab.eos_ids))

    def decide(self, row: Row) -> Step:
        trace = self.trace
        stats = row.stats() if self.policy.wants_stats else (None, None)
        action = self.policy.step(self.view(stats=stats))
        soft = isinstance(action, Force) and action.at_boundary is not None and self.text is not None
        if soft and ends_unit(action.at_boundary, self.text.decode(trace.ids[-TAIL:])):
            return self.schedule(action)
        if isinstance(action, Force) and (action.ids or action.rewind) and not soft:
            return self.schedule(action)
        banned = action.ids if isinstance(action, Ban) else frozenset()
        if trace.phase != THINKING:
            return Step(ban=banned)
        ends = tuple(t for t in (self.end_id, *sorted(self.vocab.eos_ids)) if t not in banned)
        token = self.ending_token(row, ends, banned)
        if token is None:
            if soft:
                return self.close_at_boundary(row, action, ends)
            return Step(ban=banned if self.greedy else banned | frozenset(ends))
        trace.push_sampled(token)
        ending = Ending(1, eos=token in self.vocab.eos_ids)
        action = self.policy.step(self.view(ending=ending))
        if isinstance(action, Force) and (action.ids or action.rewind):
            return self.schedule(action)
        if not ending.eos:
            trace.close_thinking(len(trace.ids) - 1, capped=False)
        return Step(force=token)

    def close_at_boundary(self, row: Row, close: Force, ends: tuple[int, ...]) -> Step:
        """A soft close where the engine would not end the thinking (``Decoder.close_at_boundary``), decided
        before it samples: the wrap-up where the token it would sample starts a new unit (greedy: the best
        token; sampling: the same draw, past the endings' chance, within those tokens'), else those tokens
        banned for this step."""
        before = self.text.decode(self.trace.ids[-TAIL:])
        starts = self.text.starts.after(close.at_boundary, before) - set(ends)
        if self.greedy:
            closing = row.best() in starts
        else:
            chances = row.chances([*ends, *sorted(starts)], frozenset(), self.temperature)
            closing = self.draw() < float(chances.sum())
        if closing:
            return self.schedule(close)
        return UNSHAPED if self.greedy else Step(ban=starts | frozenset(ends))

    def ending_token(self, row: Row, ends: tuple[int, ...], banned: frozenset[int]) -> int | None:
        """The end token the engine would sample now, or None if it would not end the thinking."""
        if not ends:
            return None
        if self.greedy:
            return row.greedy_ending(ends, banned)
        chances = row.chances(ends, banned, self.temperature)
        draw = self.draw()
        total = float(chances.sum())
        if draw >= total:
            return None
        return ends[int(np.searchsorted(np.cumsum(chances), draw, side="right"))]

    def draw(self, at: int | None = None) -> float:
        """A uniform draw, one per position (default: the one reached): a decision made again at a position
        draws what it drew before."""
        at = self.emitted if at is None else at
        if self.drawn is None or self.drawn[0] != at:
            self.drawn = (at, self.draws.next())
        return self.drawn[1]

    def view(self, ending: Ending | None = None, stats=(None, None)) -> View:
        return self.trace.view(self.vocab, self.policy.cap, ending, stats=stats)

    def schedule(self, action: Force) -> Step:
        """Put the forced parts into the trace; the engine follows them from the next step on."""
        trace = self.trace
        scheduled = len(trace.ids) - self.emitted  # the pending ending token, if any
        trace.pop(min(action.rewind, scheduled))  # tokens the engine already emitted cannot be taken back
        trace.push_force(action)  # the engine's own max_tokens cuts a run short
        if self.emitted < len(trace.ids):
            return Step(force=trace.ids[self.emitted])
        return UNSHAPED


class Draws:
    """Uniform draws from a generator, taken a block at a time: the same numbers as one call per draw, for less."""

    BLOCK = 64

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.block, self.used = rng, [], 0

    def next(self) -> float:
        if self.used == len(self.block):
            self.block, self.used = self.rng.random(self.BLOCK).tolist(), 0
        self.used += 1
        return self.block[self.used - 1]


def closes_thinking(prompt: Sequence[int] | None, end_id: int, decode: Callable[[Sequence[int]], str],
                    window: int = 4) -> bool:
    """Whether a prompt ends with a closed thought, its end marker followed by whitespace at most.

    Qwen3's template without thinking (``enable_thinking: false``) closes an empty thought: the
    request is then all answer, and budgets on the thinking have nothing to act on.
    """
    tail = list(prompt or ())[-window:]
    if end_id not in tail:
        return False
    after = tail[len(tail) - tail[::-1].index(end_id):]
    return decode(after).strip() == ""


class NumpyRow:
    """A ``Row`` over a numpy array of logits (tests, and engines that hand out numpy)."""

    def __init__(self, logits: np.ndarray) -> None:
        self.logits = np.asarray(logits, dtype=np.float64)

    def _masked(self, banned: frozenset[int]) -> np.ndarray:
        if not banned:
            return self.logits
        logits = self.logits.copy()
        logits[list(banned)] = -np.inf
        return logits

    def greedy_ending(self, ends, banned) -> int | None:
        best = int(np.argmax(self._masked(banned)))
        return best if best in ends else None

    def chances(self, ids, banned, temperature) -> np.ndarray:
        probs = np.exp(log_softmax(self._masked(banned) / temperature))
        return probs[list(ids)]

    def best(self) -> int:
        return int(np.argmax(self.logits))

    def stats(self) -> tuple[float, float]:
        return entropy_stats(self.logits)
