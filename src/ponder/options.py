"""Thinking options as flat names and values, the same on every surface.

The CLI's ``--max-think 64`` and vLLM's ``extra_args={"max_think": 64}`` (over
HTTP: ``vllm_xargs``) name the same option. ``thinking_from_options`` turns a
mapping of them into what ``ponder.generate(thinking=...)`` takes, with a clear
error for a bad value or a misspelt name.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

from .errors import PonderError

WHOLE, NUMBER, TEXT, TEXTS, FLAG = "a whole number", "a number", "a string", "a string or a list of strings", "true or false"

# name: (kind, default)
OPTIONS: dict[str, tuple[str, Any]] = {
    "min_think": (WHOLE, None),
    "max_think": (WHOLE, None),
    "wait": (TEXTS, None),
    "max_waits": (WHOLE, None),
    "wrap_up": (TEXT, None),
    "prefix": (TEXT, None),
    "filler": (WHOLE, None),
    "filler_text": (TEXT, "."),
    "filler_where": (TEXT, "replace"),
    "pause": (WHOLE, None),
    "pause_text": (TEXT, " ..."),
    "pause_every": (WHOLE, None),
    "entropy_pause": (NUMBER, None),
    "varentropy_max": (NUMBER, None),
    "entropy_text": (TEXT, " ..."),
    "entropy_cooldown": (WHOLE, 8),
    "entropy_max": (WHOLE, 4),
    "no_think": (FLAG, False),
}
BUDGET_OPTIONS = ("min_think", "max_think", "wait", "max_waits", "wrap_up")


def check_value(name: str, value: Any) -> Any:
    kind = OPTIONS[name][0]
    ok = {
        WHOLE: isinstance(value, int) and not isinstance(value, bool),
        NUMBER: isinstance(value, (int, float)) and not isinstance(value, bool),
        TEXT: isinstance(value, str),
        TEXTS: isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)),
        FLAG: isinstance(value, bool) or value in (0, 1, "true", "false"),
    }[kind]
    if not ok:
        raise PonderError(f"{name} must be {kind}, got {value!r}")
    if kind == FLAG:
        return value in (True, 1, "true")
    return tuple(value) if kind == TEXTS and not isinstance(value, str) else value


def pick(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ponder options in a request's extra arguments; a near miss of a name is an error, not ignored."""
    found = {}
    for key, value in (extra or {}).items():
        if key in OPTIONS:
            if value is not None:
                found[key] = check_value(key, value)
            continue
        close = difflib.get_close_matches(key, OPTIONS, n=1, cutoff=0.8)
        if close:
            raise PonderError(f"unknown option {key!r}: did you mean {close[0]!r}? "
                              f"ponder's options are {', '.join(OPTIONS)}")
    return found


def thinking_from_options(options: Mapping[str, Any]):
    """The policies the options ask for: a list (maybe empty), or ``False`` for no thinking."""
    from .policies import Budget, EntropyPause, Filler, Pause, Prefix

    o = {name: default for name, (_, default) in OPTIONS.items()}
    o.update({k: v for k, v in options.items() if k in OPTIONS and v is not None})
    budgeted = any(o[name] is not None for name in BUDGET_OPTIONS)
    if o["no_think"]:
        if budgeted or o["prefix"] or o["filler"]:
            raise PonderError("no_think cannot be combined with a thinking budget, a prefix or a filler")
        return False
    policies = []
    if budgeted:
        wait = o["wait"] or ("Wait",)
        policies.append(Budget(min_tokens=o["min_think"] or 0, max_tokens=o["max_think"],
                               wait=(wait,) if isinstance(wait, str) else tuple(wait),
                               max_waits=o["max_waits"], wrap_up=o["wrap_up"]))
    if o["prefix"]:
        policies.append(Prefix(o["prefix"]))
    if o["filler"] is not None:
        policies.append(Filler(o["filler"], o["filler_text"], o["filler_where"]))
    if o["pause"] is not None:
        policies.append(Pause(o["pause"], o["pause_text"], o["pause_every"]))
    if o["entropy_pause"] is not None:
        policies.append(EntropyPause(o["entropy_pause"], o["varentropy_max"], o["entropy_text"],
                                     o["entropy_cooldown"], o["entropy_max"]))
    return policies


def options_for(policies) -> dict[str, Any]:
    """The flat options that ask for these policies: what ``thinking_from_options`` turns back into them."""
    from .policies import Budget, EntropyPause, Filler, NoThinking, Pause, Prefix
    from .policies.chain import CloseOnEos

    found: dict[str, Any] = {}
    for p in policies:
        if isinstance(p, Budget):
            found.update(min_think=p.min_tokens, max_think=p.max_tokens, wait=list(p.wait), max_waits=p.max_waits,
                         wrap_up=p.wrap_up)
        elif isinstance(p, Prefix):
            found["prefix"] = p.text
        elif isinstance(p, NoThinking) and not p.text:
            found["no_think"] = True
        elif isinstance(p, Filler):
            found.update(filler=p.count, filler_text=p.text, filler_where=p.where)
        elif isinstance(p, Pause):
            found.update(pause=p.count, pause_text=p.text, pause_every=p.every)
        elif isinstance(p, EntropyPause) and p.phase == "thinking":
            found.update(entropy_pause=p.threshold, varentropy_max=p.varentropy_max, entropy_text=p.text,
                         entropy_cooldown=p.cooldown, entropy_max=p.max_insertions)
        elif not isinstance(p, CloseOnEos):
            raise PonderError(f"{p!r} has no flat options: it cannot be sent to an engine")
    return {k: v for k, v in found.items() if v is not None}
