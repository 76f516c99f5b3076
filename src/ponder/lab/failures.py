"""Generations of a sweep that failed: each becomes a row with its ``error``, and a rerun retries it.

A failed row is never counted as done, so the next run of the same sweep tries it again and appends
the new row; a key's failures are settled once a row without an error exists for it. The report
leaves failures out of every accuracy and counts them apart.
"""

from __future__ import annotations

from collections import Counter

FATAL_STATUS = {401, 403, 404, 405}  # a key or route every request would hit: stop, do not write error rows


def error_row(base: dict, error: BaseException) -> dict:
    """The row of one generation that failed: what it was, and why."""
    message = str(error) or type(error).__name__
    if not isinstance(error, ValueError):  # not a user's error (PonderError is one): name the exception too
        message = f"{type(error).__name__}: {message}"
    return {**base, "error": message}


def is_fatal(error: BaseException) -> bool:
    """Whether ``error`` ends the sweep rather than its one generation: a server gone, or refusing every request."""
    from ..remote import EndpointError
    from ..remote.client import Refused

    return isinstance(error, EndpointError) or (isinstance(error, Refused) and error.status in FATAL_STATUS)


def settle(rows: list[dict], key) -> tuple[list[dict], list[dict]]:
    """(the rows without an error, the last failure of each key no later row has settled)."""
    ok = [r for r in rows if "error" not in r]
    done = {key(r) for r in ok}
    failed = {key(r): r for r in rows if "error" in r and key(r) not in done}
    return ok, list(failed.values())


def summary(failed: list[dict]) -> str:
    """One paragraph for the report: how many failed, in which settings, and the commonest error."""
    by_setting = Counter(r["setting"] for r in failed)
    where = ", ".join(f"{s}: {n}" for s, n in by_setting.items())
    error, times = Counter(r["error"] for r in failed).most_common(1)[0]
    return (f"{len(failed)} generation(s) failed and are left out of the tables ({where}); "
            f"rerun the sweep to retry them. Most common error ({times}x): {error}")
