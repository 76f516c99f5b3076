"""Thinking options as flat names and values, the same on every surface.

The CLI's ``--max-think 64``, the server's ``"thinking": {"max_tokens": 64}`` and
vLLM's ``extra_args={"max_think": 64}`` (over HTTP: ``vllm_xargs``) name the same
option. ``thinking_from_options`` turns a mapping of them into what
``ponder.generate(thinking=...)`` takes, with a clear error for a bad value, a
misspelt name or options that cannot go together; ``options_for`` is its inverse.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Mapping

from .errors import PonderError

WHOLE, NUMBER, TEXT, TEXTS, FLAG = "a whole number", "a number", "a string", "a string or a list of strings", "true or false"
TOKENS = 'a whole number of tokens or a relative budget such as "0.5p+256"'  # ``policies.relative``

# name: (kind, default)
OPTIONS: dict[str, tuple[str, Any]] = {
    "min_think": (TOKENS, None),
    "max_think": (TOKENS, None),
    "wait": (TEXTS, None),
    "max_waits": (WHOLE, None),
    "wrap_up": (TEXT, None),
    "soft_close": (WHOLE, None),
    "close_at": (TEXT, "word"),
    "prefix": (TEXT, None),
    "countdown": (WHOLE, None),
    "countdown_text": (TEXT, "\n({left} thinking tokens left)\n"),
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
    "entropy_phase": (TEXT, "thinking"),
    "no_think": (FLAG, False),
    "adaptive": (FLAG, False),
    "adaptive_every": (WHOLE, None),
    "adaptive_agree": (WHOLE, None),
    "adaptive_probe_tokens": (WHOLE, None),
}
BUDGET_OPTIONS = ("min_think", "max_think", "wait", "max_waits", "wrap_up", "soft_close")
ADAPTIVE_OPTIONS = ("adaptive_every", "adaptive_agree", "adaptive_probe_tokens")  # every, agree, probe_tokens
# options that only set up another option's policy: given without it, they would do nothing
DEPENDENT = {"soft_close": ("close_at",), "countdown": ("countdown_text",),
             "filler": ("filler_text", "filler_where"), "pause": ("pause_text", "pause_every"),
             "entropy_pause": ("varentropy_max", "entropy_text", "entropy_cooldown", "entropy_max", "entropy_phase")}


def check_value(name: str, value: Any) -> Any:
    kind = OPTIONS[name][0]
    ok = {
        WHOLE: isinstance(value, int) and not isinstance(value, bool),
        TOKENS: isinstance(value, (int, str)) and not isinstance(value, bool),
        NUMBER: isinstance(value, (int, float)) and not isinstance(value, bool),
        TEXT: isinstance(value, str),
        TEXTS: isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)),
        FLAG: isinstance(value, bool) or value in (0, 1, "true", "false"),
    }[kind]
    if not ok:
        raise PonderError(f"{name} must be {kind}, got {value!r}")
    if kind == FLAG:
        return value in (True, 1, "true")
    if kind == TOKENS and isinstance(value, str):
        from .policies.relative import parse

        try:
            parse(value)
        except PonderError as err:  # a malformed expression: refused with the grammar
            raise PonderError(f"{name} must be {kind}: {err}") from None
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


Spell = Callable[[str], str]  # an option's name as the surface's users write it


def flat_name(option: str) -> str:
    return option


def thinking_from_options(options: Mapping[str, Any], spell: Spell = flat_name):
    """The policies the options ask for: a list (maybe empty), or ``False`` for no thinking at all.

    The one mapping behind every surface (the command line, the server's ``thinking`` object, the
    vLLM plugin), so each refuses the same combinations. ``spell`` names an option in a refusal the
    way that surface's users write it (``--prefix``, ``thinking.prefix``).
    """
    from .policies import Budget, Countdown, Filler, Prefix

    values = {name: default for name, (_, default) in OPTIONS.items()}
    given = {k: v for k, v in options.items() if k in OPTIONS and v is not None}
    check_dependent(given, spell)
    values.update(given)
    if values["no_think"]:
        return without_thinking(values, spell)
    if values["soft_close"] and values["max_think"] is None:
        raise PonderError(f"{spell('soft_close')} softens the cap: give {spell('max_think')} too")
    soft = {"soft_close": values["soft_close"] or 0, "close_at": values["close_at"]}
    policies = []
    if values["adaptive"] or any(values[name] is not None for name in ADAPTIVE_OPTIONS):
        policies.append(adaptive_policy(values, spell, soft))
    elif any(values[name] is not None for name in BUDGET_OPTIONS):
        wait = ("Wait",) if values["wait"] is None else values["wait"]  # given but empty: refused by Budget
        policies.append(Budget(min_tokens=values["min_think"] or 0, max_tokens=values["max_think"], wait=wait,
                               max_waits=values["max_waits"], wrap_up=values["wrap_up"], **soft))
    if values["prefix"] is not None:
        policies.append(Prefix(values["prefix"]))
    if values["filler"] is not None:
        policies.append(Filler(values["filler"], values["filler_text"], values["filler_where"]))
    if values["countdown"] is not None:
        if values["max_think"] is None:
            raise PonderError(f"{spell('countdown')} counts down to the cap: give {spell('max_think')} too")
        policies.append(Countdown(every=values["countdown"], text=values["countdown_text"]))
    return policies + answer_policies(values)


def check_dependent(given: Mapping[str, Any], spell: Spell) -> None:
    """Refuse a policy's setting given without the policy (``--filler-text`` without ``--filler``)."""
    for main, settings in DEPENDENT.items():
        stray = next((name for name in settings if name in given), None)
        if stray is not None and main not in given:
            raise PonderError(f"{spell(stray)} sets up {spell(main)}: add {spell(main)}, or drop it")


