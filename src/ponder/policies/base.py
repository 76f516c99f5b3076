"""Actions, the view a policy sees, and the policy protocol.

A policy is pure: it holds only its frozen settings and derives everything else
(how many waits were injected, where the last pause went) from the view the
decoding loop hands it at every step. Policies never import an engine.

Policies are chained like logits processors: each one receives the action
proposed by the policies before it and returns the action to apply, either the
one it was given or its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Protocol, Sequence

from ..errors import PonderError

THINKING = "thinking"
ANSWER = "answer"

# Injection reasons with a meaning to the loop: a part tagged END closes the thinking.
END = "end"
LEAD = "lead"


@dataclass(frozen=True)
class Continue:
    """Sample the next token freely."""


@dataclass(frozen=True)
class Ban:
    """Sample the next token, but never one of these ids."""

    ids: frozenset[int]


@dataclass(frozen=True)
class Part:
    """A run of forced tokens and why it was forced (``wait``, ``end``, ``filler``...)."""

    reason: str
    ids: tuple[int, ...]


@dataclass(frozen=True)
class Force:
    """Drop the last ``rewind`` tokens, then append the parts without sampling.

    ``capped``: the parts close the thinking because it reached its cap (not because the model ended it,
    an answer settled early, or the thinking was skipped or replaced): what ``Result.capped`` reports.
    ``at_boundary`` (``word``, ``line`` or ``sentence``, a soft close): apply it only where the thought ends
    that unit, now or in place of a sampled token that starts a new one (``policies.boundaries``);
    anywhere else the step samples on.
    """

    parts: tuple[Part, ...]
    rewind: int = 0
    capped: bool = False
    at_boundary: str | None = None

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(i for part in self.parts for i in part.ids)

    @property
    def ends_thinking(self) -> bool:
        return any(part.reason == END for part in self.parts)

    def after(self, *parts: Part) -> "Force":
        """The same action with ``parts`` placed before this one's parts."""
        return Force(tuple(p for p in parts if p.ids) + self.parts, self.rewind, self.capped, self.at_boundary)


@dataclass(frozen=True)
class Probe:
    """Ask for the answer now, then take the question back.

    The loop applies ``force`` (the end marker and the answer lead, after dropping
    ``force.rewind`` tokens) to a copy of the sequence, lets the model write up to
    ``max_tokens`` answer tokens greedily (to a newline or EOS), cuts all of it back
    out of the KV cache, and reports the answer in ``View.probes``. The trace is left
    as it was: the next step sees the same tokens and one more probe.
    """

    force: Force
    max_tokens: int


Action = Continue | Ban | Force | Probe


def force(*parts: Part, rewind: int = 0, capped: bool = False) -> Force:
    return Force(tuple(p for p in parts if p.ids), rewind, capped)


@dataclass(frozen=True)
class Vocab:
    """A model's vocabulary under one think format, as the policies and the loops that run them see it.

    ``end_ids`` spell the end-of-thinking marker: one token where the model has it as a special token
    (``native_end``), else the tokens of its text (``end_text``). ``start_id`` is the start marker's token,
    where it has one.
    """

    encode: Callable[[str], tuple[int, ...]]
    end_ids: tuple[int, ...]
    lead_ids: tuple[int, ...]  # the format's answer lead
    eos_ids: frozenset[int]
    native_end: int | None = None
    start_id: int | None = None
    end_text: str = "</think>"

    def __post_init__(self) -> None:
        if not self.end_ids:
            raise PonderError("a vocabulary needs the tokens of its end-of-thinking marker")
        if self.native_end is not None and self.end_ids != (self.native_end,):
            raise PonderError(f"the native end marker {self.native_end} must be the marker's only token, "
                              f"not {self.end_ids}")


@dataclass(frozen=True)
class Injection:
    """Forced tokens at ``start`` (index into the completion), as recorded by the loop."""

    reason: str
    start: int
    length: int
    phase: str


