"""llama.cpp through llama-cpp-python: the embedded default backend."""

from __future__ import annotations

import atexit
import warnings
import os
from contextlib import contextmanager
from typing import Sequence

import numpy as np

from ..errors import PonderError
from .base import CachedSequence
from .placement import Placement


def has_amx() -> bool:
    """Whether the CPU has Intel AMX (Linux: its flags in /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as info:
            return any(line.startswith("flags") and "amx_int8" in line.split() for line in info)
    except OSError:
        return False


@contextmanager
def model_defaults(llama_cpp, **fields):
    """llama.cpp's default model parameters with ``fields`` changed, while a ``Llama`` is made (its constructor
    takes no argument for some of them).

    Used for ``use_extra_bufts`` on CPUs with AMX: there llama.cpp repacks the weights for its AMX matrix
    multiply, which segfaults in decoding (measured on a Xeon with AMX, SmolLM2 Q4_1; llama.cpp issue #20824).
    """
    api = llama_cpp.llama_cpp
    original = api.llama_model_default_params

    def changed():
        params = original()
        for name, value in fields.items():
            setattr(params, name, value)
        return params

    api.llama_model_default_params = changed
    try:
        yield
    finally:
        api.llama_model_default_params = original


def open_llama(path: str, **options):
    """``llama_cpp.Llama(path, **options)``, without the AMX weight repack on CPUs that have AMX."""
    import llama_cpp

    with model_defaults(llama_cpp, use_extra_bufts=not has_amx()):
        return llama_cpp.Llama(path, **options)


class LlamaCppBackend(CachedSequence):
    name = "llama.cpp"

    def __init__(self, path: str, n_ctx: int = 4096, threads: int | None = None,
                 placement: Placement | None = None) -> None:
        super().__init__()
        import llama_cpp

        from . import physical_cores

        placement = placement or Placement()
        self.gpu_layers = placement.llama_layers(bool(llama_cpp.llama_supports_gpu_offload()))
        gpu = {} if placement.main_gpu is None else dict(main_gpu=placement.main_gpu,
                                                         split_mode=llama_cpp.LLAMA_SPLIT_MODE_NONE)

        # The same count for prompt batches as for decoding: more batch threads than free cores
        # make a prefill dozens of times slower as soon as another process is busy.
        threads = threads or physical_cores()
        try:
            # flash attention, as llama.cpp's own server has it by default (measured here: 99 -> 106 tokens/s for
            # one sequence, 141 -> 194 for 8 in one context)
            self.llm = open_llama(path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, flash_attn=True,
                                  n_gpu_layers=self.gpu_layers, verbose=False, **gpu)
        except (ValueError, RuntimeError) as err:
            raise PonderError(f"llama.cpp could not load {path!r} ({err}): pass a GGUF model file") from err
        self._api = llama_cpp
        self.threads = threads
        self.batch_rows = 8  # rows per forward pass when batching, by default: a CPU gains little past 8
        self.path = path
        self.n_ctx = min(n_ctx, self.llm.n_ctx())  # llama.cpp may round its context up; its buffers are not
        self.n_vocab = self.llm.n_vocab()
        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self._eos = frozenset(i for i in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, i))
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        self._grammar_tokenizer = None
        atexit.register(self.llm.close)  # freeing it during interpreter shutdown prints a spurious error

    # text

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=True)

    def prompt_ids(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=self._add_bos, special=True)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.llm.detokenize(list(ids), special=True).decode("utf-8", errors="replace")

    def special_id(self, text: str) -> int | None:
        """The id if ``text`` is one control or added token (Qwen3's ``</think>`` is added, not control)."""
        ids = self.tokenize(text)
        if len(ids) != 1:
            return None
        api = self._api
        attr = api.llama_vocab_get_attr(api.llama_model_get_vocab(self.llm.model), ids[0])
        return ids[0] if attr & (api.LLAMA_TOKEN_ATTR_CONTROL | api.LLAMA_TOKEN_ATTR_USER_DEFINED) else None

    def token_bytes(self, token: int) -> bytes:
        return self.llm.detokenize([token], special=True)

    def grammar_tokenizer(self):
        """The vocabulary as llguidance takes it, made once (about 0.3 s for SmolLM2's 49k tokens)."""
        if self._grammar_tokenizer is None:
            from llguidance.llamacpp import lltokenizer_from_vocab

            vocab = self._api.llama_model_get_vocab(self.llm.model)
            with warnings.catch_warnings():  # it reads each token's kind by a name llama-cpp-python calls deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                self._grammar_tokenizer = lltokenizer_from_vocab(vocab, n_vocab=self.n_vocab,
                                                                 eos_token=sorted(self._eos))
        return self._grammar_tokenizer

    @property
    def eos_ids(self) -> frozenset[int]:
        return self._eos

    def chat_prompt(self, messages: list[dict], **options) -> str | None:
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        eos = self.llm.detokenize([self.llm.token_eos()], special=True).decode(errors="replace")
        bos = self.llm.detokenize([self.llm.token_bos()], special=True).decode(errors="replace")
        formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        return formatter(messages=messages, **options).prompt

    # the KV cache

    def _forward(self, ids: list[int], all_positions: bool = False) -> np.ndarray:
        self.llm.n_tokens = len(self.cached)
        if all_positions:
            return self._forward_every(ids)
        self.llm.eval(ids)
        row = self._api.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(self.n_vocab,)).copy()

    def _forward_every(self, ids: list[int]) -> np.ndarray:
        """``Llama.eval`` with logits kept at every position (it keeps them only when loaded with logits_all)."""
        llm, rows = self.llm, []
        llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
        for i in range(0, len(ids), llm.n_batch):
            chunk, past = ids[i:i + llm.n_batch], llm.n_tokens
            llm._batch.set_batch(batch=chunk, n_past=past, logits_all=True)
            llm._ctx.decode(llm._batch)
            llm.input_ids[past:past + len(chunk)] = chunk
            llm.n_tokens += len(chunk)
            logits = self._api.llama_get_logits(llm._ctx.ctx)
            rows.append(np.ctypeslib.as_array(logits, shape=(len(chunk), self.n_vocab)).copy())
        llm._requires_eval = False
        return np.concatenate(rows)

    def _drop(self, n_keep: int) -> None:
        self.llm._ctx.kv_cache_seq_rm(-1, n_keep, -1)
        self.llm.n_tokens = n_keep
        self.llm._requires_eval = True  # its logits no longer match its tokens

    def open_rows(self, capacity: int, tokens_per_row: int | None = None) -> "SeqRows":
        """Rows for batched decoding: ``capacity`` sequences in one llama.cpp context, one ``llama_decode`` a round."""
        return SeqRows(self, capacity, tokens_per_row or self.n_ctx)

    def plain_generate(self, ids: Sequence[int], n: int, reuse_prefix: bool = True) -> list[int]:
        """llama-cpp-python's own greedy generation of ``n`` tokens (for baselines)."""
        if not reuse_prefix:
            self.llm.reset()
        out = []
        for token in self.llm.generate(list(ids), top_k=1, temp=0.0, reset=True):
            out.append(token)
            if len(out) == n:
                break
        self.cached = self.llm.input_ids[: self.llm.n_tokens].tolist()
        return out


