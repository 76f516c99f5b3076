"""From a request's thinking controls to ponder policies. Pure: no model needed.

Every dialect's controls meet here, highest precedence first:

1. ``thinking``: ponder's fields, Anthropic's ``type`` / ``budget_tokens`` / ``display``;
2. ``reasoning``: OpenRouter's ``enabled`` / ``max_tokens`` / ``effort`` / ``exclude``;
3. ``reasoning_effort`` (OpenAI) or ``output_config.effort`` (Anthropic);
4. ``chat_template_kwargs.enable_thinking`` (vLLM, SGLang);
5. the route's default: the model thinks as it likes (OpenAI routes), no thinking (Anthropic's).

Whether thinking happens is said by the highest level that says it; the minimum and the maximum
are each taken from the highest level that gives one. ``{"type": "adaptive"}`` and ponder's
``{"adaptive": ...}`` ask for the Adaptive policy, capped by the effort's maximum (``high`` when no
effort is given). An effort stands for a fixed budget (``EFFORTS``) or for the level of a calibrated
table (``ThinkingAsk.efforts``), fit within the request's ``max_tokens`` (``efforts.fit``) and bent to
the request's own minimum or maximum. The result is what ``ponder.generate(thinking=...)`` takes:
``None`` (think freely), ``False`` (no thinking) or a list of policies. Bad combinations raise
``PonderError``, answered with a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..errors import PonderError
from ..options import thinking_from_options
from ..policies import Adaptive, Budget, EntropyPause, Filler, Pause, Policy
from .efforts import EFFORTS, Effort, fit
from .schemas import (
    AdaptiveOptions, EntropyPauseOptions, FillerOptions, PauseOptions, ReasoningOptions, ThinkingOptions,
)


ADAPTIVE_EFFORT = "high"  # Anthropic's default effort, and the cap of adaptive thinking when none is given
REASONING_EFFORT = "medium"  # OpenRouter's, for a reasoning object that names neither effort nor maximum
SHAPING = ("min_tokens", "max_tokens", "budget_tokens", "wait", "max_waits", "wrap_up", "soft_close", "prefix",
           "filler", "countdown", "entropy_pause", "adaptive")
Efforts = Mapping[str, "Effort | None"]

Thinking = list[Policy] | bool | None


@dataclass(frozen=True)
class ThinkingAsk:
    """Every thinking control a request gave, from whichever dialect."""

    thinking: ThinkingOptions | None = None
    reasoning: ReasoningOptions | None = None
    effort: str | None = None  # reasoning_effort, or output_config.effort
    enable_thinking: bool | None = None  # chat_template_kwargs.enable_thinking
    default_on: bool = True  # what nothing said means: think freely (OpenAI) or not at all (Anthropic)
    efforts: Efforts | None = None  # what each effort level stands for (None: the fixed budgets, EFFORTS)
    limit: int | None = None  # the request's completion limit, which an effort's budget is fit within

    @property
    def table(self) -> Efforts:
        return EFFORTS if self.efforts is None else self.efforts


@dataclass(frozen=True)
class Resolved:
    thinking: Thinking
    exclude: bool = False  # think, but do not return the thinking

    @property
    def on(self) -> bool:
        return self.thinking is not False


def resolve_thinking(options: ThinkingOptions | None, effort: str | None = None) -> Thinking:
    """The policies for a ``thinking`` object and a ``reasoning_effort`` alone."""
    return resolve(ThinkingAsk(thinking=options, effort=effort)).thinking


def resolve(ask: ThinkingAsk) -> Resolved:
    """The policies and the display a request asks for; its fields become ponder's flat options, mapped to
    policies as on every other surface."""
    options, reasoning = ask.thinking or ThinkingOptions(), ask.reasoning
    if ask.effort is not None and ask.effort not in ask.table:
        raise PonderError(f"unknown reasoning_effort {ask.effort!r}: choose one of {', '.join(ask.table)}")
    if reasoning is not None and reasoning.effort is not None and reasoning.max_tokens is not None:
        raise PonderError("give reasoning.effort or reasoning.max_tokens, not both")
    exclude = bool(reasoning and reasoning.exclude) or options.display == "omitted"
    on = switched_on(ask, options)
    flat, names = flat_options(options, reasoning, effort_for(ask, options) if on else None, adaptive(options),
                               ask.limit)
    flat["no_think"], names["no_think"] = not on, turned_off_by(ask, options)
    policies = thinking_from_options(flat, lambda option: names.get(option, f"thinking.{option}"))
    return Resolved(None if policies == [] else policies, exclude)  # None: the model thinks as it likes


# the thinking object's fields that set a flat option to their own value
DIRECT = {"min_tokens": "min_think", "max_tokens": "max_think", "wait": "wait", "max_waits": "max_waits",
          "wrap_up": "wrap_up", "soft_close": "soft_close", "close_at": "close_at", "prefix": "prefix",
          "countdown": "countdown", "countdown_text": "countdown_text"}


def flat_options(options: ThinkingOptions, reasoning: ReasoningOptions | None, effort: Effort | None,
                 adaptive_on: bool = False, limit: int | None = None) -> tuple[dict, dict[str, str]]:
    """The request's fields as flat options, and the request's name for each (to name it in a refusal)."""
    flat = {option: getattr(options, field) for field, option in DIRECT.items()}
    names = {option: f"thinking.{field}" for field, option in DIRECT.items()}
    if options.budget_tokens is not None:
        if options.max_tokens is not None:
            raise PonderError("give thinking.max_tokens or thinking.budget_tokens, not both")
        flat["max_think"], names["max_think"] = options.budget_tokens, "thinking.budget_tokens"
    if flat["max_think"] is None and reasoning is not None and reasoning.max_tokens is not None:
        flat["max_think"], names["max_think"] = reasoning.max_tokens, "reasoning.max_tokens"
    flat.update(filler_options(options.filler), **pause_options(options.pause),
                **entropy_options(options.entropy_pause), **adaptive_options(options.adaptive, adaptive_on))
    names.update({f"adaptive_{key}": f"thinking.adaptive.{key}" for key in ("every", "agree", "probe_tokens")})
    if effort is not None:
        fill_from_effort(flat, names, fit(effort_options(effort, adaptive_on, options.adaptive is False), limit))
    return flat, names


def fill_from_effort(flat: dict, names: dict[str, str], effort: dict) -> None:
    """The effort fills in what the request's own fields leave out, and bends to them: its minimum comes down
    to the request's maximum, its maximum up to the request's minimum (so a refusal names only sent fields)."""
    own_min, own_max = flat.get("min_think"), flat.get("max_think")
    for option, value in effort.items():
        if flat.get(option) is None:
            flat[option], names[option] = value, f"the effort's {option}"
    # (a relative bound is known only with the prompt: the effort's stands beside it as it is)
    if own_min is None and isinstance(own_max, int) and flat.get("min_think") is not None:
        flat["min_think"] = min(flat["min_think"], own_max)
    if own_max is None and isinstance(own_min, int) and flat.get("max_think") is not None:
        flat["max_think"] = max(flat["max_think"], own_min)


def adaptive(options: ThinkingOptions) -> bool:
    """Whether the thinking is adaptive: ponder's ``adaptive`` field, or Anthropic's ``type: "adaptive"``."""
    return options.type == "adaptive" or options.adaptive not in (None, False)


def adaptive_options(value: bool | AdaptiveOptions | None, on: bool) -> dict:
    if not on:
        return {}
    given = value if isinstance(value, AdaptiveOptions) else AdaptiveOptions()
    return {"adaptive": True, "adaptive_every": given.every, "adaptive_agree": given.agree,
            "adaptive_probe_tokens": given.probe_tokens}


def effort_options(effort: Effort, adaptive_on: bool, refused: bool = False) -> dict:
    """An effort level as flat options; for adaptive thinking only its cap (and its own adaptive settings);
    with adaptive thinking ``refused`` (``thinking.adaptive: false``), a calibrated level's cap without it."""
    flat = effort.flat()
    if refused:
        return {k: v for k, v in flat.items() if not k.startswith("adaptive")}
    if not adaptive_on:
        return flat
    return {k: v for k, v in flat.items() if k == "max_think" or k.startswith("adaptive")}


