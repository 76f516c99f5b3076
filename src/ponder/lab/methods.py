"""Sweep methods: how a method turns its parameter (a token budget, a number of waits) into policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..policies import Adaptive, Budget, EntropyPause, Filler, NoThinking, Prefix
from .train.traces import PAUSE

UNBOUNDED = 1 << 30
WAIT_ROOM = 128  # thinking tokens allowed before each forced wait, for a method that sets no cap
PROBES_PER_BUDGET = 4  # adaptive thinking probes about this many times before its cap (and where the model ends)
PROBE_TOKENS = 10  # answer tokens a sweep's probe may write: the tasks' answers are short
SLACK = 16  # the soft cap's slack: the thought closes at the end of a line within it


def adaptive(budget: int) -> Adaptive:
    """Adaptive thinking capped at the budget, probing every budget/4 thinking tokens (at most every 8)."""
    return Adaptive(every=max(8, budget // PROBES_PER_BUDGET), agree=2, probe_tokens=PROBE_TOKENS, max_tokens=budget)


@dataclass(frozen=True)
class Method:
    """One way of spending thinking, swept over a parameter.

    ``parameter`` says what the sweep varies: a thinking ``budget`` in tokens,
    a number of forced ``waits``, or nothing (one setting). ``asked(p)`` is the
    range of ``measure`` (a row's count) the setting asks for, from which the
    report's Control metric is computed; ``room(p)`` is how many thinking tokens
    a generation may need.
    """

    build: Callable[[int], list]
    asked: Callable[[int], tuple[int, int]]
    room: Callable[[int], int]
    parameter: str | None = "budget"
    measure: str = "thinking_tokens"


METHODS = {
    "budget": Method(lambda b: [Budget(min_tokens=b, max_tokens=b)], lambda b: (b, b), lambda b: b),
    "cap": Method(lambda b: [Budget(max_tokens=b)], lambda b: (0, b), lambda b: b),
    # the cap, closed at the next end of a line within the slack: it asks for up to b + SLACK
    "soft_cap": Method(lambda b: [Budget(max_tokens=b, soft_close=SLACK, close_at="line")], lambda b: (0, b + SLACK),
                       lambda b: b + SLACK),
    "adaptive": Method(lambda b: [adaptive(b)], lambda b: (0, b), lambda b: b),  # stops once its probes agree
    "min": Method(lambda b: [Budget(min_tokens=b)], lambda b: (b, UNBOUNDED), lambda b: 2 * b),  # waits, never cut
    # exactly w forced waits and no cap: the model may not end its thinking before the w-th (s1's extrapolation)
    "waits": Method(lambda w: [Budget(min_tokens=UNBOUNDED, max_waits=w)], lambda w: (w, w),
                    lambda w: (w + 1) * WAIT_ROOM, parameter="waits", measure="waits"),
    "prefix": Method(lambda b: [Prefix("Ok, so"), Budget(max_tokens=b)], lambda b: (0, b), lambda b: b),
    "filler": Method(lambda b: [Filler(count=b)] if b else [NoThinking()], lambda b: (b, b), lambda b: b),
    # b <pause> tokens as the whole thinking: the pause-trained tiny models' own (other models spell it out)
    "pause": Method(lambda b: [Filler(count=b, text=PAUSE)] if b else [NoThinking()], lambda b: (b, b), lambda b: b),
    "entropy_pause": Method(lambda b: [EntropyPause(threshold=2.5), Budget(max_tokens=b)], lambda b: (0, b),
                            lambda b: b),
    "no_thinking": Method(lambda b: [NoThinking()], lambda b: (0, 0), lambda b: 0, parameter=None),
}
