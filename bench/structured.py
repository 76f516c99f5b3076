"""Structured answers: what holding the answer to a JSON Schema costs, and whether held answers always parse.

Run: ``.venv/bin/python bench/structured.py`` (SmolLM2-135M-Instruct, the embedded default, on llama.cpp).

1. Per-token time of a held answer against the same tokens unconstrained: the answer's tokens are
   replayed one forward pass each, alone and with the grammar's work at each step (feeding the
   token, the mask of the next, applying it), in turns; median of ``--pairs`` pairs. Target: <= 1.10.
2. Answers that parse and validate, over ``--n`` questions x thinking caps 8, 16, 32, 64, 128 and 256
   (s1 forcing to the cap: min = max, so every thought reaches its cap and the wrap-up leads into the
   JSON), three schemas (an integer and a bounded string, an enum array, a nested object), greedy
   and sampled. Target: 100 % of n >= 100 (the default: 20 questions x 6 caps).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics

import jsonschema_rs
from tools import compare_replays  # bench/tools.py: the answer replayed alone and held to a grammar, in turns

import ponder
from ponder import Budget
from ponder.structured import AnswerSchema

ANSWER = {"type": "object", "properties": {"answer": {"type": "integer"}, "why": {"type": "string", "maxLength": 64}},
          "required": ["answer", "why"], "additionalProperties": False}
COLOURS = {"type": "object", "properties": {"colours": {"type": "array", "minItems": 1, "maxItems": 4,
                                                        "items": {"enum": ["red", "green", "blue", "yellow"]}}},
           "required": ["colours"], "additionalProperties": False}
PERSON = {"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 32}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
    "address": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 32},
                                                 "country": {"type": "string", "maxLength": 32}},
                "required": ["city", "country"]}}, "required": ["name", "age", "address"]}
SCHEMAS = (ANSWER, COLOURS, PERSON)
CAPS = (8, 16, 32, 64, 128, 256)


def questions(n: int, seed: int = 0) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    made = []
    for i in range(n):
        a, b = rng.randint(2, 999), rng.randint(2, 99)
        made.append([(f"What is {a} * {b}?", ANSWER), (f"Which colours are in flag number {b}?", COLOURS),
                     (f"Describe a person who lives at number {a}.", PERSON)][i % 3])
    return made


def figure_cost(backend, pairs: int) -> None:
    print("1. a held answer against the same tokens unconstrained (SmolLM2, llama.cpp)")
    schema = AnswerSchema(PERSON)
    result = ponder.generate("Describe a person who lives in Oslo.", backend, Budget(max_tokens=16),
                             answer_schema=schema, max_tokens=160)
    first = result.token_phases.index("answer")
    answer = list(result.token_ids[first:])
    prompt = backend.prompt_ids(result.prompt) + list(result.token_ids[:first])
    compare_replays(backend, prompt, answer, schema.grammar(), pairs)


def figure_parse(backend, n: int) -> None:
    print(f"2. held answers that parse and validate, {n} questions x caps {CAPS} (s1 forcing to the cap)")
    validators = {id(s): jsonschema_rs.validator_for(s) for s in SCHEMAS}
    by_cap: dict = {}
    for i, (question, schema) in enumerate(questions(n)):
        for cap in CAPS:
            r = ponder.generate(question, backend, Budget(min_tokens=cap, max_tokens=cap), answer_schema=schema,
                                max_tokens=cap + 160, temperature=0.0 if i % 2 else 0.8, seed=i)
            try:
                ok = validators[id(schema)].is_valid(json.loads(r.answer))
            except json.JSONDecodeError:
                ok = False
            by_cap.setdefault(cap, []).append((ok, r.usage.answer_tokens))
            if not ok:
                print(f"   failed: {question!r} cap {cap}: {r.answer!r} ({r.finish_reason})")
    good = total = 0
    for cap, rows in by_cap.items():
        oks = [ok for ok, _ in rows]
        good, total = good + sum(oks), total + len(oks)
        print(f"   thinking cap {cap:>3}: {sum(oks)}/{len(oks)} parse and validate; answer tokens mean "
              f"{statistics.mean(t for _, t in rows):.1f}")
    print(f"   all: {good}/{total} = {100 * good / total:.1f} %  target 100 %  {'meets' if good == total else 'MISSES'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="replays of figure 1, in turns")
    parser.add_argument("--n", type=int, default=20, help="questions for figure 2, each at every cap (20: 120 answers)")
    args = parser.parse_args()
    backend = ponder.load_backend(None, "llama.cpp")
    figure_cost(backend, args.pairs)
    figure_parse(backend, args.n)


if __name__ == "__main__":
    main()
