"""The generation worker: one thread runs the jobs one at a time, first come first served.

A backend is not thread-safe, so every generation goes through this one thread. The event loop
only submits jobs and awaits them. A client that goes away cancels its ticket: a job still in
the queue is dropped before it starts, a running one stops at its next decoding step.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable


class QueueFull(Exception):
    """More requests are waiting or running than the server allows."""


@dataclass(eq=False)  # compared and hashed by identity: the worker keeps a set of them
class Ticket:
    """One submitted job: its future, its cancel flag, and when it was queued and started."""

    future: Future = field(default_factory=Future)
    submitted: float = field(default_factory=time.perf_counter)
    started: float | None = None
    flag: threading.Event = field(default_factory=threading.Event)
    release: Callable[["Ticket"], None] = lambda ticket: None  # gives the ticket's place back

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


# A job gets its ticket (to poll ``cancelled``) and returns the result the ticket's future resolves to.
Job = Callable[[Ticket], Any]


class GenerationWorker:
    """A FIFO of jobs in front of one thread, holding at most ``max_queue`` places (waiting or running).

    A cancelled ticket gives its place back at once, though its job may run one more decoding step:
    the next request is admitted, and starts as soon as that step ends.
    """

    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ponder-generate")
        self.lock = threading.Lock()
        self.holding: set[Ticket] = set()
        self.current: Ticket | None = None

    def submit(self, job: Job) -> Ticket:
        ticket = Ticket(release=self._release)
        with self.lock:
            if len(self.holding) >= self.max_queue:
                raise QueueFull(f"{len(self.holding)} requests are already queued or running, the most this "
                                f"server takes (--max-queue {self.max_queue}): retry later")
            self.holding.add(ticket)
        ticket.future = self.executor.submit(self._run, job, ticket)
        ticket.future.add_done_callback(lambda _: self._release(ticket))
        return ticket

    def _run(self, job: Job, ticket: Ticket) -> Any:
        ticket.started = time.perf_counter()
        with self.lock:
            self.current = ticket
        try:
            return job(ticket)
        finally:
            with self.lock:
                self.current = None

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
            return int(self.current is not None)

    def close(self) -> None:
        """Drop what is queued and stop the running job at its next step."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            if self.current is not None:
                self.current.flag.set()


class ClientGone(Exception):
    """The client disconnected while its request was queued or running."""
