"""Dot by dot (arXiv 2404.15758) and pause tokens (arXiv 2310.02226) on ponder's tiny models.

Trains (or reuses, resuming if cut short) models of the same size and steps that differ only in
what fills their thinking, then measures each on held-out items with 95% Wilson intervals:

    3sum:     direct (no thinking) vs filler (dots) vs cot (the worked triples)
    addition: direct vs pause (<pause> tokens)

Run: ``.venv/bin/python experiments/dot_by_dot.py [--steps 1000] [--n 200] [--out runs/dot-by-dot]``.
Prints the table and writes ``accuracy.png`` in the output folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ponder
from ponder.lab.metrics import wilson
from ponder.lab.tasks import extract, grade
from ponder.lab.tasks.tiny import TinyTask
from ponder.lab.train.problems import make_task
from ponder.lab.train.trainer import TrainConfig, train

RUNS = [("3sum", "direct"), ("3sum", "filler"), ("3sum", "cot"), ("addition", "direct"), ("addition", "pause")]


def evaluate(folder: Path, task: str, n: int) -> tuple[int, float]:
    """(correct, mean thinking tokens) of the model thinking as it learned to, on held-out items."""
    backend = ponder.load_backend(str(folder))
    items = TinyTask(f"tiny-{task}", make_task(task)).items(n, seed=99)
    correct, thinking = 0, 0
    for item in items:
        result = ponder.generate(item.question, model=backend, max_tokens=200)
        correct += grade(extract(result.answer, item.kind), item.answer, item.kind)
        thinking += result.usage.thinking_tokens
    return correct, thinking / n


def plot(rows: list[tuple[str, int, int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    labels = [label for label, _, _ in rows]
    acc = [100 * c / n for _, c, n in rows]
    low = [100 * (c / n - wilson(c, n)[0]) for _, c, n in rows]
    high = [100 * (wilson(c, n)[1] - c / n) for _, c, n in rows]
    colors = ["#4c72b0" if label.startswith("3sum") else "#dd8452" for label in labels]
    ax.bar(labels, acc, yerr=[low, high], capsize=4, color=colors)
    ax.set_ylabel("accuracy (%), 95% Wilson interval")
    ax.set_ylim(0, 105)
    ax.set_title("same model size and steps, different thinking: 3SUM (blue), addition (orange)", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--out", default="runs/dot-by-dot")
    args = parser.parse_args()
    out = Path(args.out)
    rows = []
    print(f"{'model':<18} {'accuracy':>9} {'95% CI':>13} {'thinking':>9}")
    for task, fmt in RUNS:
        folder = out / f"{task}-{fmt}"
        train(TrainConfig(task=task, format=fmt, steps=args.steps), folder, progress=False)
        correct, thinking = evaluate(folder, task, args.n)
        low, high = wilson(correct, args.n)
        label = f"{task} {fmt}"
        rows.append((label, correct, args.n))
        print(f"{label:<18} {correct / args.n:>8.1%} {low:>6.1%}-{high:<6.1%} {thinking:>9.1f}")
    plot(rows, out / "accuracy.png")
    print(f"\nplot: {out / 'accuracy.png'}")


if __name__ == "__main__":
    main()
