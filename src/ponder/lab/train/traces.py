"""The trace formats the tiny models learn: what fills the thinking between a prompt and its answer.

A trace is what follows the prompt "QUESTION\\n<think>\\n": the thinking, "</think>",
the task's lead ("\\nFinal Answer: ", unless it answers at once), the answer and the
end token. Every format of a task has the same prompt and answer; they differ in
what fills the thinking. A trace is a list of segments, each with a flag saying
whether the model is trained to write it (loss on it) or only sees it, as it sees
what ponder injects (a "Wait", pause tokens).

A format may be a mix, "cot+filler": each trace is one of the parts, chosen at random.
"""

from __future__ import annotations

import random

from ...errors import PonderError
from .problems import Problem, column_totals

THINK, END, PAUSE, EOS = "<think>", "</think>", "<pause>", "<eos>"
FORMATS = ("cot", "direct", "filler", "pause", "verify", "recheck")

Segment = tuple[str, bool]  # (text, whether the model learns to write it)

# recheck traces: how often the guess drops the carry out of the units column (when there is one), how often
# it has a random slip besides, how often a trace is cut mid-thought (and of those, before any thinking), how
# many "ok" re-checks follow the columns (and how often more, up to LONG); of the cuts, how many land inside
# a "Wait", where a budget most often ends (it suppresses the end, and the forced "Wait" outruns the budget)
SLIP, NOISE, CUT, CUT_AT_START, EXTRA_CHECKS, LONG, LONG_SHARE = 0.7, 0.3, 0.4, 0.15, 3, 8, 0.1
CUT_IN_WAIT = 0.4
MARK = ">"  # opens every answer line and nothing else, so a cut line is never taken for one


def check_format(fmt: str) -> tuple[str, ...]:
    parts = tuple(fmt.split("+"))
    unknown = [p for p in parts if p not in FORMATS]
    if unknown or not fmt:
        raise PonderError(f"unknown trace format {fmt!r}: choose one of {', '.join(FORMATS)}, "
                          "or a mix such as cot+filler")
    return parts


def prompt(problem: Problem) -> str:
    """What ponder sends for this problem (no chat template: the question, then the opened thinking)."""
    return f"{problem.question}\n{THINK}\n"


def completion(problem: Problem, fmt: str, r: random.Random) -> list[Segment]:
    """One trace of ``problem`` in ``fmt`` (one part of a mix, chosen with ``r``)."""
    parts = check_format(fmt)
    part = parts[0] if len(parts) == 1 else r.choice(parts)
    if part == "recheck":
        return recheck(problem, r)
    return [*thinking(problem, part, r), (END, True), (f"{problem.lead}{problem.answer}{EOS}", True)]


def text_of(segments: list[Segment]) -> str:
    return "".join(text for text, _ in segments)


def thinking(problem: Problem, fmt: str, r: random.Random) -> list[Segment]:
    """The thinking of one trace in a single format (not recheck, whose answer depends on its thinking)."""
    cot = "".join(problem.steps)
    if fmt == "cot":
        return [(cot, True)]
    if fmt == "direct":
        return []
    if fmt == "filler":
        return [("." * len(cot), True)]
    if fmt == "pause":
        return [(PAUSE * len(cot), False)]  # as ponder injects them: seen, never learned
    if fmt == "verify":
        head = "".join(problem.steps[:-1])
        roll = r.random()
        if roll < 0.3:  # a slip in the last step, caught by a re-check
            return [(head + problem.wrong + "Wait\n" + problem.steps[-1], True)]
        if roll < 0.5:  # a re-check that confirms
            return [(cot + "Wait\n" + problem.steps[-1], True)]
        return [(cot, True)]
    raise PonderError(f"{fmt} traces are not built here")


def recheck(problem: Problem, r: random.Random) -> list[Segment]:
    """A direct guess, then one column checked and the answer line rewritten per "Wait".

    The guess is written without working (and is wrong in about half the traces);
    each "Wait" (not learned, so the model never writes one: every re-check is
    forced) is followed by the check of the next column from the right and the
    answer line with that column fixed; once every column is checked a "Wait"
    gets "ok". The model learns to stop after each line. A share of the traces
    are cut at a random point, as a forced wrap-up cuts them, and answer with the
    line the thinking was writing or had earned (see ``cut``).
    """
    totals = column_totals(problem)
    right = answer_line(problem)
    guess = guessed(right, totals, r)
    checks = r.randint(0, len(totals) + EXTRA_CHECKS)
    if r.random() < LONG_SHARE:  # now and then more "ok"s than usual, so a long budget stays in what was seen
        checks = r.randint(len(totals) + EXTRA_CHECKS + 1, len(totals) + LONG)
    segments, last = rechecked(problem, guess, checks)
    if r.random() < CUT:
        segments, answer = cut(segments, cut_point(segments, r), guess)
        return [*segments, (END, False), (f"{problem.lead}{answer}{EOS}", True)]
    return [*segments, (END, True), (f"{problem.lead}{last}{EOS}", True)]


