"""One generation request: planned (planning.py), queued, then answered whole or streamed (streaming.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..errors import PonderError
from .errors import ApiError
from .jobs import Outcome, PlanJob, PromptTooLong
from .metrics import Metrics, Recent
from .planning import make_plan
from .responses import Envelope, response
from .schemas import GenerationRequest
from .settings import ServerSettings
from .streaming import DONE, SSE_HEADERS, gone, stream, summary
from .thinking import describe
from .worker import ClientGone, GenerationWorker, QueueFull, Ticket


@dataclass
class Server:
    """What every request shares: settings, the loaded backend, the worker, metrics and the live view."""

    settings: ServerSettings
    backend: Any
    worker: GenerationWorker
    metrics: Metrics
    recent: Recent


async def serve(server: Server, request: Request, body: GenerationRequest, kind: str, chats: tuple) -> Response:
    plan = make_plan(body, chats, server.settings)
    env = Envelope("raw" if plan.raw else kind, server.settings.model_id)
    loop = asyncio.get_running_loop()
    started: asyncio.Future = loop.create_future()
    events: asyncio.Queue | None = asyncio.Queue() if body.stream else None

    def on_start(prompt_tokens: int) -> None:
        loop.call_soon_threadsafe(mark_started, started, server.recent, env.id, prompt_tokens)

    def on_text(index: int, phase: str, text: str) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (index, phase, text))

    try:
        ticket = server.worker.submit(PlanJob(server.backend, plan, on_start, None if events is None else on_text))
    except QueueFull as err:
        raise ApiError(429, str(err), None, "queue_full") from None
    if events is not None:  # the stream's end, however the job ends (done, refused, cancelled, failed)
        ticket.future.add_done_callback(lambda _: loop.call_soon_threadsafe(events.put_nowait, DONE))
    ticket.future.add_done_callback(lambda f: record(server, ticket))
    preview = chats[0][-1]["content"]
    server.recent.add(env.id, endpoint=kind, user=body.user, stream=body.stream, thinking=describe(plan.thinking),
                      max_tokens=plan.max_tokens, preview=preview[:80] + ("…" if len(preview) > 80 else ""))
    try:
        if events is None:
            outcome = await wait(ticket, request, None)
            server.recent.update(env.id, **summary(server, outcome, ticket))
            return JSONResponse(response(env, list(outcome.results), outcome.prompt_tokens, server.settings,
                                         ticket.queue_seconds))
        await wait(ticket, request, started)  # a prompt over the limit is still a plain 400
    except ClientGone:
        gone(server, env.id)
        return Response(status_code=499)  # nobody reads it: the client closed the connection
    except PonderError as err:
        server.recent.update(env.id, status="error", error=str(err))
        param = ("messages" if kind == "chat" else "prompt") if isinstance(err, PromptTooLong) else None
        raise ApiError(400, str(err), param, "invalid_prompt" if param else "invalid_request") from None
    return StreamingResponse(stream(server, env, body, plan.choices, ticket, events),
                             media_type="text/event-stream", headers=SSE_HEADERS)


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


def record(server: Server, ticket: Ticket) -> None:
    """Token and generation metrics for every job that ran, the cancelled ones included (worker thread)."""
    future = ticket.future
    if future.cancelled() or future.exception() is not None:
        return
    outcome: Outcome = future.result()
    completion = sum(r.usage.completion_tokens for r in outcome.results)
    server.metrics.generation(outcome.results, outcome.prompt_tokens, ticket.queue_seconds,
                              server.settings.cost(outcome.prompt_tokens, completion))
