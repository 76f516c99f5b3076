"""The numpy sampler: top-k and top-p keep exactly the right ids; entropy in bits."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder.sampling import Sampler, Sampling, entropy_stats


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(2, 3000), top_p=st.floats(0.05, 0.99),
       scale=st.floats(0.1, 8))
def test_top_p_keeps_the_smallest_head_holding_p_of_the_mass(seed, size, top_p, scale):
    logits = np.random.default_rng(seed).normal(size=size) * scale
    ids, probs = Sampler(Sampling(temperature=1.0, top_p=top_p))._candidates(logits)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    cumulative = np.cumsum(p[order])
    expected = order[: int(np.searchsorted(cumulative, top_p)) + 1]
    assert set(ids.tolist()) == set(expected.tolist())
    assert abs(probs.sum() - 1) < 1e-9


def test_top_k_keeps_the_k_most_likely():
    logits = np.array([0.1, 3.0, -1.0, 2.0, 2.5])
    ids, _ = Sampler(Sampling(temperature=1.0, top_k=2))._candidates(logits)
    assert ids.tolist() == [1, 4]


def test_greedy_respects_bans_and_sampling_follows_the_seed():
    logits = np.array([0.0, 5.0, 4.0])
    assert Sampler(Sampling()).choose(logits) == 1
    assert Sampler(Sampling()).choose(logits, frozenset({1})) == 2
    def draws(seed):
        sampler = Sampler(Sampling(temperature=1.0, seed=seed))
        return [sampler.choose(np.zeros(50)) for _ in range(20)]

    assert draws(3) == draws(3) and draws(3) != draws(4)


def test_entropy_in_bits():
    entropy, varentropy = entropy_stats(np.zeros(8))
    assert abs(entropy - 3.0) < 1e-9 and abs(varentropy) < 1e-9
    peaked, _ = entropy_stats(np.array([50.0, 0.0, 0.0]))
    assert peaked < 1e-6


def test_a_vanishing_temperature_samples_greedily():
    logits = np.array([0.5, 3.0, -1.0, 2.9], dtype=np.float32)
    assert all(Sampler(Sampling(temperature=t, seed=1)).choose(logits) == 1 for t in (5e-324, 1e-9, 0.0))
