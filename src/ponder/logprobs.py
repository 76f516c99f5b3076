"""Log probabilities of tokens: what the model gave each token at its position, and the likeliest alternatives.

The decoding loop fills a ``Scores`` only when asked (``logprobs=``): the forward passes then
return the logits of every position they evaluate, so a forced token carries the model's
log probability of that token just as a sampled one does. Values are the model's own
distribution (a log-softmax of the raw logits): temperature, top-p and bans do not change them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import PonderError
from .sampling import log_softmax, top_ids

MAX_TOP = 20  # alternatives per position, the most any API here returns


@dataclass(frozen=True)
class TokenLogprob:
    """A token, its log probability (natural log), and the ``top`` likeliest tokens there, likeliest first."""

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


def score(logits: np.ndarray, token: int, top: int) -> TokenLogprob:
    """The record for ``token`` drawn from the distribution after ``logits``."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64))
    best = top_ids(logp, top) if top else ()
    return TokenLogprob(int(token), float(logp[token]), tuple((int(i), float(logp[i])) for i in best))


def score_prompt(rows: np.ndarray, prompt: list[int], top: int) -> tuple[TokenLogprob | None, ...]:
    """Each prompt token's record from the logits after every prompt position; the first token has none."""
    return (None, *(score(rows[j - 1], prompt[j], top) for j in range(1, len(prompt))))


class Scores:
    """One record per completion position, kept in step with the trace (rewinds truncate it)."""

    def __init__(self, top: int) -> None:
        if not 0 <= top <= MAX_TOP:
            raise PonderError(f"top log probabilities must be between 0 and {MAX_TOP}, got {top}")
        self.top = top
        self.items: list[TokenLogprob | None] = []

    def set(self, position: int, logits: np.ndarray, token: int) -> None:
        if position >= len(self.items):
            self.items.extend([None] * (position + 1 - len(self.items)))
        self.items[position] = score(logits, token, self.top)

    def has(self, position: int) -> bool:
        return position < len(self.items) and self.items[position] is not None

    def truncate(self, keep: int) -> None:
        del self.items[keep:]

    def complete(self, length: int) -> bool:
        return all(self.has(i) for i in range(length))
