"""Tools into the prompt: by the model's own chat template where it has tools, else by a fallback.

A template "has tools" when rendering with ``tools=`` writes them (Qwen3's, Hermes', Llama 3's);
it then also writes the history's calls and results, and the format of the calls it writes is
the format the model answers in. Without (SmolLM2-135M's, Gemma 3's), ponder writes the tools
into the system message in the Hermes convention, each earlier call into its assistant message
as the model would write it, and each result as a user message between ``<tool_response>`` tags.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from typing import Sequence

from .formats import FALLBACK, CallFormat, format_in
from .spec import Tool, ToolCall

FALLBACK_INSTRUCTION = (
    "You can call these functions, given as JSON Schemas between <tools> and </tools>:\n<tools>\n{tools}\n</tools>\n"
    "To call one, answer with a JSON object holding its name and arguments between <tool_call> and </tool_call>:\n"
    '<tool_call>\n{{"name": "<function name>", "arguments": {{<arguments>}}}}\n</tool_call>\n'
    "A call's result comes back between <tool_response> and </tool_response>."
)
PROBE = Tool("ponder_probe_tool", "", {"type": "object", "properties": {}})
_native: "weakref.WeakKeyDictionary[object, CallFormat | None]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Rendered:
    """A chat ready for the template: its messages, the template's extra variables, and the call format."""

    messages: list[dict]
    template: dict
    format: CallFormat


def native_format(backend) -> CallFormat | None:
    """The call format of the backend's template if it writes tools, else None (found once per backend)."""
    if backend not in _native:
        user = {"role": "user", "content": "hi"}
        tools = [PROBE.to_openai()]
        rendered = backend.chat_prompt([user], tools=tools) or ""
        found = None
        if PROBE.name in rendered:
            call = {"role": "assistant", "content": "", "tool_calls": [call_message(ToolCall(PROBE.name, "{}"))]}
            found = format_in(backend.chat_prompt([user, call, {"role": "user", "content": "ok"}], tools=tools) or "")
        _native[backend] = found
    return _native[backend]


def call_message(call: ToolCall) -> dict:
    """A call in a history, as templates read it (the arguments as an object: most iterate or ``tojson`` them)."""
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": json.loads(call.arguments)}}


def render(backend, messages: Sequence[dict], tools: Sequence[Tool]) -> Rendered:
    """``messages`` (OpenAI's chat shape, with ``tool_calls`` and ``tool`` messages) ready for the template."""
    native = native_format(backend) if tools or has_calls(messages) else None
    if native is not None:
        template = {"tools": [t.to_openai() for t in tools]} if tools else {}
        return Rendered([native_message(m) for m in messages], template, native)
    return Rendered(fallback_messages(messages, tools), {}, FALLBACK)


def has_calls(messages: Sequence[dict]) -> bool:
    return any(m.get("tool_calls") or m.get("role") == "tool" for m in messages)


def native_message(message: dict) -> dict:
    calls = message.get("tool_calls")
    if not calls:
        return message
    return {**message, "content": message.get("content") or "",
            "tool_calls": [call_message(as_call(c)) for c in calls]}


def as_call(call) -> ToolCall:
    if isinstance(call, ToolCall):
        return call
    function = call.get("function", call)
    arguments = function.get("arguments") or "{}"
    arguments = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall(function["name"], arguments, call["id"]) if call.get("id") else ToolCall(function["name"], arguments)


def fallback_messages(messages: Sequence[dict], tools: Sequence[Tool]) -> list[dict]:
    """The history for a template without tools: calls written out, results as user messages, tools in the system."""
    out: list[dict] = []
    for m in messages:
        if m.get("role") == "tool":
            response = f"<tool_response>\n{m.get('content') or ''}\n</tool_response>"
            if out and out[-1].get("role") == "user" and out[-1].get("from_tools"):
                out[-1]["content"] += "\n" + response  # results of parallel calls: one message
            else:
                out.append({"role": "user", "content": response, "from_tools": True})
        elif m.get("tool_calls"):
            written = [FALLBACK.write(as_call(c)) for c in m["tool_calls"]]
            out.append({"role": "assistant", "content": "\n".join(filter(None, [m.get("content") or "", *written]))})
        else:
            out.append(dict(m))
    for m in out:
        m.pop("from_tools", None)
    if not tools:
        return out
    listing = "\n".join(json.dumps(t.to_openai(), ensure_ascii=False) for t in tools)
    instruction = FALLBACK_INSTRUCTION.format(tools=listing)
    if out and out[0].get("role") in ("system", "developer"):
        return [{"role": "system", "content": f"{out[0].get('content') or ''}\n\n{instruction}".strip()}, *out[1:]]
    return [{"role": "system", "content": instruction}, *out]
