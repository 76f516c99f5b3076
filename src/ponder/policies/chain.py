"""Run several policies as one, in stage order, each refining the action of the ones before."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar, Iterable

from ..errors import PonderError
from .adaptive import Adaptive
from .base import CLOSING, FOREVER, LIMITING, THINKING, Action, Continue, Force, Policy, PolicyBase, Probe, View
from .budget import Budget, wrap_up
from .shaping import Filler, NoThinking, Prefix


CONTINUE = Continue()  # what a step starts from: made once, as it holds nothing


@dataclass(frozen=True)
class CloseOnEos(PolicyBase):
    """EOS while thinking, once accepted, becomes the wrap-up so an answer always follows."""

    stage: ClassVar[int] = CLOSING

    def step(self, view: View, proposed: Action) -> Action:
        ending = view.ending
        if view.phase == THINKING and ending is not None and ending.eos and not isinstance(proposed, (Force, Probe)):
            return wrap_up(view, rewind=ending.tokens, kept=ending.kept)
        return proposed

    def quiet_steps(self, view: View) -> int:
        return FOREVER  # acts on an ending only


@dataclass(frozen=True)
class Chain:
    """The policies sorted by stage (``policies.base`` lists the stages and why they run in that order).

    The order makes a later stage see, and may amend, what earlier ones
    proposed: the budget clips an injection that would pass its cap, and the
    filler slips in before whatever ends the thinking.
    """

    policies: tuple[Policy, ...]
    # read at every step, so worked out once: the most thinking tokens the limiting stage allows (None: no
    # cap), and whether a policy looks at the entropy
    cap: int | None = field(init=False, compare=False)
    wants_stats: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted((*self.policies, CloseOnEos()), key=lambda p: p.stage))
        object.__setattr__(self, "policies", ordered)
        check_replacing_filler(ordered)
        caps = [getattr(p, "max_tokens", None) for p in ordered if p.stage == LIMITING]
        # a relative cap (an expression) is known once the prompt is: resolved before the loop runs the chain
        object.__setattr__(self, "cap", min((cap for cap in caps if isinstance(cap, int)), default=None))
        object.__setattr__(self, "wants_stats", any(p.wants_stats for p in ordered))

    def step(self, view: View) -> Action:
        action: Action = CONTINUE
        for policy in self.policies:
            action = policy.step(view, action)
        return action

    def quiet_steps(self, view: View) -> int:
        """Steps from this one on at which every policy lets sampling go on, barring an ending: the fewest any
        policy promises (one that says nothing is asked at every step)."""
        return min((p.quiet_steps(view) if hasattr(p, "quiet_steps") else 0 for p in self.policies), default=FOREVER)

    def texts(self) -> tuple[tuple[str, str], ...]:
        """Every policy's forced texts with the option that set each (a policy that says nothing forces none)."""
        return tuple(t for p in self.policies if hasattr(p, "texts") for t in p.texts())


def check_replacing_filler(policies) -> None:
    """A replacing filler writes the whole thinking: a minimum, a prefix or a probe could never apply."""
    if not any(isinstance(p, Filler) and p.where == "replace" for p in policies):
        return
    if any(isinstance(p, (Prefix, Adaptive)) or isinstance(p, Budget) and p.min_tokens for p in policies):
        raise PonderError("a replacing filler is the whole thinking, so a prefix, a minimum or adaptive thinking "
                          "cannot apply: drop them, or put the filler before the end (where='before_end')")


def chain(policies: Policy | Iterable[Policy] | None) -> Chain:
    if policies is None:
        return Chain(())
    if isinstance(policies, Chain):
        return policies
    if hasattr(policies, "step"):
        return Chain((policies,))
    return Chain(tuple(p for p in policies if not isinstance(p, CloseOnEos)))


Thinking = Policy | Iterable[Policy] | bool | None  # what a request's ``thinking`` may be


def policies_for(thinking: Thinking) -> Chain:
    """A request's thinking as one chain: False skips the thinking, True or None leaves it to the model."""
    if thinking is False:
        return chain(NoThinking())
    if thinking is True:
        return chain(None)
    return chain(thinking)


def extended(policy: Chain, tokens: int) -> Chain:
    """The chain with its caps raised by ``tokens`` (a client asked for more thinking); no cap, no change."""
    def raised(p):
        cap = getattr(p, "max_tokens", None)
        return replace(p, max_tokens=cap + tokens) if p.stage == LIMITING and isinstance(cap, int) else p
    return chain([raised(p) for p in policy.policies])
