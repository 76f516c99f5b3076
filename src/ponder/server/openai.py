"""OpenAI's chat and text completions: request bodies to plans, outcomes to responses, whole or streamed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..errors import PonderError
from .errors import ApiError, error_event
from .jobs import CHAT, TEXT, THINK, Outcome, Plan
from .responses import Envelope, finish_of, Trimmer, delta_chunk, response, scores_of, usage_chunk
from .schemas import ChatRequest, CompletionRequest, GenerationRequest
from .serving import SSE_HEADERS, Server, Submission, deltas, gone, preview_of, sse, submit, summary
from .settings import ServerSettings
from .thinking import Resolved, ThinkingAsk, resolve
from .answer_formats import schema_or_400
from .tool_schemas import check_results, tool_use_or_400
from .worker import ClientGone


def completion_limit(body: GenerationRequest, prompts: int, settings: ServerSettings) -> int:
    """The request's token limit, checked against the server's limits (ApiError 400 if over)."""
    limit = body.completion_limit()
    if limit is not None and limit > settings.max_tokens:
        param = "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens"
        raise ApiError(400, f"{param} is {limit}, above this server's limit of {settings.max_tokens} "
                            "(--max-tokens): ask for fewer", param, "max_tokens_too_large")
    if prompts * body.n > settings.max_n:
        raise ApiError(400, f"{prompts * body.n} choices asked for; this server makes at most "
                            f"{settings.max_n} per request (--max-n)", "n", "too_many_choices")
    return settings.max_tokens if limit is None else limit


def resolve_or_400(ask: ThinkingAsk) -> Resolved:
    try:
        return resolve(ask)
    except PonderError as err:
        raise ApiError(400, str(err), "thinking", "invalid_thinking") from None


def thinking_ask(body: GenerationRequest, settings: ServerSettings, limit: int | None = None) -> ThinkingAsk:
    """The request's thinking controls; an effort's budget is fit within ``limit``, the completion's."""
    enable = (body.chat_template_kwargs or {}).get("enable_thinking")
    return ThinkingAsk(body.thinking, body.reasoning, body.reasoning_effort,
                       enable if isinstance(enable, bool) else None, efforts=settings.effort_table, limit=limit)


def plan_fields(body: GenerationRequest, settings: ServerSettings) -> dict:
    """The plan's sampling, stops and limits, as every OpenAI body gives them."""
    return dict(temperature=0.0 if body.temperature is None else body.temperature,
                top_p=1.0 if body.top_p is None else body.top_p, top_k=body.top_k or 0, seed=body.seed,
                stop=body.stops(), format=settings.format, max_prompt_tokens=settings.max_prompt_tokens)


def chat_plan(body: ChatRequest, settings: ServerSettings) -> tuple[Plan, Resolved]:
    limit = completion_limit(body, 1, settings)
    if body.top_logprobs is not None and not body.logprobs:
        raise ApiError(400, "top_logprobs needs logprobs: true", "top_logprobs", "invalid_logprobs")
    resolved = resolve_or_400(thinking_ask(body, settings, limit))
    # the template hears whether the model thinks (Qwen3's closes an empty thought when it does not)
    template = {**(body.chat_template_kwargs or {}), "enable_thinking": resolved.on}
    messages = body.chat()
    check_results(messages)
    tools = tool_use_or_400(body.tools, body.tool_choice, body.parallel_tool_calls, ("tools", "tool_choice"))
    schema = schema_or_400(body.response_format, "response_format")
    if schema is not None and tools.tools:
        raise ApiError(400, "response_format holds the whole answer to JSON, so no tool call could be read: send "
                            "tools or a response_format, not both", "response_format", "invalid_request")
    plan = Plan(prompts=(tuple(messages),), n=body.n, thinking=resolved.thinking, max_tokens=limit, mode=CHAT,
                template=tuple(sorted(template.items())), tools=tools, answer_schema=schema,
                turn=body.thinking.turn() if body.thinking is not None else None,
                logprobs=(body.top_logprobs or 0) if body.logprobs else None, **plan_fields(body, settings))
    return plan, resolved


