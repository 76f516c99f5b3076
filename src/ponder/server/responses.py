"""Response bodies in OpenAI's shapes, with the thinking as ``reasoning_content`` and a ``ponder`` object.

``content`` (chat) and ``text`` (completions) are the answer phase as ponder returns it (the forced
"Final Answer:" lead included), stripped of surrounding whitespace; ``reasoning_content`` is the
thinking, stripped the same way. Streamed deltas concatenate to exactly those strings.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from ..result import Result
from .settings import ServerSettings

FINISH = {"stop": "stop", "length": "length", "cancelled": "stop"}
COUNTS = ("thinking_tokens", "thinking_injected", "marker_tokens", "answer_tokens", "answer_injected")


@dataclass(frozen=True)
class Envelope:
    """What every response and chunk of one request shares."""

    kind: str  # "chat" or "text"
    model: str
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        if not self.id:
            prefix = "chatcmpl-" if self.kind == "chat" else "cmpl-"
            object.__setattr__(self, "id", prefix + uuid.uuid4().hex[:24])

    def head(self, streaming: bool = False) -> dict:
        if self.kind == "chat":
            obj = "chat.completion.chunk" if streaming else "chat.completion"
        else:
            obj = "text_completion"
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}


class Trimmer:
    """Streams a text stripped of leading and trailing whitespace: holds whitespace back until more text comes."""

    def __init__(self) -> None:
        self.started = False
        self.held = ""

    def feed(self, delta: str) -> str:
        text = self.held + delta if self.started else delta.lstrip()
        if not text:
            return ""
        self.started = True
        body = text.rstrip()
        self.held = text[len(body):]
        return body


# usage and cost

def usage(results: list[Result], prompt_tokens: int) -> dict:
    """OpenAI's usage: the prompt counted once per prompt, the completions of all choices summed."""
    completion = sum(r.usage.completion_tokens for r in results)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "completion_tokens_details": {"reasoning_tokens": sum(r.usage.thinking_tokens for r in results)},
    }


def choice_detail(index: int, result: Result) -> dict:
    u = result.usage
    return {"index": index, **{k: getattr(u, k) for k in COUNTS}, "waits": result.waits, "capped": result.capped,
            "finish_reason": result.finish_reason, "injections": [
                {k: i[k] for k in ("reason", "phase", "length", "text")} for i in result.injections]}


def ponder_details(results: list[Result], prompt_tokens: int, settings: ServerSettings, queue_seconds: float) -> dict:
    """The ``ponder`` object: what the thinking spent, summed over choices, and each choice's own figures."""
    choices = [choice_detail(i, r) for i, r in enumerate(results)]
    details = {k: sum(c[k] for c in choices) for k in COUNTS}
    details.update(
        waits=sum(r.waits for r in results),
        capped=any(r.capped for r in results),
        queue_seconds=round(queue_seconds, 4),
        prefill_seconds=round(sum(r.prefill_seconds for r in results), 4),
        decode_seconds=round(sum(r.decode_seconds for r in results), 4),
        choices=choices,
    )
    cost = settings.cost(prompt_tokens, sum(r.usage.completion_tokens for r in results))
    if cost is not None:
        details["cost"] = cost
    return details


# whole responses

def chat_choice(index: int, result: Result) -> dict:
    message = {"role": "assistant", "content": result.answer.strip(), "reasoning_content": result.thinking.strip()}
    return {"index": index, "message": message, "finish_reason": FINISH[result.finish_reason], "logprobs": None}


def text_choice(index: int, result: Result) -> dict:
    return {"index": index, "text": result.answer.strip(), "reasoning_content": result.thinking.strip(),
            "finish_reason": FINISH[result.finish_reason], "logprobs": None}


def raw_choice(index: int, result: Result) -> dict:
    """A plain continuation: the text exactly as generated, and the stop string that ended it (vLLM's ``stop_reason``)."""
    return {"index": index, "text": result.answer, "finish_reason": FINISH[result.finish_reason], "logprobs": None,
            "stop_reason": result.stopped_by}


def response(env: Envelope, results: list[Result], prompt_tokens: int, settings: ServerSettings,
             queue_seconds: float) -> dict:
    build = {"chat": chat_choice, "raw": raw_choice}.get(env.kind, text_choice)
    return {
        **env.head(),
        "choices": [build(i, r) for i, r in enumerate(results)],
        "usage": usage(results, prompt_tokens),
        "ponder": ponder_details(results, prompt_tokens, settings, queue_seconds),
    }


# streamed chunks

def delta_chunk(env: Envelope, index: int, phase: str | None, text: str, finish: str | None = None) -> dict:
    """One choice's delta: the thinking as ``reasoning_content``, the answer as ``content`` / ``text``."""
    if env.kind == "chat":
        delta: dict = {}
        if phase == "role":
            delta = {"role": "assistant", "content": ""}
        elif phase is not None:
            delta = {"reasoning_content" if phase == "thinking" else "content": text}
        choice = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
    else:
        choice = {"index": index, "text": text if phase == "answer" else "", "finish_reason": finish,
                  "logprobs": None}
        if phase == "thinking":
            choice["reasoning_content"] = text
    return {**env.head(streaming=True), "choices": [choice]}


def usage_chunk(env: Envelope, results: list[Result], prompt_tokens: int, settings: ServerSettings,
                queue_seconds: float) -> dict:
    """The last chunk when ``stream_options.include_usage`` is set: no choices, the usage and ``ponder``."""
    return {**env.head(streaming=True), "choices": [], "usage": usage(results, prompt_tokens),
            "ponder": ponder_details(results, prompt_tokens, settings, queue_seconds)}