def cut_point(segments: list[Segment], r: random.Random) -> int:
    """Where a cut trace ends: at the start, inside or just after a "Wait", or anywhere."""
    roll = r.random()
    if roll < CUT_AT_START:
        return 0
    starts = [len(text_of(segments[:i])) for i, (text, _) in enumerate(segments) if text == "Wait"]
    if starts and roll < CUT_AT_START + CUT_IN_WAIT:
        return r.choice(starts) + r.randint(1, len("Wait"))
    return r.randint(1, len(text_of(segments)))


def answer_line(problem: Problem) -> str:
    """The answer as the recheck format writes it: one digit per column and one for the carry out."""
    return f"{int(problem.answer):0{len(problem.steps) + 1}d}"


def rechecked(problem: Problem, guess: str, checks: int) -> tuple[list[Segment], str]:
    """The guess line and ``checks`` re-checks after it; returns the segments and the last answer line."""
    totals = column_totals(problem)
    width = len(totals) + 1
    segments, line = [(MARK + guess + "\n", True)], list(guess)
    for i in range(checks):
        segments.append(("Wait", False))
        if i >= len(totals):  # every column is checked: "ok", and the answer line again
            segments.append(("\nok\n" + MARK + "".join(line) + "\n", True))
            continue
        line[width - 1 - i] = str(totals[i] % 10)
        if i == len(totals) - 1:
            line[0] = str(totals[i] // 10)
        segments.append(("\n" + problem.steps[i] + MARK + "".join(line) + "\n", True))
    return segments, "".join(line)


def full_check(problem: Problem) -> str:
    """The thinking of a guess and every column checked: what a budget must hold for every re-check."""
    return text_of(rechecked(problem, answer_line(problem), len(problem.steps))[0])


def guessed(right: str, totals: list[int], r: random.Random) -> str:
    """The answer line as a quick guess writes it: the right one, but most often without the units' carry.

    The slip is systematic (a greedy decoder reproduces what most traces do), so the model's own
    guess is wrong for every problem whose units column carries; random slips besides, in any
    column, teach the re-checks to fix whatever they find.
    """
    width, digits = len(right), list(right)
    if totals[0] >= 10 and r.random() < SLIP:
        drop(digits, 1, totals[0] // 10)
    if r.random() < NOISE:
        carried = [i + 1 for i, total in enumerate(totals) if total >= 10]  # columns a carry goes into
        if carried and r.random() < 0.7:
            column = r.choice(carried)
            drop(digits, column, totals[column - 1] // 10)
        else:
            drop(digits, r.randrange(width), r.choice((1, 9)))
    return "".join(digits)


def drop(digits: list[str], column: int, amount: int) -> None:
    """Take ``amount`` off a column's digit (column 0 is the units, the rightmost)."""
    at = len(digits) - 1 - column
    digits[at] = str((int(digits[at]) - amount) % 10)


def cut(segments: list[Segment], at: int, guess: str) -> tuple[list[Segment], str]:
    """The segments up to character ``at``, and the answer a wrap-up there gives.

    That is the answer line the thinking was writing, or had earned by a completed check (the line
    that follows it), else the last answer line, else the guess: a wrap-up mid-line completes the
    line as the thinking would have, so the answer never mixes a partial line with an older one.
    """
    kept, used = [], 0
    for text, learned in segments:
        if used >= at:
            break
        kept.append((text[: at - used], learned))
        used += len(kept[-1][0])
    lines = text_of(segments).split("\n")
    ended = text_of(kept).count("\n")  # lines written whole
    if ended and not lines[ended - 1].startswith(MARK) and lines[ended - 1] != "Wait":  # a check or an "ok"
        return kept, lines[ended][len(MARK):]
    answers = [line[len(MARK):] for line in lines[:ended] if line.startswith(MARK)]
    return kept, answers[-1] if answers else guess
