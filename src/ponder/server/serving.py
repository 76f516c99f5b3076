"""One generation request from plan to outcome, whatever the dialect: queue it, wait for it, watch the client.

The routes (``openai.py``, ``anthropic.py``) make the plan from their request bodies and shape
the outcome, whole or as a stream of the deltas that arrive here.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from ..control import Control
from ..errors import PonderError
from .errors import ApiError
from .jobs import InvalidPrompt, Outcome, Plan, PlanJob
from .metrics import Metrics, Recent
from .response_store import ResponseStore
from .responses import ponder_details
from .settings import ServerSettings
from .thinking import describe
from .worker import ClientGone, GenerationWorker, QueueFull, Ticket

DONE = object()  # put on a stream's event queue once its job has ended
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass
class Server:
    """What every request shares: settings, the loaded backend, the worker, metrics, the live view, stored responses."""

    settings: ServerSettings
    backend: Any
    worker: GenerationWorker
    metrics: Metrics
    recent: Recent
    responses: ResponseStore = field(default_factory=ResponseStore)  # the Responses API's stored responses
    controls: dict = field(default_factory=dict)  # each running request's Control, by its id


@dataclass
class Submission:
    """A queued request: its ticket, and the queue its text deltas arrive on when it streams."""

    ticket: Ticket
    events: asyncio.Queue | None


async def submit(server: Server, request: Request, plan: Plan, rid: str, *, endpoint: str, user: str | None,
                 stream: bool, preview: str, param: str) -> tuple[Submission, Outcome | None]:
    """Queue the plan's job; return its outcome (whole), or once it has begun generating (stream).

    A full queue is a 429, a prompt the model cannot take a 400 naming ``param``; ClientGone if
    the client leaves first.
    """
    loop = asyncio.get_running_loop()
    started: asyncio.Future = loop.create_future()
    events: asyncio.Queue | None = asyncio.Queue() if stream else None

    def on_start(prompt_tokens: int) -> None:
        loop.call_soon_threadsafe(mark_started, started, server.recent, rid, prompt_tokens)

    def on_text(index: int, phase: str, text: str) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (index, phase, text))

    control = Control()
    try:
        ticket = server.worker.submit(PlanJob(server.backend, plan, on_start, None if events is None else on_text,
                                              control=control))
    except QueueFull as err:
        raise ApiError(429, str(err), None, "queue_full") from None
    server.controls[rid] = control  # POST /v1/ponder/requests/{rid}/control, until the job ends
    ticket.future.add_done_callback(lambda _: server.controls.pop(rid, None))
    if events is not None:  # the stream's end, however the job ends (done, refused, cancelled, failed)
        ticket.future.add_done_callback(lambda _: loop.call_soon_threadsafe(events.put_nowait, DONE))
    ticket.future.add_done_callback(lambda f: record(server, ticket))
    server.recent.add(rid, endpoint=endpoint, user=user, stream=stream, thinking=describe(plan.thinking),
                      max_tokens=plan.max_tokens, preview=preview[:80] + ("…" if len(preview) > 80 else ""))
    try:
        if events is None:
            outcome = await wait(ticket, request, None)
            server.recent.update(rid, **summary(server, outcome, ticket))
            return Submission(ticket, None), outcome
        await wait(ticket, request, started)  # a prompt over the limit is still a plain 400
    except ClientGone:
        gone(server, rid)
        raise
    except PonderError as err:
        server.recent.update(rid, status="error", error=str(err))
        invalid = isinstance(err, InvalidPrompt)
        raise ApiError(400, str(err), param if invalid else None,
                       "invalid_prompt" if invalid else "invalid_request") from None
    return Submission(ticket, events), None


def preview_of(prompt) -> str:
    """The live view's short text of a prompt: the last message, the text, or the token ids."""
    if isinstance(prompt, str):
        return prompt
    if prompt and isinstance(prompt[-1], dict):
        return str(prompt[-1].get("content") or "")
    return " ".join(map(str, prompt))


def mark_started(started: asyncio.Future, recent: Recent, rid: str, prompt_tokens: int) -> None:
    recent.update(rid, status="running", prompt_tokens=prompt_tokens)
    if not started.done():
        started.set_result(prompt_tokens)


async def wait(ticket: Ticket, request: Request, started: asyncio.Future | None) -> Any:
    """Until the job ends (or, given ``started``, begins generating); ClientGone if the client leaves first.

    The disconnect is awaited, not polled: a queue of waiting requests costs no wake-ups, which
    would take CPU from the generation.
    """
    waiter = asyncio.wrap_future(ticket.future)
    watcher = asyncio.ensure_future(disconnect(request))
    try:
        targets = {waiter, watcher} if started is None else {waiter, watcher, started}
        done, _ = await asyncio.wait(targets, return_when=asyncio.FIRST_COMPLETED)
        if waiter in done:
            if waiter.cancelled():  # dropped from the queue: the server is stopping
                raise ClientGone()
            return waiter.result()
        if started is not None and started in done:
            return started.result()
        ticket.cancel()
        raise ClientGone()
    except asyncio.CancelledError:
        ticket.cancel()
        raise
    finally:
        watcher.cancel()


async def disconnect(request: Request) -> None:
    """Returns when the client has gone (the body is already read, so only a disconnect can come)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def deltas(events: asyncio.Queue):
    """The text deltas until the job ends, those of one choice and phase that piled up (a slow reader) joined."""
    pending: deque = deque()
    while True:
        if not pending:
            pending.append(await events.get())
        while not events.empty():
            pending.append(events.get_nowait())
        event = pending.popleft()
        if event is DONE:
            return
        index, phase, text = event
        while isinstance(text, str) and pending and pending[0] is not DONE and pending[0][:2] == (index, phase):
            text += pending.popleft()[2]  # a tool call (not text) is never joined
        yield index, phase, text


def sse(obj: dict, event: str | None = None) -> str:
    """One server-sent event; named (Anthropic's streams) or not (OpenAI's)."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def summary(server: Server, outcome: Outcome, ticket: Ticket) -> dict:
    """The live view's row for a finished request."""
    details = ponder_details(list(outcome.results), outcome.prompt_tokens, server.settings, ticket.queue_seconds)
    details.pop("choices")
    finish = [r.finish_reason for r in outcome.results]
    return {**details, "status": "done", "prompt_tokens": outcome.prompt_tokens,
            "finish_reason": finish[0] if len(set(finish)) == 1 else ",".join(finish)}


def gone(server: Server, rid: str) -> None:
    server.metrics.client_gone()
    server.recent.update(rid, status="cancelled")


def record(server: Server, ticket: Ticket) -> None:
    """Token and generation metrics for every job that ran, the cancelled ones included (worker thread)."""
    future = ticket.future
    if future.cancelled() or future.exception() is not None:
        return
    outcome: Outcome = future.result()
    completion = sum(r.usage.spent_tokens for r in outcome.results)  # probes are compute spent
    server.metrics.generation(outcome.results, outcome.prompt_tokens, ticket.queue_seconds,
                              server.settings.cost(outcome.prompt_tokens, completion))