def turned_off_by(ask: ThinkingAsk, options: ThinkingOptions) -> str:
    """The field that turned thinking off, as the request wrote it."""
    reasoning = ask.reasoning
    if options.enabled is False:
        return "thinking.enabled: false"
    if options.type == "disabled":
        return 'thinking.type: "disabled"'
    if reasoning is not None and reasoning_switch(reasoning, ask.table) is False:
        return "reasoning.enabled: false" if reasoning.enabled is False else f'reasoning.effort: "{reasoning.effort}"'
    if ask.effort is not None and ask.table[ask.effort] is None:
        return f'reasoning_effort: "{ask.effort}"'
    if ask.enable_thinking is False:
        return "chat_template_kwargs.enable_thinking: false"
    return "no thinking asked on this route"


def switched_on(ask: ThinkingAsk, options: ThinkingOptions) -> bool:
    """Whether thinking happens: the highest level with a say decides; any budget or shaping asks for it."""
    said = [v for v in (options.enabled, None if options.type is None else options.type != "disabled")
            if v is not None]
    if len(set(said)) > 1:
        raise PonderError("thinking.enabled and thinking.type disagree: give one of them")
    reasoning = ask.reasoning
    levels = [
        said[0] if said else None,
        None if reasoning is None else reasoning_switch(reasoning, ask.table),
        None if ask.effort is None else ask.table[ask.effort] is not None,
        ask.enable_thinking,
    ]
    decided = next((v for v in levels if v is not None), None)
    if decided is not None:
        return decided
    shaped = any(getattr(options, name) not in (None, False) for name in SHAPING)
    return ask.default_on or shaped


