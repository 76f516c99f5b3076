"""A request's answer as server-sent events: thinking deltas, then the answer, finish reasons, usage."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import TYPE_CHECKING

from ..errors import PonderError
from .errors import error_event
from .jobs import Outcome
from .responses import FINISH, Envelope, Trimmer, delta_chunk, ponder_details, usage_chunk
from .schemas import GenerationRequest
from .worker import Ticket

if TYPE_CHECKING:
    from .serving import Server

DONE = object()  # put on a stream's event queue once its job has ended
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


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
