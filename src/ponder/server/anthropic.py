"""Anthropic's Messages API: ``POST /v1/messages`` (whole or streamed) and ``/v1/messages/count_tokens``.

A response holds a ``thinking`` block (its ``signature`` is a digest of the thinking) when the
model thought, then a ``text`` block with the answer; usage bills thinking as output. Without a
``thinking`` field the model does not think, as on Anthropic's API; ponder's own thinking fields
(``min_tokens``, ``wait``, ``prefix``...) work in the ``thinking`` object as everywhere.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..generation import with_tools
from ..prompts import build_prompt
from ..tools import ToolCall, ToolUse
from ..errors import PonderError
from ..formats import get_format
from ..result import Result
from .answer_formats import schema_or_400
from .anthropic_schemas import CountTokensRequest, MessagesRequest, PromptFields
from .errors import ANTHROPIC_TYPES, ApiError
from .jobs import CHAT, Outcome, Plan
from .responses import Trimmer, ponder_details
from .serving import SSE_HEADERS, Server, Submission, deltas, gone, submit, summary
from .serving import sse as event
from .settings import ServerSettings
from .thinking import Resolved, ThinkingAsk, resolve
from .tool_schemas import anthropic_choice, check_results, tool_use_or_400
from .worker import ClientGone

STOP_REASONS = {"length": "max_tokens", "stop": "end_turn", "cancelled": "end_turn"}


def tools_of(body: PromptFields) -> ToolUse:
    tools = [t.model_dump(exclude_none=True) for t in body.tools or ()]
    return tool_use_or_400(tools, anthropic_choice(body.tool_choice), None, ("tools", "tool_choice"))


def resolve_or_400(body: PromptFields, efforts=None, limit: int | None = None) -> Resolved:
    if body.messages[-1].role != "user":
        raise ApiError(400, "the last message must be the user's: ponder does not continue an assistant turn",
                       "messages", "invalid_request")
    try:
        return resolve(ThinkingAsk(thinking=body.thinking, effort=body.effort(), default_on=False, efforts=efforts,
                                   limit=limit))
    except PonderError as err:
        raise ApiError(400, str(err), "thinking", "invalid_thinking") from None


def messages_plan(body: MessagesRequest, settings: ServerSettings) -> tuple[Plan, Resolved]:
    if body.max_tokens > settings.max_tokens:
        raise ApiError(400, f"max_tokens is {body.max_tokens}, above this server's limit of {settings.max_tokens} "
                            "(--max-tokens): ask for fewer", "max_tokens", "max_tokens_too_large")
    budget = body.thinking.budget_tokens if body.thinking is not None else None
    if budget is not None and budget >= body.max_tokens:  # Anthropic's own rule: the answer needs room too
        raise ApiError(400, f"thinking.budget_tokens ({budget}) must be less than max_tokens ({body.max_tokens}): "
                            "lower the budget or raise max_tokens", "thinking.budget_tokens", "invalid_thinking")
    resolved = resolve_or_400(body, settings.effort_table, body.max_tokens)
    messages = body.chat()
    check_results(messages)
    given, param = body.answer_format()
    schema, tools = schema_or_400(given, param), tools_of(body)
    if schema is not None and tools.tools:
        raise ApiError(400, f"{param} holds the whole answer to JSON, so no tool could be used: send tools or "
                            f"{param}, not both", param, "invalid_request")
    plan = Plan(prompts=(tuple(messages),), n=1, tools=tools, answer_schema=schema,
                turn=body.thinking.turn() if body.thinking is not None else None, thinking=resolved.thinking, max_tokens=body.max_tokens,
                max_prompt_tokens=settings.max_prompt_tokens, temperature=body.temperature or 0.0,
                top_p=1.0 if body.top_p is None else body.top_p, top_k=body.top_k or 0,
                stop=tuple(body.stop_sequences or ()), format=settings.format, mode=CHAT,
                template=(("enable_thinking", resolved.on),))
    return plan, resolved


def signature(thinking: str) -> str:
    """The thinking block's signature: a digest of its text, so a client can tell it came back unchanged."""
    return base64.b64encode(hashlib.sha256(("ponder\0" + thinking).encode()).digest()).decode()


def stop_of(result: Result) -> tuple[str, str | None]:
    if result.tool_calls:
        return "tool_use", None
    if result.stopped_by:
        return "stop_sequence", result.stopped_by
    return STOP_REASONS[result.finish_reason], None


def usage_of(outcome: Outcome) -> dict:
    """Anthropic's usage: thinking is output; its details count the thinking with its delimiter, as Anthropic's do.
    As in Anthropic's, ``input_tokens`` are those evaluated, apart from those read from the cache."""
    u = outcome.results[0].usage
    return {"input_tokens": outcome.prompt_tokens - u.cached_tokens, "cache_read_input_tokens": u.cached_tokens,
            "cache_creation_input_tokens": 0, "output_tokens": u.completion_tokens,
            "output_tokens_details": {"thinking_tokens": u.thinking_tokens + u.marker_tokens,
                                      "probe_tokens": u.probe_tokens}}


def message_body(rid: str, model: str, outcome: Outcome, resolved: Resolved, settings: ServerSettings,
                 queue_seconds: float) -> dict:
    result = outcome.results[0]
    thinking, answer, content = result.thinking.strip(), result.answer.strip(), []
    if resolved.on:
        content.append({"type": "thinking", "thinking": "" if resolved.exclude else thinking,
                        "signature": signature(thinking)})
    if answer or not (content or result.tool_calls):
        content.append({"type": "text", "text": answer})
    content += [tool_use(call) for call in result.tool_calls]
    reason, sequence = stop_of(result)
    return {"id": rid, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": reason, "stop_sequence": sequence, "usage": usage_of(outcome),
            "ponder": ponder_details([result], outcome.prompt_tokens, settings, queue_seconds, outcome.turn)}


