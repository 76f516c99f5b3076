"""Adaptive thinking on the synthetic model: probes read the answer and leave no trace behind."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ponder
from ponder import Adaptive, Budget, EntropyPause, Filler, Pause, PonderError, Prefix
from ponder.api import prepare
from ponder.decoding import drive
from ponder.formats import get_format
from ponder.markers import model_vocab
from ponder.policies import Continue, Force, Part, Probe, ProbeAnswer, View
from ponder.policies.base import LIMITING, PolicyBase, force
from ponder.policies.adaptive import settled
from synthetic import EOS, SyntheticBackend

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WAITS = ["Wait", "Wait,", "Ok, so"]
models = st.builds(SyntheticBackend, seed=st.integers(0, 2**16), bias=st.floats(0, 3), native=st.booleans())


@st.composite
def adaptives(draw):
    max_tokens = draw(st.integers(0, 40))
    return Adaptive(every=draw(st.integers(1, 8)), agree=draw(st.integers(1, 3)),
                    probe_tokens=draw(st.integers(1, 6)), min_tokens=draw(st.integers(0, max_tokens)),
                    max_tokens=max_tokens, wait=tuple(draw(st.lists(st.sampled_from(WAITS), min_size=1, max_size=2))))


def run(model, thinking, max_tokens=160):
    return ponder.generate("ab\n", model=model, thinking=thinking, raw_prompt=True, max_tokens=max_tokens)


def without_probes(adaptive: Adaptive, result) -> Budget:
    """The budget that stops where the adaptive run stopped: waits below that point, and the same cap or ending.

    Exact where the thinking count only grows (native markers); a text marker's first tokens count as
    thinking until the marker is complete, so there the count can pass a point and come back to it.
    """
    stopped = result.usage.thinking_tokens
    return Budget(min_tokens=stopped, max_tokens=stopped if closed_by_force(result) else adaptive.max_tokens,
                  wait=adaptive.wait, wrap_up=adaptive.wrap_up)


def closed_by_force(result) -> bool:
    """Whether a wrap-up closed the thinking (the cap, or an answer that settled), not the model's own marker."""
    return any(i["reason"] == "end" for i in result.injections)


@dataclass(frozen=True)
class StopsWhereItStopped(PolicyBase):
    """The adaptive policy's own decisions, with no probe run: at the step where the adaptive run's probes
    settled they read as settled, everywhere else as just asked and unsettled. A step is known by its injections so
    far, its thinking count and whether the model is ending, which no two steps of a generation share."""

    adaptive: Adaptive
    stop: tuple[int, int, bool] | None

    stage: ClassVar[int] = LIMITING

    @property
    def max_tokens(self) -> int | None:  # the chain's cap, as the adaptive policy gives it
        return self.adaptive.max_tokens

    def step(self, view, proposed):
        here = (len(view.injections), view.thinking_tokens, view.ending is not None) == self.stop
        answers = (ProbeAnswer(view.thinking_tokens, "settled" if here else "", 0),) * self.adaptive.agree
        return self.adaptive.step(replace(view, probes=answers), proposed)


def stop_of(result, agree: int) -> tuple[int, int, bool] | None:
    """The step where the probes settled: the injections before it, the thinking count then, an ending or not
    (None: they never settled, and the thinking ended at the cap or the overall limit, with no probe's say).

    The action that ended the thinking is the wrap-up's injections (with the model's kept text and a filler
    slipped in before the end marker, which count as thinking but came after the decision)."""
    if not settled(result.probes, agree):
        return None
    phases = result.token_phases
    end = phases.index("end") if "end" in phases else len(phases)
    before = [i for i in result.injections if i["start"] < end]
    edge, after_decision = end, 0
    while before and before[-1]["reason"] in ("kept", "filler") and before[-1]["start"] + before[-1]["length"] == edge:
        edge, after_decision = before[-1]["start"], after_decision + before[-1]["length"]
        before.pop()
    return len(before), result.usage.thinking_tokens - after_decision, not closed_by_force(result)


def assert_same_tokens(probed, plain):
    assert probed.token_ids == plain.token_ids
    assert probed.token_phases == plain.token_phases and probed.token_sources == plain.token_sources
    assert probed.finish_reason == plain.finish_reason
    for count in ("thinking_tokens", "thinking_injected", "marker_tokens", "answer_tokens", "completion_tokens"):
        assert getattr(probed.usage, count) == getattr(plain.usage, count)
    assert plain.usage.probe_tokens == 0 and not plain.probes