def completion_plan(body: CompletionRequest, settings: ServerSettings) -> tuple[Plan, Resolved]:
    """Text continued as is; a request that asks for thinking gets it, over a prompt that opens the thinking."""
    prompts = body.prompts()
    limit = completion_limit(body, len(prompts), settings)
    thinks = body.asks_thinking()
    if body.raw and thinks:
        raise ApiError(400, "a raw completion continues text and has no thinking: drop thinking, reasoning and "
                            "reasoning_effort, or raw", "raw", "invalid_thinking")
    thinks = thinks and not body.raw
    if thinks and body.echo:
        raise ApiError(400, "echo returns the prompt continued as text, which has no thinking: drop echo or the "
                            "thinking fields", "echo", "invalid_thinking")
    if limit == 0 and not body.echo:
        raise ApiError(400, "max_tokens 0 writes nothing: ask for at least 1 token, or set echo to score the "
                            "prompt", "max_tokens", "invalid_request")
    resolved = resolve_or_400(thinking_ask(body, settings, limit)) if thinks else Resolved(None)
    plan = Plan(prompts=tuple(tuple(p) if isinstance(p, list) else p for p in prompts), n=body.n,
                thinking=resolved.thinking, max_tokens=limit, mode=THINK if thinks else TEXT,
                logprobs=body.logprobs, echo=body.echo and body.logprobs is not None,
                answer_schema=schema_or_400(body.response_format, "response_format"), **plan_fields(body, settings))
    return plan, resolved


def reasoning_names(settings: ServerSettings, resolved: Resolved) -> tuple[str, ...]:
    return () if resolved.exclude else settings.reasoning_fields


async def chat_completions(server: Server, request: Request, body: ChatRequest) -> Response:
    plan, resolved = chat_plan(body, server.settings)
    env = Envelope("chat", server.settings.model_id, reasoning_names(server.settings, resolved), body.logprobs)
    return await answer(server, request, body, plan, env, "messages")


async def completions(server: Server, request: Request, body: CompletionRequest) -> Response:
    plan, resolved = completion_plan(body, server.settings)
    env = Envelope("raw" if plan.mode == TEXT else "text", server.settings.model_id,
                   reasoning_names(server.settings, resolved), body.logprobs is not None, body.echo)
    return await answer(server, request, body, plan, env, "prompt")


async def answer(server: Server, request: Request, body: GenerationRequest, plan: Plan, env: Envelope,
                 param: str) -> Response:
    endpoint = "chat" if env.kind == "chat" else "text"
    try:
        submission, outcome = await submit(server, request, plan, env.id, endpoint=endpoint, user=body.user,
                                           stream=body.stream, preview=preview_of(plan.prompts[0]), param=param)
    except ClientGone:
        return Response(status_code=499)  # nobody reads it: the client closed the connection
    if outcome is not None:
        return JSONResponse(response(env, outcome, server.settings, submission.ticket.queue_seconds))
    return StreamingResponse(stream(server, env, body, plan, submission), media_type="text/event-stream",
                             headers=SSE_HEADERS)


async def stream(server: Server, env: Envelope, body: GenerationRequest, plan: Plan, submission: Submission):
    """SSE: the thinking deltas, then the answer's, each choice's finish (with its log probabilities), usage, ``[DONE]``."""
    ticket, finished = submission.ticket, False
    trimmers: dict[tuple[int, str], Trimmer] = {}
    calls: dict[int, int] = {}  # each choice's calls streamed so far
    try:
        for index in range(plan.choices):
            if env.kind == "chat":
                yield sse(delta_chunk(env, index, "role", ""))
            elif env.echo:
                yield sse(delta_chunk(env, index, "prompt", ticket.job.texts[index // plan.n]))
        async for index, phase, text in deltas(submission.events):
            if phase == "thinking" and not env.reasoning:
                continue  # excluded: the model thinks, the client does not see it
            if phase == "tool_call":
                calls[index] = calls.get(index, 0) + 1
                yield sse(delta_chunk(env, index, phase, {"index": calls[index] - 1, **text.to_openai()}))
                continue
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
            for index, result in enumerate(outcome.results):
                yield sse(delta_chunk(env, index, None, "", finish_of(result), scores_of(outcome, index)))
            if body.include_usage():
                yield sse(usage_chunk(env, outcome, server.settings, ticket.queue_seconds))
            server.recent.update(env.id, **summary(server, outcome, ticket))
        yield "data: [DONE]\n\n"
        finished = True
    finally:
        if not finished:  # the client went away mid-stream: stop the generation, free the worker
            ticket.cancel()
            gone(server, env.id)
