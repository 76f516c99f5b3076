"""A generation's completion token by token: each token's id, its phase and who put it there."""

from __future__ import annotations

from dataclasses import dataclass, field

from .policies import ANSWER, END, THINKING, Ending, Force, Injection, ProbeAnswer, View, Vocab

SAMPLED = "sampled"


@dataclass
class Trace:
    """The completion token by token: its id, its phase and who put it there."""

    ids: list[int] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # "sampled" or the injection reason
    injections: list[Injection] = field(default_factory=list)
    probes: list[ProbeAnswer] = field(default_factory=list)  # answers read mid-thought, cut back out of the trace
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
    cached_tokens: int = 0  # prompt tokens read from the prefix cache, not evaluated

    def push_sampled(self, token: int) -> None:
        self._push(token, self.phase, SAMPLED)

    def extend_sampled(self, tokens) -> None:
        """Sampled tokens in the current phase, all at once."""
        n = len(tokens)
        self.ids.extend(tokens)
        self.phases.extend([self.phase] * n)
        self.sources.extend([SAMPLED] * n)
        self._count(self.phase, n)

    def push_forced(self, reason: str, ids, phase: str | None = None) -> None:
        phase = phase or self.phase
        if ids:
            self.injections.append(Injection(reason, len(self.ids), len(ids), phase))
        for token in ids:
            self._push(token, phase, reason)

    def push_force(self, action: Force, longest: int | None = None) -> bool:
        """The forced parts of ``action`` (its rewind done by the caller), the trace held to ``longest`` tokens; an
        end part that fits whole closes the thinking. False where a part was cut short."""
        for part in action.parts:
            ids = part.ids if longest is None else part.ids[:longest - len(self.ids)]
            if part.reason == END:
                self.push_forced(END, ids, phase=END)
                if len(ids) == len(part.ids):
                    self.close_thinking(len(self.ids) - len(ids), capped=action.capped)
            else:
                self.push_forced(part.reason, ids)
            if len(ids) < len(part.ids):
                return False
        return True

    def view(self, vocab: Vocab, cap: int | None, ending: Ending | None = None, tail: int = 0,
             stats: tuple[float | None, float | None] = (None, None)) -> View:
        """What a policy sees of the trace; the thinking counted without a pending ending's tokens."""
        return View(vocab=vocab, phase=self.phase, tokens=self.ids,
                    thinking_tokens=self.thinking - (ending.tokens if ending else 0), answer_tokens=self.answer,
                    injections=self.injections, ending=ending, tail=tail, cap=cap, entropy=stats[0],
                    varentropy=stats[1], probes=tuple(self.probes))

    def _push(self, token: int, phase: str, source: str) -> None:
        self.ids.append(token)
        self.phases.append(phase)
        self.sources.append(source)
        self._count(phase, +1)

    def pop(self, n: int) -> None:
        """Drop the last ``n`` tokens; dropping (part of) the end marker opens the thinking again."""
        keep = len(self.ids) - n
        for phase in self.phases[keep:]:
            self._count(phase, -1)
        del self.ids[keep:], self.phases[keep:], self.sources[keep:]
        self.injections = [
            inj if inj.start + inj.length <= keep else Injection(inj.reason, inj.start, keep - inj.start, inj.phase)
            for inj in self.injections if inj.start < keep
        ]
        if self.answer_start is not None and keep < self.answer_start:
            self._reopen_thinking()

    def _reopen_thinking(self) -> None:
        """The thinking goes on: what is left of a cut end marker is thinking again."""
        for i in range(self.end_start, len(self.ids)):
            self.phases[i] = THINKING
            self._count(THINKING, +1)
        self.phase = THINKING
        self.end_start = self.answer_start = None
        self.capped = False

    def close_thinking(self, end_start: int, capped: bool) -> None:
        """Tokens from ``end_start`` on are the end marker; the answer starts after them (``capped``: at the cap)."""
        for i in range(end_start, len(self.ids)):
            if self.phases[i] != END:
                self._count(self.phases[i], -1)
                self.phases[i] = END
        self.phase = ANSWER
        self.end_start, self.answer_start = end_start, len(self.ids)
        self.capped = capped

    @property
    def probe_tokens(self) -> int:
        """Tokens the probes wrote and the loop cut back out: compute spent, in no phase."""
        return sum(p.tokens for p in self.probes)

    def thinking_end(self) -> int:
        return len(self.ids) if self.end_start is None else self.end_start

    def _count(self, phase: str, delta: int) -> None:
        if phase == THINKING:
            self.thinking += delta
        elif phase == ANSWER:
            self.answer += delta
