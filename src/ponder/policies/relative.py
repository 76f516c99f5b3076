"""Budgets relative to the prompt or the context: ``"0.5p+256"``, ``"25%ctx"``.

The grammar: terms joined by ``+`` or ``-``; a term is a number with an optional ``%`` and an
optional unit, ``p`` (the prompt's tokens) or ``ctx`` (the context window's); a term without a unit
is a whole number of tokens. ``0.5p+256`` is half the prompt plus 256 tokens, ``25%ctx-64`` a
quarter of the context less 64. The value is rounded down, and never below 0. A budget holds the
expression until the loop knows the prompt and the context (``resolve``).
"""

from __future__ import annotations

import math
import re
from dataclasses import fields, replace

from ..errors import PonderError

GRAMMAR = ("terms joined by + or -, each a number with an optional % and an optional unit, p (the prompt's "
           "tokens) or ctx (the context's): 0.5p+256, 25%ctx, 50%p-32")
TERM = re.compile(r"\s*([+-]?)\s*(\d+(?:\.\d+)?)(%?)(p|ctx)?\s*")
BOUNDS = ("min_tokens", "max_tokens")


def parse(text: str) -> tuple[tuple[float, str | None], ...]:
    """The expression's terms as (coefficient, unit); a malformed one is refused with the grammar."""
    terms, at = [], 0
    while at < len(text):
        found = TERM.match(text, at)
        if found is None or found.end() == at or (terms and not found.group(1)):
            raise PonderError(f"a relative budget {text!r} does not parse: write {GRAMMAR}")
        sign, number, percent, unit = found.groups()
        if unit is None and (percent or "." in number):
            raise PonderError(f"in the relative budget {text!r}, {number}{percent} needs a unit (p or ctx): "
                              f"write {GRAMMAR}")
        value = float(number) / (100 if percent else 1)
        terms.append((-value if sign == "-" else value, unit))
        at = found.end()
    if not terms:
        raise PonderError(f"a relative budget is empty: write {GRAMMAR}")
    return tuple(terms)


def evaluate(text: str, prompt_tokens: int, context: int | None) -> int:
    """The budget in tokens for a prompt of ``prompt_tokens`` in a context of ``context`` tokens."""
    total = 0.0
    for value, unit in parse(text):
        if unit == "ctx" and context is None:
            raise PonderError(f"the relative budget {text!r} counts the context, which is unknown here: use p or "
                              "a number of tokens")
        total += value * {None: 1, "p": prompt_tokens, "ctx": context}[unit]
    return max(0, math.floor(total + 1e-9))


def is_relative(value) -> bool:
    return isinstance(value, str)


def relative(policy) -> bool:
    """Whether a policy holds a bound that waits for the prompt (a relative ``min_tokens`` / ``max_tokens``)."""
    return any(is_relative(getattr(policy, name, None)) for name in BOUNDS)


def resolve(policies, prompt_tokens: int, context: int | None):
    """The policies with their relative bounds in tokens (``thinking`` as ``generate`` takes it)."""
    from .chain import chain

    if policies is None or isinstance(policies, bool):
        return policies
    if hasattr(policies, "step") and not hasattr(policies, "policies"):
        return resolve_one(policies, prompt_tokens, context)
    out = [resolve_one(p, prompt_tokens, context) for p in getattr(policies, "policies", policies)]
    return chain(out) if hasattr(policies, "policies") else out


def resolve_one(policy, prompt_tokens: int, context: int | None):
    if not relative(policy):
        return policy
    names = {f.name for f in fields(policy)}
    values = {name: evaluate(getattr(policy, name), prompt_tokens, context)
              for name in BOUNDS if name in names and is_relative(getattr(policy, name))}
    try:
        return replace(policy, **values)
    except PonderError as err:
        given = ", ".join(f"{name} {getattr(policy, name)!r} = {value}" for name, value in values.items())
        raise PonderError(f"{err} (for a prompt of {prompt_tokens} tokens: {given})") from None


def any_relative(thinking) -> bool:
    """Whether ``thinking`` (as ``generate`` takes it) holds a relative bound."""
    if thinking is None or isinstance(thinking, bool):
        return False
    if hasattr(thinking, "step") and not hasattr(thinking, "policies"):
        return relative(thinking)
    return any(relative(p) for p in getattr(thinking, "policies", thinking))


def alone_in_turn(thinking, turn) -> None:
    """A turn budget counts tokens across the turn: a bound relative to one generation's prompt is refused."""
    if turn is not None and any_relative(thinking):
        raise PonderError("a turn budget counts tokens across the turn, so give this generation's budget in tokens, "
                          "not relative to its prompt")
