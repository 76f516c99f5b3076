"""The GPU check: ponder's controlled decoding against transformers' own ``generate`` on one GPU.

Run: ``.venv/bin/python bench/gpu.py`` on a machine with a CUDA GPU (at most about 8 minutes, no
download, no network). ``--device cpu --quick`` runs the same logic on small sizes, to check it end
to end where there is no GPU (the figures then say nothing about a GPU and meet no target).

Models, each loaded by ``ponder.load_backend`` with ``--dtype auto`` (bfloat16 on a GPU that has it):

- ponder-tiny, which ships in the package;
- the tiny Qwen3 the tests build in ``.cache/qwen3-tiny`` (``tests/qwen3_tiny.py``), skipped when absent;
- a model of a real size: Qwen3-1.7B's shape (``Qwen3Config`` with its dims), random weights in
  bfloat16, saved to a temporary folder with the tiny Qwen3's tokenizer (ponder-tiny's when that is
  absent, with the vocabulary cut to it). ``--quick`` shrinks it.

Figures, each printed with its target:

1. controlled / plain at batch 1: ``ponder.generate`` with a budget, seconds per token, against
   transformers' greedy ``model.generate`` of as many tokens. Target <= 1.10.
2. the same at batch 64: ``ponder.generate_many`` (64 rows) against ``model.generate`` on a batch of 64.
   Target <= 1.10.
3. the batched loop's rows/s at 1, 16 and 64 rows (``generate_many``, one generation per row). Target:
   64 rows >= 20x one row.
4. budgets exact: every generation above thinks exactly its budget (``Budget(min_tokens=b, max_tokens=b)``).
5. the vLLM plugin's batch check on this device's logits (no vLLM needed): ``SteeredBatch.apply`` for rows
   with a budget that never triggers, at 8, 64 and 256 rows of the tiny Qwen3's width (bench/vllm.py's case
   (a), there timed on the CPU), per row per step, and what it adds to a GPU decode step. No target: the
   issue's <= 5 us is for the plugin inside vLLM.

Exit status: 0 when every budget is exact and (on a GPU, full sizes) every target is met; 1 otherwise;
2 when no CUDA device is there.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded: every model is local or built here
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
QWEN3_TINY = ROOT / ".cache" / "qwen3-tiny" / "hf"
# Qwen3-1.7B's dimensions (its config.json)
QWEN3_1_7B = dict(vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                  num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
                  rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
QUICK_SHAPE = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, head_dim=32)
PROMPT = "What is 17 times 23? Think it through."


@dataclass(frozen=True)
class Sizes:
    budget: int  # thinking tokens every generation spends, exactly
    tokens: int  # completion limit (budget, wrap-up and answer)
    rows: tuple[int, ...]  # the batched loop's row counts; the last is figure 2's batch


FULL, QUICK = Sizes(96, 128, (1, 16, 64)), Sizes(16, 24, (1, 4, 8))


class Report:
    def __init__(self, targets: bool) -> None:
        self.targets, self.failed = targets, []

    def figure(self, name: str, value: float, target: str, ok: bool, unit: str = "") -> None:
        verdict = ("meets" if ok else "MISSES") if self.targets else "(no target off a GPU at full size)"
        print(f"  {name}: {value:.2f}{unit}  target {target}  {verdict}", flush=True)
        if self.targets and not ok:
            self.failed.append(name)

    def exact(self, name: str, thinking: list[int], budget: int) -> None:
        ok = all(t == budget for t in thinking)
        print(f"  budgets exact ({name}): {sum(t == budget for t in thinking)}/{len(thinking)} think {budget} "
              f"tokens{'' if ok else f' (got {sorted(set(thinking))})'}", flush=True)
        if not ok:
            self.failed.append(f"budgets ({name})")


def controlled(backend, rows: int, sizes: Sizes):
    """``rows`` generations with an exact budget: (seconds, completion tokens, thinking tokens of each)."""
    import ponder

    thinking = ponder.Budget(min_tokens=sizes.budget, max_tokens=sizes.budget)
    start = time.perf_counter()
    if rows == 1:
        results = [ponder.generate(PROMPT, model=backend, thinking=thinking, max_tokens=sizes.tokens)]
    else:
        requests = [dict(prompt=PROMPT, thinking=thinking, max_tokens=sizes.tokens) for _ in range(rows)]
        results = [r for _, r in ponder.generate_many(requests, model=backend, batch_size=rows)]
    seconds = time.perf_counter() - start
    return seconds, sum(r.usage.completion_tokens for r in results), [r.usage.thinking_tokens for r in results]


def plain(backend, rows: int, tokens: int) -> float:
    """Seconds for transformers' greedy ``generate`` of ``tokens`` tokens on a batch of ``rows`` copies."""
    torch = backend.torch
    ids = backend.prompt_ids(ponder_prompt(backend))
    batch = torch.tensor([ids] * rows, device=backend.device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = backend.model.generate(batch, attention_mask=torch.ones_like(batch), max_new_tokens=tokens,
                                     min_new_tokens=tokens, do_sample=False,
                                     pad_token_id=backend.tokenizer.eos_token_id)
    out.cpu()
    seconds = time.perf_counter() - start
    backend.cached, backend._cache = [], None
    assert out.shape == (rows, len(ids) + tokens)
    return seconds


def ponder_prompt(backend) -> str:
    """The prompt text ``ponder.generate`` builds for ``PROMPT`` (the same tokens for both sides)."""
    from ponder.api import build_prompt
    from ponder.formats import get_format

    return build_prompt(backend, PROMPT, get_format("think"))


def check_model(name: str, backend, sizes: Sizes, report: Report, timed: bool) -> None:
    print(f"{name}: {backend.path} on {backend.device}, {str(backend.model.dtype).removeprefix('torch.')}, "
          f"{sum(p.numel() for p in backend.model.parameters()) / 1e6:.1f}M parameters", flush=True)
    thinking = []
    if timed:
        for rows in (1, sizes.rows[-1]):  # warm up: the first passes of a shape pay for setting up their kernels
            controlled(backend, rows, sizes)
            plain(backend, rows, 4)
        for rows, label in ((1, "batch 1"), (sizes.rows[-1], f"batch {sizes.rows[-1]}")):
            seconds, tokens, spent = controlled(backend, rows, sizes)
            thinking += spent
            per_token = seconds / tokens
            base = plain(backend, rows, sizes.tokens) / (rows * sizes.tokens)
            report.figure(f"controlled / plain generate, {label}", per_token / base, "<= 1.10",
                          per_token / base <= 1.10)
            print(f"    ponder {1 / per_token:.0f} tokens/s, transformers {1 / base:.0f} tokens/s", flush=True)
        rates = {}
        for rows in sizes.rows:
            seconds, _, spent = controlled(backend, rows, sizes)
            thinking += spent
            rates[rows] = rows / seconds
            print(f"  batched loop, {rows} row(s): {rates[rows]:.2f} rows/s", flush=True)
        top = sizes.rows[-1]
        report.figure(f"rows/s at {top} rows / 1 row", rates[top] / rates[1], ">= 20", rates[top] / rates[1] >= 20,
                      "x")
    else:
        for rows in (1, sizes.rows[-1]):
            thinking += controlled(backend, rows, sizes)[2]
    report.exact(name, thinking, sizes.budget)


def plugin_check(device: str) -> None:
    """Figure 5: the plugin's per-step batch check (bench/vllm_batches.py's ``check_alone``) on ``device``."""
    sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "tests" / "vllm_tests")]
    from vllm_batches import GPU_STEPS_MS, SIZES, check_alone

    print(f"the vLLM plugin's batch check on {device} logits (a budget that never triggers), 200 steps:", flush=True)
    check_alone(SIZES[0], steps=20, fresh=True, device=device)  # warm up: the first launches set up kernels
    for rows in SIZES:
        per_row = check_alone(rows, fresh=True, device=device)
        share = ", ".join(f"{per_row * rows / 1000 / ms:.1%} of a {ms:g} ms step" for ms in GPU_STEPS_MS)
        print(f"  batch {rows:3d}: {per_row:6.2f} us per row per step, {per_row * rows:7.1f} us a step ({share})",
              flush=True)


