"""A failing callback, or a server closed while its streams are open, ends what it must and nothing more."""

from __future__ import annotations

import threading

from ponder.api import prepare
from ponder.batching import Batch, rows_for
from ponder.server.worker import GenerationWorker
from synthetic import SyntheticBackend


def generation(model, max_tokens, cancelled=None):
    return prepare(model, "ab\n", raw_prompt=True, max_tokens=max_tokens, cancelled=cancelled)


def test_a_done_callback_that_raises_ends_its_row_once_and_the_batch_goes_on():
    model = SyntheticBackend(seed=2)
    batch = Batch(rows_for(model, 3))
    calls: list[int] = []

    def done(index):
        def call(trace, error):
            calls.append(index)
            if index == 0:
                raise RuntimeError("the caller's bug")
        return call

    for index, max_tokens in enumerate((2, 6, 9)):
        g = generation(model, max_tokens)
        batch.add(g.decoder, g.prompt_ids, done(index))
    rounds = 0
    while batch.running:
        batch.round()  # the raising callback must not escape, nor leave ended rows running
        rounds += 1
        assert rounds < 50
    assert sorted(calls) == [0, 1, 2]  # each generation ended exactly once
    assert sorted(batch.idle) == [0, 1, 2]  # each row given back once: none can go to two generations


class Job:
    def __init__(self, model, flag):
        self.model, self.flag = model, flag

    def start(self, ticket):
        return [generation(self.model, 400, cancelled=ticket.cancelled)]

    def finish(self, results):
        return results


def test_closing_the_worker_with_generations_running_stops_its_thread_cleanly():
    errors: list = []
    hook, threading.excepthook = threading.excepthook, lambda args: errors.append(args.exc_value)
    try:
        model = SyntheticBackend(seed=4)
        worker = GenerationWorker(model, max_queue=8, rows=2)
        tickets = [worker.submit(Job(model, None)) for _ in range(4)]
        for _ in range(500):  # until rows decode (a short generation may end first: then there is less to stop)
            if worker.running or all(t.future.done() for t in tickets):
                break
            threading.Event().wait(0.01)
        tickets[0].cancel()  # a client gone while its row decodes
        worker.close()
        worker.thread.join(timeout=30)
        assert not worker.thread.is_alive()
        assert errors == []
        assert all(t.future.done() for t in tickets)
    finally:
        threading.excepthook = hook
