"""Dot by dot (Pfau, Merrill, Bowman 2024, arXiv 2404.15758) in its nearest feasible form on ponder's tiny models.

The task is the paper's 3SUM over labelled vectors: do three of five 2-digit vectors (A00 B03 ...) sum
to zero mod 5 in both coordinates? Half the items hold such a triple, the others are near misses. As in
the paper, filler only helps a model that was also trained on a parallelizable chain of thought (for
each triple, its vectors copied and their sums: A00B03C31=0304n), so the arms differ in their training
mix, with the same model size, steps and seed:

    direct        trained to answer at once                 evaluated with no thinking
    cot+direct    chain of thought or an immediate answer   evaluated with no thinking
    cot+filler    chain of thought or as many "." as it     evaluated with the dots forced (Filler policy)
    cot+pause     chain of thought or as many <pause>       evaluated with the pauses forced (no loss on them)

The chain-of-thought accuracy of each mixed model is the gate: below 90 % nothing else is informative.
Success: the filler arm's lower 95 % Wilson bound above the upper bounds of both direct arms.

Run: ``.venv/bin/python experiments/dot_by_dot.py [--steps 950] [--n 400] [--out runs/dot-by-dot]``.
Trains each arm (a finished run is reused, an interrupted one resumes), evaluates on held-out items,
prints the table and writes ``accuracy.png``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import ponder
from ponder.lab.metrics import wilson
from ponder.lab.tasks import extract, grade
from ponder.lab.tasks.tiny import TinyTask
from ponder.lab.train.problems import VectorThreeSum
from ponder.lab.train.trainer import TrainConfig, train
from ponder.lab.train.traces import PAUSE
from ponder.policies import THINKING, Ban, Force
from ponder.policies.base import PolicyBase

TASK = VectorThreeSum()  # the training task's own: 5 labelled vectors of 2 digits, mod 5
ARMS = ("direct", "cot+direct", "cot+filler", "cot+pause")
STEPS = 950  # the most that keeps the longest arm (cot+filler) within 15 minutes on 2 cores
COT_TOKENS = len("".join(TASK.sample(random.Random(0)).steps))  # the same for every item: the filler arms get as many


@dataclass(frozen=True)
class OpenWithThought(PolicyBase):
    """Bans the filler, the pause and the end marker as the first thinking token, so a mixed model writes its CoT."""

    stage: ClassVar[int] = 0

    def step(self, view, proposed):
        if view.phase != THINKING or view.tokens or isinstance(proposed, Force):
            return proposed
        return Ban(frozenset(i for text in (".", PAUSE) for i in view.vocab.encode(text)) | set(view.vocab.end_ids))


def config_of(arm: str, steps: int, threads: int) -> TrainConfig:
    """An arm's training run: only the mix differs between arms."""
    return TrainConfig(task="3sum-vectors", format=arm, steps=steps, threads=threads)


def modes(arm: str) -> dict[str, object]:
    """How each arm is evaluated: the policies of each mode."""
    out = {"no thinking": ponder.NoThinking()}
    if arm != "direct":
        out["chain of thought"] = OpenWithThought()
    if arm == "cot+filler":
        out["filler"] = ponder.Filler(COT_TOKENS, ".")
    if arm == "cot+pause":
        out["pause"] = ponder.Filler(COT_TOKENS, PAUSE)
    return out


def evaluate(folder: Path, arm: str, n: int) -> dict[str, tuple[int, float]]:
    """(correct, mean thinking tokens) per evaluation mode, on n held-out items."""
    backend = ponder.load_backend(str(folder))
    items = TinyTask("tiny-3sum-vectors", TASK).items(n, seed=0)
    scores = {}
    for mode, policy in modes(arm).items():
        requests = [dict(prompt=item.question, thinking=policy, max_tokens=COT_TOKENS + 24) for item in items]
        correct, thinking = 0, 0
        for index, result in ponder.generate_many(requests, model=backend, batch_size=64):
            item = items[index]
            correct += grade(extract(result.answer, item.kind), item.answer, item.kind)
            thinking += result.usage.thinking_tokens
        scores[mode] = (correct, thinking / n)
    return scores


