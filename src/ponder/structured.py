"""Answers that parse: the thinking free, the answer after it held to a JSON Schema (or to any JSON object).

The grammar library is the one forced tool calls use (llguidance, ``tools.grammar``): the answer
phase, from the end of the thinking on, is masked to what the schema allows, the runs it allows
alone are forced in one pass, and near the limit it is steered to close. A forced wrap-up leads
into the JSON (its lead is a newline), and the thinking is capped to leave the answer room.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import PonderError

ANY_OBJECT = {"type": "object"}
JSON_OBJECT = "json_object"  # OpenAI's name for any JSON object


@dataclass(frozen=True)
class AnswerSchema:
    """The answer's JSON Schema (``None``: any JSON object), checked by the grammar library when made."""

    schema: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.schema is not None and not isinstance(self.schema, Mapping):
            raise PonderError(f"an answer schema must be a JSON Schema object, got {type(self.schema).__name__}")
        from .tools.spec import schema_error

        error = schema_error(self.effective)
        if error:
            raise PonderError(f"the answer schema is not a JSON Schema ponder can hold an answer to: {error}")

    @property
    def effective(self) -> dict:
        return dict(ANY_OBJECT if self.schema is None else self.schema)

    def grammar(self) -> str:
        """The answer's Lark grammar: a space or a newline at most, then the JSON, then nothing."""
        from .tools.grammar import JSON_STYLE

        schema = {**self.effective, "x-guidance": JSON_STYLE}
        return "\n".join(('start: /[ \\n]?/ body', f"body: %json {json.dumps(schema)}"))


def answer_schema(value) -> AnswerSchema | None:
    """What ``generate(answer_schema=...)`` takes: a JSON Schema, ``"json_object"`` or ``True`` for any JSON
    object, an ``AnswerSchema``, or None."""
    if value is None or value is False:
        return None
    if isinstance(value, AnswerSchema):
        return value
    if value is True or value == JSON_OBJECT:
        return AnswerSchema()
    if isinstance(value, Mapping):
        return AnswerSchema(value)
    raise PonderError(f"answer_schema must be a JSON Schema (a dict), 'json_object' or True, got {value!r}")
