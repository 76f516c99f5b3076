"""The vLLM plugin's batch: a step over many rows gives each row the tokens it gets steered alone at every step.

Driven by a minimal persistent batch on the synthetic model, as vLLM drives it: requests join free
slots at different steps, leave when they end, and are moved or swapped between slots (vLLM condenses
its batch); unsteered requests share it. Sampling is vLLM's (each row's own generator, an exponential
race over the probabilities), so seeded rows must match exactly too.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from ponder.policies import ANSWER, chain
from ponder.vllm.batch import SteeredBatch
from ponder.vllm.logits import FORCED, greedy_may_end
from ponder.policies import Vocab
from ponder.vllm.steer import NumpyRow, Steer
from synthetic import EOS, NATIVE_END, SyntheticBackend
from test_steer import PROMPT, PROPS, native_models, policy_sets

WIDTH = len(SyntheticBackend(native=True).texts)


def steer_for(model, policies, temperature, seed) -> Steer | None:
    if policies is None:
        return None
    encode = lambda text: tuple(model.tokenize(text))  # noqa: E731
    vocab = Vocab(encode, (NATIVE_END,), encode("\nFinal Answer:"), frozenset({EOS}), native_end=NATIVE_END)
    return Steer(chain(policies), vocab, temperature=temperature, seed=seed)


def sample(logits: np.ndarray, temperature: float, generator: np.random.Generator) -> int:
    """vLLM's sampler: argmax when greedy, else an exponential race (a draw for the whole vocabulary each step)."""
    race = generator.exponential(size=len(logits))
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits / temperature
    probs = np.exp(scaled - scaled.max())
    return int(np.argmax(probs / probs.sum() / race))


class Request:
    def __init__(self, model, policies, temperature, seed, limit, joins):
        self.model, self.policies, self.temperature, self.seed = model, policies, temperature, seed
        self.limit, self.joins = limit, joins
        self.prompt = model.prompt_ids(PROMPT)

    def fresh(self):
        return steer_for(self.model, self.policies, self.temperature, self.seed), np.random.default_rng(self.seed + 1)

    def ends(self, token: int, steer: Steer | None, output: list[int]) -> bool:
        return token == EOS and (steer is None or steer.trace.phase == ANSWER) or len(output) >= self.limit


def alone(request: Request) -> list[int]:
    """One request, its policies asked at every step (the steer's own path, no batch)."""
    steer, generator = request.fresh()
    output: list[int] = []
    while len(output) < request.limit:
        logits = request.model.logits(request.prompt + output).astype(np.float64)
        if steer is not None:
            steer.sync(output)
            step = steer.next(NumpyRow(logits))
            logits[list(step.ban)] = -np.inf
            if step.force is not None:
                logits[:] = -np.inf
                logits[step.force] = 0.0
        token = sample(logits, request.temperature, generator)
        if token == EOS and (steer is None or steer.trace.phase == ANSWER):
            break
        output.append(token)
    return output


def batched(requests: list[Request], moves: np.random.Generator, capacity: int = 8) -> list[list[int]]:
    """Every request through one SteeredBatch, joining, leaving and moving as in vLLM's persistent batch."""
    batch, slots, outputs = SteeredBatch(), [None] * capacity, [[] for _ in requests]
    state = [None] * len(requests)  # each request's steer and generator once it joined
    waiting, step = sorted(range(len(requests)), key=lambda i: requests[i].joins), 0
    changed = False  # vLLM hands the batch's changes over only at a step that has some
    while waiting or any(s is not None for s in slots):
        while waiting and requests[waiting[0]].joins <= step and None in slots:
            i = waiting.pop(0)
            state[i] = requests[i].fresh()
            slot = slots.index(None)
            slots[slot] = i
            batch.put(slot, state[i][0], outputs[i])
            changed = True
        if moves.random() < 0.3:
            a, b = (int(x) for x in moves.choice(capacity, 2, replace=False))
            if slots[a] is not None:
                swap = slots[b] is not None
                slots[a], slots[b] = slots[b], slots[a]
                batch.move(a, b, swap=swap)
                changed = True
        if changed:
            batch.changed()
            changed = False
        logits = torch.tensor(moves.normal(size=(capacity, WIDTH)), dtype=torch.float32)
        for slot, i in enumerate(slots):
            if i is not None:
                logits[slot] = torch.from_numpy(requests[i].model.logits(requests[i].prompt + outputs[i]))
        shaped = batch.apply(logits).double().numpy()
        for slot, i in enumerate(slots):
            if i is None:
                continue
            token = sample(shaped[slot], requests[i].temperature, state[i][1])
            if token == EOS and (state[i][0] is None or state[i][0].trace.phase == ANSWER):
                slots[slot] = None
                batch.put(slot, None)
                changed = True
                continue
            outputs[i].append(token)
            if len(outputs[i]) >= requests[i].limit:
                slots[slot] = None
                batch.put(slot, None)
                changed = True
        step += 1
    return outputs


