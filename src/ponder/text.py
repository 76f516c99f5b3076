"""Incremental detokenization for streaming, safe across multi-byte characters."""

from __future__ import annotations

from typing import Callable, Sequence

from .policies import ANSWER, THINKING
from .trace import Trace


class IncrementalText:
    """Emits the text of a growing token run once it is stable (no partial UTF-8 at its end)."""

    def __init__(self, detokenize: Callable[[Sequence[int]], str], start: int = 0) -> None:
        self.detokenize = detokenize
        self.prefix = self.read = start

    def feed(self, ids: Sequence[int], stop: int) -> str:
        if stop <= self.read:
            return ""
        new = self.detokenize(ids[self.prefix:stop])
        if new.endswith("\ufffd"):
            return ""
        old = self.detokenize(ids[self.prefix:self.read])
        self.prefix, self.read = self.read, stop
        return new[len(old):]


class PhaseStreamer:
    """Sends text deltas per phase to ``on_text(phase, text)``, holding back a possible marker."""

    def __init__(self, backend, on_text: Callable[[str, str], None]) -> None:
        self.detokenize = backend.detokenize
        self.on_text = on_text
        self.thinking = IncrementalText(self.detokenize)
        self.answer: IncrementalText | None = None
        self.sent = {THINKING: "", ANSWER: ""}

    def update(self, trace: Trace, hold: int = 0) -> None:
        end = trace.thinking_end()
        self._send(THINKING, self.thinking.feed(trace.ids, min(end, len(trace.ids) - hold)))
        if trace.phase == ANSWER:
            if self.answer is None:
                self.answer = IncrementalText(self.detokenize, trace.answer_start)
            self._send(ANSWER, self.answer.feed(trace.ids, len(trace.ids) - hold))

    def flush(self, thinking: str, answer: str) -> None:
        """Send what is left of the final texts (held-back text, or none past a stop string)."""
        for phase, final in ((THINKING, thinking), (ANSWER, answer)):
            if final.startswith(self.sent[phase]):
                self._send(phase, final[len(self.sent[phase]):])

    def _send(self, phase: str, text: str) -> None:
        if text:
            self.sent[phase] += text
            self.on_text(phase, text)
