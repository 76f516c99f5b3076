"""Structured answers as each dialect asks for them, made into one ``AnswerSchema`` (or a 400).

OpenAI's chat completions: ``response_format`` ``{"type": "json_object"}`` or ``{"type": "json_schema",
"json_schema": {"name", "schema", "strict"}}``; the Responses API: ``text.format`` with the same types,
flat (``{"type": "json_schema", "name", "schema", "strict"}``); Anthropic: ``output_config.format``
(``{"type": "json_schema", "schema"}``). ``{"type": "text"}`` asks for nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, StrictBool

from ..errors import PonderError
from ..structured import AnswerSchema
from .errors import ApiError
from .fields import RequestModel

Name = Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class TextFormat(RequestModel):
    type: Literal["text"]


class JsonObjectFormat(RequestModel):
    type: Literal["json_object"]


class JsonSchemaSpec(RequestModel):
    name: Name
    description: Annotated[str, Field(max_length=4096)] | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: StrictBool | None = None  # held to the schema either way


class JsonSchemaFormat(RequestModel):
    """Chat completions' shape: the schema inside ``json_schema``."""

    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


class FlatJsonSchemaFormat(JsonSchemaSpec):
    """The Responses API's shape: the schema's fields beside ``type``; Anthropic's: ``schema`` only."""

    type: Literal["json_schema"]
    name: Name | None = None


ResponseFormat = Annotated[Union[TextFormat, JsonObjectFormat, JsonSchemaFormat], Field(discriminator="type")]
FlatFormat = Annotated[Union[TextFormat, JsonObjectFormat, FlatJsonSchemaFormat], Field(discriminator="type")]


def schema_or_400(given, param: str) -> AnswerSchema | None:
    """The answer schema a format asks for (None: plain text); a schema the grammar library refuses is a 400."""
    if given is None or isinstance(given, TextFormat):
        return None
    if isinstance(given, JsonObjectFormat):
        return AnswerSchema()
    spec = given.json_schema if isinstance(given, JsonSchemaFormat) else given
    try:
        return AnswerSchema(spec.schema_)
    except PonderError as err:
        raise ApiError(400, f"{param}: {err}", param, "invalid_schema") from None


def chat_format(given) -> dict | None:
    """A flat format (the Responses API's ``text.format``) in chat completions' ``response_format`` shape."""
    if given is None or isinstance(given, TextFormat):
        return None
    if isinstance(given, JsonObjectFormat):
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": given.name or "answer", "schema": given.schema_,
                                                   "strict": given.strict}}
