"""Run several policies as one, in stage order, each refining the action of the ones before."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Iterable

from .base import THINKING, Action, Continue, Force, Policy, PolicyBase, View
from .budget import wrap_up


@dataclass(frozen=True)
class CloseOnEos(PolicyBase):
    """EOS while thinking, once accepted, becomes the wrap-up so an answer always follows."""

    stage: ClassVar[int] = 3

    def step(self, view: View, proposed: Action) -> Action:
        ending = view.ending
        if view.phase == THINKING and ending is not None and ending.eos and not isinstance(proposed, Force):
            return wrap_up(view, rewind=ending.tokens, kept=ending.kept)
        return proposed


@dataclass(frozen=True)
class Chain:
    """The policies sorted by stage: openers (0), injectors (1), budget (2), EOS close (3), filler (4).

    The order makes a later stage see, and may amend, what earlier ones
    proposed: the budget clips an injection that would pass its cap, and the
    filler slips in before whatever ends the thinking.
    """

    policies: tuple[Policy, ...]

    def __post_init__(self) -> None:
        ordered = sorted((*self.policies, CloseOnEos()), key=lambda p: p.stage)
        object.__setattr__(self, "policies", tuple(ordered))

    @property
    def wants_stats(self) -> bool:
        return any(p.wants_stats for p in self.policies)

    def step(self, view: View) -> Action:
        action: Action = Continue()
        for policy in self.policies:
            action = policy.step(view, action)
        return action


def chain(policies: Policy | Iterable[Policy] | None) -> Chain:
    if policies is None:
        return Chain(())
    if isinstance(policies, Chain):
        return policies
    if hasattr(policies, "step"):
        return Chain((policies,))
    return Chain(tuple(p for p in policies if not isinstance(p, CloseOnEos)))
