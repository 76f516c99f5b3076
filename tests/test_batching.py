"""Batched controlled decoding on the synthetic model: every row as if it ran alone, one forward pass per round."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ponder
from ponder import Budget, EntropyPause, Filler, NoThinking, Pause, Prefix
from synthetic import SyntheticBackend, SyntheticRows

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WAITS = ["Wait", " ...", "Wait,", "ab"]


@st.composite
def thinking(draw):
    """A random chain of policies, or no thinking, or none at all."""
    kind = draw(st.sampled_from(["budget", "budget", "chain", "none", "off"]))
    if kind == "none":
        return None
    if kind == "off":
        return [NoThinking()] + ([Pause(draw(st.integers(1, 3)))] if draw(st.booleans()) else [])
    top = draw(st.integers(0, 30))
    budget = Budget(min_tokens=draw(st.integers(0, top)), max_tokens=top,
                    wait=tuple(draw(st.lists(st.sampled_from(WAITS), min_size=1, max_size=2))),
                    max_waits=draw(st.none() | st.integers(0, 4)))
    if kind == "budget":
        return budget
    extras = draw(st.lists(st.sampled_from([
        Prefix("Ok, so"), Filler(3, where="before_end"), Pause(2, every=4), EntropyPause(threshold=2.5, cooldown=2),
    ]), max_size=3, unique_by=type))
    return [budget, *extras]


@st.composite
def requests(draw):
    temperature = draw(st.sampled_from([0.0, 0.0, 0.8]))
    return dict(prompt=draw(st.sampled_from(["ab\n", "a b\n", "1"])), raw_prompt=True, thinking=draw(thinking()),
                max_tokens=draw(st.integers(1, 90)), temperature=temperature, seed=draw(st.integers(0, 99)),
                stop=draw(st.sampled_from([(), ("b",)])))


class Counting(SyntheticRows):
    """Records which rows each forward pass evaluated, and (served) which rows took a copy of its prefill."""

    passes: list[list[int]]
    served: list[list[int]]

    def forward(self, work, all_positions=None):
        self.passes = getattr(self, "passes", [])
        self.served = getattr(self, "served", [])
        self.passes.append([row for row, _ in work])
        self.served.append(list(self.passes[-1]))
        return super().forward(work, all_positions)

    def copy(self, source, row, n_tokens):
        self.served[-1].append(row)
        super().copy(source, row, n_tokens)


class CountingModel(SyntheticBackend):
    def open_rows(self, capacity):
        self.rows = Counting(self, capacity)
        return self.rows


def same(a, b) -> bool:
    return (a.token_ids, a.token_phases, a.token_sources, a.usage, a.injections, a.finish_reason, a.waits,
            a.capped, a.thinking, a.answer) == (b.token_ids, b.token_phases, b.token_sources, b.usage, b.injections,
                                                b.finish_reason, b.waits, b.capped, b.thinking, b.answer)


@PROPS
@given(jobs=st.lists(requests(), min_size=1, max_size=12), batch_size=st.integers(1, 5),
       seed=st.integers(0, 2**16), native=st.booleans())
def test_every_row_gets_what_it_gets_alone_with_one_forward_pass_per_round(jobs, batch_size, seed, native):
    model = CountingModel(seed=seed, bias=2.0, native=native)
    alone = [ponder.generate(model=model, **job) for job in jobs]
    together = dict(ponder.generate_many(jobs, model=model, batch_size=batch_size))
    assert sorted(together) == list(range(len(jobs)))
    for index, result in together.items():
        assert same(result, alone[index]), index
    if batch_size > 1:
        passes = model.rows.passes
        assert all(len(rows) == len(set(rows)) <= batch_size for rows in passes)  # each live row once per pass
        # the batch fills up (a row that copies another's prefill counts in the round it joins)
        assert max(len(rows) for rows in model.rows.served) == min(batch_size, len(jobs))


def test_a_row_that_fails_ends_alone_and_the_error_reaches_the_caller():
    model = SyntheticBackend(seed=1)
    jobs = [dict(prompt="ab\n", raw_prompt=True, max_tokens=20), dict(prompt="ab\n", raw_prompt=True, max_tokens=0)]
    results = dict(ponder.generate_many(jobs, model=model, batch_size=2))
    assert isinstance(results[1], ponder.PonderError) and "max_tokens must be >= 1" in str(results[1])
    assert results[0].usage.completion_tokens > 0  # the other row completed


def test_generations_of_one_prompt_share_its_prefill():
    model = CountingModel(seed=3, bias=2.0)
    jobs = [dict(prompt="ab\n", raw_prompt=True, thinking=Budget(min_tokens=6, max_tokens=12), max_tokens=30,
                 temperature=0.9, seed=s) for s in range(4)]
    alone = [ponder.generate(model=model, **job) for job in jobs]
    together = dict(ponder.generate_many(jobs, model=model, batch_size=4))
    assert all(same(together[i], alone[i]) for i in range(4))
    assert model.rows.passes[0] == [0] and model.rows.copies == 3  # one prefill, three copies of it


def test_a_running_row_whose_next_token_spells_a_new_prompt_is_not_taken_for_its_prefill():
    """A one-token prompt joins while an older row of that prompt waits on that very token: the new row must
    evaluate (or copy) the prompt, not take the older row's logits (seed 5 did, before rows knew their prefill
    was done)."""
    jobs = [dict(prompt="1", raw_prompt=True, thinking=None, max_tokens=m, temperature=0.0, seed=0)
            for m in (3, 9, 5, 12, 7, 4, 10, 6, 8, 11)]
    for seed in range(8):
        model = CountingModel(seed=seed, bias=2.0, native=True)
        alone = [ponder.generate(model=model, **job) for job in jobs]
        together = dict(ponder.generate_many(jobs, model=model, batch_size=3))
        assert all(same(together[i], alone[i]) for i in range(len(jobs))), seed
