"""``ponder serve`` under load: many concurrent streams, and clients that leave in the middle."""

from __future__ import annotations

import asyncio
import json
import time

import openai
import pytest

pytest.register_assert_rewrite("serving")
from serving import QUESTION, chat, get, metric, reasoning_of, start, stop  # noqa: E402

pytest_plugins = ["serving"]

MIXED = [  # (thinking, lowest and highest thinking tokens it allows)
    ({"max_tokens": 4}, 0, 4),
    ({"min_tokens": 8, "max_tokens": 8}, 8, 8),
    ({"min_tokens": 12, "max_tokens": 16}, 12, 16),
    ({"enabled": False}, 0, 0),
]


async def streamed(client, thinking):
    stream = await client.chat.completions.create(
        model="x", messages=[{"role": "user", "content": QUESTION}], max_tokens=24, stream=True,
        stream_options={"include_usage": True}, extra_body={"thinking": thinking})
    reasoning, usage = "", None
    async for chunk in stream:
        reasoning += reasoning_of(chunk)
        usage = chunk.usage or usage
    return reasoning, usage


def test_32_concurrent_streams_all_complete_within_budget_in_fifo_order(up):
    async def run():
        async with up.aclient() as client:
            return await asyncio.gather(*(streamed(client, MIXED[i % 4][0]) for i in range(32)))

    results = asyncio.run(run())
    assert len(results) == 32
    for i, (reasoning, usage) in enumerate(results):
        _, low, high = MIXED[i % 4]
        assert usage is not None and usage.completion_tokens <= 24
        assert low <= usage.completion_tokens_details.reasoning_tokens <= high
        assert (reasoning == "") == (high == 0)
    status, body = get(up.url + "/v1/ponder/requests")
    rows = sorted((r for r in json.loads(body)["data"] if r["endpoint"] == "chat" and r["max_tokens"] == 24),
                  key=lambda r: r["created"])[-32:]
    assert all(r["status"] == "done" for r in rows)
    starts = [r["created"] + r["queue_seconds"] for r in rows]
    assert all(b >= a - 0.05 for a, b in zip(starts, starts[1:])), "served first come, first served"


@pytest.fixture(scope="module")
def single():
    """A server that runs one generation at a time, so a second request waits in the queue."""
    served = start("--batch-size", "1")
    yield served
    stop(served)


def test_disconnected_clients_stop_their_generation_and_free_their_place(single):
    up = single
    before = get(up.url + "/metrics")[1]
    client = up.client()
    long = dict(model="x", messages=[{"role": "user", "content": QUESTION}], max_tokens=1024,
                extra_body={"thinking": {"min_tokens": 1000}})
    with client.chat.completions.create(stream=True, **long) as hog:
        next(chunk for chunk in hog if reasoning_of(chunk))  # running: one chunk read, then the client leaves
        with pytest.raises(openai.APITimeoutError):  # queued behind it, and gone after a second
            up.client(timeout=1).chat.completions.create(**long)
    r = chat(up, {"max_tokens": 4}, max_tokens=24)
    assert r.choices[0].message.content and r.usage.completion_tokens_details.reasoning_tokens <= 4
    time.sleep(0.5)  # the queued request's absence is noticed at the next poll
    after = get(up.url + "/metrics")[1]
    grew = lambda name: metric(after, name) - metric(before, name)  # noqa: E731
    assert grew("ponder_cancelled_total") == 2
    assert grew('ponder_generations_total{finish_reason="cancelled"}') == 1  # the queued one never ran
    assert grew('ponder_tokens_total{phase="thinking"}') < 500  # the hog stopped long before 1000


def test_a_request_joins_the_running_batch_and_ends_while_a_long_one_runs(up):
    client = up.client()
    long = dict(model="x", messages=[{"role": "user", "content": QUESTION}], max_tokens=1024,
                extra_body={"thinking": {"min_tokens": 1000}})
    with client.chat.completions.create(stream=True, **long) as hog:
        next(chunk for chunk in hog if reasoning_of(chunk))  # the long one is decoding
        r = chat(up, {"max_tokens": 4}, max_tokens=16)  # joins the batch at the next step, not after the hog
        assert r.choices[0].message.content and r.usage.completion_tokens_details.reasoning_tokens <= 4
        health = json.loads(get(up.url + "/health")[1])
        assert health["running"] == 1, "the long request should still be decoding"
