"""Adaptive thinking, measured in one run on the shipped tiny model and printed as ratios.

Run: ``.venv/bin/python bench/adaptive.py [--model ponder-tiny] [--n 60] [--out runs/bench-adaptive]``
(``--smoke``: a few items, to check that it runs). Every figure compares two things run here, now:

1. What a probe costs. On a few questions, ``--probe-at`` tokens into each one's thinking, a probe (the end
   marker and the answer lead forced in one forward pass, up to ``--probe-tokens`` answer tokens written
   greedily, all of it cut back out of the KV cache) against decoding the same tokens plainly in the same
   forward passes, as the loop decodes a wrap-up and an answer, with nothing cut back. Each probe runs
   again and again on the restored cache; medians are reported. Target: probe / plain <= 1.2 (a probe adds
   no prefill). For scale: its tokens decoded one pass per token, and its question asked from scratch
   (prompt and thinking evaluated again), what a wrapper around an engine pays when it cannot cut its
   cache back.
2. Tokens saved at equal accuracy. A sweep of ``adaptive`` against ``cap``, ``budget`` and ``waits`` on
   the task's held-out items. For each adaptive setting: the cheapest fixed setting reaching its accuracy,
   and the tokens per correct answer of both (thinking plus probes); and each fixed method's accuracy at
   the adaptive setting's mean tokens (interpolated along that method's curve). Goal: the accuracy of the
   best fixed setting with at least 25 % fewer tokens, probes included.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import ponder
from ponder.api import prepare
from ponder.decoding import drive
from ponder.lab.metrics import summarise
from ponder.lab.report import load_rows
from ponder.lab.sweep import SweepConfig, run_sweep
from ponder.lab.tasks import get_task
from ponder.policies import Probe
from ponder.policies.budget import wrap_up

FIXED = ("cap", "budget", "waits")
GOAL = 0.25  # at least this share of tokens saved at the best fixed setting's accuracy


# figure 1: a probe against plain decoding of its tokens

def decoder_at(engine, question: str, thinking: int):
    """A generation stopped between two steps, ``thinking`` tokens into its thinking (no wait: a budget's cap)."""
    generation = prepare(engine, question, thinking=ponder.Budget(max_tokens=4 * thinking), max_tokens=8 * thinking)
    decoder = generation.decoder
    decoder.prompt_ids = list(generation.prompt_ids)
    decoder.logits = engine.prefill(decoder.prompt_ids)
    while decoder.trace.thinking < thinking and decoder.trace.phase == "thinking":
        drive(engine, decoder.step())
    return decoder


def probe_passes(engine, decoder, forced: list[int], limit: int) -> list[list[int]]:
    """The forward passes a probe makes: the trace's pending tokens with the forced ones, then one per answer token
    (the last one written is never evaluated); found greedily, as the probe finds them."""
    base = len(decoder.prompt_ids) + decoder.n_eval
    passes = [[*decoder.trace.ids[decoder.n_eval:], *forced]]
    logits = engine.evaluate(passes[0])
    for _ in range(limit - 1):
        token = int(np.argmax(logits))
        if token in engine.eos_ids or "\n" in engine.detokenize([token]):
            break
        passes.append([token])
        logits = engine.evaluate([token])
    engine.truncate(base)
    return passes


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def probe_costs(engine, decoder, limit: int, repeats: int) -> dict:
    """Median seconds of one probe; of the same forward passes with nothing cut back; of its tokens decoded one
    pass per token; and of its question asked from scratch (prompt and thinking evaluated again)."""
    action = Probe(wrap_up(view_of(decoder)), limit)
    passes = probe_passes(engine, decoder, list(action.force.ids), limit)
    base = len(decoder.prompt_ids) + decoder.n_eval
    context = [*decoder.prompt_ids, *decoder.trace.ids[:decoder.n_eval]]

    def probe():
        drive(engine, decoder.probe(action, decoder.trace.thinking))
        decoder.trace.probes.clear()

    def same_passes():
        for ids in passes:
            engine.evaluate(ids)

    def one_per_token():
        for token in (t for ids in passes for t in ids):
            engine.evaluate([token])

    def from_scratch():
        engine.prefill([*context, *passes[0]])
        for ids in passes[1:]:
            engine.evaluate(ids)

    runs: dict[str, list[float]] = {"probe": [], "same passes": [], "one per token": [], "from scratch": []}
    for _ in range(repeats):
        for name, fn in zip(runs, (probe, same_passes, one_per_token, from_scratch)):
            runs[name].append(timed(fn))
            if name == "from scratch":
                engine.prefill(context)  # the generation's cache as it was, untimed
            else:
                engine.truncate(base)
    return {name: statistics.median(times) for name, times in runs.items()} | {
        "tokens": sum(map(len, passes)), "passes": len(passes)}


def view_of(decoder):
    from ponder.policies import View

    trace = decoder.trace
    return View(vocab=decoder.vocab, phase=trace.phase, tokens=trace.ids, thinking_tokens=trace.thinking,
                answer_tokens=trace.answer)


def figure1(engine, args) -> None:
    questions = [item.question for item in get_task(args.task).items(args.questions, seed=11)]
    rows = []
    for question in questions:
        decoder = decoder_at(engine, question, args.probe_at)
        probe_costs(engine, decoder, args.probe_tokens, 2)  # warm-up
        rows.append(probe_costs(engine, decoder, args.probe_tokens, args.repeats))
    median = {k: statistics.median(r[k] for r in rows) for k in ("probe", "same passes", "one per token",
                                                                 "from scratch")}
    print(f"1. a probe {args.probe_at} tokens into the thinking: {statistics.mean(r['tokens'] for r in rows):.1f} "
          f"tokens in {statistics.mean(r['passes'] for r in rows):.1f} forward passes (pending, end marker and "
          f"lead in one; the answer), medians of {len(rows)} questions x {args.repeats}:")
    print("   " + " · ".join(f"{k} {1e3 * v:.2f} ms" for k, v in median.items()))
    ratio = median["probe"] / median["same passes"]
    print(f"   probe / the same passes decoded plainly = {ratio:.2f} (target <= 1.2: "
          f"{'met' if ratio <= 1.2 else 'NOT met'}); probe / one pass per token = "
          f"{median['probe'] / median['one per token']:.2f}; from scratch / probe = "
          f"{median['from scratch'] / median['probe']:.2f}\n")


# figure 2: tokens saved at equal accuracy

def spent(s) -> float:
    return s.thinking_mean + s.probe_mean


def per_correct(s) -> float | None:
    return spent(s) * s.n / s.correct if s.correct else None


def accuracy_at(curve: list, tokens: float) -> float | None:
    """A method's accuracy at ``tokens`` mean tokens, linear between its two nearest settings (None outside)."""
    points = sorted((spent(s), s.accuracy) for s in curve)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= tokens <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (tokens - x0) / (x1 - x0)
    return None


def figure2(args) -> None:
    config = SweepConfig(task=args.task, policies=("adaptive", *FIXED), budgets=args.budgets, waits=args.waits,
                         n=args.n, model=args.model)
    run_sweep(config, args.out, progress=not args.no_progress)
    _, rows = load_rows(Path(args.out))
    settings = [summarise([r for r in rows if r["setting"] == name]) for name in dict.fromkeys(r["setting"]
                                                                                              for r in rows)]
    adaptive = [s for s in settings if s.policy == "adaptive"]
    fixed = [s for s in settings if s.policy in FIXED]
    print(f"2. {args.task}, n={args.n}, {args.model}: tokens = thinking + probes per answer")
    print(f"   {'adaptive':<14} {'acc':>6} {'tokens':>7} {'tok/correct':>11}   cheapest fixed at that accuracy"
          f"{'':>10} saved   " + "  ".join(f"{m} at equal tokens" for m in FIXED))
    for a in sorted(adaptive, key=spent):
        match = min((f for f in fixed if f.accuracy >= a.accuracy and f.correct), key=per_correct, default=None)
        saved = "-" if match is None or per_correct(a) is None else f"{1 - per_correct(a) / per_correct(match):+.0%}"
        found = "none" if match is None else f"{match.label} {match.accuracy:.1%} {per_correct(match):.1f}/correct"
        equal = [accuracy_at([f for f in fixed if f.policy == m], spent(a)) for m in FIXED]
        cost = "-" if per_correct(a) is None else f"{per_correct(a):.1f}"
        print(f"   {a.label:<14} {a.accuracy:>6.1%} {spent(a):>7.1f} {cost:>11}   {found:<40} "
              f"{saved:>5}   " + "  ".join(f"{'-' if e is None else f'{e:.1%}':>{len(m) + 17}}"
                                       for m, e in zip(FIXED, equal)))
    goal(adaptive, fixed)


def goal(adaptive: list, fixed: list) -> None:
    """The best fixed setting's accuracy, and the fewest tokens adaptive needs to reach it."""
    best = max(fixed, key=lambda s: (s.accuracy, -spent(s)))
    reaching = [a for a in adaptive if a.accuracy >= best.accuracy]
    if not reaching or not best.correct:
        print(f"\n   goal: no adaptive setting reaches the best fixed accuracy ({best.label}, {best.accuracy:.1%})")
        return
    a = min(reaching, key=per_correct)
    saved = 1 - per_correct(a) / per_correct(best)
    print(f"\n   goal: best fixed {best.label} {best.accuracy:.1%} at {per_correct(best):.1f} tokens/correct; "
          f"{a.label} {a.accuracy:.1%} at {per_correct(a):.1f}: {saved:.0%} fewer "
          f"(goal >= {GOAL:.0%}: {'met' if saved >= GOAL else 'NOT met'})")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="ponder-tiny")
    p.add_argument("--task", default="tiny-multiplication")
    p.add_argument("--n", type=int, default=200, help="sweep items (default: 200)")
    p.add_argument("--budgets", type=lambda t: tuple(int(x) for x in t.split(",")), default=(8, 16, 24, 32, 48, 64, 80, 96))
    p.add_argument("--waits", type=lambda t: tuple(int(x) for x in t.split(",")), default=(0, 1, 2, 3, 4, 5, 6))
    p.add_argument("--questions", type=int, default=8, help="questions probed in figure 1 (default: 8)")
    p.add_argument("--probe-at", type=int, default=12, help="thinking tokens before the probe (default: 12)")
    p.add_argument("--probe-tokens", type=int, default=10, help="answer tokens a probe may write (default: 10)")
    p.add_argument("--repeats", type=int, default=20, help="timed repetitions per question (default: 20)")
    p.add_argument("--threads", type=int, help="CPU threads for figure 1's model (default: ponder's)")
    p.add_argument("--out", default="runs/bench-adaptive", help="the sweep's folder; rerun to resume")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--smoke", action="store_true", help="a few items and repetitions: check that it runs")
    args = p.parse_args()
    if args.smoke:
        args.n, args.questions, args.repeats, args.budgets, args.waits = 4, 2, 2, (8, 32), (0, 1)
    return args


def main() -> None:
    args = parse_args()
    engine = ponder.load_backend(args.model, threads=args.threads)
    figure1(engine, args)
    figure2(args)


if __name__ == "__main__":
    main()
