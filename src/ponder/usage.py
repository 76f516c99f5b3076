"""What a generation spent: its tokens by phase, and their price."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from .policies import ANSWER, END, THINKING
from .trace import SAMPLED, Trace


@dataclass(frozen=True)
class Usage:
    """Token counts by phase. Injected tokens count in the phase they were injected in.

    ``probe_tokens`` (adaptive thinking's probes, written and cut back out) are
    in no phase: they are compute spent, outside the completion's counts.
    """

    prompt_tokens: int
    thinking_tokens: int
    thinking_injected: int
    marker_tokens: int
    answer_tokens: int
    answer_injected: int
    probe_tokens: int = 0
    cached_tokens: int = 0  # of the prompt's, read from the prefix cache instead of evaluated

    @property
    def thinking_sampled(self) -> int:
        return self.thinking_tokens - self.thinking_injected

    @property
    def answer_sampled(self) -> int:
        return self.answer_tokens - self.answer_injected

    @property
    def completion_tokens(self) -> int:
        return self.thinking_tokens + self.marker_tokens + self.answer_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def spent_tokens(self) -> int:
        """What the generation cost past the prompt: its completion and its probes (billed as output)."""
        return self.completion_tokens + self.probe_tokens

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "thinking_sampled": self.thinking_sampled,
            "answer_sampled": self.answer_sampled,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "spent_tokens": self.spent_tokens,
        }

    @classmethod
    def from_trace(cls, trace: Trace, prompt_tokens: int) -> "Usage":
        pairs = Counter(zip(trace.phases, trace.sources))  # one pass over the tokens for every count

        def count(phase: str, injected: bool = False) -> int:
            return sum(n for (p, s), n in pairs.items() if p == phase and (not injected or s != SAMPLED))

        return cls(
            prompt_tokens=prompt_tokens,
            thinking_tokens=count(THINKING),
            thinking_injected=count(THINKING, injected=True),
            marker_tokens=count(END),
            answer_tokens=count(ANSWER),
            answer_injected=count(ANSWER, injected=True),
            probe_tokens=trace.probe_tokens,
            cached_tokens=trace.cached_tokens,
        )


def price(prompt_tokens: int, completion_tokens: int, price_input: float | None,
          price_output: float | None) -> float | None:
    """Dollars at prices per million tokens; thinking is billed as output. None when unpriced."""
    if price_input is None and price_output is None:
        return None
    return (prompt_tokens * (price_input or 0.0) + completion_tokens * (price_output or 0.0)) / 1e6
