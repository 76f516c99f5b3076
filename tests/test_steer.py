"""The steering that the vLLM plugin runs, driven here by a minimal engine loop on the synthetic model.

An engine that only lets ponder shape each step's logits (force one token, ban some)
must produce, under greedy decoding, exactly the tokens of ponder's own decoding loop,
which rewinds instead. Sampling must keep the budget too.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ponder
from ponder import Budget, Countdown, EntropyPause, Filler, NoThinking, Pause, Prefix
from ponder.policies import ANSWER, chain
from ponder.errors import PonderError
from ponder.policies import Vocab
from ponder.sampling import log_softmax
from ponder.policies.boundaries import UnitStarts
from ponder.vllm.steer import UNSHAPED, NumpyRow, Steer, Step, TokenText, closes_thinking
from synthetic import EOS, NATIVE_END, SyntheticBackend

PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROMPT = "ab\n"


def engine(model, policies, limit, temperature=0.0, seed=0, prefill_chunks=(), every_step=False):
    """What vLLM does around the plugin: per step, logits, the plugin's shaping, a sample, stop at EOS.

    ``prefill_chunks``: the prompt is evaluated in chunks first, and the plugin is asked about each
    chunk's logits (here: logits where the given token is by far the best), whose samples vLLM drops.
    The plugin asks a row's policies only when they are due or the row is about to end its thinking
    (``shaping``); ``every_step`` asks them at every step instead.
    """
    encode = lambda text: tuple(model.tokenize(text))  # noqa: E731
    vocab = Vocab(encode, (NATIVE_END,), encode("\nFinal Answer:"), frozenset({EOS}), native_end=NATIVE_END)
    text = TokenText(model.detokenize, UnitStarts(model.texts))  # a soft close's boundaries
    steer = Steer(chain(policies), vocab, temperature=temperature, seed=seed, text=text)
    shape = every_step_shaping if every_step else shaping
    rng = np.random.default_rng(seed + 1)
    for best in prefill_chunks:
        shape(steer, [], np.eye(NATIVE_END + 1)[best] * 30.0)  # the sample is dropped: nothing emitted
    logits, output = model.prefill(model.prompt_ids(PROMPT)), []
    while len(output) < limit:
        step = shape(steer, output, logits)
        if step.force is not None:
            token = step.force
        else:
            shaped = logits.astype(np.float64).copy()
            shaped[list(step.ban)] = -np.inf
            if temperature == 0:
                token = int(np.argmax(shaped))
            else:
                token = int(rng.choice(len(shaped), p=np.exp(log_softmax(shaped / temperature))))
        if token == EOS and steer.trace.phase == ANSWER:
            break
        output.append(token)
        logits = model.evaluate([token])
    steer.sync(output)
    return output, steer


def every_step_shaping(steer, output, logits) -> Step:
    steer.sync(output)
    return steer.next(NumpyRow(logits))


def shaping(steer, output, logits) -> Step:
    """One row as the plugin's ``apply`` treats it, a row at a time instead of the batch at once."""
    if len(output) < steer.due:
        watched = steer.watched
        if not watched:
            return UNSHAPED
        if steer.greedy and int(np.argmax(logits)) not in watched:
            return UNSHAPED
        if not steer.greedy:
            chances = NumpyRow(logits).chances(watched, frozenset(), steer.temperature)
            if steer.draw(at=len(output)) >= float(chances.sum()):
                return Step(ban=frozenset(watched))
    return every_step_shaping(steer, output, logits)


@st.composite
def policy_sets(draw):
    maximum = draw(st.integers(0, 40))
    budget = Budget(min_tokens=draw(st.integers(0, maximum)), max_tokens=maximum,
                    wait=tuple(draw(st.lists(st.sampled_from(["Wait", " ...", "Ok, so"]), min_size=1, max_size=2))),
                    soft_close=draw(st.sampled_from([0, 0, 3, 8])), close_at=draw(st.sampled_from(["word", "line",
                                                                                                "sentence"])))
    extra = draw(st.sampled_from([
        [], [Prefix("Ok, so")], [Filler(3, where="before_end")], [Pause(2, every=5)], [EntropyPause(3.0)],
        [Countdown(every=6, text=" so")],
        [Filler(4)], [NoThinking()],
    ]))
    if extra and isinstance(extra[0], (Filler, NoThinking)) and getattr(extra[0], "where", "replace") == "replace":
        return extra
    return [budget, *extra]


native_models = st.builds(SyntheticBackend, seed=st.integers(0, 2**16), bias=st.floats(0, 4), native=st.just(True))


# a chunk's logits: where the model would end its thinking, stop, or write on
prefill_chunks = st.lists(st.sampled_from([NATIVE_END, EOS, 1, 9]), max_size=3)


@PROPS
@given(policies=policy_sets(), model=native_models, limit=st.integers(1, 120), chunks=prefill_chunks)
def test_greedy_steering_matches_the_rewinding_loop(policies, model, limit, chunks):
    """Also when the engine first asks about a long prompt's chunks, whose samples it drops."""
    expected = ponder.generate(PROMPT, model=model, thinking=policies, raw_prompt=True, max_tokens=limit)
    output, steer = engine(model, policies, limit, prefill_chunks=chunks)
    assert tuple(output) == expected.token_ids
    emitted = steer.trace.phases[: len(output)]  # the trace may plan past the engine's limit
    assert emitted.count("thinking") == expected.usage.thinking_tokens
    planned = [i.reason for i in steer.trace.injections if i.start < len(output)]
    assert planned == [i["reason"] for i in expected.injections]
    if expected.capped or "end" in emitted:  # the close, where the engine got to it: capped alike
        assert steer.trace.capped == expected.capped


