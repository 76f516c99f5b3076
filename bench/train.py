"""Training throughput and memory of ``ponder lab train`` on this machine.

Run: ``.venv/bin/python bench/train.py [STEPS]`` (default 60). Trains the default
configuration (the one ponder-tiny uses) for a few steps in a temporary folder and
prints training tokens per second, seconds per step, the projected time of the
README's ponder-tiny command, and the process's peak memory.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time

from ponder.lab.train.trainer import TrainConfig, train

TINY_STEPS = 2000  # the README's ponder-tiny command


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    config = TrainConfig(format="verify", steps=steps, save_every=steps)
    with tempfile.TemporaryDirectory() as out:
        began = time.perf_counter()
        summary = train(config, out, progress=False)
        wall = time.perf_counter() - began
    per_step = summary["seconds"] / steps
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"model: hidden {config.hidden}, {config.layers} layers, batch {config.batch}, task {config.task}")
    print(f"training tokens/s      {summary['tokens_per_second']:.0f} (padded tokens through the model)")
    print(f"seconds per step       {per_step:.3f}   ({steps} steps, {wall:.1f} s with export)")
    print(f"ponder-tiny projection {TINY_STEPS * per_step / 60:.1f} min for {TINY_STEPS} steps (target < 30)")
    print(f"peak memory (RSS)      {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
