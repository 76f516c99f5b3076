"""Thinking policies: pure state machines over the tokens so far. No engine imports here."""

from __future__ import annotations

from ..errors import PonderError
from .base import (
    ANSWER, END, LEAD, THINKING, Action, Ban, Continue, Ending, Force, Injection, Part, Policy, Probe, ProbeAnswer,
    View, Vocab,
)
from .adaptive import Adaptive
from .budget import Budget
from .chain import Chain, Thinking, chain, policies_for
from .countdown import Countdown
from .entropy import EntropyPause
from .shaping import Filler, NoThinking, Pause, Prefix

POLICIES = {
    "budget": Budget,
    "adaptive": Adaptive,
    "prefix": Prefix,
    "no_thinking": NoThinking,
    "filler": Filler,
    "pause": Pause,
    "entropy_pause": EntropyPause,
    "countdown": Countdown,
}


def make_policy(name: str, **options) -> Policy:
    """Build a registered policy by name, with a clear error for an unknown name or option."""
    cls = POLICIES.get(name.replace("-", "_"))
    if cls is None:
        raise PonderError(f"unknown policy {name!r}: choose one of {', '.join(sorted(POLICIES))}")
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise PonderError(f"policy {name!r} has no option {', '.join(unknown)}: its options are {', '.join(sorted(known))}")
    return cls(**options)


__all__ = [
    "Adaptive", "ANSWER", "Countdown", "END", "LEAD", "THINKING", "Action", "Ban", "Budget", "Chain", "Continue",
    "Ending", "EntropyPause", "Filler", "Force", "Injection", "NoThinking", "POLICIES", "Part", "Pause", "Policy",
    "Prefix", "Probe", "ProbeAnswer", "Thinking", "View", "Vocab", "chain", "make_policy", "policies_for",
]
