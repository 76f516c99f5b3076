"""Batched decoding on the real models: every row honours its own budget, as a single run does, on both backends."""

from __future__ import annotations

import pytest

import ponder
from ponder import Budget, Filler, NoThinking, Pause, Prefix
from test_models import check_counts

QUESTIONS = ["What is 12 + 30?", "Name a colour.", "What is 7 times 6?", "Spell cat backwards."]
SETTINGS = [  # (thinking, lowest and highest thinking tokens it allows)
    (Budget(min_tokens=24, max_tokens=32), 24, 32),
    (Budget(max_tokens=6), 0, 6),
    (NoThinking(), 0, 0),
    ([Prefix("Ok, so"), Budget(min_tokens=10, max_tokens=20)], 10, 20),
    (Filler(5), 5, 5),
    ([Budget(min_tokens=16, max_tokens=16), Pause(2)], 16, 16),
]


def jobs():
    return [dict(prompt=QUESTIONS[i % len(QUESTIONS)], thinking=thinking, max_tokens=64)
            for i, (thinking, _, _) in enumerate(SETTINGS)]


def test_batched_rows_keep_their_budgets_like_single_runs(backend):
    alone = [ponder.generate(model=backend, **job) for job in jobs()]
    together = dict(ponder.generate_many(jobs(), model=backend, batch_size=4))
    assert sorted(together) == list(range(len(SETTINGS)))
    for index, (_, low, high) in enumerate(SETTINGS):
        for result in (alone[index], together[index]):
            assert low <= result.usage.thinking_tokens <= high, (index, result.thinking)
            check_counts(result)
            assert result.answer.strip()
        assert together[index].waits >= 1 if low >= 24 else True
    prefixed = together[3]
    assert prefixed.thinking.startswith("Ok, so")
    assert together[4].thinking == "....."
    assert any(i["reason"] == "pause" for i in together[5].injections)


def test_a_rewinding_row_leaves_the_others_alone(llama):
    """Waits rewind one row's cache; a plain row beside it gives the tokens it gives alone."""
    plain = dict(prompt="Write one sentence about the sea.", thinking=Budget(max_tokens=40), max_tokens=60)
    forcing = dict(prompt="What is 12 + 30?", thinking=Budget(min_tokens=60, max_tokens=60), max_tokens=90)
    alone = ponder.generate(model=llama, **plain)
    together = dict(ponder.generate_many([forcing, plain, forcing], model=llama, batch_size=3))
    assert together[0].waits >= 1 and together[2].waits >= 1
    assert together[1].token_ids[:20] == alone.token_ids[:20]


@pytest.fixture(scope="module")
def tiny():
    return ponder.load_backend("ponder-tiny")


def test_ponder_tiny_gives_the_same_greedy_tokens_batched(tiny):
    from ponder.lab.tasks import get_task

    items = get_task("tiny-multiplication").items(24, seed=3)
    requests = [dict(prompt=i.question, thinking=Budget(min_tokens=b, max_tokens=b), max_tokens=b + 24)
                for i, b in zip(items, [0, 8, 20, 40] * 6)]
    alone = [ponder.generate(model=tiny, **r) for r in requests]
    together = dict(ponder.generate_many(requests, model=tiny, batch_size=16))
    same = sum(together[i].token_ids == a.token_ids for i, a in enumerate(alone))
    assert same >= 22  # float sums in other shapes may flip a near tie, rarely
    assert all(together[i].usage.thinking_tokens == r["thinking"].max_tokens for i, r in enumerate(requests))


def test_a_tiny_model_shares_threads_only_for_passes_of_many_tokens(tiny):
    from ponder.backends import physical_cores
    from ponder.backends.hf import TransformersBackend

    assert tiny.threads_for(1) == 1 and tiny.threads_for(64) == physical_cores()
    pinned = TransformersBackend(tiny.path, threads=3)  # a choice of threads holds for every pass
    assert pinned.threads_for(1) == pinned.threads_for(64) == 3


def test_threads_sharing_a_model_take_turns(llama):
    """One loaded model serves every caller: threads generating on it at once get what each gets alone."""
    import threading

    alone = [ponder.generate(model=llama, **job).token_ids for job in jobs()]
    results: dict[int, tuple] = {}
    start = threading.Barrier(len(jobs()))

    def run(index: int, job: dict) -> None:
        start.wait()
        results[index] = ponder.generate(model=llama, **job).token_ids

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs())]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(len(alone))] == alone


def test_a_generate_inside_generate_many_on_the_same_model_is_refused(llama):
    with pytest.raises(ponder.PonderError, match="already generating on this model"):
        for _ in ponder.generate_many(jobs()[:2], model=llama, batch_size=1):
            ponder.generate("hi", model=llama, max_tokens=4)


def test_transformers_rows_give_each_row_the_logits_it_gets_alone(tiny):
    """Rows of different lengths in one pass, a rewind, a copied prompt and every position's logits: each row's
    logits are those of the same tokens run alone (up to float sums in other shapes)."""
    import numpy as np

    def same(got, ids, all_positions=False):
        expected = tiny.prefill(list(ids), all_positions)  # the rows of the ids a reused prefix left to evaluate
        assert np.allclose(got, expected[-len(got):] if all_positions else expected, atol=1e-4), ids

    a, b, c = (tiny.prompt_ids(f"{q}\n<think>\n") for q in ("12*3", "407*8", "5*96"))
    rows = tiny.open_rows(4)
    first = rows.forward([(0, a), (2, b)])
    same(first[0], a), same(first[1], b)
    second = rows.forward([(2, [5, 6, 7]), (0, [9]), (1, c)])  # a forced run, one token, a new row
    same(second[0], b + [5, 6, 7]), same(second[1], a + [9]), same(second[2], c)
    rows.truncate(2, len(b) + 1)  # a rewind of one row: the others keep what they hold
    third = rows.forward([(2, [8]), (0, [4, 4]), (1, [3])], all_positions=[False, True, False])
    same(third[0], b + [5, 8]), same(third[1], a + [9, 4, 4], all_positions=True), same(third[2], c + [3])
    rows.copy(1, 3, len(c))  # the n choices of one prompt: a copy of its cached prefill
    rows.release(0)
    fourth = rows.forward([(3, [6]), (0, b)])
    same(fourth[0], c + [6]), same(fourth[1], b)
    rows.release(0), rows.release(1), rows.release(2)
    fifth = rows.forward([(3, [7])])  # one query among four rows: its strip is copied out, not read in place
    same(fifth[0], c + [6, 7])
    rows.close()
