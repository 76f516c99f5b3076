"""The soft close: how often a capped thought ends mid-word, and what closing at a line buys ponder-tiny.

Run: ``.venv/bin/python bench/soft_close.py`` (SmolLM2-135M-Instruct on llama.cpp, and ponder-tiny).

1. Capped thoughts that end mid-word, hard cap against soft close (slack 16, boundary word), on both
   models, greedy, s1 budget forcing (min = max = the cap, so every thought reaches its cap): a
   thought ends mid-word when its last character and the next one the model writes are both in a
   word. The next character is read from the same greedy thought run further (min = the cap, max =
   the cap + 18: the thinking is the same up to the cap, then the model writes on until it ends).
   Target: soft <= 1 %; its mean overshoot (thinking tokens past the cap) <= the slack.
2. ponder-tiny on held-out multiplications, budgets 24..64: soft close at a line (slack 16) against
   the hard cap at the soft close's mean thinking tokens (rounded), accuracy as measured.
"""

from __future__ import annotations

import argparse
import statistics

import ponder
from ponder import Budget
from ponder.lab.tasks import extract, get_task, grade
from ponder.policies.boundaries import mid_word

SLACK = 16
SMOL_QUESTIONS = [
    "What is 4821 * 37?", "What is 2048 divided by 16?", "Is 9973 a prime number?", "Why is the sea salty?",
    "Spell 'extraordinary' backwards.", "Name three countries in South America.", "What is 17 squared?",
    "How many legs do 7 spiders have?", "Describe a thunderstorm.", "What is the capital of Australia?",
    "Convert 2.5 kilometres to metres.", "What comes after Wednesday?", "Explain photosynthesis briefly.",
    "What is 123 + 456 + 789?", "List the primary colours.", "Why do cats purr?", "What is 15% of 240?",
    "Who wrote Hamlet?", "What is the boiling point of water in Fahrenheit?", "Sort 5, 2, 9, 1 ascending.",
    "How many minutes are in 3.5 hours?", "What is an anagram of 'listen'?", "Translate 'thank you' to French.",
    "What is 1000 - 387?", "Give a synonym for 'rapid'.",
]


def thought_ends(model, question: str, cap: int) -> tuple[bool, bool, int]:
    """For one question at one cap: (hard ends mid-word, soft ends mid-word, soft's thinking tokens)."""
    def think(budget):
        return ponder.generate(question, model, budget, max_tokens=cap + SLACK + 24)
    hard = think(Budget(min_tokens=cap, max_tokens=cap))
    soft = think(Budget(min_tokens=cap, max_tokens=cap, soft_close=SLACK, close_at="word"))
    further = think(Budget(min_tokens=cap, max_tokens=cap + SLACK + 18)).thinking
    for shorter in (hard.thinking, soft.thinking):
        if not further.startswith(shorter):
            raise RuntimeError(f"greedy thoughts parted before the cap: {shorter!r} / {further!r}")
    return (mid_word(hard.thinking, further[len(hard.thinking):]),
            mid_word(soft.thinking, further[len(soft.thinking):]), soft.usage.thinking_tokens)


def figure_1(models: dict, caps: tuple[int, ...]) -> None:
    print(f"1. capped thoughts that end mid-word (s1 forcing to the cap; soft: slack {SLACK}, boundary word)")
    for name, (model, questions) in models.items():
        hard = soft = 0
        overshoot = []
        for cap in caps:
            for question in questions:
                h, s, spent = thought_ends(model, question, cap)
                hard, soft = hard + h, soft + s
                overshoot.append(spent - cap)
        n = len(overshoot)
        print(f"   {name}: n={n} (caps {', '.join(map(str, caps))}): hard cap {hard}/{n} = {100 * hard / n:.1f} %, "
              f"soft close {soft}/{n} = {100 * soft / n:.1f} % (target <= 1 %); overshoot mean "
              f"{statistics.mean(overshoot):.2f}, max {max(overshoot)} tokens (target: mean <= {SLACK})")


def accuracy(model, items, budget: Budget) -> tuple[float, float]:
    requests = [dict(prompt=i.question, thinking=budget, max_tokens=budget.max_tokens + SLACK + 24) for i in items]
    results = dict(ponder.generate_many(requests, model=model, batch_size=64))
    ordered = [results[k] for k in range(len(items))]
    correct = sum(grade(extract(r.answer, i.kind), i.answer, i.kind) for r, i in zip(ordered, items))
    return correct / len(items), statistics.mean(r.usage.thinking_tokens for r in ordered)


def figure_2(tiny, n: int) -> None:
    items = get_task("tiny-multiplication").items(n, seed=11)  # the held-out split
    print(f"2. ponder-tiny, {n} held-out multiplications: soft close at a line (slack {SLACK}) against the hard "
          "cap at its mean thinking")
    for budget in (24, 32, 40, 48, 56, 64):
        soft, soft_mean = accuracy(tiny, items, Budget(min_tokens=budget, max_tokens=budget, soft_close=SLACK,
                                                       close_at="line"))
        cap = round(soft_mean)
        hard, hard_mean = accuracy(tiny, items, Budget(min_tokens=cap, max_tokens=cap))
        print(f"   budget {budget}: soft {100 * soft:.1f} % at {soft_mean:.1f} thinking tokens; "
              f"hard cap {cap}: {100 * hard:.1f} % at {hard_mean:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=len(SMOL_QUESTIONS), help="SmolLM2 questions per cap")
    parser.add_argument("--caps", default="8,13,21,34", help="thinking caps for figure 1")
    parser.add_argument("--n", type=int, default=200, help="ponder-tiny items for figure 2")
    args = parser.parse_args()
    caps = tuple(int(c) for c in args.caps.split(","))
    smol = ponder.load_backend(None, "llama.cpp")
    tiny = ponder.load_backend("ponder-tiny")
    tiny_questions = [i.question for i in get_task("tiny-multiplication").items(args.questions, seed=12)]
    figure_1({"SmolLM2": (smol, SMOL_QUESTIONS[:args.questions]), "ponder-tiny": (tiny, tiny_questions)}, caps)
    figure_2(tiny, args.n)


if __name__ == "__main__":
    main()