@dataclass(frozen=True)
class Ending:
    """The model just tried to end its thinking with the last ``tokens`` tokens.

    ``kept`` holds the tokens of text the model wrote before the marker inside
    those tokens (as in ".</"): a policy that undoes the ending puts them back.
    """

    tokens: int
    eos: bool = False
    kept: tuple[int, ...] = ()


@dataclass(frozen=True)
class ProbeAnswer:
    """What one probe found: at ``at`` thinking tokens the model answered ``text``, writing ``tokens`` tokens
    (the forced end marker and lead, then its answer) that were cut back out."""

    at: int
    text: str
    tokens: int


@dataclass(slots=True)  # made afresh at every step: not frozen, as a frozen one takes 6 times as long to build
class View:
    """Everything a policy may look at before the next token is chosen (policies only read it).

    ``thinking_tokens`` counts sampled and injected thinking tokens, not the
    tokens of a pending ``ending``. ``tail`` is how many trailing thinking
    tokens spell the start of the end marker, so a cap can drop them. ``cap``
    is the most thinking tokens the chain allows (its budget's maximum), so a
    policy that injects at the end of the thinking can fit under it. ``probes``
    are the answers the loop's probes read so far, oldest first.
    """

    vocab: Vocab
    phase: str
    tokens: Sequence[int]
    thinking_tokens: int
    answer_tokens: int
    injections: Sequence[Injection] = ()
    ending: Ending | None = None
    tail: int = 0
    cap: int | None = None
    entropy: float | None = None
    varentropy: float | None = None
    probes: Sequence[ProbeAnswer] = ()

    def count(self, reason: str) -> int:
        """How many injections of this reason happened so far."""
        return sum(1 for inj in self.injections if inj.reason == reason)

    def injected(self, reason: str) -> int:
        """How many tokens were injected for this reason so far."""
        return sum(inj.length for inj in self.injections if inj.reason == reason)

    def last(self, reason: str) -> Injection | None:
        return next((i for i in reversed(self.injections) if i.reason == reason), None)

    def sampled_since(self, start: int) -> int:
        """Tokens sampled (not injected) from completion index ``start`` on."""
        injected = sum(i.length for i in self.injections if i.start >= start)
        return len(self.tokens) - start - injected


# The stages of a chain, in the order its policies run at every step. Each policy sees the action
# proposed by the stages before it and returns it, amended or replaced; so whatever must see an
# action runs after the stage that proposes it.
OPENING = 0  # Prefix, NoThinking: what the thinking starts with
INSERTING = 1  # Pause, EntropyPause: tokens inserted along the way
LIMITING = 2  # Budget, Adaptive: undo an ending too early, cap what would pass the maximum, probe
CLOSING = 3  # CloseOnEos: an EOS while thinking, once allowed, becomes the wrap-up
LAST = 4  # Filler: slips in before whatever the stages above made end the thinking


FOREVER = 1 << 62  # quiet steps of a policy that will not act again in this phase unless the model tries to end


class Policy(Protocol):
    """A pure thinking policy. ``stage`` (one of the stages above) orders policies in a chain.

    ``quiet_steps(view)`` (optional; without it a policy is asked at every step) says for how many
    steps from this one on the policy returns the action it is proposed, as long as each step samples
    one token that does not end the thinking and the phase stays the same. An engine may then skip
    asking it until that many tokens have passed, or the model tries to end its thinking.
    """

    stage: int
    wants_stats: bool

    def step(self, view: View, proposed: Action) -> Action: ...


class PolicyBase:
    """Defaults shared by the built-in policies (class attributes, not settings)."""

    stage: ClassVar[int] = INSERTING
    wants_stats: ClassVar[bool] = False

    def quiet_steps(self, view: View) -> int:
        return 0  # may act at any step: asked every time

    def texts(self) -> tuple[tuple[str, str], ...]:
        """The texts the policy forces, each with the option that set it, for the loop to check against the
        model's vocabulary before the first step (``ponder.markers.check_texts``)."""
        return ()


def require(condition: bool, message: str) -> None:
    """Argument check with a message that says what to do."""
    if not condition:
        raise PonderError(message)
