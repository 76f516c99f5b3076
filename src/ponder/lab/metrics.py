"""Accuracy with intervals, thinking-token distributions, and the s1 metrics (arXiv 2501.19393)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from statistics import mean, median
from typing import Sequence

Z95 = 1.959963984540054


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion: honest at 0%, 100% and small n."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class SettingSummary:
    """One (policy, budget) setting over all its rows."""

    policy: str
    budget: int | None
    n: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    thinking_mean: float
    thinking_median: float
    thinking_p10: float
    thinking_p90: float
    completion_mean: float
    probe_mean: float  # tokens written by probes and cut back out (adaptive thinking), per answer
    waits_mean: float
    tokens_per_correct: float | None
    cost: float | None
    cost_per_correct: float | None
    seconds_mean: float
    control: float | None

    @property
    def spent_mean(self) -> float:
        """Thinking tokens and probe tokens per answer: what was spent before the answer."""
        return self.thinking_mean + self.probe_mean

    @property
    def label(self) -> str:
        return self.policy if self.budget is None else f"{self.policy}@{self.budget}"


def summarise(rows: Sequence[dict]) -> SettingSummary:
    """Rows of one setting: they share policy and budget."""
    n = len(rows)
    correct = sum(1 for r in rows if r["correct"])
    thinking = [r["thinking_tokens"] for r in rows]
    completion = [r["completion_tokens"] for r in rows]
    probes = [r.get("probe_tokens", 0) for r in rows]  # rows of older sweeps have none
    costs = [r["cost"] for r in rows if r.get("cost") is not None]
    within = [r["within_budget"] for r in rows if r.get("within_budget") is not None]
    low, high = wilson(correct, n)
    return SettingSummary(
        policy=rows[0]["policy"], budget=rows[0]["budget"], n=n, correct=correct, accuracy=correct / n,
        ci_low=low, ci_high=high, thinking_mean=mean(thinking), thinking_median=median(thinking),
        thinking_p10=quantile(thinking, 0.1), thinking_p90=quantile(thinking, 0.9),
        completion_mean=mean(completion), probe_mean=mean(probes),
        waits_mean=mean(r.get("waits", 0) for r in rows),
        tokens_per_correct=(sum(completion) + sum(probes)) / correct if correct else None,  # probes are spent
        cost=sum(costs) if costs else None,
        cost_per_correct=sum(costs) / correct if costs and correct else None,
        seconds_mean=mean(r["seconds"] for r in rows),
        control=mean(within) if within else None,
    )


@dataclass(frozen=True)
class S1Metrics:
    """Control, Scaling (accuracy per thinking token, also per 1k) and Performance of one method."""

    policy: str
    control: float | None
    scaling: float | None
    performance: float

    @property
    def scaling_per_1k(self) -> float | None:
        return None if self.scaling is None else self.scaling * 1000


def s1_metrics(policy: str, points: Sequence[tuple[float, float]], control: float | None) -> S1Metrics:
    """``points`` are (thinking tokens spent, accuracy) for one method at several budgets.

    Scaling is the mean slope over all pairs a < b: (f(b) - f(a)) / (b - a).
    Pairs that spent the same compute have no slope and are left out.
    """
    ordered = sorted(points)
    slopes = [(fb - fa) / (b - a) for (a, fa), (b, fb) in combinations(ordered, 2) if b > a]
    return S1Metrics(
        policy=policy,
        control=control,
        scaling=mean(slopes) if slopes else None,
        performance=max(f for _, f in points),
    )
