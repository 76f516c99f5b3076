"""The prefix cache of a batch's rows, on the real models: a re-sent or extended prompt evaluates only what is new,
gives the tokens it gives from scratch, and one row's rewinds never touch what another row keeps."""

from __future__ import annotations

import numpy as np
import pytest

import ponder
from ponder import Budget
from ponder.api import finish, start
from ponder.batching import Batch, rows_for
from ponder.lab.tasks import get_task
from ponder.prefixes import MIN_REUSE, RowPrefixes


def in_turn(batch: Batch, backend, requests: list[dict]) -> list:
    """Each request once the one before it has ended, in one batch: a later one may start from a kept prefix."""
    results = []
    for request in requests:
        generation, ended = start(backend, request), []
        batch.add(generation.decoder, generation.prompt_ids, lambda trace, error: ended.append((trace, error)))
        while batch.running:
            batch.round()
        (trace, error), = ended
        result = finish(0, generation, trace, error)[1]
        assert not isinstance(result, Exception), result
        results.append(result)
    return results


@pytest.fixture(scope="module")
def tiny():
    return ponder.load_backend("ponder-tiny")


def chat(backend, *turns: str) -> list[dict]:
    """The requests of a chat whose history grows by one question and the answer the model gave."""
    return [dict(prompt=[{"role": "user", "content": t} for t in turns[:k + 1]], max_tokens=24,
                 thinking=Budget(max_tokens=12)) for k in range(len(turns))]


def test_a_re_sent_prompt_reads_its_prefix_from_the_cache_and_gives_the_same_greedy_tokens(tiny):
    items = get_task("tiny-multiplication").items(6, seed=11)
    requests = [dict(prompt=i.question, thinking=Budget(min_tokens=b, max_tokens=b), max_tokens=b + 16)
                for i, b in zip(items, [8, 20, 0, 40, 12, 30])]
    exact = in_turn(Batch(rows_for(tiny, 4)), tiny, requests)
    cached = Batch(rows_for(tiny, len(requests)), prefix_cache=True)  # a row for each prompt to stay in
    first = in_turn(cached, tiny, requests)
    again = in_turn(cached, tiny, requests)  # the same prompts, re-sent: each is held by a row
    for e, f, a in zip(exact, first, again):
        assert f.usage.cached_tokens == 0
        assert a.usage.cached_tokens == a.usage.prompt_tokens - 1  # all but the last prompt token
        assert e.token_ids == f.token_ids == a.token_ids
    assert cached.idle.hits == len(requests)


@pytest.mark.parametrize("model", ["ponder-tiny", "llama.cpp"])
def test_a_growing_history_evaluates_only_what_is_new(model, tiny, llama):
    backend = tiny if model == "ponder-tiny" else llama
    turns = ("What is 12*3?", "And 4*5?", "Now 7*8?") if model == "ponder-tiny" else \
        ("Name a colour.", "Name a fruit.", "Name an animal.")
    requests = chat(backend, *turns)
    exact = in_turn(Batch(rows_for(backend, 2)), backend, requests)
    batch = Batch(rows_for(backend, 2), prefix_cache=True)
    cached = in_turn(batch, backend, requests)
    assert cached[0].usage.cached_tokens == 0
    for k in (1, 2):  # the history before the new question was held by the row that ran the turn before
        assert cached[k].usage.cached_tokens >= MIN_REUSE
        assert cached[k].usage.cached_tokens < cached[k].usage.prompt_tokens
    assert [c.token_ids for c in cached] == [e.token_ids for e in exact]


def test_a_rewinding_row_leaves_another_rows_kept_prefix_alone(llama):
    """Waits rewind one row's cache while another row holds a prompt: re-sent, that prompt still gives its tokens."""
    plain = dict(prompt="Write one sentence about the sea.", thinking=Budget(max_tokens=30), max_tokens=40)
    forcing = dict(prompt="What is 12 + 30?", thinking=Budget(min_tokens=40, max_tokens=40), max_tokens=60)
    batch = Batch(rows_for(llama, 2), prefix_cache=True)
    before, = in_turn(batch, llama, [plain])
    waiting, = in_turn(batch, llama, [forcing])
    assert waiting.waits >= 1 and MIN_REUSE <= waiting.usage.cached_tokens < before.usage.prompt_tokens - 8
    assert batch.idle.held.keys() == {0, 1}  # the shared opening (the system prompt) was copied to the empty row
    after, = in_turn(batch, llama, [plain])
    assert after.usage.cached_tokens == after.usage.prompt_tokens - 1
    assert after.token_ids == before.token_ids


