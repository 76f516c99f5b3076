"""A 20-token synthetic vocabulary and a deterministic random 'model' over it, for policy tests.

The logits are a pure function of the tokens in the cache, like a real model's,
so a rewind followed by the same tokens gives the same logits. ``bias`` makes
the model write the end marker (and EOS) often, so endings happen in short runs.
"""

from __future__ import annotations

import zlib

import numpy as np

from ponder.backends.base import CachedSequence

TEXTS = ["<eos>", "a", "b", ".</", " ", "\n", "</", "think", ">", "Wait", ".", " ...", "Final", " Answer", ":",
         "Ok", ",", " so", "1", "2"]
EOS = 0
NATIVE_END = 20  # only in the native vocabulary: "</think>" as one special token


class SyntheticBackend(CachedSequence):
    name = "synthetic"
    path = "synthetic"

    def __init__(self, seed: int = 0, bias: float = 2.0, native: bool = False, n_ctx: int = 4096) -> None:
        super().__init__()
        self.seed, self.bias, self.native, self.n_ctx = seed, bias, native, n_ctx
        self.texts = TEXTS + (["</think>"] if native else [])
        self.n_vocab = len(self.texts)
        self.eos_ids = frozenset({EOS})

    def tokenize(self, text: str) -> list[int]:
        """Greedy longest match; raises on text the vocabulary cannot spell."""
        ids, i = [], 0
        order = sorted(range(len(self.texts)), key=lambda t: -len(self.texts[t]))
        while i < len(text):
            for t in order:
                if text.startswith(self.texts[t], i):
                    ids.append(t)
                    i += len(self.texts[t])
                    break
            else:
                raise ValueError(f"the synthetic vocabulary cannot spell {text[i:]!r}")
        return ids

    def prompt_ids(self, text: str) -> list[int]:
        return self.tokenize(text)

    def detokenize(self, ids) -> str:
        return "".join(self.texts[i] for i in ids)

    def special_id(self, text: str) -> int | None:
        return NATIVE_END if self.native and text == "</think>" else None

    def chat_prompt(self, messages, **options) -> None:
        return None

    def _forward(self, ids: list[int], all_positions: bool = False) -> np.ndarray:
        if all_positions:
            return np.stack([self.logits(self.cached + ids[:j + 1]) for j in range(len(ids))])
        return self.logits(self.cached + ids)

    def logits(self, context: list[int]) -> np.ndarray:
        key = zlib.crc32(np.asarray(context, dtype=np.int32).tobytes()) ^ self.seed
        logits = np.random.default_rng(key).normal(size=len(self.texts))
        last = context[-1]
        if self.native:
            logits[NATIVE_END] += self.bias
        elif last in (3, 6):  # "</" or ".</" (text before the marker in one token)
            logits[7] += 3 * self.bias
        elif last == 7 and context[-2:-1] in ([3], [6]):
            logits[8] += 3 * self.bias
        else:
            logits[6] += self.bias
            logits[3] += self.bias / 2
        logits[EOS] += self.bias / 2
        return logits.astype(np.float32)

    def _drop(self, n_keep: int) -> None:
        pass  # the logits depend only on the ids, so there is no state to cut

    def open_rows(self, capacity: int) -> "SyntheticRows":
        return SyntheticRows(self, capacity)


class SyntheticRows:
    """Batched rows over the synthetic model: each row's cache is its list of ids; one call per round."""

    can_copy = True

    def __init__(self, model: SyntheticBackend, capacity: int) -> None:
        self.model, self.capacity = model, capacity
        self.cached: list[list[int]] = [[] for _ in range(capacity)]
        self.forward_calls = 0

    def forward(self, work, all_positions=None):
        self.forward_calls += 1
        out = []
        for k, (row, ids) in enumerate(work):
            start = len(self.cached[row])
            self.cached[row] += ids
            if all_positions and all_positions[k]:
                out.append(np.stack([self.model.logits(self.cached[row][:start + j + 1]) for j in range(len(ids))]))
            else:
                out.append(self.model.logits(self.cached[row]))
        return out

    def truncate(self, row: int, n_keep: int) -> None:
        del self.cached[row][n_keep:]

    def copy(self, source: int, row: int, n_tokens: int) -> None:
        self.cached[row] = self.cached[source][:n_tokens]
        self.copies = getattr(self, "copies", 0) + 1

    def release(self, row: int) -> None:
        self.cached[row] = []

    def close(self) -> None:
        self.cached = [[] for _ in range(self.capacity)]
