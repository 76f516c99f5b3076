"""Batched transformers rows and the attention of each layer: a model with sliding-window layers, which the
per-row attention does not honour, decodes one row at a time, with a notice, and writes what it writes alone
(batched, its rows attended past the window). A tiny random Gemma 3 with a window of 4 tokens and Qwen3's
tokenizer, rows far longer."""

from __future__ import annotations

import logging
import shutil

import ponder
import qwen3_tiny
from ponder import Budget

PROMPTS = ["Hi", "What is 7 times 6? Think it through.", "Name a prime above 20, please.", "12 + 30"]


def gemma3_folder(tmp_path, **config) -> str:
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = qwen3_tiny.folder()
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(Gemma3TextConfig(
        vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=32, max_position_embeddings=512, bos_token_id=qwen3_tiny.ENDOFTEXT,
        eos_token_id=qwen3_tiny.IM_END, pad_token_id=qwen3_tiny.ENDOFTEXT, **config))
    model.save_pretrained(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(f"{tokenizer}/{name}", tmp_path / name)
    return str(tmp_path)


def alone_and_batched(path: str):
    backend = ponder.load_backend(path, "transformers")
    requests = [dict(prompt=p, thinking=Budget(min_tokens=12, max_tokens=12), max_tokens=24) for p in PROMPTS]
    alone = [ponder.generate(model=backend, **r) for r in requests]
    batched = dict(ponder.generate_many(requests, model=backend, batch_size=4))
    return backend, alone, [batched[i] for i in range(len(requests))]


def test_sliding_window_layers_decode_one_row_at_a_time(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ponder"):
        backend, alone, batched = alone_and_batched(gemma3_folder(
            tmp_path, sliding_window=4, layer_types=["sliding_attention", "full_attention"]))
        assert backend.open_rows(4) is None
    notices = [r for r in caplog.records if "sliding window of 4 tokens" in r.getMessage()]
    assert len(notices) == 1 and "one row at a time" in notices[0].getMessage()  # once, not at every batch
    assert all(a.usage.prompt_tokens > 8 and len(a.token_ids) == 24 for a in alone)  # rows longer than the window
    assert [b.token_ids for b in batched] == [a.token_ids for a in alone]


def test_full_attention_still_batches(tmp_path):
    backend, alone, batched = alone_and_batched(gemma3_folder(
        tmp_path, sliding_window=4, layer_types=["full_attention", "full_attention"]))
    assert backend.open_rows(4) is not None
    assert [b.token_ids for b in batched] == [a.token_ids for a in alone]
    assert ponder.load_backend(qwen3_tiny.folder(), "transformers").open_rows(4) is not None
