"""Log probabilities made ready for a response: each token's text and bytes, on the worker thread.

The worker owns the backend, so token texts are rendered there, when a job finishes; the
responses then only arrange them in each API's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..result import Result

PROMPT = "prompt"


@dataclass(frozen=True)
class Alternative:
    text: str
    bytes: list[int] | None
    logprob: float


@dataclass(frozen=True)
class Scored:
    """One token as a response shows it: text, UTF-8 bytes, log probability (None for a prompt's first), phase."""

    text: str
    bytes: list[int] | None
    logprob: float | None
    top: tuple[Alternative, ...]
    phase: str  # "prompt", "thinking", "end" (the marker) or "answer"


@dataclass(frozen=True)
class ChoiceScores:
    prompt: tuple[Scored, ...] = ()  # with echo
    completion: tuple[Scored, ...] = ()


class TokenTexts:
    """A backend's token texts and bytes, cached (the same alternatives come up again and again)."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.piece = lru_cache(maxsize=4096)(self._piece)

    def _piece(self, token: int) -> tuple[str, list[int] | None]:
        text = self.backend.detokenize([token])
        raw = self.backend.token_bytes(token)
        return text, None if raw is None else list(raw)

    def scored(self, token: int, record, phase: str) -> Scored:
        text, raw = self.piece(token)
        if record is None:
            return Scored(text, raw, None, (), phase)
        top = tuple(Alternative(*self.piece(t), lp) for t, lp in record.top)
        return Scored(text, raw, record.logprob, top, phase)


def choice_scores(texts: TokenTexts, result: Result, prompt_ids: list[int]) -> ChoiceScores:
    prompt = ()
    if result.prompt_logprobs is not None:
        prompt = tuple(texts.scored(t, r, PROMPT) for t, r in zip(prompt_ids, result.prompt_logprobs))
    completion = ()
    if result.logprobs is not None:
        completion = tuple(texts.scored(t, r, phase) for t, r, phase in
                           zip(result.token_ids, result.logprobs, result.token_phases))
    return ChoiceScores(prompt, completion)