def plot(rows: list[tuple[str, int, int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=120)
    labels = [label for label, _, _ in rows]
    acc = [100 * c / n for _, c, n in rows]
    low = [max(0.0, 100 * (c / n - wilson(c, n)[0])) for _, c, n in rows]  # rounding may put a bound past c/n
    high = [max(0.0, 100 * (wilson(c, n)[1] - c / n)) for _, c, n in rows]
    colors = ["#4c72b0" if "no thinking" in label else "#dd8452" if "chain" in label else "#55a868" for label in labels]
    ax.bar(range(len(rows)), acc, yerr=[low, high], capsize=4, color=colors)
    ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize=8)
    ax.axhline(50, color="#999", linestyle=":", linewidth=1)
    ax.set_ylabel("accuracy (%), 95% Wilson interval")
    ax.set_ylim(0, 105)
    ax.set_title("3SUM over 5 vectors of 2 digits, mod 5: no thinking (blue), chain of thought (orange), "
                 "forced filler (green)", fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/dot-by-dot")
    args = parser.parse_args()
    out = Path(args.out)
    rows, results = [], {}
    for arm in sorted(ARMS, key=lambda a: a != "cot+direct"):  # the gate's arm first: its result decides the rest
        folder = out / arm
        config = config_of(arm, args.steps, args.threads)
        began = time.perf_counter()
        summary = train(config, folder, progress=True)
        print(f"{arm}: trained in {summary['seconds']} s ({time.perf_counter() - began:.0f} s with this run's "
              f"loading), final loss {summary['final_loss']:.4f}", flush=True)
        results[arm] = evaluate(folder, arm, args.n)
        print(f"{arm}: " + ", ".join(f"{mode} {c / args.n:.1%}" for mode, (c, _) in results[arm].items()), flush=True)
    print(f"\n{'arm':<12} {'evaluated with':<17} {'accuracy':>9} {'95% CI':>15} {'thinking':>9}")
    for arm in ARMS:  # in the table's order, whatever order they trained in
        for mode, (correct, thinking) in results[arm].items():
            low, high = wilson(correct, args.n)
            rows.append((f"{arm}: {mode}", correct, args.n))
            print(f"{arm:<12} {mode:<17} {correct / args.n:>8.1%} {low:>7.1%}-{high:<7.1%} {thinking:>9.1f}")
    verdict(results, args.n)
    plot(rows, out / "accuracy.png")
    (out / "results.json").write_text(json.dumps({a: {m: c for m, (c, _) in s.items()} for a, s in results.items()},
                                                 indent=2))
    print(f"\nplot: {out / 'accuracy.png'}")


def verdict(results: dict, n: int) -> None:
    """The gate and the success criterion, as the experiment states them, for each mixed arm."""
    cot = {arm: s["chain of thought"][0] / n for arm, s in results.items() if "chain of thought" in s}
    direct_high = max(wilson(results[arm]["no thinking"][0], n)[1] for arm in ("direct", "cot+direct"))
    print("\ngate (a model that writes the chain of thought right >= 90 % of the time; below it its arm says nothing):")
    for arm in ARMS[1:]:
        print(f"  {arm:<11} chain of thought {cot[arm]:.1%}: {'met' if cot[arm] >= 0.9 else 'NOT met'}")
    for arm, mode, verb in (("cot+filler", "filler", "filler helps"), ("cot+pause", "pause", "pauses help")):
        low = wilson(results[arm][mode][0], n)[0]
        shown = verb if low > direct_high else "no effect shown (null)"
        print(f"{mode:<6}: lower bound {low:.1%} vs the direct arms' upper bounds (max {direct_high:.1%}): {shown}"
              f"{'' if cot[arm] >= 0.9 else ', uninformative: its gate is not met'}")


if __name__ == "__main__":
    main()
