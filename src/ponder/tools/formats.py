"""How model families write a tool call in their answer, and reading the calls back out of it.

A small registry by name. ``hermes`` is the convention of Hermes, Qwen 2.5 and Qwen3 (and ponder's
fallback for templates without tools): each call a JSON object ``{"name": ..., "arguments": {...}}``
between ``<tool_call>`` and ``</tool_call>``. Calls are read from the answer only, never from the
thinking. What does not parse as a call to one of the tools stays text, as the model wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

from ..errors import PonderError
from .spec import Tool, ToolCall


@dataclass(frozen=True)
class CallFormat:
    name: str
    open: str
    close: str
    name_key: str = "name"
    arguments_key: str = "arguments"

    def write(self, call: ToolCall) -> str:
        """A call as the model would write it (a history's earlier calls, for templates without tools)."""
        body = json.dumps({self.name_key: call.name, self.arguments_key: json.loads(call.arguments or "{}")},
                          ensure_ascii=False)
        return f"{self.open}\n{body}\n{self.close}"

    def read(self, body: str, tools: Iterable[Tool]) -> ToolCall | None:
        """The call in the text between the tags, or None if it is not a call to one of ``tools``."""
        try:
            obj = json.loads(body)
        except ValueError:
            return None
        if not isinstance(obj, dict) or obj.get(self.name_key) not in {t.name for t in tools}:
            return None
        arguments = obj.get(self.arguments_key, {})
        if isinstance(arguments, str):  # some models write the arguments as a JSON text
            try:
                arguments = json.loads(arguments)
            except ValueError:
                return None
        if not isinstance(arguments, dict):
            return None
        return ToolCall(obj[self.name_key], json.dumps(arguments, ensure_ascii=False))


FORMATS = {"hermes": CallFormat("hermes", "<tool_call>", "</tool_call>")}
FALLBACK = FORMATS["hermes"]


def call_format(name: str) -> CallFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise PonderError(f"unknown tool-call format {name!r}: ponder knows {', '.join(FORMATS)}") from None


def format_in(rendered: str) -> CallFormat:
    """The format whose tags a template wrote for an earlier call (``render.native_format`` renders one)."""
    for fmt in FORMATS.values():
        if fmt.open in rendered and fmt.close in rendered:
            return fmt
    raise PonderError("this model's chat template writes tool calls in a format ponder does not know (it knows "
                      f"{', '.join(FORMATS)}): use a model in one of them, or leave tools out")


class CallReader:
    """Splits an answer, fed a piece at a time, into text and the calls in it.

    ``feed`` and ``close`` return what can be told apart so far: ``("text", str)`` and ``("call",
    ToolCall)`` items. Text that may be the start of a call's opening tag is held back until it is
    known not to be; a call is returned once its closing tag (or the answer's end) arrives.
    """

    def __init__(self, fmt: CallFormat, tools: Iterable[Tool]) -> None:
        self.fmt, self.tools = fmt, tuple(tools)
        self.pending = ""  # text not yet told apart
        self.inside = False  # within a call's tags
        self.scanned = 0  # of a call's pending text, what was searched for a closing tag that ends it
        self.calls: list[ToolCall] = []
        self.text = ""  # the answer's text outside the calls

    def feed(self, delta: str) -> list[tuple[str, object]]:
        self.pending += delta
        out: list[tuple[str, object]] = []
        while True:
            if self.inside:
                end = self.closing_tag()
                if end < 0:
                    return out
                self.finish_call(self.pending[:end], self.fmt.close, out)
                self.pending = self.pending[end + len(self.fmt.close):]
                continue
            start = self.pending.find(self.fmt.open)
            if start < 0:
                held = held_back(self.pending, self.fmt.open)
                self.emit_text(self.pending[: len(self.pending) - held], out)
                self.pending = self.pending[len(self.pending) - held:]
                return out
            self.emit_text(self.pending[:start], out)
            self.pending, self.inside = self.pending[start + len(self.fmt.open):], True

    def closing_tag(self) -> int:
        """Where the call's closing tag is: the first that follows a whole call (a string in its arguments may
        hold the tag's text too), or -1 until one has come."""
        while True:
            end = self.pending.find(self.fmt.close, self.scanned)
            if end < 0:
                self.scanned = max(self.scanned, len(self.pending) - len(self.fmt.close) + 1)
                return -1
            self.scanned = end + 1
            if self.fmt.read(self.pending[:end], self.tools) is not None:
                return end

    def close(self) -> list[tuple[str, object]]:
        """The end of the answer: an unclosed call is read as it stands (a model may stop before its tag)."""
        out: list[tuple[str, object]] = []
        if self.inside:
            body = self.pending.rstrip()
            closing = self.fmt.close if body.endswith(self.fmt.close) else ""
            self.finish_call(body[:len(body) - len(closing)], closing + self.pending[len(body):], out)
        else:
            self.emit_text(self.pending, out)
        self.pending, self.inside = "", False
        return out

    def finish_call(self, body: str, closing: str, out: list) -> None:
        call = self.fmt.read(body, self.tools)
        self.inside, self.scanned = False, 0
        if call is None:
            self.emit_text(self.fmt.open + body + closing, out)
        else:
            self.calls.append(call)
            out.append(("call", call))

    def emit_text(self, text: str, out: list) -> None:
        if text:
            self.text += text
            out.append(("text", text))


def held_back(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` could begin ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


def read_calls(answer: str, fmt: CallFormat, tools: Iterable[Tool]) -> tuple[str, tuple[ToolCall, ...]]:
    """The answer's text outside its calls, and the calls."""
    reader = CallReader(fmt, tools)
    reader.feed(answer)
    reader.close()
    return reader.text, tuple(reader.calls)
