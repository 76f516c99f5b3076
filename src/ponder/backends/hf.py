"""Hugging Face transformers (PyTorch): an HF model folder, a hub id, or a GGUF file dequantised on load."""

from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np

from ..errors import PonderError
from .base import CachedSequence
from .placement import SPREAD, Placement, spread_or_one

logger = logging.getLogger("ponder.transformers")


class TransformersBackend(CachedSequence):
    name = "transformers"

    def __init__(self, path: str, n_ctx: int = 4096, threads: int | None = None,
                 placement: Placement | None = None) -> None:
        super().__init__()
        import torch

        self.torch = torch
        self.tokenizer, self.model = load(path, placement or Placement(), torch)
        self.device = self.model.get_input_embeddings().weight.device  # where a pass's ids go
        self.model.eval()
        self.warned_window = False
        self.batch_rows = 16 if self.device.type == "cpu" else 64  # rows per forward pass when batching, by default
        tiny = sum(p.numel() for p in self.model.parameters()) < 20_000_000
        if tiny:
            self.batch_rows = 256  # batching is nearly free: the main job makes 14 times the generations/s of 1 row
        from . import physical_cores

        self.threads = threads or physical_cores()
        # a tiny model's pass of a few tokens is too short to share among threads: it runs on one
        self.few_tokens_alone = tiny and threads is None
        torch.set_num_threads(self.threads_for(1))
        self.path = path
        limit = getattr(self.model.config, "max_position_embeddings", None) or n_ctx
        self.n_ctx = min(n_ctx, limit)
        self._eos = self._eos_ids()
        self.n_vocab = int(self.model.config.vocab_size)
        self._cache = None
        self._special: dict[str, int | None] = {}
        self._grammar_tokenizer = None
        # a fast tokenizer's Rust half decodes to the same text as transformers' wrapper, 3 times sooner
        self._rust = getattr(self.tokenizer, "backend_tokenizer", None)

    def threads_for(self, tokens: int) -> int:
        """Threads for a pass carrying ``tokens`` new tokens (8 rows of a tiny model already gain from two)."""
        return 1 if self.few_tokens_alone and tokens < 8 else self.threads

    def use_threads(self, tokens: int) -> None:
        wanted = self.threads_for(tokens)
        if self.torch.get_num_threads() != wanted:
            self.torch.set_num_threads(wanted)

    def _eos_ids(self) -> frozenset[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        ids.update(configured if isinstance(configured, (list, tuple)) else [configured])
        return frozenset(int(i) for i in ids if i is not None)

    # text

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def prompt_ids(self, text: str) -> list[int]:
        ids = self.tokenize(text)
        bos = self.tokenizer.bos_token_id
        wants_bos = getattr(self.tokenizer, "add_bos_token", False)
        return [bos, *ids] if wants_bos and bos is not None and ids[:1] != [bos] else ids

    def detokenize(self, ids: Sequence[int]) -> str:
        if self._rust is not None:
            return self._rust.decode(list(ids), skip_special_tokens=False)
        return self.tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def special_id(self, text: str) -> int | None:
        """The id if ``text`` is one special or added token (Qwen3's ``</think>`` is added, not special)."""
        if text not in self._special:  # asked for every prompt: the answer is worked out once per text
            ids = self.tokenize(text)
            special = set(self.tokenizer.all_special_ids) | set(self.tokenizer.added_tokens_decoder)
            self._special[text] = ids[0] if len(ids) == 1 and ids[0] in special else None
        return self._special[text]

    @property
    def eos_ids(self) -> frozenset[int]:
        return self._eos

    def grammar_tokenizer(self):
        """The vocabulary as llguidance takes it, made once (about 1 s for Qwen3's 152k tokens)."""
        if self._grammar_tokenizer is None:
            from llguidance.hf import from_tokenizer

            try:
                self._grammar_tokenizer = from_tokenizer(self.tokenizer, n_vocab=self.n_vocab, eos_token=sorted(self._eos))
            except ValueError as err:  # a slow tokenizer
                raise PonderError(f"this model's tokenizer cannot hold an answer to a grammar ({err})") from None
        return self._grammar_tokenizer

    def chat_prompt(self, messages: list[dict], **options) -> str | None:
        if not getattr(self.tokenizer, "chat_template", None):
            return None
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **options)

    # the KV cache

    def _forward(self, ids: list[int], all_positions: bool = False) -> np.ndarray:
        from transformers import DynamicCache

        if self._cache is None or not self.cached:
            self._cache = DynamicCache()
        self.use_threads(len(ids))
        with self.torch.inference_mode():
            out = self.model(input_ids=self.torch.tensor([ids], device=self.device), past_key_values=self._cache,
                             use_cache=True, logits_to_keep=0 if all_positions else 1)  # 0: every position
        self._cache = out.past_key_values
        logits = out.logits[0] if all_positions else out.logits[0, -1]
        return logits.float().cpu().numpy()  # the pass's one copy to the host

    def _drop(self, n_keep: int) -> None:
        if self._cache is not None:
            extra = self._cache.get_seq_length() - n_keep
            if extra > 0:
                self._cache.crop(-extra)  # a negative count removes that many (a positive size is deprecated)

    def open_rows(self, capacity: int):
        """Rows for batched decoding: ``capacity`` sequences sharing one forward pass, each in its own strip.

        None for a model that takes no attention but its own, or has sliding-window layers, which the rows'
        attention does not honour (it then decodes one row at a time).
        """
        from .hf_rows import StripRows, sliding_window, use_row_attention

        window = sliding_window(self.model.config)
        if window is not None:
            if not self.warned_window:  # once per model, not at every batch a server opens
                logger.warning("ponder: %s has layers that attend within a sliding window of %d tokens, which "
                               "batched rows do not honour: it decodes one row at a time", self.path, window)
                self.warned_window = True
            return None
        return StripRows(self, capacity) if use_row_attention(self.model) else None

    def plain_generate(self, ids: Sequence[int], n: int, reuse_prefix: bool = True) -> list[int]:
        """transformers' own greedy ``generate`` of ``n`` tokens (for baselines)."""
        with self.torch.inference_mode():
            out = self.model.generate(
                self.torch.tensor([list(ids)], device=self.device), max_new_tokens=n, min_new_tokens=n,
                do_sample=False, pad_token_id=self.tokenizer.eos_token_id,
            )
        self.cached, self._cache = [], None
        return out[0, len(ids):].tolist()


