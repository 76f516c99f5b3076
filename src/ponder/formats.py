"""Think formats: the markers around the thinking and how a prompt opens it."""

from __future__ import annotations

from .errors import PonderError

from dataclasses import dataclass

INSTRUCTION = (
    "Think step by step between <think> and </think>. "
    "Then write 'Final Answer:' followed by the answer."
)


@dataclass(frozen=True)
class ThinkFormat:
    """``start`` opens the thinking at the end of the prompt; ``end`` closes it.

    ``answer_lead`` is forced after a forced end. ``instruction`` is a system
    message for models that have no thinking format of their own (the end
    marker is not one of their special tokens).
    """

    name: str
    start: str
    end: str
    answer_lead: str = "\nFinal Answer:"
    instruction: str | None = INSTRUCTION

    def __post_init__(self) -> None:
        if not self.end:
            raise PonderError("a think format needs a non-empty end marker")


FORMATS = {
    "think": ThinkFormat("think", start="<think>\n", end="</think>"),
    # s1's ChatML format: the thinking ends at the next <|im_start|>, one special token.
    "s1": ThinkFormat("s1", start="<|im_start|>think\n", end="<|im_start|>", answer_lead="answer\nFinal Answer:",
                      instruction=None),
    # <think> markers and no answer lead: the answer follows the end marker at once (ponder's parity models)
    "bare": ThinkFormat("bare", start="<think>\n", end="</think>", answer_lead="", instruction=None),
}


FORMAT_HELP = f"think format: {', '.join(FORMATS)} (default: think)"  # the --format help of every command


def get_format(name: str | ThinkFormat) -> ThinkFormat:
    if isinstance(name, ThinkFormat):
        return name
    try:
        return FORMATS[name]
    except KeyError:
        raise PonderError(f"unknown think format {name!r}: choose one of {', '.join(FORMATS)}") from None
