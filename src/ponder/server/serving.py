"""One generation request from validation to response: plan it, queue it, answer whole or as a stream."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..errors import PonderError
from .errors import ApiError, error_event
from .jobs import Outcome, Plan, PlanJob, PromptTooLong
from .metrics import Metrics, Recent
from .responses import FINISH, Envelope, Trimmer, delta_chunk, ponder_details, response, usage_chunk
from .schemas import GenerationRequest
from .settings import ServerSettings
from .thinking import describe, resolve_thinking
from .worker import ClientGone, GenerationWorker, QueueFull, Ticket

DONE = object()  # put on a stream's event queue once its job has ended
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass
class Server:
    """What every request shares: settings, the loaded backend, the worker, metrics and the live view."""

    settings: ServerSettings
    backend: Any
    worker: GenerationWorker
    metrics: Metrics
    recent: Recent


def make_plan(body: GenerationRequest, chats: tuple, settings: ServerSettings) -> Plan:
    """Check the request against the server's limits and map its thinking fields; ApiError (400) if not."""
    limit = body.completion_limit()
    if limit is not None and limit > settings.max_tokens:
        param = "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens"
        raise ApiError(400, f"{param} is {limit}, above this server's limit of {settings.max_tokens} "
                            "(--max-tokens): ask for fewer", param, "max_tokens_too_large")
    if len(chats) * body.n > settings.max_n:
        raise ApiError(400, f"{len(chats) * body.n} choices asked for; this server makes at most "
                            f"{settings.max_n} per request (--max-n)", "n", "too_many_choices")
    raw = getattr(body, "raw", False)
    if raw and (body.thinking is not None or body.reasoning_effort is not None):
        raise ApiError(400, "a raw completion continues text and has no thinking: drop thinking and "
                            "reasoning_effort, or raw", "raw", "invalid_thinking")
    try:
        thinking = resolve_thinking(body.thinking, body.reasoning_effort)
    except PonderError as err:
        raise ApiError(400, str(err), "thinking", "invalid_thinking") from None
    return Plan(
        chats=chats, n=body.n, thinking=thinking, max_tokens=limit or settings.max_tokens,
        max_prompt_tokens=settings.max_prompt_tokens,
        temperature=0.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p, top_k=body.top_k or 0, seed=body.seed,
        stop=body.stops(), format=settings.format, raw=raw,
    )


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


async def stream(server: Server, env: Envelope, body: GenerationRequest, choices: int, ticket: Ticket,
                 events: asyncio.Queue):
    """SSE: thinking deltas as ``reasoning_content``, then the answer, finish reasons, usage, ``[DONE]``."""
    finished = False
    trimmers: dict[tuple[int, str], Trimmer] = {}
    try:
        if env.kind == "chat":
            for index in range(choices):
                yield sse(delta_chunk(env, index, "role", ""))
        async for index, phase, text in deltas(events):
            if env.kind != "raw":  # a raw continuation is sent exactly as generated
                text = trimmers.setdefault((index, phase), Trimmer()).feed(text)
            if text:
                yield sse(delta_chunk(env, index, phase, text))
        try:
            outcome: Outcome = ticket.future.result()
        except PonderError as err:
            yield sse(error_event(str(err), None, "invalid_request"))
        except Exception as err:  # a bug, reported in the stream as a 500 would be: the server stays up
            yield sse(error_event(f"internal error ({type(err).__name__})", None, "internal_error", "server_error"))
        else:
            results = list(outcome.results)
            for index, result in enumerate(results):
                yield sse(delta_chunk(env, index, None, "", FINISH[result.finish_reason]))
            if body.include_usage():
                yield sse(usage_chunk(env, results, outcome.prompt_tokens, server.settings, ticket.queue_seconds))
            server.recent.update(env.id, **summary(server, outcome, ticket))
        yield "data: [DONE]\n\n"
        finished = True
    finally:
        if not finished:  # the client went away mid-stream: stop the generation, free the worker
            ticket.cancel()
            gone(server, env.id)


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
        while pending and pending[0] is not DONE and pending[0][:2] == (index, phase):
            text += pending.popleft()[2]
        yield index, phase, text


def sse(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


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
    completion = sum(r.usage.completion_tokens for r in outcome.results)
    server.metrics.generation(outcome.results, outcome.prompt_tokens, ticket.queue_seconds,
                              server.settings.cost(outcome.prompt_tokens, completion))
