"""From a request's ``thinking`` object and ``reasoning_effort`` to ponder policies. Pure: no model needed.

The result is what ``ponder.generate(thinking=...)`` takes: ``None`` (the model thinks as it likes),
``False`` (no thinking) or a list of policies. Bad combinations raise ``PonderError``, which the
server answers with a 400 naming the ``thinking`` parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PonderError
from ..policies import Budget, EntropyPause, Filler, Pause, Policy, Prefix
from .schemas import EntropyPauseOptions, FillerOptions, PauseOptions, ThinkingOptions


@dataclass(frozen=True)
class Effort:
    """The thinking budget a ``reasoning_effort`` level stands for (None: no thinking at all)."""

    min_tokens: int
    max_tokens: int | None


EFFORTS: dict[str, Effort | None] = {
    "none": None,
    "minimal": Effort(0, 16),
    "low": Effort(0, 64),
    "medium": Effort(0, 256),
    "high": Effort(256, 1024),
    "xhigh": Effort(512, 2048),
    "max": Effort(1024, 3072),
}

Thinking = list[Policy] | bool | None


def resolve_thinking(options: ThinkingOptions | None, effort: str | None = None) -> Thinking:
    """The policies a request asks for. Explicit ``thinking`` fields win over ``reasoning_effort``."""
    options = options or ThinkingOptions()
    if effort is not None and effort not in EFFORTS:
        raise PonderError(f"unknown reasoning_effort {effort!r}: choose one of {', '.join(EFFORTS)}")
    if not enabled(options, effort):
        return disabled(options)
    policies: list[Policy] = []
    budget = budget_policy(options, EFFORTS.get(effort) if effort else None)
    if budget is not None:
        policies.append(budget)
    if options.prefix is not None:
        policies.append(Prefix(options.prefix))
    if options.filler is not None:
        policies.append(filler_policy(options.filler))
    if options.pause is not None:
        policies.append(pause_policy(options.pause))
    if options.entropy_pause is not None:
        policies.append(entropy_policy(options.entropy_pause))
    return policies or None


def enabled(options: ThinkingOptions, effort: str | None) -> bool:
    """``enabled: false``, Anthropic's ``type: "disabled"`` or ``reasoning_effort: "none"`` turn thinking off."""
    said = [v for v in (options.enabled, None if options.type is None else options.type == "enabled") if v is not None]
    if len(set(said)) > 1:
        raise PonderError('thinking.enabled and thinking.type disagree: give one of them')
    if said:
        return said[0]
    return effort != "none"


def disabled(options: ThinkingOptions) -> Thinking:
    """No thinking; a pause in the answer still applies, a budget, prefix or filler cannot."""
    shaping = [name for name in ("min_tokens", "max_tokens", "budget_tokens", "wait", "max_waits", "wrap_up",
                                 "prefix", "filler", "entropy_pause") if getattr(options, name) is not None]
    if shaping:
        raise PonderError(f"thinking is disabled, so thinking.{shaping[0]} cannot apply: "
                          "drop it or enable thinking")
    if options.pause is None:
        return False
    from ..policies import NoThinking

    return [NoThinking(), pause_policy(options.pause)]


def budget_policy(options: ThinkingOptions, effort: Effort | None) -> Budget | None:
    if options.budget_tokens is not None and options.max_tokens is not None:
        raise PonderError("give thinking.max_tokens or thinking.budget_tokens, not both")
    maximum = options.max_tokens if options.max_tokens is not None else options.budget_tokens
    minimum = options.min_tokens
    if effort is not None:
        minimum = effort.min_tokens if minimum is None else minimum
        maximum = effort.max_tokens if maximum is None else maximum
    wait = options.wait if options.wait is not None else ("Wait",)
    if all(v is None for v in (minimum, maximum, options.wait, options.max_waits, options.wrap_up)):
        return None
    return Budget(min_tokens=minimum or 0, max_tokens=maximum, wait=wait, max_waits=options.max_waits,
                  wrap_up=options.wrap_up)


def filler_policy(value: int | FillerOptions) -> Filler:
    options = FillerOptions(count=value) if isinstance(value, int) else value
    return Filler(count=options.count, text=options.text, where=options.where)


def pause_policy(value: int | PauseOptions) -> Pause:
    options = PauseOptions(count=value) if isinstance(value, int) else value
    return Pause(count=options.count, text=options.text, every=options.every)


def entropy_policy(value: float | EntropyPauseOptions) -> EntropyPause:
    options = EntropyPauseOptions(threshold=value) if isinstance(value, (int, float)) else value
    return EntropyPause(threshold=options.threshold, varentropy_max=options.varentropy_max, text=options.text,
                        cooldown=options.cooldown, max_insertions=options.max_insertions, phase=options.phase)


def describe(thinking: Thinking) -> str:
    """A short label for the live view: "budget 16-64 + prefix", "no thinking", "free"."""
    if thinking is False:
        return "no thinking"
    if not thinking:
        return "free"
    return " + ".join(label(p) for p in thinking)


def label(policy: Policy) -> str:
    if isinstance(policy, Budget):
        top = "∞" if policy.max_tokens is None else policy.max_tokens
        return f"budget {policy.min_tokens}-{top}"
    if isinstance(policy, (Filler, Pause)):
        return f"{type(policy).__name__.lower()} {policy.count}"
    if isinstance(policy, EntropyPause):
        return f"entropy pause {policy.threshold:g} bits"
    return type(policy).__name__.lower().replace("nothinking", "no thinking")
