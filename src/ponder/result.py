"""What a generation spent and produced: the token trace and the result object built from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .policies import ANSWER, END, THINKING, Injection

SAMPLED = "sampled"


@dataclass
class Trace:
    """The completion token by token: its id, its phase and who put it there."""

    ids: list[int] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # "sampled" or the injection reason
    injections: list[Injection] = field(default_factory=list)
    phase: str = THINKING
    thinking: int = 0
    answer: int = 0
    end_start: int | None = None
    answer_start: int | None = None
    capped: bool = False
    stopped_by: str | None = None  # the stop string that ended the answer
    finish_reason: str | None = None
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0

    def push_sampled(self, token: int) -> None:
        self._push(token, self.phase, SAMPLED)

    def push_forced(self, reason: str, ids, phase: str | None = None) -> None:
        phase = phase or self.phase
        if ids:
            self.injections.append(Injection(reason, len(self.ids), len(ids), phase))
        for token in ids:
            self._push(token, phase, reason)

    def _push(self, token: int, phase: str, source: str) -> None:
        self.ids.append(token)
        self.phases.append(phase)
        self.sources.append(source)
        self._count(phase, +1)

    def pop(self, n: int) -> None:
        keep = len(self.ids) - n
        for phase in self.phases[keep:]:
            self._count(phase, -1)
        del self.ids[keep:], self.phases[keep:], self.sources[keep:]
        self.injections = [
            inj if inj.start + inj.length <= keep else Injection(inj.reason, inj.start, keep - inj.start, inj.phase)
            for inj in self.injections if inj.start < keep
        ]

    def close_thinking(self, end_start: int, forced: bool) -> None:
        """Tokens from ``end_start`` on are the end marker; the answer starts after them."""
        for i in range(end_start, len(self.ids)):
            if self.phases[i] != END:
                self._count(self.phases[i], -1)
                self.phases[i] = END
        self.phase = ANSWER
        self.end_start, self.answer_start = end_start, len(self.ids)
        self.capped = forced

    def thinking_end(self) -> int:
        return len(self.ids) if self.end_start is None else self.end_start

    def _count(self, phase: str, delta: int) -> None:
        if phase == THINKING:
            self.thinking += delta
        elif phase == ANSWER:
            self.answer += delta


@dataclass(frozen=True)
class Usage:
    """Token counts by phase. Injected tokens count in the phase they were injected in."""

    prompt_tokens: int
    thinking_tokens: int
    thinking_injected: int
    marker_tokens: int
    answer_tokens: int
    answer_injected: int

    @property
    def thinking_sampled(self) -> int:
        return self.thinking_tokens - self.thinking_injected

    @property
    def answer_sampled(self) -> int:
        return self.answer_tokens - self.answer_injected

    @property
    def completion_tokens(self) -> int:
        return self.thinking_tokens + self.marker_tokens + self.answer_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "thinking_sampled": self.thinking_sampled,
            "answer_sampled": self.answer_sampled,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }

    @classmethod
    def from_trace(cls, trace: Trace, prompt_tokens: int) -> "Usage":
        def count(phase: str, injected: bool = False) -> int:
            return sum(
                1 for p, s in zip(trace.phases, trace.sources) if p == phase and (not injected or s != SAMPLED)
            )

        return cls(
            prompt_tokens=prompt_tokens,
            thinking_tokens=count(THINKING),
            thinking_injected=count(THINKING, injected=True),
            marker_tokens=count(END),
            answer_tokens=count(ANSWER),
            answer_injected=count(ANSWER, injected=True),
        )


def price(prompt_tokens: int, completion_tokens: int, price_input: float | None,
          price_output: float | None) -> float | None:
    """Dollars at prices per million tokens; thinking is billed as output. None when unpriced."""
    if price_input is None and price_output is None:
        return None
    return (prompt_tokens * (price_input or 0.0) + completion_tokens * (price_output or 0.0)) / 1e6


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
    )
