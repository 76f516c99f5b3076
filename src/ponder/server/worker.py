"""The generation worker: one thread decodes every request's generations together, first come first served.

A backend is not thread-safe, so every generation goes through this one thread. It runs
rounds of batched decoding (``ponder.batching``): each generation is a row, a request's
generations join the batch at the next round when a row is free, in the order requests
came, and leave when done. With one row (``--batch-size 1``) requests run one at a time,
exactly as ``ponder.generate`` runs them. The event loop only submits jobs (and small
calls such as tokenizing, run between two rounds) and awaits them. A client that goes
away cancels its ticket: a job still in the queue is dropped before it starts, a running
one stops at its next decoding step.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..backends import exclusive
from ..batching import Batch, rows_for


class QueueFull(Exception):
    """More requests are waiting or running than the server allows."""


class ClientGone(Exception):
    """The client disconnected while its request was queued or running."""


class Job(Protocol):
    """A request's work: the generations it needs (made on the worker thread) and its answer from their results."""

    def start(self, ticket: "Ticket") -> list: ...  # ponder.api.Generation objects; raising refuses the request

    def finish(self, results: list) -> Any: ...


@dataclass(eq=False)  # compared and hashed by identity: the worker keeps a set of them
class Ticket:
    """One submitted job: its future, its cancel flag, and when it was queued and started."""

    job: Job | None = None
    future: Future = field(default_factory=Future)
    submitted: float = field(default_factory=time.perf_counter)
    started: float | None = None
    flag: threading.Event = field(default_factory=threading.Event)
    release: Callable[["Ticket"], None] = lambda ticket: None  # gives the ticket's place back
    results: list = field(default_factory=list)
    left: int = 0  # generations not yet ended
    error: BaseException | None = None

    def cancelled(self) -> bool:
        """Polled by the decoding loop at every step."""
        return self.flag.is_set()

    def cancel(self) -> None:
        """Stop the job: dropped if still queued, ended at its next step if running. Its place frees at once."""
        self.flag.set()
        self.future.cancel()  # succeeds only while the job is still queued
        self.release(self)

    @property
    def queue_seconds(self) -> float:
        return (self.started or time.perf_counter()) - self.submitted


class GenerationWorker:
    """A FIFO of jobs in front of one decoding thread, holding at most ``max_queue`` places (waiting or running).

    A cancelled ticket gives its place back at once, though its rows may run one more decoding step:
    the next request is admitted, and joins as soon as a row is free.
    """

    def __init__(self, backend, max_queue: int, rows: int = 1, prefix_cache: bool = False) -> None:
        self.max_queue = max_queue
        self.backend = backend
        self.batch = Batch(rows_for(backend, rows), prefix_cache=prefix_cache)
        self.calls: deque[tuple[Callable[[], Any], Future]] = deque()  # run between two rounds
        self.lock = threading.Condition()
        self.holding: set[Ticket] = set()
        self.queue: deque[Ticket] = deque()
        self.pending: deque[tuple[Ticket, int, Any]] = deque()  # admitted generations waiting for a row
        self.active: set[Ticket] = set()
        self.closed = False
        self.thread = threading.Thread(target=self._loop, name="ponder-generate", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> Ticket:
        ticket = Ticket(job=job, release=self._release)
        with self.lock:
            if len(self.holding) >= self.max_queue:
                raise QueueFull(f"{len(self.holding)} requests are already queued or running, the most this "
                                f"server takes (--max-queue {self.max_queue}): retry later")
            self.holding.add(ticket)
            self.queue.append(ticket)
            self.lock.notify()
        ticket.future.add_done_callback(lambda _: self._release(ticket))
        return ticket

    def call(self, function: Callable[[], Any]) -> Future:
        """Run ``function`` on the decoding thread between two rounds: the only thread that touches the backend."""
        future: Future = Future()
        with self.lock:
            if self.closed:
                raise QueueFull("the server is stopping")
            self.calls.append((function, future))
            self.lock.notify()
        return future

    # the decoding thread

    def _loop(self) -> None:
        while self._wait_for_work():
            with exclusive(self.backend):  # no other thread generates on this model while requests run
                while self._has_work():
                    self._run_calls()
                    self._admit()
                    try:
                        self.batch.round()
                    except Exception as err:  # the forward pass itself failed: every running row ends with it
                        self.batch.fail(err)

    def _wait_for_work(self) -> bool:
        """Until there is work; False once closed, when what was running has stopped (its tickets are flagged)."""
        with self.lock:
            while not self.closed and not self._has_work():
                self.lock.wait()
            return not self.closed or bool(self.pending or self.batch.running)

    def _has_work(self) -> bool:
        return bool(self.calls or self.queue or self.pending or self.batch.running)

    def _run_calls(self) -> None:
        while True:
            with self.lock:
                if not self.calls:
                    return
                function, future = self.calls.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function())
            except Exception as err:
                future.set_exception(err)

    def _admit(self) -> None:
        """Give free rows to the next generations, taking requests in the order they came."""
        while self.batch.free:
            if not self.pending and not self._start_next():
                return
            ticket, index, generation = self.pending.popleft()
            if ticket.cancelled():
                self._ended(ticket)
                continue
            self.batch.add(generation.decoder, generation.prompt_ids,
                           lambda trace, error, t=ticket, i=index, g=generation: self._done(t, i, g, trace, error))

    def _start_next(self) -> bool:
        """Start the first request still wanted: its job makes its generations. False when none is waiting."""
        while True:
            with self.lock:
                if not self.queue:
                    return False
                ticket = self.queue.popleft()
            if not ticket.future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            ticket.started = time.perf_counter()
            try:
                generations = ticket.job.start(ticket)
            except Exception as err:
                ticket.future.set_exception(err)
                continue
            with self.lock:
                self.active.add(ticket)
            ticket.results, ticket.left = [None] * len(generations), len(generations)
            self.pending.extend((ticket, i, g) for i, g in enumerate(generations))
            if not generations:
                self._finish(ticket)
            return True

    def _done(self, ticket: Ticket, index: int, generation, trace, error) -> None:
        if error is not None:
            ticket.error = ticket.error or error
        else:
            ticket.results[index] = generation.result(trace)
        self._ended(ticket)

    def _ended(self, ticket: Ticket) -> None:
        ticket.left -= 1
        if ticket.left == 0:
            self._finish(ticket)

    def _finish(self, ticket: Ticket) -> None:
        with self.lock:
            self.active.discard(ticket)
        if ticket.future.done():
            return  # answered already (a cancelled client): setting it again would raise on this thread
        if ticket.error is not None:
            ticket.future.set_exception(ticket.error)
            return
        try:
            ticket.future.set_result(ticket.job.finish([r for r in ticket.results if r is not None]))
        except Exception as err:
            ticket.future.set_exception(err)

    # bookkeeping

    def _release(self, ticket: Ticket) -> None:
        with self.lock:
            self.holding.discard(ticket)

    @property
    def waiting(self) -> int:
        """Requests in the queue, not yet started."""
        with self.lock:
            return sum(1 for t in self.holding if t.started is None)

    @property
    def running(self) -> int:
        with self.lock:
            return len(self.active)

    def close(self) -> None:
        """Drop what is queued and stop the running generations at their next step."""
        with self.lock:
            self.closed = True
            for ticket in self.queue:
                ticket.future.cancel()
            self.queue.clear()
            for ticket in self.active:
                ticket.flag.set()
            for _, future in self.calls:
                future.cancel()
            self.calls.clear()
            self.lock.notify()