# policies that never end the thinking themselves, so where it ends is the adaptive policy's decision
others = st.lists(st.sampled_from([Prefix("Ok, so"), Pause(2, every=5), EntropyPause(threshold=3.5)]), max_size=2,
                  unique=True)


@PROPS
@given(adaptive=adaptives(), model=models, limit=st.integers(60, 160), with_=others)
def test_probes_never_change_the_tokens_that_follow_them(adaptive, model, limit, with_):
    """(The overall limit leaves room for the wrap-up: one it cut short would not say which step decided.)"""
    probed = run(model, [adaptive, *with_], limit)
    again = SyntheticBackend(model.seed, model.bias, model.native)
    replayed = StopsWhereItStopped(adaptive, stop_of(probed, adaptive.agree))
    assert_same_tokens(probed, run(again, [replayed, *with_], limit))
    assert probed.usage.thinking_tokens <= adaptive.max_tokens
    assert probed.usage.probe_tokens == sum(p.tokens for p in probed.probes)
    assert probed.usage.spent_tokens == probed.usage.completion_tokens + probed.usage.probe_tokens
    assert all(adaptive.min_tokens <= p.at <= probed.usage.thinking_tokens for p in probed.probes)


@PROPS
@given(adaptive=adaptives(), seed=st.integers(0, 2**16), bias=st.floats(0, 3), limit=st.integers(20, 160))
def test_with_native_markers_the_trace_is_a_budgets_that_ends_at_the_same_count(adaptive, seed, bias, limit):
    probed = run(SyntheticBackend(seed, bias, native=True), adaptive, limit)
    if "end" in probed.token_phases:  # the thinking ended before the overall limit
        assert_same_tokens(probed, run(SyntheticBackend(seed, bias, native=True), without_probes(adaptive, probed),
                                       limit))


@PROPS
@given(adaptive=adaptives(), model=models)
def test_a_filler_still_goes_just_before_the_end_of_an_adaptive_thinking(adaptive, model):
    result = run(model, [adaptive, Filler(3, where="before_end")])
    assert result.usage.thinking_tokens <= adaptive.max_tokens
    fillers = [i for i in result.injections if i["reason"] == "filler"]
    assert len(fillers) <= 1  # cut to nothing when the cap leaves no room
    if fillers:
        assert result.token_phases[fillers[0]["start"] + fillers[0]["length"]] == "end"


def greedy_answer(model, context, limit):
    """What a probe must read: the model's greedy tokens after ``context``, to a newline or EOS, at most ``limit``."""
    written = []
    while len(written) < limit:
        token = int(np.argmax(model.logits(context + written)))
        if token == EOS or "\n" in model.texts[token]:
            break
        written.append(token)
    return written


def decoder_after(model, steps: int):
    """A decoder stopped between two steps of a generation that thinks for a while."""
    generation = prepare(model, "ab\n", thinking=Budget(min_tokens=30, max_tokens=40), raw_prompt=True,
                         max_tokens=80)
    decoder = generation.decoder
    decoder.prompt_ids = list(generation.prompt_ids)
    decoder.logits = model.prefill(decoder.prompt_ids)
    for _ in range(steps):
        drive(model, decoder.step())
        decoder.score_next()
    return decoder


@PROPS
@given(model=models, steps=st.integers(0, 30), limit=st.integers(1, 8), lead=st.sampled_from(["", "1", " Answer:"]))
def test_a_probe_leaves_the_cache_as_it_found_it_and_counts_what_it_wrote(model, steps, limit, lead):
    decoder = decoder_after(model, steps)
    trace = decoder.trace
    before = (list(model.cached), decoder.n_eval, decoder.logits, list(trace.ids), list(trace.phases),
              list(trace.sources), list(trace.injections))
    forced = tuple(model.tokenize("</think>" + lead))
    drive(model, decoder.probe(Probe(force(Part("end", forced)), limit), at=trace.thinking))
    after = (list(model.cached), decoder.n_eval, decoder.logits, list(trace.ids), list(trace.phases),
             list(trace.sources), list(trace.injections))
    assert after[:2] == before[:2] and after[2] is before[2] and after[3:] == before[3:]
    written = greedy_answer(model, decoder.prompt_ids + trace.ids + list(forced), limit)
    assert trace.probes == [ProbeAnswer(trace.thinking, model.detokenize(written).strip(), len(forced) + len(written))]