def load(path: str, placement: Placement, torch):
    """The tokenizer and the model, its weights on the device and in the type ``placement`` asks for."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, gguf = (os.path.dirname(path) or ".", os.path.basename(path)) if path.endswith(".gguf") else (path, None)
    device = placement.torch_device(torch)  # before anything is loaded: no GPU is one clear line
    dtype = placement.torch_dtype(torch, device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
        if device == SPREAD:
            device = spread_or_one(torch, AutoConfig.from_pretrained(folder, gguf_file=gguf), dtype)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=dtype,
                                                     device_map=None if device == "cpu" else device)
    except (OSError, ValueError) as err:
        raise PonderError(f"transformers could not load {path!r} ({err}): "
                          "pass a Hugging Face model folder or a GGUF file") from err
    except torch.OutOfMemoryError as err:
        kind = str(dtype).removeprefix("torch.")
        raise PonderError(f"{path!r} does not fit on {device} in {kind} ({err}): try --device auto (several GPUs), "
                          "a smaller --dtype, or a GGUF on llama.cpp with --gpu-layers") from err
    return tokenizer, model


def gguf_to_folder(gguf_path: str, out: str, dtype: str = "float32") -> str:
    """Write a GGUF model as a Hugging Face folder (weights dequantised), for engines that need one."""
    import copy

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.dirname(gguf_path) or ".", os.path.basename(gguf_path)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are plain tensors now; a GGUF config cannot be saved
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)
    return out