@PROPS
@given(model=native_models, maximum=st.integers(0, 40), data=st.data(), seed=st.integers(0, 1000),
       chunks=prefill_chunks)
def test_sampled_steering_keeps_the_budget(model, maximum, data, seed, chunks):
    budget = Budget(min_tokens=data.draw(st.integers(0, maximum)), max_tokens=maximum,
                    soft_close=data.draw(st.sampled_from([0, 4])), close_at=data.draw(st.sampled_from(["word", "line"])))
    output, steer = engine(model, [budget], limit=200, temperature=1.0, seed=seed, prefill_chunks=chunks)
    trace = steer.trace
    assert budget.min_tokens <= trace.thinking <= budget.max_tokens + budget.soft_close
    assert trace.phase == ANSWER and output[trace.end_start] == NATIVE_END
    unchunked, _ = engine(model, [budget], limit=200, temperature=1.0, seed=seed)
    assert output == unchunked  # the same seed draws the same, however the prompt was chunked
    asked_always, _ = engine(model, [budget], limit=200, temperature=1.0, seed=seed, every_step=True)
    assert output == asked_always  # and the same whether the policies are asked at every step or when due


@PROPS
@given(policies=policy_sets(), model=native_models, limit=st.integers(1, 120), seed=st.integers(0, 1000),
       temperature=st.sampled_from([0.0, 0.7, 1.5]))
def test_asking_the_policies_only_when_due_changes_no_token(policies, model, limit, seed, temperature):
    """A policy's quiet steps are a promise: skipping it for that long gives the tokens of asking at every step."""
    skipping, steer = engine(model, policies, limit, temperature=temperature, seed=seed)
    asking, reference = engine(model, policies, limit, temperature=temperature, seed=seed, every_step=True)
    assert skipping == asking
    assert steer.trace.ids[: len(skipping)] == reference.trace.ids[: len(asking)]
    assert steer.trace.thinking == reference.trace.thinking and steer.trace.injections == reference.trace.injections


def test_an_ending_is_only_sampled_where_the_policy_lets_it():
    """Below the minimum the end marker never reaches the engine's output: a wait replaces it."""
    model = SyntheticBackend(seed=3, bias=4.0, native=True)
    output, steer = engine(model, [Budget(min_tokens=30, max_tokens=30)], limit=200, temperature=1.0, seed=7)
    assert output.index(NATIVE_END) == 30 and output.count(NATIVE_END) == 1
    assert steer.trace.injections[0].reason == "wait"


def test_an_engine_token_off_a_planned_end_opens_the_thinking_again():
    """The engine emits another token where the wrap-up was planned: the thinking goes on, uncapped."""
    model = SyntheticBackend(seed=1, native=True)
    encode = lambda text: tuple(model.tokenize(text))  # noqa: E731
    vocab = Vocab(encode, (NATIVE_END,), encode("\nFinal Answer:"), frozenset({EOS}), native_end=NATIVE_END)
    steer = Steer(chain([Budget(max_tokens=2)]), vocab)
    logits = np.zeros(21)
    logits[1] = 5.0  # "a" is always the best token
    for emitted in ([1], [1, 1]):
        assert steer.next(NumpyRow(logits)).force is None
        steer.sync(emitted)
    assert steer.next(NumpyRow(logits)).force == NATIVE_END  # the cap: the wrap-up is planned
    assert steer.trace.phase == ANSWER and steer.trace.capped
    steer.sync([1, 1, 2])  # ... but the engine wrote "b" there
    trace = steer.trace
    assert trace.ids == [1, 1, 2] and trace.phases == ["thinking"] * 3 and trace.thinking == 3
    assert trace.phase == "thinking" and trace.end_start is None and trace.answer_start is None
    assert not trace.capped and trace.answer == 0


def test_a_prompt_that_closes_its_thought_is_all_answer():
    model = SyntheticBackend(native=True)
    decode = model.detokenize
    closed = model.tokenize("ab\n</think>\n\n")
    assert closes_thinking(closed, NATIVE_END, decode)
    assert not closes_thinking(model.tokenize("ab\n</think>a"), NATIVE_END, decode)
    assert not closes_thinking(model.tokenize("ab\n"), NATIVE_END, decode) and not closes_thinking(None, 20, decode)
    assert not closes_thinking(closed + model.tokenize("a b a b"), NATIVE_END, decode)  # closed long before the end


def test_a_vocabulary_is_checked_when_made_and_the_steer_needs_a_one_token_marker():
    encode = lambda text: tuple(SyntheticBackend().tokenize(text))  # noqa: E731
    with pytest.raises(PonderError, match="end-of-thinking marker"):
        Vocab(encode, (), (), frozenset({EOS}))
    with pytest.raises(PonderError, match="only token"):
        Vocab(encode, (NATIVE_END, 5), (), frozenset({EOS}), native_end=NATIVE_END)
    spelled = Vocab(encode, encode("</think>"), (), frozenset({EOS}))  # a text marker: no native token
    with pytest.raises(PonderError, match="as one token"):
        Steer(chain([Budget(max_tokens=8)]), spelled)
