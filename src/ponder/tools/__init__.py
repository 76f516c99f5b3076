"""Tool calls: the tools a request gives, how they reach the prompt, how calls are read and forced.

``ToolUse`` is what one generation was given; the rest is in ``spec`` (the shapes), ``render``
(the prompt), ``formats`` (reading calls) and ``grammar`` (forcing them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from .formats import CallFormat, CallReader, read_calls
from .spec import AUTO, NAMED, NONE, REQUIRED, Tool, ToolCall, ToolChoice, choice_from, tool_from, tools_from


@dataclass(frozen=True)
class ToolUse:
    """A generation's tools and tool choice; ``make`` checks them (names unique, a named choice among them)."""

    tools: tuple[Tool, ...] = ()
    choice: ToolChoice = ToolChoice()

    @classmethod
    def make(cls, tools: Iterable[Tool | Mapping] | None, choice=None, parallel: bool = True) -> "ToolUse":
        made = tools_from(tools)
        return cls(made, choice_from(choice, made, parallel))

    @property
    def reads_calls(self) -> bool:
        """Whether the answer is read for calls (``none``: the model answers in text)."""
        return bool(self.tools) and self.choice.mode != NONE


__all__ = ["AUTO", "CallFormat", "CallReader", "NAMED", "NONE", "REQUIRED", "Tool", "ToolCall", "ToolChoice",
           "ToolUse", "choice_from", "read_calls", "tool_from", "tools_from"]
