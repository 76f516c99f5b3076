"""Pause tokens on parity (after London and Kanade, arXiv 2505.21024): do extra positions buy computation?

The task is the parity of n bits ("0110...", answer 1 or 0), answered right after the end of the
thinking (no "Final Answer:" lead, whose positions would be free pauses for every arm). Arms of one
size, steps and seed differ only in what fills the thinking in training:

    direct   nothing: the answer follows "<think>" at once       evaluated with no thinking
    pause    M <pause> tokens, seen and never learned (no loss)   evaluated with M pauses, and with 0
    filler   M "." tokens                                        evaluated with M dots

each at two depths. M = n: the theory's pauses are polynomially many; the trace formats give as many as
the chain of thought (the running parity) has tokens. Gate: the direct arm's loss has converged (its
curve is printed), so its failure is not under-training. Success: the pause arm's lower 95 % Wilson bound
above the direct arm's upper bound, on held-out items. The pause arm is also evaluated with 0, M/4, M/2,
M and 2M pauses (the s1 curve for pauses), and with pauses where the model is unsure (EntropyPause)
against as many pauses forced at the start.

Run: ``.venv/bin/python experiments/pause_parity.py [--bits 12] [--steps 2000] [--n 400] [--out runs/pause-parity]``;
``--eval-only`` evaluates the arms already trained in ``--out`` (``--seed`` picks other held-out items).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import ponder
from ponder.errors import PonderError
from ponder.lab.methods import METHODS
from ponder.lab.metrics import wilson
from ponder.lab.train.problems import Parity, draw
from ponder.lab.train.trainer import RECORD, TrainConfig, train
from ponder.lab.train.traces import PAUSE

ARMS = ("direct", "pause", "filler")
DEPTHS = (1, 2)
CONVERGED = 0.01  # the gate: the last two points of the loss curve within 1 % of each other
ENTROPY_BITS = 0.5  # the answer is one of two tokens: above half a bit the model is unsure


def config_of(arm: str, depth: int, bits: int, steps: int, threads: int) -> TrainConfig:
    """An arm's training run: only the trace format (and the depth) differ."""
    return TrainConfig(task="parity", format=arm, difficulty=bits, layers=depth, steps=steps, threads=threads)


def items_of(bits: int, n: int, seed: int):
    """n held-out problems (the split training never draws from)."""
    return [draw(Parity(bits), random.Random(f"pause-parity:{seed}:{i}"), evaluation=True) for i in range(n)]


def score(backend, items, thinking) -> tuple[int, float]:
    """(correct, mean thinking tokens) with one thinking policy, in the bare format (no answer lead)."""
    requests = [dict(prompt=p.question, thinking=thinking, format="bare", max_tokens=4 * len(p.question) + 8)
                for p in items]
    correct, spent = 0, 0
    for index, result in ponder.generate_many(requests, model=backend, batch_size=64):
        correct += result.answer.strip()[:1] == items[index].answer
        spent += result.usage.thinking_tokens
    return correct, spent / len(items)