class SeqRows:
    """``capacity`` sequences in one llama.cpp context: a row is a sequence id with its own stream of cache cells.

    A round is one ``llama_batch`` holding every row's new tokens, each with its
    sequence id and position, and logits asked for at each row's last token.
    """

    can_copy = True

    def __init__(self, backend: LlamaCppBackend, capacity: int, tokens_per_row: int) -> None:
        api = self.api = backend._api
        params = api.llama_context_params.from_buffer_copy(backend.llm.context_params)  # the single context's
        params.n_ctx = params.n_batch = capacity * tokens_per_row
        params.n_ubatch = min(512, params.n_batch)
        params.n_seq_max = capacity
        params.n_threads = params.n_threads_batch = backend.threads
        # Each row its own stream of cells: its attention sees its own keys only, laid out as in a single
        # context, so a row's logits do not depend on what the other rows hold. The rest as in the single
        # context (attention kernels, cache types), so batched rows compute what one sequence computes.
        params.kv_unified = False
        from llama_cpp._utils import suppress_stdout_stderr

        with suppress_stdout_stderr(disable=False):  # llama.cpp's notes on the new context, as for the model's own
            self.ctx = api.llama_init_from_model(backend.llm.model, params)
        if not self.ctx:
            raise PonderError(f"llama.cpp could not make a context for {capacity} rows of {tokens_per_row} tokens: "
                              "ask for fewer rows or a smaller context")
        self.memory = api.llama_get_memory(self.ctx)
        self.batch = api.llama_batch_init(params.n_batch, 0, 1)
        self.capacity, self.n_vocab, self.size = capacity, backend.n_vocab, tokens_per_row
        self.lengths = [0] * capacity
        atexit.register(self.close)

    def forward(self, work, all_positions=None) -> list[np.ndarray]:
        """The logits after each row's last id; for the rows ``all_positions`` flags, after each of its ids."""
        batch, spans, n = self.batch, [], 0
        for k, (row, ids) in enumerate(work):
            wants_all = bool(all_positions and all_positions[k])
            for j, token in enumerate(ids):
                batch.token[n], batch.pos[n], batch.n_seq_id[n] = token, self.lengths[row] + j, 1
                batch.seq_id[n][0], batch.logits[n] = row, wants_all or j == len(ids) - 1
                n += 1
            self.lengths[row] += len(ids)
            spans.append(range(n - len(ids), n) if wants_all else n - 1)
        batch.n_tokens = n
        status = self.api.llama_decode(self.ctx, batch)
        if status != 0:
            raise PonderError(f"llama.cpp could not evaluate a batch of {n} tokens (status {status}): a row "
                              f"would hold more than its {self.size} tokens of context")
        return [np.stack([self._logits(i) for i in span]) if isinstance(span, range) else self._logits(span)
                for span in spans]

    def _logits(self, index: int) -> np.ndarray:
        return np.ctypeslib.as_array(self.api.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,)).copy()

    def truncate(self, row: int, n_keep: int) -> None:
        if n_keep < self.lengths[row]:
            self.api.llama_memory_seq_rm(self.memory, row, n_keep, -1)
            self.lengths[row] = n_keep

    def copy(self, source: int, row: int, n_tokens: int) -> None:
        """The source's first tokens copied into the (empty) row: a whole stream, then cut to ``n_tokens``."""
        self.api.llama_memory_seq_cp(self.memory, source, row, -1, -1)  # streams copy only whole
        self.lengths[row] = self.lengths[source]
        self.truncate(row, n_tokens)

    def release(self, row: int) -> None:
        self.truncate(row, 0)

    def close(self) -> None:
        """Free the context (its KV cache is the big part); the model stays loaded."""
        if self.ctx:
            atexit.unregister(self.close)
            self.api.llama_batch_free(self.batch)
            self.api.llama_free(self.ctx)
            self.ctx = None


def is_gguf(path: str) -> bool:
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return f.read(4) == b"GGUF"
