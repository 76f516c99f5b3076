"""What a generation produced: the result object, built from its trace."""

from __future__ import annotations

from dataclasses import dataclass

from .trace import Trace
from .usage import Usage


@dataclass(frozen=True)
class Result:
    """One generation: its text split into thinking and answer, what it cost and how it ended."""

    prompt: str
    completion: str
    thinking: str
    answer: str
    usage: Usage
    waits: int
    capped: bool
    finish_reason: str
    prefill_seconds: float
    decode_seconds: float
    injections: tuple[dict, ...]
    token_ids: tuple[int, ...]
    token_phases: tuple[str, ...]
    token_sources: tuple[str, ...]
    stopped_by: str | None = None  # the stop string that ended the answer, if one did
    logprobs: tuple | None = None  # per completion token a ponder.logprobs.TokenLogprob, when asked for
    prompt_logprobs: tuple | None = None  # per prompt token (None for the first), when asked for
    probes: tuple = ()  # adaptive thinking's probes, each a ponder.policies.ProbeAnswer (at, text, tokens)
    turn: dict | None = None  # a turn budget's account: spent before, spent with this generation, remaining
    tool_calls: tuple = ()  # the calls read from the answer, each a ponder.ToolCall (the answer is the text around them)

    @property
    def tokens_per_second(self) -> float:
        return self.usage.completion_tokens / self.decode_seconds if self.decode_seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "thinking": self.thinking,
            "answer": self.answer,
            "usage": self.usage.to_dict(),
            "waits": self.waits,
            "capped": self.capped,
            "finish_reason": self.finish_reason,
            "prefill_seconds": round(self.prefill_seconds, 4),
            "decode_seconds": round(self.decode_seconds, 4),
            "tokens_per_second": round(self.tokens_per_second, 2),
            "injections": list(self.injections),
            "probes": [{"at": p.at, "answer": p.text, "tokens": p.tokens} for p in self.probes],
            **({"tool_calls": [c.to_openai() for c in self.tool_calls]} if self.tool_calls else {}),
            **({"turn": self.turn} if self.turn else {}),
            "prompt": self.prompt,
            "completion": self.completion,
        }


def build_result(trace: Trace, detokenize, prompt: str, prompt_tokens: int, end_marker: str) -> Result:
    """Split the completion at the end marker; text sharing a token with the marker stays on its side."""
    ids = trace.ids
    thinking = detokenize(ids[: trace.thinking_end()])
    answer = ""
    if trace.end_start is not None:
        marker = detokenize(ids[trace.end_start : trace.answer_start])
        at = marker.find(end_marker)
        if at >= 0:
            thinking += marker[:at]
            answer = marker[at + len(end_marker):]
        answer += detokenize(ids[trace.answer_start:])
        if trace.stopped_by:  # the answer ends before the stop string its last token completed
            answer = answer[: answer.rfind(trace.stopped_by)]
    injections = tuple(
        {"reason": i.reason, "phase": i.phase, "start": i.start, "length": i.length,
         "text": detokenize(ids[i.start : i.start + i.length])}
        for i in trace.injections
    )
    return Result(
        prompt=prompt,
        completion=detokenize(ids),
        thinking=thinking,
        answer=answer,
        usage=Usage.from_trace(trace, prompt_tokens),
        waits=sum(1 for i in trace.injections if i.reason == "wait"),
        capped=trace.capped,
        finish_reason=trace.finish_reason or "length",
        prefill_seconds=trace.prefill_seconds,
        decode_seconds=trace.decode_seconds,
        injections=injections,
        token_ids=tuple(ids),
        token_phases=tuple(trace.phases),
        token_sources=tuple(trace.sources),
        stopped_by=trace.stopped_by,
        probes=tuple(trace.probes),
    )
