"""Tools a model may call, the choice of whether it must, and the calls it made: checked on creation.

The shapes follow OpenAI's function tools (``{"type": "function", "function": {name, description,
parameters}}``); Anthropic's (``{name, description, input_schema}``) and the Responses API's flat
form are read by ``tool_from``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..errors import PonderError

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # OpenAI's rule for function names (and Anthropic's)
AUTO, NONE, REQUIRED, NAMED = "auto", "none", "required", "named"


@dataclass(frozen=True)
class Tool:
    """A function the model may call: its name, what it does, and its arguments' JSON Schema."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise PonderError(f"a tool's name must be 1-64 letters, digits, '_', '.' or '-', got {self.name!r}")
        if not isinstance(self.description, str):
            raise PonderError(f"tool {self.name!r}: its description must be a string")
        check_schema(self.parameters, f"tool {self.name!r}")

    def to_openai(self) -> dict:
        """The function tool as chat templates and OpenAI's API spell it (no description where none was given)."""
        described = {"description": self.description} if self.description else {}
        return {"type": "function", "function": {"name": self.name, **described, "parameters": dict(self.parameters)}}


@dataclass(frozen=True)
class ToolChoice:
    """``auto``: the model calls a tool if it wants; ``none``: it does not; ``required``: it must call one;
    ``named``: it must call ``name``. ``parallel``: it may make several calls at once."""

    mode: str = AUTO
    name: str | None = None
    parallel: bool = True

    def __post_init__(self) -> None:
        if self.mode not in (AUTO, NONE, REQUIRED, NAMED):
            raise PonderError(f"tool_choice must be auto, none, required or a named function, got {self.mode!r}")
        if (self.mode == NAMED) != (self.name is not None):
            raise PonderError("a named tool_choice needs the function's name (and only it has one)")

    @property
    def forced(self) -> bool:
        return self.mode in (REQUIRED, NAMED)


@dataclass(frozen=True)
class ToolCall:
    """A call the model made: its id, the function's name and the arguments as a JSON text."""

    name: str
    arguments: str
    id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:24])

    def parsed_arguments(self) -> Any:
        return json.loads(self.arguments)

    def to_openai(self) -> dict:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


def check_schema(schema: Any, what: str) -> None:
    """A JSON Schema for an object's fields, as grammars take it (llguidance reads every keyword it knows)."""
    if not isinstance(schema, Mapping):
        raise PonderError(f"{what}: its parameters must be a JSON Schema object, got {type(schema).__name__}")
    if schema.get("type", "object") != "object":
        raise PonderError(f"{what}: its parameters' schema must describe an object (\"type\": \"object\")")
    error = schema_error(schema)
    if error:
        raise PonderError(f"{what}: its parameters are not a JSON Schema ponder can hold a call to: {error}")


def schema_error(schema: Mapping) -> str | None:
    """What the grammar library finds wrong with a JSON Schema (None: it can hold output to it)."""
    from llguidance import LLMatcher

    try:
        return LLMatcher.validate_grammar(LLMatcher.grammar_from_json_schema(json.dumps(schema))) or None
    except (ValueError, TypeError) as err:
        return str(err)


def tool_from(spec: Tool | Mapping) -> Tool:
    """A tool from OpenAI's chat shape, the Responses API's flat one or Anthropic's (``input_schema``)."""
    if isinstance(spec, Tool):
        return spec
    if not isinstance(spec, Mapping):
        raise PonderError(f"a tool must be a Tool or a mapping, got {type(spec).__name__}")
    kind = spec.get("type", "function")
    if kind != "function" and "input_schema" not in spec:
        raise PonderError(f"tools of type {kind!r} are not supported: give function tools")
    body = spec.get("function", spec) if kind == "function" else spec
    if not isinstance(body, Mapping):
        raise PonderError("a function tool's 'function' must be an object with a name")
    parameters = body.get("parameters", body.get("input_schema"))
    return Tool(body.get("name"), body.get("description") or "",
                {"type": "object", "properties": {}} if parameters is None else parameters)


def tools_from(specs: Iterable[Tool | Mapping] | None) -> tuple[Tool, ...]:
    tools = tuple(tool_from(s) for s in specs or ())
    names = [t.name for t in tools]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise PonderError(f"tool names must be unique: {', '.join(repeated)} given more than once")
    return tools


def choice_from(choice: str | Mapping | ToolChoice | None, tools: tuple[Tool, ...], parallel: bool = True) \
        -> ToolChoice:
    """OpenAI's ``tool_choice`` ("auto", "none", "required", ``{"type": "function", "function": {"name"}}``) or
    a tool's name, checked against the tools."""
    if isinstance(choice, ToolChoice):
        made = choice
    elif isinstance(choice, str) and choice not in (AUTO, NONE, REQUIRED):
        made = ToolChoice(NAMED, choice, parallel)
    elif choice is None or isinstance(choice, str):
        made = ToolChoice(choice or AUTO, parallel=parallel)
    else:
        body = choice.get("function", choice)
        name = body.get("name") if isinstance(body, Mapping) else None
        made = ToolChoice(NAMED, name if isinstance(name, str) else None, parallel)
    if made.forced and not tools:
        raise PonderError(f"tool_choice {made.mode} needs tools to call: give tools, or tool_choice auto")
    if made.mode == NAMED and made.name not in {t.name for t in tools}:
        raise PonderError(f"tool_choice names {made.name!r}, which is not among the tools "
                          f"({', '.join(t.name for t in tools)})")
    return made