def test_the_cache_holds_at_most_its_rows_and_drops_the_oldest_first():
    prefixes = RowPrefixes(2)
    a, b, c = (list(range(k, k + 20)) for k in (0, 100, 200))
    for prompt in (a, b):
        row, kept, source = prefixes.take(prompt)
        assert kept == 0 and source is None
        prefixes.give_back(row, prompt)
    assert prefixes.take(c) == (0, 0, None)  # no empty row, nothing shared: the oldest entry (a's) is emptied
    prefixes.give_back(0, c)
    assert len(prefixes.held) == 2 and set(map(tuple, prefixes.held.values())) == {tuple(b), tuple(c)}
    assert prefixes.take(b + [7]) == (1, 20, None)  # b's row, all of b kept
    assert prefixes.take(a) == (0, 0, None)
    assert len(prefixes) == 0


def test_a_short_shared_prefix_is_not_worth_a_kept_row():
    prefixes = RowPrefixes(2)
    row, *_ = prefixes.take(list(range(30)))
    prefixes.give_back(row, list(range(30)))
    short = list(range(MIN_REUSE - 1)) + [999] * 10
    assert prefixes.take(short) == (1, 0, None)  # the empty row, not a reuse of too few tokens
    assert prefixes.take(list(range(25))) == (0, 24, None)  # no empty row left: the entry itself is taken


def test_a_prompt_sharing_an_opening_gets_a_copy_of_it_and_the_entry_stays():
    prefixes = RowPrefixes(3)
    system = list(range(40))
    row, *_ = prefixes.take(system + [100, 101])
    prefixes.give_back(row, system + [100, 101, 5, 6])
    assert prefixes.take(system + [200, 201]) == (1, 40, 0)  # row 1 gets row 0's first 40 tokens
    assert 0 in prefixes.held and prefixes.hits == 1
    assert prefixes.take(system + [100, 101, 5, 6, 7]) == (0, 44, None)  # all row 0 holds: the row itself


def test_with_every_row_held_a_new_conversation_takes_the_oldest_entrys_row_not_the_one_it_shares_with():
    """Agents with one system prompt: the conversation between two of its calls keeps its row."""
    prefixes = RowPrefixes(2)
    system = list(range(40))
    old, busy = system + [100, 101, 5], system + [200, 201, 6]
    for prompt in (old, busy):
        row, *_ = prefixes.take(prompt)
        prefixes.give_back(row, prompt)
    newcomer = system + [200, 300]  # shares 41 tokens with busy, 40 with old
    assert prefixes.take(newcomer) == (0, 41, 1)  # old's row, emptied, gets busy's first 41 tokens
    assert list(prefixes.held) == [1] and prefixes.take(busy + [7]) == (1, len(busy), None)  # busy's next call


def test_a_prompt_held_by_a_kept_row_takes_it_rather_than_follow_an_identical_prompt(tiny):
    """Two generations of one prompt in one round (a sweep's settings of one item): where kept rows hold the
    prompt, each takes one and evaluates its last token, instead of the second emptying a row for a copy."""
    request = dict(prompt=get_task("tiny-multiplication").items(1, seed=3)[0].question,
                   thinking=Budget(min_tokens=8, max_tokens=8), max_tokens=24)
    batch = Batch(rows_for(tiny, 3), prefix_cache=True)
    alone = in_turn(batch, tiny, [request, request])  # two rows now hold the prompt and an answer
    assert len(batch.idle.held) == 2
    ended = []
    for _ in range(2):
        generation = start(tiny, request)
        batch.add(generation.decoder, generation.prompt_ids, lambda trace, error, g=generation: ended.append(
            finish(0, g, trace, error)[1]))
    while batch.running:
        batch.round()
    assert [r.usage.cached_tokens for r in ended] == [alone[0].usage.prompt_tokens - 1] * 2
    assert [r.token_ids for r in ended] == [alone[0].token_ids] * 2


def test_the_exact_mode_keeps_nothing(tiny):
    batch = Batch(rows_for(tiny, 2))
    in_turn(batch, tiny, chat(tiny, "What is 12*3?", "And 4*5?"))
    assert not batch.idle.held and batch.idle.hits == 0
    assert sorted(batch.idle.empty) == [0, 1]
    assert np.all(np.array(batch.rows.lengths) == 0)
