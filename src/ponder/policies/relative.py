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


def policies_in(thinking) -> list:
    """The policies of a ``thinking`` as ``generate`` takes it: one policy, a list, a chain, a bool or None."""
    if thinking is None or isinstance(thinking, bool):
        return []
    if hasattr(thinking, "step") and not hasattr(thinking, "policies"):
        return [thinking]
    return list(getattr(thinking, "policies", thinking))


def resolve(thinking, prompt_tokens: int, context: int | None):
    """The thinking, in the shape given, with its relative bounds in tokens."""
    from .chain import chain

    if not any_relative(thinking):
        return thinking
    out = [resolve_one(p, prompt_tokens, context) for p in policies_in(thinking)]
    if hasattr(thinking, "step"):
        return chain(out) if hasattr(thinking, "policies") else out[0]
    return out


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
    return any(relative(p) for p in policies_in(thinking))


def alone_in_turn(thinking, turn) -> None:
    """A turn budget counts tokens across the turn: a bound relative to one generation's prompt is refused."""
    if turn is not None and any_relative(thinking):
        raise PonderError("a turn budget counts tokens across the turn, so give this generation's budget in tokens, "
                          "not relative to its prompt")
