"""``ponder calibrate RUN_DIR``: effort levels chosen from a sweep's measured accuracy and cost.

Each level must reach a share of the best accuracy the sweep measured; of the settings (method and
budget) that do, the one with the lowest mean cost per answer is the level. Cost is dollars when
prices are known (given here, or the sweep's own), else tokens spent per answer: completion and
probes. The table (JSON) says for each level the setting, its flat options (what ``ponder serve
--efforts`` runs) and what it measured.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import mean

from ..errors import PonderError
from ..options import options_for
from ..usage import price
from .effort_table import TABLE_FILE
from .methods import METHODS
from .report import load_rows

SHARES = {"minimal": 0.50, "low": 0.75, "medium": 0.90, "high": 0.95, "xhigh": 0.98, "max": 1.00}
SLACK = 1e-9  # a share of an accuracy is compared with a tolerance for rounding


@dataclass(frozen=True)
class Measured:
    """One setting of the sweep: what it reached and what it cost per answer, on average."""

    setting: str
    policy: str
    budget: int | None
    n: int
    accuracy: float
    thinking_tokens: float
    probe_tokens: float
    tokens: float  # completion and probe tokens per answer
    cost: float | None  # dollars per answer, when priced

    @property
    def price_key(self) -> tuple:
        """Cheapest first: dollars (or tokens when unpriced), then tokens, then the label for a stable choice."""
        return (self.tokens if self.cost is None else self.cost, self.tokens, self.setting)


def measure(rows: list[dict], price_input: float | None, price_output: float | None) -> list[Measured]:
    by_setting: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_setting[row["setting"]].append(row)
    priced = price_input is not None or price_output is not None
    measured = []
    for setting, group in by_setting.items():
        spent = [r["completion_tokens"] + r.get("probe_tokens", 0) for r in group]
        costs = [price(r["prompt_tokens"], s, price_input, price_output) for r, s in zip(group, spent)]
        measured.append(Measured(
            setting=setting, policy=group[0]["policy"], budget=group[0]["budget"], n=len(group),
            accuracy=mean(1.0 if r["correct"] else 0.0 for r in group),
            thinking_tokens=mean(r["thinking_tokens"] for r in group),
            probe_tokens=mean(r.get("probe_tokens", 0) for r in group), tokens=mean(spent),
            cost=mean(costs) if priced else None))
    return measured


def choose(measured: list[Measured], share: float, best: float) -> Measured:
    """The cheapest setting reaching ``share`` of the best accuracy."""
    reaching = [m for m in measured if m.accuracy >= share * best - SLACK]
    return min(reaching, key=lambda m: m.price_key)


def calibrate(folder: str | os.PathLike, price_input: float | None = None,
              price_output: float | None = None) -> dict:
    """The effort table of a sweep's folder (nothing written)."""
    for name, value in (("--price-input", price_input), ("--price-output", price_output)):
        if value is not None and not value >= 0:
            raise PonderError(f"{name} must be >= 0 dollars per million tokens, got {value}")
    config, rows = load_rows(Path(folder))
    if price_input is None and price_output is None:
        price_input, price_output = config.get("price_input"), config.get("price_output")
    measured = measure(rows, price_input, price_output)
    unknown = sorted({m.policy for m in measured} - set(METHODS))
    if unknown:
        raise PonderError(f"{folder} holds rows of methods this ponder does not know ({', '.join(unknown)}): "
                          "calibrate with the ponder that ran the sweep")
    best = max(m.accuracy for m in measured)
    if best == 0:
        raise PonderError(f"no setting in {folder} answered an item correctly: there is no accuracy to calibrate "
                          "against; sweep larger budgets or another model")
    efforts = {level: entry(choose(measured, share, best), share, best) for level, share in SHARES.items()}
    return {"source": str(folder), "task": config.get("task"), "model": config.get("model"), "best_accuracy": best,
            "cost": "dollars per answer" if price_input is not None or price_output is not None else
            "tokens per answer", "prices": {"input": price_input, "output": price_output}, "efforts": efforts}


def entry(chosen: Measured, share: float, best: float) -> dict:
    """A level of the table: its share, the setting chosen and its flat options, and what that setting measured."""
    policies = METHODS[chosen.policy].build(chosen.budget or 0)
    measured = {k: (round(v, 4) if isinstance(v, float) and k != "cost" else v) for k, v in asdict(chosen).items()}
    return {"share": share, "target": round(share * best, 4), **measured, "options": options_for(policies)}


def write_table(table: dict, out: str | os.PathLike | None, folder: str | os.PathLike) -> Path:
    """Write the table (default: ``efforts.json`` in the sweep's folder); a folder that does not exist is refused."""
    path = Path(out) if out is not None else Path(folder) / TABLE_FILE
    if not path.parent.is_dir():
        raise PonderError(f"cannot write {path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise PonderError(f"cannot write {path}: it is a folder; name a file, e.g. {path / TABLE_FILE}")
    path.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return path

