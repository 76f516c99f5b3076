"""s1's sequential scaling on ponder-tiny: forcing more thinking (waits, exact budgets) against letting it stop.

ponder-tiny writes a direct guess, then stops. Each forced "Wait" makes it check one more column and
rewrite the answer line with that column fixed. This script retrains it with the recipe recorded in the
shipped model (or evaluates a model you name), sweeps it on held-out items with the methods cap, budget
(exactly b thinking tokens), waits (exactly w forced waits) and no thinking, prints the full tables and
checks the acceptance points:

- with no intervention the thinking ends after the guess for >= 95 % of items, with accuracy in 20-75 %;
- accuracy with exactly w waits, w = 0..D+3, never falls by more than 3 points from one w to the next,
  reaches >= 95 % once every column can have been checked (w = D), and stays there;
- the budget curve is non-decreasing within 3 points, reaches >= 90 % once b allows every re-check,
  and its Scaling metric is positive.

Run: ``.venv/bin/python experiments/recheck.py [--out runs/recheck] [--n 200] [--model FOLDER]``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

from ponder.backends import bundled_path
from ponder.lab.metrics import wilson
from ponder.lab.report import build_report, load_rows, write_report
from ponder.lab.sweep import SweepConfig, run_sweep
from ponder.lab.train.problems import draw, make_task
from ponder.lab.train.trainer import RECORD, TrainConfig, train
from ponder.lab.train.traces import full_check

EXTRA = 3  # waits past the columns that the acceptance covers (D+3 in all)


def recipe() -> TrainConfig:
    """The shipped ponder-tiny's training settings, as recorded in its folder."""
    record = json.loads((Path(bundled_path("ponder-tiny")) / RECORD).read_text())
    return TrainConfig(**record["config"])


def budgets_for(config: TrainConfig) -> tuple[tuple[int, ...], int, int]:
    """Token budgets around the re-checks, the longest guess-plus-all-columns thinking, and the columns."""
    task = make_task(config.task, config.difficulty)
    problems = [draw(task, random.Random(i), evaluation=True) for i in range(500)]
    full = max(len(full_check(p)) for p in problems)
    columns = len(problems[0].steps)
    step = max(4, full // 8)
    budgets = tuple(sorted({0, *range(step, full + 2 * step, step), full, full + 16, full + 32}))
    return budgets, full, columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/recheck")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--model", help="evaluate this model folder instead of training the recipe")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    out = Path(args.out)
    config = recipe()
    model = args.model
    if model is None:
        model = str(out / "model")
        began = time.perf_counter()
        summary = train(config, model)
        print(f"trained {model} with {config}: {summary['steps_run']} steps in {summary['seconds']} s "
              f"({time.perf_counter() - began:.0f} s in this run)", flush=True)
    budgets, full, columns = budgets_for(config)
    task = {"addition": "tiny-addition", "multiplication": "tiny-multiplication"}[config.task]
    sweep = SweepConfig(task=task, policies=("cap", "budget", "waits", "no_thinking"), budgets=budgets,
                        waits=tuple(range(columns + EXTRA + 1)), n=args.n, model=model)
    began = time.perf_counter()
    run_sweep(sweep, out / "sweep", batch_size=args.batch_size)
    print(f"swept in {time.perf_counter() - began:.0f} s", flush=True)
    text, paths = write_report(out / "sweep")
    print(text)
    print(f"\nplots: {paths['plot']}, {paths.get('waits')}\n")
    check(out / "sweep", budgets, full, columns)


def check(folder: Path, budgets, full: int, columns: int) -> None:
    rows = [json.loads(line) for line in (folder / "rows.jsonl").read_text().splitlines()]

    def accuracy(setting: str) -> tuple[float, int, int]:
        group = [r for r in rows if r["setting"] == setting]
        return sum(r["correct"] for r in group) / len(group), sum(r["correct"] for r in group), len(group)

    free = [r for r in rows if r["setting"] == f"cap@{budgets[-1]}"]
    guess_only = sum(bool(re.fullmatch(r">\d+\n?", r["thinking"])) and r["waits"] == 0 for r in free)
    natural, correct, n = accuracy(f"cap@{budgets[-1]}")
    low, high = wilson(correct, n)
    results = [(f"no intervention: thinking ends after the guess for {guess_only}/{n} (>= 95 %)",
                guess_only >= 0.95 * n),
               (f"no intervention: accuracy {natural:.1%} [{low:.1%}-{high:.1%}] (20-75 %)", 0.2 <= natural <= 0.75)]
    waits = [accuracy(f"waits@{w}")[0] for w in range(columns + EXTRA + 1)]
    drops = [a - b for a, b in zip(waits, waits[1:])]
    results += [(f"waits: largest fall from one w to the next {max(drops):.1%} (<= 3 points)", max(drops) <= 0.03),
                (f"waits: accuracy from w = {columns} on {', '.join(f'{a:.1%}' for a in waits[columns:])} "
                 "(>= 95 %)", min(waits[columns:]) >= 0.95)]
    curve = [accuracy(f"budget@{b}")[0] for b in budgets]
    falls = [a - b for a, b in zip(curve, curve[1:])]
    after = [a for b, a in zip(budgets, curve) if b >= full]
    config, all_rows = load_rows(folder)
    scaling = next(m.scaling for m in build_report(config, all_rows).methods if m.policy == "budget")
    results += [(f"budget: largest fall {max(falls):.1%} (<= 3 points)", max(falls) <= 0.03),
                (f"budget: accuracy once b >= {full} (every re-check) {', '.join(f'{a:.1%}' for a in after)} "
                 "(>= 90 %)", min(after) >= 0.9),
                (f"budget: Scaling {scaling * 1000:+.3f} per 1k tokens (> 0)", scaling > 0)]
    for text, ok in results:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")


if __name__ == "__main__":
    main()