def reasoning_switch(reasoning: ReasoningOptions, table: Efforts = EFFORTS) -> bool | None:
    if reasoning.enabled is not None:
        return reasoning.enabled
    if reasoning.effort is not None:
        return table[reasoning.effort] is not None
    return True  # a reasoning object asks for reasoning (OpenRouter)


def effort_for(ask: ThinkingAsk, options: ThinkingOptions) -> Effort | None:
    """The effort budget behind the explicit numbers: OpenRouter's effort, then OpenAI's or Anthropic's, then
    the defaults of an adaptive thinking (Anthropic's) and of a bare reasoning object (OpenRouter's)."""
    reasoning, table = ask.reasoning, ask.table
    named = (reasoning.effort if reasoning is not None else None, ask.effort)
    name = next((n for n in named if n is not None and table[n] is not None), None)
    if name is None and adaptive(options):
        name = ADAPTIVE_EFFORT
    if name is None and reasoning is not None and reasoning.max_tokens is None and reasoning_switch(reasoning, table):
        name = REASONING_EFFORT
    return table[name] if name else None


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
    if isinstance(policy, (Budget, Adaptive)):
        top = "∞" if policy.max_tokens is None else policy.max_tokens
        kind = "budget" if isinstance(policy, Budget) else f"adaptive every {policy.every}, agree {policy.agree},"
        return f"{kind} {policy.min_tokens}-{top}"
    if isinstance(policy, (Filler, Pause)):
        return f"{type(policy).__name__.lower()} {policy.count}"
    if isinstance(policy, EntropyPause):
        return f"entropy pause {policy.threshold:g} bits"
    return type(policy).__name__.lower().replace("nothinking", "no thinking")