def real_size(out: str, device: str, quick: bool) -> str:
    """A Qwen3-1.7B-shaped model with random weights in bfloat16, saved in ``out`` with a borrowed tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config

    source = QWEN3_TINY if QWEN3_TINY.is_dir() else ROOT / "src" / "ponder" / "models" / "ponder-tiny"
    tokenizer = AutoTokenizer.from_pretrained(source)
    shape = {**QWEN3_1_7B, **(QUICK_SHAPE if quick else {})}
    if not QWEN3_TINY.is_dir():
        shape["vocab_size"] = len(tokenizer)
        print(f"  (tokenizer borrowed from ponder-tiny: a vocabulary of {len(tokenizer)}, not Qwen3's 151936; build "
              ".cache/qwen3-tiny with tests/qwen3_tiny.py for the real one)", flush=True)
    config = Qwen3Config(**shape, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device):  # random weights made where they run: fast, and no host copy of 3.4 GB
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ponder on one GPU: controlled decoding against plain generate")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu to check the logic")
    parser.add_argument("--dtype", default="auto", help="ponder's --dtype for every model (default: auto, "
                                                        "bfloat16 on a GPU that has it, float32 on the CPU)")
    parser.add_argument("--quick", action="store_true", help="small sizes (budget 16, rows 1/4/8, a small model)")
    args = parser.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"bench/gpu.py: no CUDA device here (torch {torch.__version__}, CUDA build: "
              f"{torch.version.cuda or 'none'}): run it on a machine with an NVIDIA GPU, or check its logic "
              "with --device cpu --quick", file=sys.stderr)
        return 2
    import transformers

    import ponder

    transformers.utils.logging.disable_progress_bar()
    sizes = QUICK if args.quick else FULL
    report = Report(targets=args.device != "cpu" and not args.quick)
    started = time.perf_counter()
    if args.device.startswith("cuda"):
        print(f"GPU: {torch.cuda.get_device_name(torch.device(args.device))}", flush=True)
    def load(model: str):
        return ponder.load_backend(model, device=args.device, dtype=args.dtype)

    check_model("ponder-tiny", load("ponder-tiny"), sizes, report, timed=False)
    if QWEN3_TINY.is_dir():
        check_model("tiny Qwen3", load(str(QWEN3_TINY)), sizes, report, timed=False)
    else:
        print(f"tiny Qwen3: skipped, {QWEN3_TINY} is absent (tests/qwen3_tiny.py builds it)", flush=True)
    plugin_check(args.device)
    with tempfile.TemporaryDirectory(prefix="ponder-gpu-") as tmp:
        print("Qwen3-1.7B-shaped model, random weights" + (" (shrunk: --quick)" if args.quick else ""), flush=True)
        check_model("Qwen3-1.7B shape", load(real_size(tmp, args.device, args.quick)), sizes, report, timed=True)
    print(f"\n{time.perf_counter() - started:.0f} s; " + (f"FAILED: {', '.join(report.failed)}" if report.failed
                                                          else "every check passed"), flush=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