@st.composite
def requests(draw):
    model = draw(native_models)
    policies = draw(st.one_of(st.none(), policy_sets()))
    return Request(model, policies, temperature=draw(st.sampled_from([0.0, 0.0, 0.7, 1.5])),
                   seed=draw(st.integers(0, 1000)), limit=draw(st.integers(1, 80)), joins=draw(st.integers(0, 30)))


@PROPS
@given(batch=st.lists(requests(), min_size=1, max_size=10), moves=st.integers(0, 2**16))
def test_each_row_gets_the_tokens_it_gets_alone(batch, moves):
    """Up to ten requests in eight slots: some wait for a free slot, as in vLLM."""
    together = batched(batch, np.random.default_rng(moves))
    assert together == [alone(request) for request in batch]


def test_forcing_writes_one_logit_that_every_sampler_follows():
    logits = torch.zeros((2, 5))
    batch = SteeredBatch()
    model = SyntheticBackend(native=True)
    steer = steer_for(model, [], 1.0, 0)
    steer.trace.push_forced("wait", (3,))  # a forced run scheduled ahead of the engine
    batch.put(1, steer, [])
    batch.changed()
    shaped = batch.apply(logits)
    assert shaped[1, 3] == FORCED and shaped[1].count_nonzero() == 1 and not shaped[0].any()
    probs = torch.softmax(shaped[1] / 1e-5, dim=0)
    assert probs[3] == 1.0 and probs.sum() == 1.0  # every other token has probability exactly 0


def test_the_greedy_check_reads_the_head_and_the_endings_only():
    logits = np.full((3, 4096), -5.0, dtype=np.float32)
    logits[0, 10] = 1.0  # best in the head: the ending below it cannot be the greedy choice
    logits[0, 4000] = 0.5
    logits[1, 4000] = 2.0  # the ending above every head token: it may be
    logits[2, 3000] = 9.0  # best outside the head, ending below it: flagged, and the whole row decides
    logits[2, 4000] = 0.0
    flags = greedy_may_end(torch.from_numpy(logits), np.arange(3), np.array([[4000], [4000], [4000]]))
    assert flags.tolist() == [False, True, True]


def test_the_torch_path_decides_as_the_numpy_path():
    """Logits that numpy cannot view (bfloat16, or on a GPU) take torch operations: the same flags and bounds."""
    from ponder.vllm.logits import ending_bounds, on_host, shaped

    rng = np.random.default_rng(0)
    values = np.round(rng.normal(size=(6, 2048)) * 8) / 8  # exact in bfloat16
    values[2, 2000] = 9.0  # an ending above the head
    wide, narrow = torch.tensor(values, dtype=torch.float32), torch.tensor(values, dtype=torch.bfloat16)
    assert on_host(wide) is not None and on_host(narrow) is None
    slots, ends = np.array([0, 2, 5]), np.array([[2000, 2001]] * 3)
    assert greedy_may_end(narrow, slots, ends).tolist() == greedy_may_end(wide, slots, ends).tolist() == [
        False, True, False]
    temperature = np.array([0.7, 1.0, 1.5])
    np.testing.assert_allclose(ending_bounds(narrow, slots, ends, temperature),
                               ending_bounds(wide, slots, ends, temperature), rtol=1e-5)
    forced = shaped(narrow.clone(), [(1, 7)], [(np.array([3]), np.array([9]))])
    assert forced[1].argmax() == 7 and torch.isinf(forced[1]).sum() == 2047  # too narrow for FORCED: a row of -inf
    assert forced[3, 9] == -np.inf


def test_a_batch_on_the_torch_path_steers_as_on_the_numpy_path():
    """bfloat16 logits (as on a GPU) go through the plan's indices on the device; float32 ones through numpy.

    Greedy rows held below a minimum: a row whose best token is the end of thinking has it undone, the others
    are left alone, with every slot steered (the heads one slice) and with one slot free (a gather).
    """
    from ponder import Budget

    end, eos, width = 250, 251, 256
    encode = lambda text: tuple(range(10, 10 + len(text)))  # noqa: E731
    vocab = Vocab(encode, (end,), encode("\nFinal Answer:"), frozenset({eos}), native_end=end)
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(size=(4, width)) * 8) / 8  # exact in bfloat16
    values[[0, 3], end] = 9.0  # the end of thinking is these rows' best token
    for free in (None, 2):
        chosen = {}
        for dtype in (torch.float32, torch.bfloat16):
            batch = SteeredBatch()
            for slot in range(4):
                steer = None if slot == free else Steer(chain([Budget(min_tokens=8)]), vocab, temperature=0.0,
                                                        seed=None)
                batch.put(slot, steer, [])
            batch.changed()
            chosen[dtype] = batch.apply(torch.tensor(values, dtype=dtype)).float().argmax(1).tolist()
        assert chosen[torch.float32] == chosen[torch.bfloat16]
        assert chosen[torch.float32][0] != end and chosen[torch.float32][3] != end  # undone below the minimum
        assert chosen[torch.float32][1:3] == values[1:3].argmax(1).tolist()
