"""Finding the end-of-thinking marker in the token stream, native or spelled in text."""

from __future__ import annotations

from functools import lru_cache

from .backends.base import Backend
from .formats import ThinkFormat
from .policies import Ending
from .result import Trace


class ModelVocab:
    """The policies' view of a model's vocabulary under a think format."""

    def __init__(self, backend: Backend, fmt: ThinkFormat) -> None:
        self.backend = backend
        self.format = fmt
        self.native_end = backend.special_id(fmt.end)
        self.end_ids = tuple(backend.tokenize(fmt.end))
        self.lead_ids = tuple(backend.tokenize(fmt.answer_lead))
        self.eos_ids = backend.eos_ids
        self.encode = lru_cache(maxsize=256)(self._encode)

    def _encode(self, text: str) -> tuple[int, ...]:
        return tuple(self.backend.tokenize(text))


class EndDetector:
    """Reports when the last sampled thinking tokens close the thinking.

    A native marker is one special token. A text marker such as "</think>" in a
    vocabulary without it spans several tokens, and may share its first or last
    token with other text: ``ending`` names how many trailing tokens form it,
    and ``leftover`` recovers text that came before it inside those tokens.
    """

    def __init__(self, backend: Backend, vocab: ModelVocab) -> None:
        self.detokenize = backend.detokenize
        self.encode = vocab.encode
        self.end = vocab.format.end
        self.native = vocab.native_end
        self.eos = vocab.eos_ids
        self.window = len(vocab.end_ids) + 2

    def ending(self, trace: Trace) -> Ending | None:
        ids = trace.ids
        if not ids:
            return None
        last = ids[-1]
        if last in self.eos:
            return Ending(1, eos=True)
        if trace.sources[-1] != "sampled":
            return None
        if self.native is not None:
            return Ending(1) if last == self.native else None
        if self.end[-1] not in self.detokenize([last]):
            return None
        for n in range(1, min(self.window, len(ids)) + 1):
            text = self.detokenize(ids[-n:])
            if self.end in text:
                before = text[: text.find(self.end)]
                return Ending(n, kept=self.encode(before) if before else ())
        return None

    def tail(self, trace: Trace) -> int:
        """How many trailing tokens spell a proper prefix of the marker (0 if none)."""
        if self.native is not None or not trace.ids:
            return 0
        ids = trace.ids[-self.window:]
        prefix = self._open_prefix(self.detokenize(ids))
        if not prefix:
            return 0
        for n in range(1, len(ids) + 1):
            if len(self.detokenize(ids[-n:])) >= len(prefix):
                return n
        return len(ids)

    def _open_prefix(self, text: str) -> str:
        for size in range(min(len(self.end) - 1, len(text)), 0, -1):
            if text.endswith(self.end[:size]):
                return self.end[:size]
        return ""
