"""A request's plan: checked against the server's limits, its thinking fields mapped to policies."""

from __future__ import annotations

from ..errors import PonderError
from .errors import ApiError
from .jobs import Plan
from .schemas import GenerationRequest
from .settings import ServerSettings
from .thinking import resolve_thinking


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
