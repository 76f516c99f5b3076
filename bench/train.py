"""Training time and memory of ``ponder lab train`` on this machine, for every model the project trains.

Run: ``.venv/bin/python bench/train.py [STEPS]`` (default 60) on an otherwise idle machine. For the
ponder-tiny recipe (as recorded in the shipped model) and each arm of ``experiments/dot_by_dot.py``,
trains a few steps in a temporary folder with the recipe's threads and prints seconds per step, the
projected time of the full run against the 15-minute budget, and the process's peak memory.
"""

from __future__ import annotations

import importlib.util
import json
import resource
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from ponder.backends import bundled_path
from ponder.lab.train.trainer import RECORD, TrainConfig, train

BUDGET_MINUTES = 15
EXPERIMENT = Path(__file__).parent.parent / "experiments" / "dot_by_dot.py"


def dot_by_dot():
    """The experiment's module, for its arms and steps (experiments/ is not a package)."""
    spec = importlib.util.spec_from_file_location("dot_by_dot", EXPERIMENT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def configs() -> list[tuple[str, TrainConfig]]:
    record = json.loads((Path(bundled_path("ponder-tiny")) / RECORD).read_text())
    tiny = TrainConfig(**record["config"])
    dots = dot_by_dot()
    arms = [(f"dot by dot, {arm}", dots.config_of(arm, dots.STEPS, tiny.threads)) for arm in dots.ARMS]
    return [("ponder-tiny", tiny), *arms]


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 60
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
