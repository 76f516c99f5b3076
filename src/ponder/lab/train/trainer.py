"""``ponder lab train``: a small Llama-style model trained from scratch on CPU, with checkpoints and resume.

The output folder is a Hugging Face model folder (config, weights, tokenizer), so
the transformers backend, every policy, the sweep and the server use it as is.
Batches are drawn from a generator seeded by the step number, so a resumed run
sees exactly the batches an uninterrupted one would have seen.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ...errors import PonderError
from .packing import pack
from .problems import COLUMN_TASKS, draw, make_task
from .traces import check_format, completion, prompt
from .vocab import IDS, TOKENS, encode, hf_tokenizer

CHECKPOINT = "checkpoint.pt"
RUN_ONLY = ("steps", "save_every", "threads")  # settings a resumed run may change
RECORD = "ponder-train.json"
CURVE_EVERY = 50  # steps per point of the recorded loss curve (the mean over those steps)


@dataclass(frozen=True)
class TrainConfig:
    """What to train; two runs into one folder must agree on all of it but ``steps``."""

    task: str = "addition"
    format: str = "cot"
    difficulty: int | None = None  # digits for addition/multiplication, n for 3sum
    steps: int = 3000
    batch: int = 64
    lr: float = 3e-3
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    seed: int = 0
    save_every: int = 250
    threads: int = 1  # a model this small gains little from more, and stalls badly when cores are shared

    def __post_init__(self) -> None:
        make_task(self.task, self.difficulty)  # raises on an unknown task
        if "recheck" in check_format(self.format) and self.task not in COLUMN_TASKS:
            raise PonderError(f"the recheck format checks columns: train it on {' or '.join(COLUMN_TASKS)}")
        if self.steps < 1:
            raise PonderError(f"--steps must be at least 1, got {self.steps}")
        if self.threads < 1:
            raise PonderError(f"--threads must be at least 1, got {self.threads}")
        if self.batch < 1 or self.hidden < 8 or self.layers < 1 or self.heads < 1 or self.hidden % self.heads:
            raise PonderError("batch, hidden, layers and heads must be positive, hidden divisible by heads")

    def model_shape(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in RUN_ONLY}


def model_config(cfg: TrainConfig, max_len: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(TOKENS), hidden_size=cfg.hidden, intermediate_size=3 * cfg.hidden,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
        max_position_embeddings=max_len, tie_word_embeddings=True, pad_token_id=IDS["<pad>"],
        eos_token_id=IDS["<eos>"], bos_token_id=None,
    )


def step_rows(cfg: TrainConfig, step: int) -> list[tuple[list[int], list[int]]]:
    """The (ids, labels) rows of one step's batch; labels are -100 where nothing is learned.

    Problems come from the training split only: no evaluation item is ever trained on.
    A batch mixes lengths as they come (batches of like lengths train worse); packing
    keeps the padding small.
    """
    task = make_task(cfg.task, cfg.difficulty)
    r = random.Random(f"{cfg.seed}:{step}")
    rows = []
    for _ in range(cfg.batch):
        problem = draw(task, r)
        ids = encode(prompt(problem))
        labels = [-100] * len(ids)
        for text, learned in completion(problem, cfg.format, r):
            piece = encode(text)
            ids += piece
            labels += piece if learned else [-100] * len(piece)
        rows.append((ids, labels))
    return rows


def batch_for(cfg: TrainConfig, step: int) -> dict:
    """The model's inputs for one step: its rows packed into as few as they fit."""
    return pack(step_rows(cfg, step), IDS["<pad>"])


def max_length(cfg: TrainConfig) -> int:
    longest = max(len(ids) for step in range(4) for ids, _ in step_rows(cfg, step))
    return 2 * longest + 64  # room for injected waits and long budgets at test time


def open_folder(out: Path, cfg: TrainConfig) -> None:
    """Refuse a folder that holds another model; record this run's settings."""
    out.mkdir(parents=True, exist_ok=True)
    record = out / RECORD
    if record.exists():
        saved = json.loads(record.read_text())["config"]
        if {k: v for k, v in saved.items() if k not in RUN_ONLY} != cfg.model_shape():
            raise PonderError(f"{out} holds another model ({saved['task']}/{saved['format']}): choose another --out")
        return
    if any(out.iterdir()):
        raise PonderError(f"{out} is not empty and holds no ponder training run: choose another --out")
    record.write_text(json.dumps({"config": asdict(cfg)}, indent=2))


def lr_at(cfg: TrainConfig, step: int) -> float:
    warm = min(100, cfg.steps // 10 + 1)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(1, cfg.steps - warm)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def save_checkpoint(out: Path, model, optimizer, step: int, curve: list) -> None:
    import torch

    tmp = out / (CHECKPOINT + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "curve": curve}, tmp)
    os.replace(tmp, out / CHECKPOINT)  # atomic: a kill leaves the old checkpoint or the new one


def train(cfg: TrainConfig, out: str | os.PathLike, progress: bool = True) -> dict:
    """Train (or resume) into ``out``; returns the final loss and timing."""
    import torch
    from tqdm import tqdm
    from transformers import LlamaForCausalLM

    out = Path(out)
    open_folder(out, cfg)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    config = model_config(cfg, max_length(cfg))
    model = LlamaForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.98))
    start, curve, window = 0, [], []  # curve: [step, mean loss] every CURVE_EVERY steps
    if (out / CHECKPOINT).exists():
        state = torch.load(out / CHECKPOINT, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, curve = state["step"], state.get("curve", [])
    record = json.loads((out / RECORD).read_text())
    if start >= cfg.steps and "result" in record and (out / "model.safetensors").exists():
        return record["result"]  # already trained this far
    model.train()
    loss_value, tokens, began = float("nan"), 0, time.perf_counter()
    with tqdm(total=cfg.steps, initial=start, unit="step", desc=f"train {cfg.task}/{cfg.format}",
              disable=not progress, dynamic_ncols=True) as bar:
        for step in range(start, cfg.steps):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(cfg, step)
            inputs = batch_for(cfg, step)
            loss = model(**inputs).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            loss_value, tokens = loss.item(), tokens + inputs["input_ids"].numel()
            window.append(loss_value)
            if (step + 1) % CURVE_EVERY == 0:
                curve, window = [*curve, [step + 1, round(sum(window) / len(window), 5)]], []
            bar.set_postfix(loss=f"{loss_value:.3f}")
            bar.update()
            if (step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps:
                save_checkpoint(out, model, optimizer, step + 1, curve)
    seconds = time.perf_counter() - began
    export(model, out)
    summary = {"final_loss": loss_value, "steps_run": cfg.steps - start, "seconds": round(seconds, 1),
               "tokens_per_second": round(tokens / seconds, 1) if seconds else None, "curve": curve}
    (out / RECORD).write_text(json.dumps({**record, "config": asdict(cfg), "result": summary}, indent=2))
    return summary


def export(model, out: Path) -> None:
    """Weights, config, tokenizer and generation settings: a folder transformers loads as it is."""
    from transformers import GenerationConfig

    model.eval()
    model.save_pretrained(out)
    hf_tokenizer().save_pretrained(out)
    GenerationConfig(eos_token_id=IDS["<eos>"], pad_token_id=IDS["<pad>"]).save_pretrained(out)