def tool_use(call: ToolCall) -> dict:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.parsed_arguments()}


async def messages(server: Server, request: Request, body: MessagesRequest) -> Response:
    plan, resolved = messages_plan(body, server.settings)
    rid, model = "msg_" + uuid.uuid4().hex[:24], server.settings.model_id
    try:
        submission, outcome = await submit(server, request, plan, rid, endpoint="messages", user=body.user(),
                                           stream=body.stream, preview=body.messages[-1].text(), param="messages")
    except ClientGone:
        return Response(status_code=499)  # nobody reads it: the client closed the connection
    if outcome is not None:
        return JSONResponse(message_body(rid, model, outcome, resolved, server.settings,
                                         submission.ticket.queue_seconds))
    return StreamingResponse(stream(server, rid, resolved, submission), media_type="text/event-stream",
                             headers=SSE_HEADERS)


class Blocks:
    """The content blocks of a streamed message, opened and closed in order."""

    def __init__(self) -> None:
        self.index, self.open = -1, None

    def start(self, kind: str, block: dict | None = None) -> str:
        self.index, self.open = self.index + 1, kind
        if block is None:
            block = {"type": "thinking", "thinking": "", "signature": ""} if kind == "thinking" else \
                {"type": "text", "text": ""}
        return event({"type": "content_block_start", "index": self.index, "content_block": block}, "content_block_start")

    def delta(self, delta: dict) -> str:
        return event({"type": "content_block_delta", "index": self.index, "delta": delta}, "content_block_delta")

    def stop(self) -> str:
        self.open = None
        return event({"type": "content_block_stop", "index": self.index}, "content_block_stop")


async def stream(server: Server, rid: str, resolved: Resolved, submission: Submission):
    """Anthropic's events: message_start, the thinking block (deltas, then its signature), the text block,
    message_delta (stop reason, usage), message_stop."""
    ticket, finished, blocks, thought = submission.ticket, False, Blocks(), ""
    trimmers = {"thinking": Trimmer(), "answer": Trimmer()}
    model = server.settings.model_id
    try:
        yield event({"type": "message_start", "message": {
            "id": rid, "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": None,
            "stop_sequence": None, "usage": {"input_tokens": ticket.job.prompt_tokens, "output_tokens": 0}}},
            "message_start")
        if resolved.on:
            yield blocks.start("thinking")
        async for _index, phase, text in deltas(submission.events):
            if phase == "tool_call":  # a whole call: its block opened, its input in one delta, closed
                if blocks.open == "thinking":
                    yield blocks.delta({"type": "signature_delta", "signature": signature(thought)})
                if blocks.open is not None:
                    yield blocks.stop()
                yield blocks.start("tool_use", {**tool_use(text), "input": {}})
                yield blocks.delta({"type": "input_json_delta", "partial_json": text.arguments})
                yield blocks.stop()
                continue
            text = trimmers[phase].feed(text)
            if not text:
                continue
            if phase == "thinking":
                thought += text
                if not resolved.exclude:
                    yield blocks.delta({"type": "thinking_delta", "thinking": text})
                continue
            if blocks.open == "thinking":
                yield blocks.delta({"type": "signature_delta", "signature": signature(thought)})
                yield blocks.stop()
            if blocks.open is None:
                yield blocks.start("text")
            yield blocks.delta({"type": "text_delta", "text": text})
        try:
            outcome: Outcome = ticket.future.result()
        except Exception as err:  # noqa: BLE001 - reported in the stream, as a 4xx or 5xx would be
            kind = ANTHROPIC_TYPES[400 if isinstance(err, PonderError) else 500]
            message = str(err) if isinstance(err, PonderError) else f"internal error ({type(err).__name__})"
            yield event({"type": "error", "error": {"type": kind, "message": message}}, "error")
        else:
            if blocks.open == "thinking":
                yield blocks.delta({"type": "signature_delta", "signature": signature(thought)})
                yield blocks.stop()
            if blocks.index < 0:  # no thinking, text or call: one empty text block, as the whole response has
                yield blocks.start("text")
            if blocks.open == "text":
                yield blocks.stop()
            reason, sequence = stop_of(outcome.results[0])
            usage = usage_of(outcome)  # cumulative, as Anthropic's: input_tokens now apart from what the cache read
            yield event({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": sequence},
                         "usage": usage, "ponder": ponder_details(list(outcome.results), outcome.prompt_tokens,
                                                                  server.settings, ticket.queue_seconds,
                                                                  outcome.turn)},
                        "message_delta")
            yield event({"type": "message_stop"}, "message_stop")
            server.recent.update(rid, **summary(server, outcome, ticket))
        finished = True
    finally:
        if not finished:  # the client went away mid-stream: stop the generation, free the worker
            ticket.cancel()
            gone(server, rid)


async def count_tokens(server: Server, body: CountTokensRequest) -> dict:
    """The prompt's tokens as a generation with the same fields would see them, templated and tokenized on the
    decoding thread (as a generation's prompt is), never on the event loop."""
    resolved = resolve_or_400(body, server.settings.effort_table)
    fmt = get_format(server.settings.format)

    tools = tools_of(body)

    def count() -> int:
        messages, _, template = with_tools(server.backend, body.chat(), tools, {"enable_thinking": resolved.on})
        text = build_prompt(server.backend, messages, fmt, template=template)
        return len(server.backend.prompt_ids(text))

    return {"input_tokens": await asyncio.wrap_future(server.worker.call(count))}
