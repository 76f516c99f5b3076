"""The small protocol every steerable backend implements, and the KV-cache bookkeeping they share."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class Backend(Protocol):
    """A model the decoding loop can drive one forward pass at a time."""

    name: str
    path: str
    n_ctx: int
    n_vocab: int
    batch_rows: int  # rows per forward pass when batching, by default
    vocabs: dict  # the vocabulary under each think format, made once (``ponder.markers.model_vocab``)

    def tokenize(self, text: str) -> list[int]: ...  # special tokens parsed, no BOS added
    def prompt_ids(self, text: str) -> list[int]: ...  # as the model expects a prompt (BOS if it wants one)
    def detokenize(self, ids: Sequence[int]) -> str: ...  # special tokens rendered as text
    def special_id(self, text: str) -> int | None: ...  # the id if ``text`` is one special token
    @property
    def eos_ids(self) -> frozenset[int]: ...
    def chat_prompt(self, messages: list[dict], **options) -> str | None: ...  # None without a template
    # the logits after the last id; with all_positions=True after each id, one row per id (for log probabilities)
    def prefill(self, ids: Sequence[int], all_positions: bool = False) -> np.ndarray: ...
    def evaluate(self, ids: Sequence[int], all_positions: bool = False) -> np.ndarray: ...
    def truncate(self, n_keep: int) -> None: ...
    def plain_generate(self, ids: Sequence[int], n: int, reuse_prefix: bool = True) -> list[int]: ...
    def token_bytes(self, token: int) -> bytes | None: ...  # None for a token holding part of a character
    def grammar_tokenizer(self): ...  # the vocabulary as llguidance takes it (answers held to a grammar)
    def open_rows(self, capacity: int): ...  # batched rows (a ``ponder.batching.Rows``), None: one row at a time


class CachedSequence:
    """The tokens held in the KV cache, with prefix reuse across generations.

    Subclasses implement ``_forward`` (evaluate ids after the cached ones in one
    batch and return the last position's logits, or every position's when asked)
    and ``_drop`` (cut the cache back to ``n_keep`` tokens).
    """

    # Reusing the cached prefix of the previous sequence saves its prefill, but the
    # rest of the prompt then goes through the model in a batch of another shape,
    # which moves the logits in their last bits: greedy output may change with what
    # ran before. Off by default, so the same request always gives the same output.
    reuse_prefix = False
    batch_rows = 1

    def __init__(self) -> None:
        self.cached: list[int] = []
        self.vocabs: dict = {}
        self.forward_calls = 0
        self.evaluated_tokens = 0

    def prefill(self, ids: Sequence[int], all_positions: bool = False) -> np.ndarray:
        """Start a sequence and evaluate its prompt in one pass (after the reused prefix, if any)."""
        ids = list(ids)
        if not ids:
            raise ValueError("cannot prefill an empty prompt")
        reuse = self.reuse_prefix and not all_positions  # every position's logits: the whole prompt goes through
        keep = min(common_prefix(self.cached, ids), len(ids) - 1) if reuse else 0
        self.truncate(keep)
        return self.evaluate(ids[keep:], all_positions)

    def evaluate(self, ids: Sequence[int], all_positions: bool = False) -> np.ndarray:
        ids = list(ids)
        logits = self._forward(ids, all_positions=True) if all_positions else self._forward(ids)
        self.cached.extend(ids)
        self.forward_calls += 1
        self.evaluated_tokens += len(ids)
        return logits

    def truncate(self, n_keep: int) -> None:
        if n_keep < len(self.cached):
            self._drop(n_keep)
            del self.cached[n_keep:]

    def token_bytes(self, token: int) -> bytes | None:
        """The token's text as UTF-8; None for a token holding part of a character."""
        text = self.detokenize([token])
        return None if "\ufffd" in text else text.encode()

    def open_rows(self, capacity: int):
        return None  # decodes one row at a time

    def _forward(self, ids: list[int], all_positions: bool = False) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _drop(self, n_keep: int) -> None:  # pragma: no cover
        raise NotImplementedError


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