def requests_for(adaptive_settings):
    return [dict(prompt="ab\n" + "a" * k, thinking=Adaptive(**s), raw_prompt=True, max_tokens=120)
            for k, s in enumerate(adaptive_settings)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), native=st.booleans(), size=st.integers(2, 5), batch=st.lists(
    st.fixed_dictionaries({"every": st.integers(1, 6), "agree": st.integers(1, 2), "probe_tokens": st.integers(1, 5),
                           "max_tokens": st.integers(0, 40)}), min_size=2, max_size=8))
def test_batched_probes_give_what_one_at_a_time_gives(seed, native, size, batch):
    model = SyntheticBackend(seed=seed, bias=1.0, native=native)
    alone = dict(ponder.generate_many(requests_for(batch), model=model, batch_size=1))
    together = dict(ponder.generate_many(requests_for(batch), model=model, batch_size=size))
    assert sorted(together) == sorted(alone)
    for index, result in together.items():
        assert result.token_ids == alone[index].token_ids and result.probes == alone[index].probes
        # the same spending; only what a batch's prefix cache read differs (one at a time evaluates every prompt)
        assert replace(result.usage, cached_tokens=0) == alone[index].usage


# the policy alone, on views

VOCAB = model_vocab(SyntheticBackend(), get_format("think"))


def view(thinking, probes=(), ending=None, tail=0):
    return View(vocab=VOCAB, phase="thinking", tokens=(1,) * thinking, thinking_tokens=thinking, answer_tokens=0,
                ending=ending, tail=tail, probes=tuple(ProbeAnswer(at, text, 5) for at, text in probes))


def test_the_thinking_ends_once_the_last_probes_agree():
    policy = Adaptive(every=8, agree=2, max_tokens=100)
    settled = policy.step(view(16, [(8, "42"), (16, " 42 ")]), Continue())
    assert isinstance(settled, Force) and settled.ends_thinking
    assert policy.step(view(17, [(8, "41"), (16, "42")]), Continue()) == Continue()  # not settled, not due
    assert isinstance(policy.step(view(24, [(8, "41"), (16, "42")]), Continue()), Probe)
    assert policy.step(view(16, [(8, ""), (16, "")]), Continue()) == Continue()  # empty answers never agree


def test_an_early_ending_is_probed_then_waited_on():
    from ponder.policies import Ending

    policy = Adaptive(every=8, agree=2, min_tokens=4, max_tokens=100)
    ending = Ending(1)
    first = policy.step(view(10, [(8, "41")], ending=ending), Continue())
    assert isinstance(first, Probe) and not first.force.rewind  # builds on the model's own end marker
    waited = policy.step(view(10, [(8, "41"), (10, "42")], ending=ending), Continue())
    assert isinstance(waited, Force) and waited.parts[-1].reason == "wait" and waited.rewind == 1
    assert policy.step(view(10, [(8, "42"), (10, "42")], ending=ending), Continue()) == Continue()  # let it end
    below = policy.step(view(2, ending=ending), Continue())
    assert isinstance(below, Force) and below.parts[-1].reason == "wait"  # below the minimum: no probe, a wait


def test_probes_wait_for_the_minimum_and_the_cap_is_hard():
    policy = Adaptive(every=4, agree=3, min_tokens=10, max_tokens=20)
    assert policy.step(view(9), Continue()) == Continue()
    assert isinstance(policy.step(view(10), Continue()), Probe)
    assert policy.step(view(10, tail=1), Continue()) == Continue()  # a half-written marker: decide later
    capped = policy.step(view(20, [(16, "1")]), Continue())
    assert isinstance(capped, Force) and capped.ends_thinking


@pytest.mark.parametrize("options, message", [
    (dict(every=0), "every"), (dict(agree=0), "agree"), (dict(probe_tokens=0), "probe_tokens"),
    (dict(probe_tokens=10_000), "probe_tokens"), (dict(min_tokens=9, max_tokens=3), "min_tokens"),
    (dict(wait=""), "wait"),
])
def test_bad_settings_are_refused_on_creation(options, message):
    with pytest.raises(PonderError, match=message):
        Adaptive(**options)