def adaptive_policy(values: dict[str, Any], spell: Spell, soft: dict[str, Any]):
    """Adaptive thinking within the budget's minimum and maximum (the maximum is its hard cap)."""
    from .policies import Adaptive

    if not values["adaptive"]:
        given = next(name for name in ADAPTIVE_OPTIONS if values[name] is not None)
        raise PonderError(f"{spell(given)} sets adaptive thinking: add {spell('adaptive')}, or drop it")
    if values["max_waits"] is not None:
        raise PonderError(f"adaptive thinking ends the thinking itself, so {spell('max_waits')} cannot apply: "
                          "drop it")
    settings = {field: values[name] for name, field in zip(ADAPTIVE_OPTIONS, ("every", "agree", "probe_tokens"))
                if values[name] is not None}
    wait = ("Wait",) if values["wait"] is None else values["wait"]
    return Adaptive(min_tokens=values["min_think"] or 0, max_tokens=values["max_think"], wait=wait,
                    wrap_up=values["wrap_up"], **soft, **settings)


def without_thinking(values: dict[str, Any], spell: Spell):
    """No thinking: what acts in the answer still applies, what acts in the thinking is refused."""
    from .policies import NoThinking

    shaping = (*BUDGET_OPTIONS, "prefix", "filler", "countdown", *ADAPTIVE_OPTIONS)
    in_thinking = [name for name in shaping if values[name] is not None]
    if values["adaptive"]:
        in_thinking.append("adaptive")
    if values["entropy_pause"] is not None and values["entropy_phase"] == "thinking":
        in_thinking.append("entropy_pause")
    if in_thinking:
        raise PonderError(f"thinking is off ({spell('no_think')}), so {spell(in_thinking[0])} cannot apply: "
                          "drop it or let the model think")
    answer = answer_policies(values)
    return [NoThinking(), *answer] if answer else False


def answer_policies(values: dict[str, Any]) -> list:
    """The pause and the entropy pause (which may act in the answer, with or without thinking)."""
    from .policies import EntropyPause, Pause

    policies = []
    if values["pause"] is not None:
        policies.append(Pause(values["pause"], values["pause_text"], values["pause_every"]))
    if values["entropy_pause"] is not None:
        policies.append(EntropyPause(values["entropy_pause"], values["varentropy_max"], values["entropy_text"],
                                     values["entropy_cooldown"], values["entropy_max"], values["entropy_phase"]))
    return policies


def options_for(policies) -> dict[str, Any]:
    """The flat options that ask for these policies: what ``thinking_from_options`` turns back into them."""
    from .policies import Adaptive, Budget, Countdown, EntropyPause, Filler, NoThinking, Pause, Prefix
    from .policies.chain import CloseOnEos

    found: dict[str, Any] = {}
    for p in policies:
        if isinstance(p, Adaptive):
            found.update(adaptive=True, adaptive_every=p.every, adaptive_agree=p.agree,
                         adaptive_probe_tokens=p.probe_tokens, min_think=p.min_tokens, max_think=p.max_tokens,
                         wait=list(p.wait), wrap_up=p.wrap_up, **soft_options(p))
        elif isinstance(p, Budget):
            found.update(min_think=p.min_tokens, max_think=p.max_tokens, wait=list(p.wait), max_waits=p.max_waits,
                         wrap_up=p.wrap_up, **soft_options(p))
        elif isinstance(p, Prefix):
            found["prefix"] = p.text
        elif isinstance(p, NoThinking) and not p.text:
            found["no_think"] = True
        elif isinstance(p, Filler):
            found.update(filler=p.count, filler_text=p.text, filler_where=p.where)
        elif isinstance(p, Countdown) and p.every is not None:  # at fractions of the cap: Python's alone
            found.update(countdown=p.every, countdown_text=p.text)
        elif isinstance(p, Pause):
            found.update(pause=p.count, pause_text=p.text, pause_every=p.every)
        elif isinstance(p, EntropyPause):
            found.update(entropy_pause=p.threshold, varentropy_max=p.varentropy_max, entropy_text=p.text,
                         entropy_cooldown=p.cooldown, entropy_max=p.max_insertions, entropy_phase=p.phase)
        elif not isinstance(p, CloseOnEos):
            raise PonderError(f"{p!r} has no flat options: it cannot be sent to an engine")
    return {k: v for k, v in found.items() if v is not None}


def soft_options(policy) -> dict[str, Any]:
    """A budget's (or adaptive thinking's) soft close as flat options; none for a hard cap."""
    return {"soft_close": policy.soft_close, "close_at": policy.close_at} if policy.soft_close else {}
