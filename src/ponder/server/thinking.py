"""From a request's thinking controls to ponder policies. Pure: no model needed.

Every dialect's controls meet here, highest precedence first:

1. ``thinking``: ponder's fields, Anthropic's ``type`` / ``budget_tokens`` / ``display``;
2. ``reasoning``: OpenRouter's ``enabled`` / ``max_tokens`` / ``effort`` / ``exclude``;
3. ``reasoning_effort`` (OpenAI) or ``output_config.effort`` (Anthropic);
4. ``chat_template_kwargs.enable_thinking`` (vLLM, SGLang);
5. the route's default: the model thinks as it likes (OpenAI routes), no thinking (Anthropic's).

Whether thinking happens is said by the highest level that says it; the minimum and the maximum
are each taken from the highest level that gives one. ``{"type": "adaptive"}`` stands for the
effort budgets (``high`` when no effort is given). The result is what
``ponder.generate(thinking=...)`` takes: ``None`` (think freely), ``False`` (no thinking) or a
list of policies. Bad combinations raise ``PonderError``, answered with a 400.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PonderError
from ..policies import Budget, EntropyPause, Filler, Pause, Policy, Prefix
from .schemas import EntropyPauseOptions, FillerOptions, PauseOptions, ReasoningOptions, ThinkingOptions


@dataclass(frozen=True)
class Effort:
    """The thinking budget an effort level stands for (None: no thinking at all)."""

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
ADAPTIVE_EFFORT = "high"  # Anthropic's default effort
REASONING_EFFORT = "medium"  # OpenRouter's, for a reasoning object that names neither effort nor maximum
SHAPING = ("min_tokens", "max_tokens", "budget_tokens", "wait", "max_waits", "wrap_up", "prefix", "filler",
           "entropy_pause")

Thinking = list[Policy] | bool | None


@dataclass(frozen=True)
class ThinkingAsk:
    """Every thinking control a request gave, from whichever dialect."""

    thinking: ThinkingOptions | None = None
    reasoning: ReasoningOptions | None = None
    effort: str | None = None  # reasoning_effort, or output_config.effort
    enable_thinking: bool | None = None  # chat_template_kwargs.enable_thinking
    default_on: bool = True  # what nothing said means: think freely (OpenAI) or not at all (Anthropic)


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
    options, reasoning = ask.thinking or ThinkingOptions(), ask.reasoning
    if ask.effort is not None and ask.effort not in EFFORTS:
        raise PonderError(f"unknown reasoning_effort {ask.effort!r}: choose one of {', '.join(EFFORTS)}")
    if reasoning is not None and reasoning.effort is not None and reasoning.max_tokens is not None:
        raise PonderError("give reasoning.effort or reasoning.max_tokens, not both")
    exclude = bool(reasoning and reasoning.exclude) or options.display == "omitted"
    if not switched_on(ask, options):
        return Resolved(disabled(options), exclude)
    policies: list[Policy] = []
    budget = budget_policy(options, reasoning, effort_for(ask, options))
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
    return Resolved(policies or None, exclude)


def switched_on(ask: ThinkingAsk, options: ThinkingOptions) -> bool:
    """Whether thinking happens: the highest level with a say decides; any budget or shaping asks for it."""
    said = [v for v in (options.enabled, None if options.type is None else options.type != "disabled")
            if v is not None]
    if len(set(said)) > 1:
        raise PonderError("thinking.enabled and thinking.type disagree: give one of them")
    reasoning = ask.reasoning
    levels = [
        said[0] if said else None,
        None if reasoning is None else reasoning_switch(reasoning),
        None if ask.effort is None else ask.effort != "none",
        ask.enable_thinking,
    ]
    decided = next((v for v in levels if v is not None), None)
    if decided is not None:
        return decided
    shaped = any(getattr(options, name) is not None for name in SHAPING)
    return ask.default_on or shaped


def reasoning_switch(reasoning: ReasoningOptions) -> bool | None:
    if reasoning.enabled is not None:
        return reasoning.enabled
    if reasoning.effort is not None:
        return reasoning.effort != "none"
    return True  # a reasoning object asks for reasoning (OpenRouter)


def effort_for(ask: ThinkingAsk, options: ThinkingOptions) -> Effort | None:
    """The effort budget behind the explicit numbers: OpenRouter's effort, then OpenAI's or Anthropic's, then
    the defaults of an adaptive thinking (Anthropic's) and of a bare reasoning object (OpenRouter's)."""
    reasoning = ask.reasoning
    named = (reasoning.effort if reasoning is not None else None, ask.effort)
    name = next((n for n in named if n not in (None, "none")), None)
    if name is None and options.type == "adaptive":
        name = ADAPTIVE_EFFORT
    if name is None and reasoning is not None and reasoning.max_tokens is None and reasoning_switch(reasoning):
        name = REASONING_EFFORT
    return EFFORTS[name] if name else None


def disabled(options: ThinkingOptions) -> Thinking:
    """No thinking; a pause in the answer still applies, a budget, prefix or filler cannot."""
    shaping = [name for name in SHAPING if getattr(options, name) is not None]
    if shaping:
        raise PonderError(f"thinking is disabled, so thinking.{shaping[0]} cannot apply: "
                          "drop it or enable thinking")
    if options.pause is None:
        return False
    from ..policies import NoThinking

    return [NoThinking(), pause_policy(options.pause)]


def budget_policy(options: ThinkingOptions, reasoning: ReasoningOptions | None, effort: Effort | None) -> Budget | None:
    if options.budget_tokens is not None and options.max_tokens is not None:
        raise PonderError("give thinking.max_tokens or thinking.budget_tokens, not both")
    maximum = options.max_tokens if options.max_tokens is not None else options.budget_tokens
    if maximum is None and reasoning is not None:
        maximum = reasoning.max_tokens
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
