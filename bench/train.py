"""Training time and memory of ``ponder lab train`` on this machine, for every model the project trains.

Run: ``.venv/bin/python bench/train.py [STEPS]`` (default 60) on an otherwise idle machine. For the
ponder-tiny recipe (as recorded in the shipped model) and each arm of ``experiments/dot_by_dot.py``,
trains a few steps in a temporary folder with the recipe's threads and prints seconds per step (the
steps cycle through every length bucket), the projected time of the full run against the 15-minute
budget, and the process's peak memory.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from ponder.backends import bundled_path
from ponder.lab.train.trainer import POOL, RECORD, TrainConfig, train

BUDGET_MINUTES = 15
DOT_BY_DOT = ("direct", "cot+direct", "cot+filler", "cot+pause")


def configs() -> list[tuple[str, TrainConfig]]:
    record = json.loads((Path(bundled_path("ponder-tiny")) / RECORD).read_text())
    tiny = TrainConfig(**record["config"])
    arms = [(f"dot by dot, {arm}", TrainConfig(task="3sum-vectors", format=arm, steps=tiny.steps, threads=tiny.threads))
            for arm in DOT_BY_DOT]
    return [("ponder-tiny", tiny), *arms]


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    steps -= steps % POOL  # whole pools, so short and long batches are measured alike
    print(f"{'model':<24} {'steps':>6} {'s/step':>7} {'tokens/s':>9} {'projected':>10}  budget")
    for name, config in configs():
        trial = replace(config, steps=steps, save_every=steps)
        with tempfile.TemporaryDirectory() as out:
            summary = train(trial, out, progress=False)
        per_step = summary["seconds"] / steps
        minutes = config.steps * per_step / 60
        print(f"{name:<24} {config.steps:>6} {per_step:>7.3f} {summary['tokens_per_second']:>9.0f} "
              f"{minutes:>8.1f} m  {'within' if minutes <= BUDGET_MINUTES else 'OVER'} {BUDGET_MINUTES} min "
              f"({config.threads} threads)", flush=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS) {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
