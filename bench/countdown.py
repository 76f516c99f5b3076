"""The countdown: what a notice of the tokens left does to models never trained to read one.

Run: ``.venv/bin/python bench/countdown.py`` (ponder-tiny, and SmolLM2-135M-Instruct on llama.cpp).
No target: budget guidance (arXiv 2506.13752) trains its models to read the notice; neither model here
was, so this measures what the notice costs or buys as it is. Notices at half and three quarters of
the cap, side by side with the same budget without them, on held-out items.

- ponder-tiny, held-out multiplications, s1 forcing to the budget (min = max: it stops at once on its own).
- SmolLM2, the seeded arithmetic word problems, a cap (the model may end its thinking early: does a
  notice make it wrap up sooner?).
"""

from __future__ import annotations

import argparse
import statistics

import ponder
from ponder import Budget, Countdown
from ponder.lab.tasks import extract, get_task, grade


def run(model, items, thinking, limit: int) -> tuple[float, float, float]:
    """Accuracy, mean thinking tokens, mean notice tokens."""
    requests = [dict(prompt=i.question, thinking=thinking, max_tokens=limit) for i in items]
    results = dict(ponder.generate_many(requests, model=model, batch_size=32))
    ordered = [results[k] for k in range(len(items))]
    correct = sum(grade(extract(r.answer, i.kind), i.answer, i.kind) for r, i in zip(ordered, items))
    notices = [sum(j["length"] for j in r.injections if j["reason"] == "countdown") for r in ordered]
    return correct / len(items), statistics.mean(r.usage.thinking_tokens for r in ordered), statistics.mean(notices)


def compare(name: str, model, items, budgets, plain, text: str, room: int) -> None:
    print(f"{name}: {len(items)} held-out items")
    for b in budgets:
        base = plain(b)
        told = [*base, Countdown(at=(0.5, 0.75), text=text)]
        a0, t0, _ = run(model, items, base, b + room)
        a1, t1, n1 = run(model, items, told, b + room)
        print(f"   budget {b}: without {100 * a0:.1f} % at {t0:.1f} thinking tokens; with the countdown "
              f"{100 * a1:.1f} % at {t1:.1f} ({n1:.1f} of them notices)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="ponder-tiny items")
    parser.add_argument("--smol-n", type=int, default=24, help="SmolLM2 items")
    args = parser.parse_args()
    tiny = ponder.load_backend("ponder-tiny")
    compare("ponder-tiny (s1 forcing to the budget; notice \"\\n{left} left\\n\")", tiny,
            get_task("tiny-multiplication").items(args.n, seed=11), (32, 48, 64),
            lambda b: [Budget(min_tokens=b, max_tokens=b)], "\n{left} left\n", 40)
    smol = ponder.load_backend(None, "llama.cpp")
    compare("SmolLM2 (a cap; notice \"\\n({left} thinking tokens left)\\n\")", smol,
            get_task("arithmetic").items(args.smol_n, seed=11), (64, 128),
            lambda b: [Budget(max_tokens=b)], "\n({left} thinking tokens left)\n", 64)


if __name__ == "__main__":
    main()
