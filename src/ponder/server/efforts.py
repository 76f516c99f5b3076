"""Effort levels: what ``reasoning_effort`` (and Anthropic's ``output_config.effort``) stands for.

By default each level stands for a fixed thinking budget. ``ponder serve --efforts FILE`` takes
instead the table ``ponder calibrate`` measured from a sweep: each level's policy and budget as
ponder's flat options, with the accuracy and tokens measured for it. Pure: no model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import PonderError
from ..options import OPTIONS, pick, thinking_from_options

LEVELS = ("minimal", "low", "medium", "high", "xhigh", "max")  # "none" is always no thinking


@dataclass(frozen=True)
class Effort:
    """The thinking an effort level stands for: a budget, or (calibrated) any flat options, which then rule."""

    min_tokens: int = 0
    max_tokens: int | None = None
    options: tuple[tuple[str, Any], ...] = ()  # a calibrated level's flat options
    measured: tuple[tuple[str, Any], ...] = ()  # what the calibration measured for it

    def flat(self) -> dict[str, Any]:
        """The level as flat options (``ponder.options``)."""
        if self.options:
            return dict(self.options)
        return {"min_think": self.min_tokens, "max_think": self.max_tokens}

    def describe(self) -> dict[str, Any]:
        """The level as ``/v1/ponder/info`` shows it."""
        shown: dict[str, Any] = {"min_tokens": self.min_tokens, "max_tokens": self.max_tokens}
        if self.options:
            shown.update(dict(self.measured), options=dict(self.options))
        return shown


EFFORTS: dict[str, Effort | None] = {
    "none": None,
    "minimal": Effort(0, 16),
    "low": Effort(0, 64),
    "medium": Effort(0, 256),
    "high": Effort(256, 1024),
    "xhigh": Effort(512, 2048),
    "max": Effort(1024, 3072),
}


ANSWER_ROOM = 16  # completion tokens an effort leaves at the least for the wrap-up and the answer


def thinking_room(limit: int) -> int:
    """The most thinking an effort may ask under a completion limit: a quarter (at least ANSWER_ROOM tokens)
    stays for the answer, and never less than half goes to the thinking."""
    return max(limit - max(ANSWER_ROOM, limit // 4), limit // 2)


def fit(flat: dict[str, Any], limit: int | None) -> dict[str, Any]:
    """An effort's flat options scaled to fit ``limit`` (the request's ``max_tokens``): a maximum above the
    room is brought down to it and the minimum scaled with it, so the effort never uses up the answer's room."""
    if limit is None:
        return flat
    room, low, high = thinking_room(limit), flat.get("min_think") or 0, flat.get("max_think")
    if high is not None and high <= room:
        return flat
    scaled = low * room // high if high else low
    return {**flat, "min_think": min(scaled, room), "max_think": room}


def load_efforts(path: str) -> dict[str, Effort | None]:
    """A calibrated effort table (``ponder calibrate``'s JSON), every level checked as a request would be."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as err:
        raise PonderError(f"cannot read --efforts {path!r} ({err.strerror}): pass the file ponder calibrate "
                          "wrote") from None
    except ValueError as err:
        raise PonderError(f"--efforts {path!r} is not JSON ({err}): pass the file ponder calibrate wrote") from None
    levels = data.get("efforts") if isinstance(data, dict) else None
    if not isinstance(levels, dict):
        raise PonderError(f"--efforts {path!r} has no \"efforts\" object: pass the file ponder calibrate wrote")
    missing = [level for level in LEVELS if level not in levels]
    if missing:
        raise PonderError(f"--efforts {path!r} lacks the levels {', '.join(missing)}: give every one of "
                          f"{', '.join(LEVELS)}")
    return {"none": None, **{level: effort_of(levels[level], f"{path}: {level}") for level in LEVELS}}


def effort_of(entry: Any, where: str) -> Effort | None:
    """One level of a table: ``{"options": {...flat options...}, ...measured}``; ``no_think`` stands for none."""
    options = entry.get("options") if isinstance(entry, dict) else None
    if not isinstance(options, dict):
        raise PonderError(f"{where}: each level needs an \"options\" object of ponder's flat options")
    try:
        checked = pick(options)
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise PonderError(f"unknown option {unknown[0]!r}")
        thinking = thinking_from_options(checked)
    except PonderError as err:
        raise PonderError(f"{where}: {err}") from None
    if thinking is False:
        return None
    measured = tuple((k, v) for k, v in entry.items() if k != "options")
    return Effort(checked.get("min_think") or 0, checked.get("max_think"), tuple(sorted(checked.items())), measured)


def info(table: Mapping[str, Effort | None]) -> dict[str, Any]:
    return {name: None if effort is None else effort.describe() for name, effort in table.items()}
