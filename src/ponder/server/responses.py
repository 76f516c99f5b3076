"""Response bodies in OpenAI's shapes, with the thinking as ``reasoning_content`` and ``reasoning``, and a ``ponder`` object.

``content`` (chat) and ``text`` (completions) are the answer phase as ponder returns it (the forced
"Final Answer:" lead included), stripped of surrounding whitespace; the thinking is stripped the
same way and sent under both names clients read (llama.cpp and SGLang: ``reasoning_content``;
vLLM and OpenRouter: ``reasoning``; ``--reasoning-field`` keeps one). Streamed deltas concatenate
to exactly those strings. A raw continuation's ``text`` is exactly what was generated.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from ..result import Result
from .jobs import Outcome
from .logprob_shapes import chat_logprobs, completion_logprobs
from .scored import ChoiceScores
from .settings import ServerSettings

FINISH = {"stop": "stop", "length": "length", "cancelled": "stop"}
COUNTS = ("thinking_tokens", "thinking_injected", "marker_tokens", "answer_tokens", "answer_injected", "probe_tokens")


@dataclass(frozen=True)
class Envelope:
    """What every response and chunk of one request shares."""

    kind: str  # "chat", "text" (a completion that thinks) or "raw" (a continuation)
    model: str
    reasoning: tuple[str, ...] = ("reasoning_content", "reasoning")  # names for the thinking; () when excluded
    logprobs: bool = False
    echo: bool = False  # a continuation's text and log probabilities start with the prompt
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
    """OpenAI's usage: the prompt counted once per prompt (those read from the prefix cache among them; a
    prompt's other choices copy its first one's), the completions of all choices summed."""
    completion = sum(r.usage.completion_tokens for r in results)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": sum(r.usage.cached_tokens for r in results)},
        "completion_tokens_details": {"reasoning_tokens": sum(r.usage.thinking_tokens for r in results),
                                      "probe_tokens": sum(r.usage.probe_tokens for r in results)},
    }


def choice_detail(index: int, result: Result) -> dict:
    u = result.usage
    return {"index": index, **{k: getattr(u, k) for k in COUNTS}, "waits": result.waits, "capped": result.capped,
            "finish_reason": result.finish_reason, "probes": [{"at": p.at, "answer": p.text} for p in result.probes],
            "injections": [
                {k: i[k] for k in ("reason", "phase", "length", "text")} for i in result.injections]}


def ponder_details(results: list[Result], prompt_tokens: int, settings: ServerSettings, queue_seconds: float,
                   turn: dict | None = None) -> dict:
    """The ``ponder`` object: what the thinking spent, summed over choices, and each choice's own figures (and
    the turn budget's account, where the request gave one)."""
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
    cost = settings.cost(prompt_tokens, sum(r.usage.spent_tokens for r in results))  # probes are compute spent
    if cost is not None:
        details["cost"] = cost
    if turn is not None:
        details["turn"] = turn
    return details


# whole responses

def finish_of(result: Result) -> str:
    """OpenAI's finish reason: ``tool_calls`` when the answer made calls."""
    return "tool_calls" if result.tool_calls else FINISH[result.finish_reason]


def chat_choice(env: Envelope, index: int, result: Result, scores: ChoiceScores, prompt: str) -> dict:
    content = result.answer.strip()
    message = {"role": "assistant", "content": content or (None if result.tool_calls else ""),
               **{name: result.thinking.strip() for name in env.reasoning}}
    if result.tool_calls:
        message["tool_calls"] = [call.to_openai() for call in result.tool_calls]
    logprobs = chat_logprobs(scores, env.reasoning) if env.logprobs else None
    return {"index": index, "message": message, "finish_reason": finish_of(result), "logprobs": logprobs}


def text_choice(env: Envelope, index: int, result: Result, scores: ChoiceScores, prompt: str) -> dict:
    logprobs = completion_logprobs(scores, echo=False, answer_only=True) if env.logprobs else None
    return {"index": index, "text": result.answer.strip(), **{name: result.thinking.strip() for name in env.reasoning},
            "finish_reason": FINISH[result.finish_reason], "logprobs": logprobs}


def raw_choice(env: Envelope, index: int, result: Result, scores: ChoiceScores, prompt: str) -> dict:
    """A plain continuation: the text exactly as generated, and the stop string that ended it (vLLM's ``stop_reason``)."""
    logprobs = completion_logprobs(scores, env.echo) if env.logprobs else None
    return {"index": index, "text": (prompt if env.echo else "") + result.answer,
            "finish_reason": FINISH[result.finish_reason], "logprobs": logprobs, "stop_reason": result.stopped_by}


def response(env: Envelope, outcome: Outcome, settings: ServerSettings, queue_seconds: float) -> dict:
    build = {"chat": chat_choice, "raw": raw_choice}.get(env.kind, text_choice)
    results = list(outcome.results)
    n = len(results) // max(1, len(outcome.prompts))
    choices = [build(env, i, r, scores_of(outcome, i), outcome.prompts[i // n] if outcome.prompts else "")
               for i, r in enumerate(results)]
    return {
        **env.head(),
        "choices": choices,
        "usage": usage(results, outcome.prompt_tokens),
        "ponder": ponder_details(results, outcome.prompt_tokens, settings, queue_seconds, outcome.turn),
    }


def scores_of(outcome: Outcome, index: int) -> ChoiceScores:
    return outcome.scores[index] if outcome.scores else ChoiceScores()


# streamed chunks

def delta_chunk(env: Envelope, index: int, phase: str | None, text, finish: str | None = None,
                scores: ChoiceScores | None = None) -> dict:
    """One choice's delta: the thinking under the reasoning names, the answer as ``content`` / ``text``.

    The chunk that ends a choice carries its log probabilities, all of them (clients join the lists).
    """
    logprobs = None
    if env.logprobs and scores is not None:
        if env.kind == "chat":
            logprobs = chat_logprobs(scores, env.reasoning)
        else:
            logprobs = completion_logprobs(scores, env.echo and env.kind == "raw", answer_only=env.kind == "text")
    if env.kind == "chat":
        delta: dict = {}
        if phase == "role":
            delta = {"role": "assistant", "content": ""}
        elif phase == "thinking":
            delta = {name: text for name in env.reasoning}
        elif phase == "tool_call":  # a whole call: ``text`` is the call, as {"index": k, "id"...} of OpenAI's delta
            delta = {"tool_calls": [text]}
        elif phase is not None:
            delta = {"content": text}
        choice = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": logprobs}
    else:
        choice = {"index": index, "text": text if phase in ("answer", "prompt") else "", "finish_reason": finish,
                  "logprobs": logprobs}
        if phase == "thinking":
            choice.update({name: text for name in env.reasoning})
    return {**env.head(streaming=True), "choices": [choice]}


def usage_chunk(env: Envelope, outcome: Outcome, settings: ServerSettings, queue_seconds: float) -> dict:
    """The last chunk when ``stream_options.include_usage`` is set: no choices, the usage and ``ponder``."""
    results = list(outcome.results)
    return {**env.head(streaming=True), "choices": [], "usage": usage(results, outcome.prompt_tokens),
            "ponder": ponder_details(results, outcome.prompt_tokens, settings, queue_seconds, outcome.turn)}