def modes(arm: str, bits: int) -> dict[str, object]:
    if arm == "direct":
        return {"no thinking": ponder.NoThinking()}
    if arm == "filler":
        return {f"{bits} dots": METHODS["filler"].build(bits)}
    return {f"{k} pauses": METHODS["pause"].build(k) for k in (0, bits // 4, bits // 2, bits, 2 * bits)}


def entropy_rows(backend, items, bits: int) -> list[tuple[str, int, float]]:
    """Pauses where the next token's entropy is high (cap 2M) against their mean count forced at the start."""
    unsure = [ponder.EntropyPause(threshold=ENTROPY_BITS, text=PAUSE, cooldown=0, max_insertions=2 * bits),
              ponder.Budget(max_tokens=2 * bits + 1)]
    correct, spent = score(backend, items, unsure)
    fixed = round(spent)
    correct_fixed, spent_fixed = score(backend, items, METHODS["pause"].build(fixed))
    return [(f"entropy > {ENTROPY_BITS} bits", correct, spent), (f"{fixed} at the start", correct_fixed, spent_fixed)]


def converged(curve: list) -> bool:
    if len(curve) < 2:
        return False
    last, before = curve[-1][1], curve[-2][1]
    return abs(last - before) <= CONVERGED * max(before, 1e-9)


def run_arm(arm: str, depth: int, args, items) -> dict:
    folder = Path(args.out) / f"{arm}-{depth}l"
    config = config_of(arm, depth, args.bits, args.steps, args.threads)
    if args.eval_only:
        if not (folder / "model.safetensors").exists():
            raise PonderError(f"{folder} holds no trained arm: run without --eval-only first")
        summary = json.loads((folder / RECORD).read_text())["result"]
    else:
        summary = train(config, folder, progress=True)
        print(f"{arm}, {depth} layer(s): trained in {summary['seconds']} s, final loss {summary['final_loss']:.4f}",
              flush=True)
    backend = ponder.load_backend(str(folder))
    scores = {mode: score(backend, items, policy) for mode, policy in modes(arm, args.bits).items()}
    extra = entropy_rows(backend, items, args.bits) if arm == "pause" else []
    return {"curve": summary.get("curve", []), "scores": scores, "entropy": extra}


def table(results: dict, n: int) -> None:
    print(f"\n{'arm':<10} {'evaluated with':<22} {'accuracy':>9} {'95% CI':>15} {'thinking':>9}")
    for key, result in results.items():
        rows = [(mode, c, t) for mode, (c, t) in result["scores"].items()] + result["entropy"]
        for mode, correct, thinking in rows:
            low, high = wilson(correct, n)
            print(f"{key:<10} {mode:<22} {correct / n:>8.1%} {low:>7.1%}-{high:<7.1%} {thinking:>9.1f}")


def verdicts(results: dict, bits: int, n: int) -> None:
    print("\ngate (the direct arm's training loss has converged) and verdicts, per depth:")
    for depth in DEPTHS:
        direct, pause, filler = (results[f"{arm}-{depth}l"] for arm in ARMS)
        curve = direct["curve"]
        shown = ", ".join(f"{step}:{loss:.4f}" for step, loss in curve[-4:])
        print(f"  {depth} layer(s): direct loss curve (last points) {shown}: "
              f"{'converged' if converged(curve) else 'NOT converged'}")
        high = wilson(direct["scores"]["no thinking"][0], n)[1]
        for name, result, mode in (("pause", pause, f"{bits} pauses"), ("pause, 0 pauses", pause, "0 pauses"),
                                   ("filler", filler, f"{bits} dots")):
            low = wilson(result["scores"][mode][0], n)[0]
            print(f"    {name:<16} lower bound {low:.1%} vs direct's upper {high:.1%}: "
                  f"{'effect shown' if low > high else 'null'}")


def plot(results: dict, bits: int, n: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curve_ax, pause_ax) = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    for key, result in results.items():
        if result["curve"]:
            steps, losses = zip(*result["curve"])
            curve_ax.plot(steps, losses, label=key)
    curve_ax.set(xlabel="training step", ylabel="training loss (learned tokens)", title="loss curves")
    curve_ax.legend(fontsize=7)
    for depth in DEPTHS:
        scores = results[f"pause-{depth}l"]["scores"]
        counts = [int(mode.split()[0]) for mode in scores]
        acc = [100 * c / n for c, _ in scores.values()]
        bounds = [wilson(c, n) for c, _ in scores.values()]
        errors = [[max(0, a - 100 * lo) for a, (lo, _) in zip(acc, bounds)],
                  [max(0, 100 * hi - a) for a, (_, hi) in zip(acc, bounds)]]
        pause_ax.errorbar(counts, acc, yerr=errors, marker="o", capsize=3, label=f"pause arm, {depth} layer(s)")
        direct = results[f"direct-{depth}l"]["scores"]["no thinking"][0]
        pause_ax.axhline(100 * direct / n, linestyle=":", color=pause_ax.lines[-1].get_color())
    pause_ax.axhline(50, color="#999", linewidth=0.8)
    pause_ax.set(xlabel=f"pauses given at inference (trained with {bits})", ylabel="accuracy (%), 95% Wilson",
                 title=f"parity of {bits} bits (dotted: direct arm)", ylim=(0, 105))
    pause_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=12, help="parity of this many bits (M = as many pauses)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--n", type=int, default=400, help="held-out items per evaluation")
    parser.add_argument("--seed", type=int, default=0, help="which held-out items")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/pause-parity")
    parser.add_argument("--eval-only", action="store_true", help="evaluate the arms already trained in --out")
    args = parser.parse_args()
    items = items_of(args.bits, args.n, args.seed)
    began, results = time.perf_counter(), {}
    try:
        for depth in DEPTHS:
            for arm in ARMS:
                results[f"{arm}-{depth}l"] = run_arm(arm, depth, args, items)
    except PonderError as error:
        parser.error(str(error))  # one line, exit 2
    table(results, args.n)
    verdicts(results, args.bits, args.n)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(results, args.bits, args.n, out / "pause_parity.png")
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nplot: {out / 'pause_parity.png'} ({time.perf_counter() - began:.0f} s in all)")


if __name__ == "__main__":
    main()
