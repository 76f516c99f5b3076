"""From a request's ``thinking`` object and ``reasoning_effort`` to ponder policies. Pure: no model needed.

The result is what ``ponder.generate(thinking=...)`` takes: ``None`` (the model thinks as it likes),
``False`` (no thinking) or a list of policies. Bad combinations raise ``PonderError``, which the
server answers with a 400 naming the ``thinking`` parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PonderError
from ..options import thinking_from_options
from ..policies import Budget, EntropyPause, Filler, Pause, Policy
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
    """The policies a request asks for. Explicit ``thinking`` fields win over ``reasoning_effort``.

    The fields become ponder's flat options, mapped to policies as on every other surface.
    """
    options = options or ThinkingOptions()
    if effort is not None and effort not in EFFORTS:
        raise PonderError(f"unknown reasoning_effort {effort!r}: choose one of {', '.join(EFFORTS)}")
    flat, names = flat_options(options, effort)
    policies = thinking_from_options(flat, lambda option: names.get(option, f"thinking.{option}"))
    return None if policies == [] else policies  # None: nothing asked, the model thinks as it likes


# the thinking object's fields that set a flat option to their own value
DIRECT = {"min_tokens": "min_think", "max_tokens": "max_think", "wait": "wait", "max_waits": "max_waits",
          "wrap_up": "wrap_up", "prefix": "prefix"}


def flat_options(options: ThinkingOptions, effort: str | None) -> tuple[dict, dict[str, str]]:
    """The thinking object as flat options, and the request's name for each (to name it in a refusal)."""
    flat = {option: getattr(options, field) for field, option in DIRECT.items()}
    names = {option: f"thinking.{field}" for field, option in DIRECT.items()}
    on = enabled(options, effort)
    flat["no_think"], names["no_think"] = not on, turned_off_by(options, effort)
    if options.budget_tokens is not None:
        if options.max_tokens is not None:
            raise PonderError("give thinking.max_tokens or thinking.budget_tokens, not both")
        flat["max_think"], names["max_think"] = options.budget_tokens, "thinking.budget_tokens"
    level = EFFORTS.get(effort) if effort and on else None
    if level is not None:
        flat["min_think"] = level.min_tokens if flat["min_think"] is None else flat["min_think"]
        flat["max_think"] = level.max_tokens if flat["max_think"] is None else flat["max_think"]
    flat.update(filler_options(options.filler), **pause_options(options.pause),
                **entropy_options(options.entropy_pause))
    return flat, names


def turned_off_by(options: ThinkingOptions, effort: str | None) -> str:
    if options.enabled is False:
        return "thinking.enabled: false"
    if options.type == "disabled":
        return 'thinking.type: "disabled"'
    return f"reasoning_effort: {effort!r}"


def enabled(options: ThinkingOptions, effort: str | None) -> bool:
    """``enabled: false``, Anthropic's ``type: "disabled"`` or ``reasoning_effort: "none"`` turn thinking off."""
    said = [v for v in (options.enabled, None if options.type is None else options.type == "enabled") if v is not None]
    if len(set(said)) > 1:
        raise PonderError('thinking.enabled and thinking.type disagree: give one of them')
    if said:
        return said[0]
    return effort != "none"


def filler_options(value: int | FillerOptions | None) -> dict:
    if value is None:
        return {}
    options = FillerOptions(count=value) if isinstance(value, int) else value
    return {"filler": options.count, "filler_text": options.text, "filler_where": options.where}


def pause_options(value: int | PauseOptions | None) -> dict:
    if value is None:
        return {}
    options = PauseOptions(count=value) if isinstance(value, int) else value
    return {"pause": options.count, "pause_text": options.text, "pause_every": options.every}


def entropy_options(value: float | EntropyPauseOptions | None) -> dict:
    if value is None:
        return {}
    options = EntropyPauseOptions(threshold=value) if isinstance(value, (int, float)) else value
    return {"entropy_pause": options.threshold, "varentropy_max": options.varentropy_max,
            "entropy_text": options.text, "entropy_cooldown": options.cooldown,
            "entropy_max": options.max_insertions, "entropy_phase": options.phase}


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
