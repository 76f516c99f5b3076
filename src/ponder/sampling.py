"""Sampling settings and a numpy sampler shared by every steerable backend."""

from __future__ import annotations

from .errors import PonderError

from dataclasses import dataclass

import numpy as np

LN2 = float(np.log(2.0))
GREEDY_BELOW = 1e-5  # temperatures under this sample greedily (vLLM's threshold too)


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen. ``temperature=0`` is greedy; same seed, same output."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise PonderError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise PonderError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise PonderError(f"top_k must be >= 0 (0 = off), got {self.top_k}")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def entropy_stats(logits: np.ndarray) -> tuple[float, float]:
    """Entropy and varentropy of the next-token distribution, in bits."""
    logp = log_softmax(logits.astype(np.float64)) / LN2
    p = np.exp2(logp)
    entropy = float(-(p * logp).sum())
    varentropy = float((p * (logp + entropy) ** 2).sum())
    return entropy, varentropy


class Sampler:
    def __init__(self, settings: Sampling) -> None:
        self.settings = settings
        self._rng: np.random.Generator | None = None

    @property
    def rng(self) -> np.random.Generator:
        """Made at the first draw: a greedy generation, the common case in a batch, never pays for one."""
        if self._rng is None:
            self._rng = np.random.default_rng(self.settings.seed)
        return self._rng

    def choose(self, logits: np.ndarray, banned: frozenset[int] = frozenset()) -> int:
        if banned:
            logits = logits.copy()
            logits[list(banned)] = -np.inf
        if self.settings.temperature < GREEDY_BELOW:  # dividing by a tinier one overflows to NaN
            return int(logits.argmax())
        ids, probs = self._candidates(logits / self.settings.temperature)
        return int(ids[self.rng.choice(len(ids), p=probs)])

    def _candidates(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ids that survive top-k and top-p, with their renormalised probabilities."""
        s = self.settings
        probs = np.exp(log_softmax(logits.astype(np.float64)))
        k = min(s.top_k or len(probs), len(probs))
        if s.top_p < 1:
            # Grow a sorted head until it holds top_p of the mass: exact, without sorting all ids.
            head = min(64, k)
            while True:
                ids = top_ids(probs, head)
                if probs[ids].sum() >= s.top_p or head >= k:
                    break
                head = min(head * 4, k)
            cumulative = np.cumsum(probs[ids])
            ids = ids[: int(np.searchsorted(cumulative, s.top_p)) + 1]
        elif k < len(probs):
            ids = top_ids(probs, k)
        else:
            ids = np.arange(len(probs))
        kept = probs[ids]
        return ids, kept / kept.sum()


def top_ids(probs: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` most likely ids, most likely first."""
    if k >= len(probs):
        ids = np.arange(len(probs))
    else:
        ids = np.argpartition(-probs, k - 1)[:k]
    return ids[np.argsort(-probs[ids], kind="stable")]
