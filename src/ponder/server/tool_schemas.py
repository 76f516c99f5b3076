"""Tools in request bodies: OpenAI's chat shape, Anthropic's, and the history's calls and results in each.

The bodies only check shapes; ``ponder.tools`` checks the rest (a name, a JSON Schema, a choice
among the tools) with its own messages, which the routes return as a 400 naming the field.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool

from ..errors import PonderError
from ..tools import NAMED, ToolChoice, ToolUse
from .errors import ApiError
from .fields import RequestModel, Text

Schema = Annotated[dict[str, Any], Field(max_length=64)]
MAX_TOOLS = 128


class FunctionSpec(RequestModel):
    name: Annotated[str, Field(max_length=64)]
    description: Text | None = None
    parameters: Schema | None = None
    strict: StrictBool | None = None  # a forced call always follows the schema; an unforced one as the model writes


class ToolSpec(RequestModel):
    type: Literal["function"]
    function: FunctionSpec


class NamedFunction(RequestModel):
    name: Annotated[str, Field(max_length=64)]


class NamedChoice(RequestModel):
    type: Literal["function"]
    function: NamedFunction


class CalledFunction(RequestModel):
    name: Annotated[str, Field(max_length=64)]
    arguments: Text = "{}"  # a JSON text, as OpenAI sends it


class HistoryCall(RequestModel):
    """A call from an earlier assistant message."""

    id: Annotated[str, Field(max_length=256)] | None = None
    type: Literal["function"] = "function"
    function: CalledFunction

    def to_dict(self) -> dict:
        try:
            json.loads(self.function.arguments or "{}")
        except ValueError:
            raise ApiError(400, f"the arguments of call {self.id or self.function.name!r} in the history are not "
                                "JSON: send them as the JSON text the call was made with", "messages",
                           "invalid_tool_call") from None
        return {"id": self.id, "type": "function",
                "function": {"name": self.function.name, "arguments": self.function.arguments or "{}"}}


OpenAITools = Annotated[list[ToolSpec], Field(max_length=MAX_TOOLS)]
OpenAIChoice = Literal["auto", "none", "required"] | NamedChoice


def check_results(messages: list[dict]) -> None:
    """Each tool message answers a call an earlier assistant message made (OpenAI's rule)."""
    made: set[str] = set()
    for m in messages:
        made.update(c["id"] for c in m.get("tool_calls", ()) if c["id"])
        if m["role"] == "tool" and m.get("tool_call_id") not in made:
            raise ApiError(400, f"a tool message answers call {m.get('tool_call_id')!r}, which no earlier assistant "
                                "message made: send the assistant message with its tool_calls first",
                           "messages", "invalid_tool_result")


def tool_use_or_400(tools: list | None, choice, parallel: bool | None, names: tuple[str, str]) -> ToolUse:
    """The request's tools made and checked; a 400 naming ``names[0]`` (the tools) or ``names[1]`` (the choice)."""
    try:
        made = ToolUse.make([t if isinstance(t, dict) else t.model_dump(exclude_none=True) for t in tools or ()],
                            None, True if parallel is None else parallel)
    except PonderError as err:
        raise ApiError(400, str(err), names[0], "invalid_tools") from None
    try:
        return ToolUse(made.tools, choice_of(choice, made, parallel))
    except PonderError as err:
        raise ApiError(400, str(err), names[1], "invalid_tool_choice") from None


def choice_of(choice, made: ToolUse, parallel: bool | None) -> ToolChoice:
    from ..tools import choice_from

    if isinstance(choice, ToolChoice):
        return choice_from(choice, made.tools)
    if isinstance(choice, NamedChoice):
        return choice_from({"name": choice.function.name}, made.tools, parallel is not False)
    return choice_from(choice, made.tools, parallel is not False)


def anthropic_choice(choice) -> ToolChoice | None:
    """Anthropic's ``tool_choice``: auto, any (a call to one of the tools), tool (a named one), none."""
    if choice is None:
        return None
    parallel = not choice.disable_parallel_tool_use
    mode = {"auto": "auto", "any": "required", "tool": NAMED, "none": "none"}[choice.type]
    if mode == NAMED and not choice.name:
        raise ApiError(400, 'a tool_choice of type "tool" needs the tool\'s name', "tool_choice", "invalid_tool_choice")
    return ToolChoice(mode, choice.name if mode == NAMED else None, parallel)
