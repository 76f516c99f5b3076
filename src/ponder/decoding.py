"""The controlled decoding loop: prefill, then per step ask the policy, force or sample, detect markers.

Tokens are appended to the sequence first and evaluated lazily, when logits
are needed: a forced run of k tokens (plus the sampled token before it) goes
through the model in one forward pass, and a sampled end marker that the
policy undoes is dropped without ever being evaluated. The KV cache is kept
across injections; rewinds cut it back instead of prefilling again. A probe
(adaptive thinking) is a step too: it asks for the answer on top of the cache
and is cut back out of it.

A generation is a coroutine (``Decoder.steps``): it yields each forward pass it
needs (a ``Pass``: token ids, and whether it wants every position's logits) and
receives the logits. ``run`` drives one generation on a backend;
``ponder.batching`` drives many, one forward pass per round for all of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Generator, Sequence

import numpy as np

from .backends.base import Backend
from .logprobs import Scores, TokenLogprob, score_prompt
from .markers import EndDetector, StopStrings, check_texts
from .policies import ANSWER, THINKING, Ban, Chain, Ending, Force, Probe, ProbeAnswer, Vocab
from .control import EXTEND
from .policies.boundaries import TAIL, ends_unit, starts_unit
from .policies.budget import wrap_up
from .policies.chain import extended
from .trace import Trace
from .sampling import Sampler, Sampling, entropy_stats
from .text import PhaseStreamer

if TYPE_CHECKING:
    from .control import Control
    from .tools.grammar import Constraint

OnText = Callable[[str, str], None]  # (phase, text delta)
STALLED = 256  # steps in a row without a forward pass: more than any policy takes, short of a spin
# One forward pass a generation asks for: (ids, all_positions), the ids after what its cache holds, and whether it
# wants the logits after each of them (one row per id: log probabilities) or after the last only. A plain pair: one
# is made per token, and a NamedTuple takes 0.46 us to make against 0.06 (measured), 5 % of a token's Python.
Pass = tuple[list[int], bool]
Steps = Generator[Pass, np.ndarray, "Trace"]  # yields the passes it needs, receives the logits of each


def drive(backend, steps: Steps, fresh: bool = False):
    """Run a coroutine of forward passes (a decoder's steps, one step, a probe) on the backend alone.

    One pass per request; returns what the coroutine returns. ``fresh``: the first pass starts a
    new sequence (a prefill).
    """
    try:
        ids, all_positions = next(steps)
        logits = backend.prefill(ids, all_positions) if fresh else backend.evaluate(ids, all_positions)
        while True:
            ids, all_positions = steps.send(logits)
            logits = backend.evaluate(ids, all_positions)
    except StopIteration as done:
        return done.value


@dataclass
class Decoder:
    """One generation's state. ``run`` drives it to the end and returns the trace."""

    backend: Backend
    vocab: Vocab
    policy: Chain
    sampling: Sampling
    limit: int
    on_text: OnText | None = None
    stop: tuple[str, ...] = ()
    cancelled: Callable[[], bool] | None = None  # polled every step, e.g. a client that went away
    think: bool = True  # False: plain text continuation, all answer, no thinking phase
    logprobs: int | None = None  # keep each completion token's log probability, with this many alternatives
    prompt_logprobs: bool = False  # and each prompt token's (every prompt position's logits at prefill)
    constraint: "Constraint | None" = None  # the answer held to a grammar (a forced tool call, a schema)
    control: "Control | None" = None  # a client's "end the thinking now" / "think more", taken at each step

    def __post_init__(self) -> None:
        self.trace = Trace()
        self.sampler = Sampler(self.sampling)
        self.detector = EndDetector(self.backend, self.vocab)
        self.stops = StopStrings(self.backend, self.stop)
        self.stream = PhaseStreamer(self.backend, self.on_text) if self.on_text else None
        self.cache = self.backend  # what rewinds cut back: the backend, or one row of a batch
        self.n_eval = 0  # completion tokens already in the KV cache
        self.logits: np.ndarray | None = None
        self.finish_reason: str | None = None
        self.scores = None if self.logprobs is None else Scores(self.logprobs)
        self.prompt_scores: tuple[TokenLogprob | None, ...] | None = None
        self.passes = 0  # forward passes (and probes) after the prefill: a step without one makes no progress
        if not self.think:
            self.trace.close_thinking(0, capped=False)
        check_texts(self.policy, self.vocab, self.backend.detokenize)

    def run(self, prompt_ids: Sequence[int]) -> Trace:
        """The whole generation on the backend alone: its prefill, then one forward pass per request."""
        return drive(self.backend, self.steps(prompt_ids), fresh=True)

    def steps(self, prompt_ids: Sequence[int]) -> Steps:
        """The generation as a coroutine: yields the prompt, then whatever needs evaluating; returns the trace."""
        self.prompt_ids = list(prompt_ids)
        start = time.perf_counter()
        self.logits = yield self.prompt_ids, self.prompt_logprobs
        if self.prompt_logprobs:
            self.prompt_scores = score_prompt(self.logits, self.prompt_ids, self.logprobs or 0)
            self.logits = self.logits[-1]
        self.trace.prefill_seconds = time.perf_counter() - start
        steps = idle = 0
        while self.finish_reason is None:
            if self.cancelled is not None and self.cancelled():
                self.finish_reason = "cancelled"
                break
            before = self.passes
            yield from self.step()
            self.score_next()
            steps += 1
            idle = 0 if self.passes != before else idle + 1
            # a policy that forces and undoes the same tokens would spin here without a pass: end it at once
            if steps > 8 * self.limit + 64 or idle > STALLED:
                raise RuntimeError("the policy keeps rewinding without making progress")
        if self.scores is not None and self.finish_reason != "cancelled" and \
                not self.scores.complete(len(self.trace.ids)):
            yield from self.current_logits()  # forced tokens at the very end: evaluate them for their scores
        self.trace.finish_reason = self.finish_reason
        self.trace.decode_seconds = time.perf_counter() - start - self.trace.prefill_seconds
        return self.trace

    # one step

    def step(self) -> Steps:
        trace = self.trace
        if self.control is not None and self.control.pending and self.take_control():
            return
        ending = self.detector.ending(trace) if trace.phase == THINKING else None
        tail = self.detector.tail(trace) if trace.phase == THINKING and ending is None else 0
        if self.stream:  # hold back tokens that a rewind or a stop string may still take away
            hold = ending.tokens if ending else tail if trace.phase == THINKING else self.stops.hold(trace)
            self.stream.update(trace, hold=hold)
        stats = (None, None)
        if self.policy.wants_stats and ending is None:
            stats = entropy_stats((yield from self.current_logits()))
        view = trace.view(self.vocab, self.policy.cap, ending, tail, stats)
        action = self.policy.step(view)
        if isinstance(action, Probe):  # the trace stays as it is: the next step sees one more probe answer
            yield from self.probe(action, view.thinking_tokens)
            self.passes += 1  # a probe is progress too: it adds an answer the next step sees
        elif isinstance(action, Force) and action.at_boundary and ending is None:
            yield from self.close_at_boundary(action)
        elif isinstance(action, Force) and (action.ids or action.rewind):
            self.apply_force(action)
        elif ending is not None:
            self.accept_ending(ending)
        else:
            yield from self.sample(action.ids if isinstance(action, Ban) else frozenset())

    def take_control(self) -> bool:
        """Apply what the client asked since the last step; True when it forced the wrap-up (the step is done)."""
        closed = False
        for action, tokens in self.control.take():
            if self.trace.phase != THINKING or closed:
                continue  # the thinking is over: too late for either
            self.control.taken.append((action, tokens))
            if action == EXTEND:
                self.policy = extended(self.policy, tokens)
            else:
                tail = self.detector.tail(self.trace)
                self.apply_force(wrap_up(self.trace.view(self.vocab, self.policy.cap), rewind=tail))
                closed = True
        return closed

    def probe(self, action: Probe, at: int) -> Steps:
        """The answer at ``at`` thinking tokens, read on top of the cache (no prefill) and added to the trace's
        probes; then cut back out of the cache. The trace is not touched: the generation goes on as without it."""
        trace = self.trace
        cut = len(trace.ids) - action.force.rewind  # the probe asks after these tokens (an ending left out)
        keep = min(self.n_eval, cut)  # of the tokens in the cache, those the probe builds on
        forced = list(action.force.ids)
        room = self.backend.n_ctx - len(self.prompt_ids) - cut - len(forced)
        if room < 1:  # the context cannot hold the question: an empty answer, which never agrees
            trace.probes.append(ProbeAnswer(at, "", 0))
            return
        base = len(self.prompt_ids) + keep
        if keep < self.n_eval:
            self.cache.truncate(base)  # an ending's marker tokens already evaluated: not part of the question
        logits = yield [*trace.ids[keep:cut], *forced], False
        written = yield from self.write_answer(logits, min(action.max_tokens, room))
        self.cache.truncate(base)
        if keep < self.n_eval:  # the marker tokens cut above: evaluated again when next needed
            self.n_eval, self.logits = keep, None
        trace.probes.append(ProbeAnswer(at, self.backend.detokenize(written).strip(), len(forced) + len(written)))

    def write_answer(self, logits: np.ndarray, limit: int) -> Steps:
        """A probe's greedy answer up to ``limit`` tokens, a newline or EOS (neither written), the last unevaluated."""
        written: list[int] = []
        while True:
            token = int(np.argmax(logits))
            if token in self.vocab.eos_ids or "\n" in self.backend.detokenize([token]):
                return written
            written.append(token)
            if len(written) >= limit:
                return written
            logits = yield [token], False

    def accept_ending(self, ending: Ending) -> None:
        """The model closed its thinking and the policy agreed."""
        if ending.eos:
            self.finish_reason = "stop"  # a custom chain without CloseOnEos: nothing more to say
            return
        self.trace.close_thinking(len(self.trace.ids) - ending.tokens, capped=False)

    def close_at_boundary(self, close: Force) -> Steps:
        """A soft close: the wrap-up where the thought ends a unit now, or in place of a sampled token that would
        start a new one (the thought ends at the boundary before it); else that token, and the next step asks."""
        before = self.backend.detokenize(self.trace.ids[-TAIL:])
        if ends_unit(close.at_boundary, before):
            self.apply_force(close)
        else:
            yield from self.sample(frozenset(), close=(close, before))

    def apply_force(self, action: Force) -> None:
        if action.rewind:
            self.rewind(action.rewind)
        if not self.trace.push_force(action, self.longest()):
            self.finish_reason = "length"

    def sample(self, banned: frozenset[int], close: tuple[Force, str] | None = None) -> Steps:
        if self.room() <= 0:
            self.finish_reason = "length"
            return
        trace = self.trace
        held = self.constraint is not None and trace.phase == ANSWER
        if held:
            self.constraint.sync(trace.ids[trace.answer_start:])
            if self.constraint.stopped:  # the grammar is complete: the answer ends, no EOS to sample
                self.finish_reason = "stop"
                return
            forced = self.constraint.forced()[:self.room()]
            if forced:  # what the grammar allows alone: forced, evaluated in one pass with what follows
                trace.push_forced("grammar", forced)
                return
        logits = yield from self.current_logits()
        token = self.sampler.choose(self.constraint.mask(logits, self.room()) if held else logits, banned)
        if token in self.vocab.eos_ids and trace.phase == ANSWER:
            self.finish_reason = "stop"
            return
        if close is not None and token not in self.vocab.eos_ids and token != self.vocab.end_ids[0] and \
                starts_unit(close[0].at_boundary, close[1], self.backend.detokenize([token])):
            self.apply_force(close[0])  # an ending in the slack is the model's own, as below the cap
            return
        trace.push_sampled(token)
        if trace.phase == ANSWER:
            trace.stopped_by = self.stops.found(trace)
            if trace.stopped_by:
                self.finish_reason = "stop"

    # the KV cache

    def current_logits(self) -> Steps:
        """Logits after the last token, evaluating pending tokens in one forward pass."""
        ids = self.trace.ids
        if self.n_eval == len(ids) and self.logits is not None:
            return self.logits
        start, pending = self.n_eval, ids[self.n_eval:]
        # a rewind left no logits after the last kept token: evaluate that token again (scores need its row too)
        replay = self.logits is None and (not pending or self.scores is not None)
        if replay:
            last = ids[start - 1] if start else self.prompt_ids[-1]
            self.cache.truncate(len(self.prompt_ids) + start - 1)
            pending = [last, *pending]
        logits = yield pending, self.scores is not None
        self.passes += 1
        self.n_eval = len(ids)
        if self.scores is not None:
            first = start if replay else start + 1  # the position the first row's logits predict
            for k in range(len(pending) - 1):
                self.scores.set(first + k, logits[k], ids[first + k])
            logits = logits[-1]
        self.logits = logits
        return self.logits

    def score_next(self) -> None:
        """Score the token just placed after the evaluated ones, from the logits already at hand."""
        position = self.n_eval
        if self.scores is not None and self.logits is not None and position < len(self.trace.ids) \
                and not self.scores.has(position):
            self.scores.set(position, self.logits, self.trace.ids[position])

    def cached_ids(self) -> list[int]:
        """The tokens the generation's KV cache holds: its prompt and the completion evaluated so far."""
        return [*self.prompt_ids, *self.trace.ids[:self.n_eval]]

    def rewind(self, n: int) -> None:
        self.trace.pop(n)
        keep = len(self.trace.ids)
        if self.scores is not None:
            self.scores.truncate(keep)
        if keep < self.n_eval:  # dropping only unevaluated tokens leaves the logits valid
            self.cache.truncate(len(self.prompt_ids) + keep)
            self.n_eval = keep
            self.logits = None

    def longest(self) -> int:
        """The most completion tokens the overall limit and the context window allow."""
        return min(self.limit, self.backend.n_ctx - len(self.prompt_ids))

    def room(self) -> int:
        """Completion tokens left under the overall limit and the context window."""
        return self.longest() - len(self.trace.ids)
