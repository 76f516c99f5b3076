"""Tool calls: what holding a call to its grammar costs, and whether forced calls always parse.

Run: ``.venv/bin/python bench/tools.py`` (SmolLM2-135M-Instruct, the embedded default, on llama.cpp).

1. Per-token time of a forced call against the same tokens unconstrained: the call's tokens are
   replayed one forward pass each, alone and with the grammar's work at each step (feeding the
   token, the mask of the next, applying it), in turns; median of 5 pairs. Target: <= 1.10. Also
   as served: a forced call's generation (the grammar's lone tokens forced in one pass) against an
   unconstrained answer of the same length, seconds per completion token.
2. Forced calls that parse and validate against their schema, over ``--n`` prompts x thinking caps
   (8, 32, 128 tokens and none), three tools (a string, an enum and an integer, a nested array),
   greedy and sampled. Target: 100 %.
3. A 3-step tool loop (two forced calls, then an answer) under a turn budget of T thinking tokens,
   each generation asked for at least 2T/3: the turn's total thinking <= T in how many of ``--runs``
   runs (target: all), against the same loop with a per-request budget of T.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import jsonschema_rs
import numpy as np

import ponder
from ponder import Budget, Tool, TurnBudget
from ponder.tools import ToolUse
from ponder.tools.formats import FALLBACK
from ponder.tools.grammar import Constraint, call_grammar

CALC = Tool("calculator", "Evaluate an arithmetic expression",
            {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]})
WEATHER = Tool("weather", "The forecast for a city", {
    "type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]},
                                     "days": {"type": "integer", "minimum": 1, "maximum": 14}},
    "required": ["city", "unit", "days"], "additionalProperties": False})
ORDER = Tool("order", "Order items", {
    "type": "object", "properties": {"items": {"type": "array", "minItems": 1, "items": {
        "type": "object", "properties": {"name": {"type": "string"}, "count": {"type": "integer"}},
        "required": ["name", "count"]}}}, "required": ["items"]})
TOOLS = (CALC, WEATHER, ORDER)
CAPS = (8, 32, 128, None)


def questions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    cities = ["Paris", "Oslo", "Lima", "Cairo", "Tokyo", "Quito", "Perth", "Bern"]
    made = []
    for i in range(n):
        a, b = rng.randint(2, 999), rng.randint(2, 99)
        made.append([f"What is {a} * {b}?", f"Will it rain in {rng.choice(cities)} in the next {b % 9 + 1} days?",
                     f"Order {a % 7 + 1} apples and {b % 5 + 1} pears.", f"Compute {a} - {b} + {a % 13}."][i % 4])
    return made


def replay(backend, prompt_ids: list[int], tokens: list[int], constraint: Constraint | None) -> float:
    """Seconds per token to evaluate ``tokens`` one pass each (with the grammar's work per step if given)."""
    logits = backend.prefill(prompt_ids)
    start = time.perf_counter()
    for i, token in enumerate(tokens):
        if constraint is not None:
            constraint.sync(tokens[:i])
            logits = constraint.mask(logits, room=len(tokens) - i + 64)
        logits = backend.evaluate([token])
    return (time.perf_counter() - start) / len(tokens)


def compare_replays(backend, prompt: list[int], answer: list[int], grammar: str, pairs: int) -> None:
    """The answer's tokens replayed alone and held to ``grammar``, in turns: the medians and their ratio, printed."""
    ratios, plain, held = [], [], []
    for _ in range(pairs):
        p = replay(backend, prompt, answer, None)
        h = replay(backend, prompt, answer, Constraint(grammar, backend))
        plain.append(p), held.append(h), ratios.append(h / p)
    ratio = statistics.median(ratios)
    print(f"   {len(answer)} answer tokens, one pass each: {1e3 * statistics.median(plain):.2f} ms unconstrained, "
          f"{1e3 * statistics.median(held):.2f} ms with the grammar")
    print(f"   per-token time, constrained / unconstrained: {ratio:.3f}  target <= 1.10  "
          f"{'meets' if ratio <= 1.10 else 'MISSES'}")


def figure_cost(backend, pairs: int) -> None:
    print("1. a forced call against the same tokens unconstrained (SmolLM2, llama.cpp)")
    result = ponder.generate("Will it rain in Oslo this week?", backend, False, tools=[WEATHER],
                             tool_choice="weather", max_tokens=120)
    ids = backend.prompt_ids(result.prompt)
    answer = list(result.token_ids[result.token_phases.index("answer"):])
    start = len(result.token_ids) - len(answer)
    prompt = ids + list(result.token_ids[:start])
    grammar = call_grammar([WEATHER], ToolUse.make([WEATHER], "weather").choice, FALLBACK, backend)
    compare_replays(backend, prompt, answer, grammar, pairs)
    served = []
    for _ in range(pairs):
        forced = ponder.generate("Will it rain in Oslo this week?", backend, False, tools=[WEATHER],
                                 tool_choice="weather", max_tokens=120)
        free = ponder.generate("Will it rain in Oslo this week?", backend, False, max_tokens=forced.usage.completion_tokens)
        served.append((forced.decode_seconds / forced.usage.completion_tokens,
                       free.decode_seconds / max(1, free.usage.completion_tokens)))
    f, u = statistics.median(s[0] for s in served), statistics.median(s[1] for s in served)
    print(f"   as served (the grammar's lone tokens forced in one pass): {1e3 * f:.2f} ms a completion token forced, "
          f"{1e3 * u:.2f} unconstrained: {f / u:.3f}")


def figure_parse(backend, n: int) -> None:
    print(f"2. forced calls that parse and validate, {n} prompts x caps {CAPS}")
    validators = {t.name: jsonschema_rs.validator_for(dict(t.parameters)) for t in TOOLS}
    total = good = 0
    by_cap: dict = {}
    for i, question in enumerate(questions(n)):
        for cap in CAPS:
            choice = ["required", "calculator", "weather", "order"][(i + CAPS.index(cap)) % 4]
            thinking = None if cap is None else Budget(max_tokens=cap)
            r = ponder.generate(question, backend, thinking, tools=list(TOOLS), tool_choice=choice, max_tokens=256,
                                temperature=0.0 if i % 2 else 0.8, seed=i)
            ok = len(r.tool_calls) == 1 and (choice == "required" or r.tool_calls[0].name == choice) and \
                validators[r.tool_calls[0].name].is_valid(json.loads(r.tool_calls[0].arguments))
            total, good = total + 1, good + ok
            by_cap.setdefault(cap, []).append(ok)
            if not ok:
                print(f"   failed: {question!r} cap {cap} {choice}: {r.answer!r}")
    for cap, oks in by_cap.items():
        print(f"   thinking cap {cap if cap is not None else 'none':>4}: {sum(oks)}/{len(oks)} parse and validate")
    share = 100 * good / total
    print(f"   all: {good}/{total} = {share:.1f} %  target 100 %  {'meets' if good == total else 'MISSES'}")


def loop_thinking(backend, question: str, seed: int, per_request: Budget, turn: TurnBudget | None) -> int:
    """The thinking tokens of one 3-step tool loop: two forced calls and their results, then the answer."""
    chat, total = [{"role": "user", "content": question}], 0
    for step in range(3):
        r = ponder.generate(chat, backend, per_request, tools=[CALC], tool_choice="required" if step < 2 else "none",
                            max_tokens=256, temperature=0.8, seed=seed + step, turn=turn)
        total += r.usage.thinking_tokens
        if step < 2:
            [call] = r.tool_calls
            chat += [{"role": "assistant", "content": r.answer, "reasoning_content": r.thinking,
                      "tool_calls": [call.to_openai()]}, {"role": "tool", "tool_call_id": call.id, "content": "42"}]
    return total


def figure_turns(backend, runs: int, budget: int) -> None:
    print(f"3. a 3-step tool loop, {runs} runs, each generation asked for at least {2 * budget // 3} thinking tokens")
    floor = 2 * budget // 3
    for name, per_request, turn in (("turn budget", Budget(min_tokens=floor), TurnBudget(max_tokens=budget)),
                                    ("per-request budget", Budget(min_tokens=floor, max_tokens=budget), None)):
        totals = [loop_thinking(backend, q, i, per_request, turn) for i, q in enumerate(questions(runs, seed=1))]
        within = sum(t <= budget for t in totals)
        print(f"   {name:>18} of {budget}: turn's thinking <= {budget} in {within}/{runs} runs "
              f"({100 * within / runs:.0f} %), mean {statistics.mean(totals):.1f}, max {max(totals)} tokens")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=52, help="prompts for figure 2 (each at every cap)")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20, help="tool loops for figure 3")
    parser.add_argument("--turn-budget", type=int, default=96)
    args = parser.parse_args()
    backend = ponder.load_backend()
    np.random.seed(0)
    figure_cost(backend, args.pairs)
    figure_parse(backend, args.n)
    figure_turns(backend, args.runs, args.turn_budget)


if __name__ == "__main__":
    main()
