"""The calibrated effort table as a file and as rows of a report (``ponder calibrate`` writes it)."""

from __future__ import annotations

import json
from pathlib import Path

TABLE_FILE = "efforts.json"  # in the sweep's folder, where ``ponder report`` finds it
COLUMNS = ["effort", "share of best", "setting", "accuracy", "thinking mean", "probes mean", "tokens/answer",
           "cost/answer"]


def read_table(folder: Path) -> dict | None:
    """The table ``ponder calibrate`` wrote into a sweep's folder, if it did (and it is readable)."""
    path = folder / TABLE_FILE
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return table if isinstance(table, dict) and isinstance(table.get("efforts"), dict) else None


def table_rows(table: dict) -> list[list[str]]:
    """One row per effort level: what it must reach, the setting chosen, and what that setting measured."""
    rows = []
    for level, e in table["efforts"].items():
        cost = "-" if e.get("cost") is None else f"${e['cost']:.6f}"
        rows.append([level, f"{e['share']:.0%}", e["setting"], f"{e['accuracy']:.1%}", f"{e['thinking_tokens']:.1f}",
                     f"{e['probe_tokens']:.1f}", f"{e['tokens']:.1f}", cost])
    return rows
