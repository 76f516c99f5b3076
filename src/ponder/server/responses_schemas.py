"""Request bodies of OpenAI's Responses API (``POST /v1/responses``), plus ponder's thinking fields.

The fields that shape the generation are declared with the chat body's types and bounds; they
reach the model only through a ``ChatRequest`` (``responses_api.chat_request``), so the thinking
controls are mapped once, as on the chat route. Fields ponder does not honour are ``Unsupported``:
their neutral value passes, any other is a 400 that names them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool

from .fields import (
    BIG, Count, Effort, Float, Int, RequestModel, Stop, Text, Unsupported, Zero, known_types,
)
from .answer_formats import FlatFormat
from .schemas import TemplateValue, ThinkingOptions
from .tool_schemas import MAX_TOOLS, Schema

PARTS = ("input_text", "output_text")
ENCRYPTED = "reasoning.encrypted_content"  # the one ``include`` value honoured
Summary = Literal["auto", "concise", "detailed"]
Identifier = Annotated[str, Field(max_length=256)]


text_parts = known_types(PARTS, "content parts", "input_text (or output_text) parts")


class ContentPart(RequestModel):
    type: Literal["input_text", "output_text"]
    text: Text


class InputMessage(RequestModel):
    """A message item of ``input``, with or without ``"type": "message"``; earlier answers come as output_text."""

    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: Annotated[Text | Annotated[list[ContentPart], Field(max_length=256)], BeforeValidator(text_parts)]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ResponsesReasoning(RequestModel):
    """OpenAI's ``reasoning`` object, with OpenRouter's ``max_tokens``, ``exclude`` and ``enabled`` read from it.

    No summary is written: the thinking itself comes as the reasoning item's ``reasoning_text``, so
    ``summary`` (what clients send by default) asks for less than is returned.
    """

    effort: Effort | None = None
    summary: Summary | None = None
    generate_summary: Summary | None = None  # summary's older name
    max_tokens: Count | None = None
    exclude: StrictBool | None = None
    enabled: StrictBool | None = None

    def controls(self) -> dict:
        """The fields that control the thinking (the chat body's ``reasoning`` object takes them)."""
        return self.model_dump(include={"effort", "max_tokens", "exclude", "enabled"}, exclude_none=True)


class TextOptions(RequestModel):
    format: FlatFormat | None = None  # json_object or json_schema: the answer held to it
    verbosity: Unsupported(lambda v: v in (None, "medium"), '"medium"') = None


def honoured_includes(values):
    """Name the ``include`` value ponder does not return (log probabilities, tool results) instead of a list index."""
    other = [v for v in values if v != ENCRYPTED]
    if other:
        raise ValueError(f"{other[0]!r} is not supported by this server: drop it (only {ENCRYPTED!r} is)")
    return values


Includes = Annotated[list[Annotated[str, Field(max_length=128)]], Field(max_length=16),
                     AfterValidator(honoured_includes)]


class ResponsesTool(RequestModel):
    """A function tool in this API's flat shape (only function tools: a built-in one is a 400 naming ``tools``)."""

    type: Literal["function"]
    name: Annotated[str, Field(max_length=64)]
    description: Text | None = None
    parameters: Schema | None = None
    strict: StrictBool | None = None

    def chat(self) -> dict:
        function = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return {"type": "function", "function": {k: v for k, v in function.items() if v is not None}}


class NamedTool(RequestModel):
    type: Literal["function"]
    name: Annotated[str, Field(max_length=64)]


class FunctionCallItem(RequestModel):
    """A call from an earlier output, sent back in ``input``."""

    type: Literal["function_call"]
    call_id: Annotated[str, Field(max_length=256)]
    name: Annotated[str, Field(max_length=64)]
    arguments: Text = "{}"
    id: Annotated[str, Field(max_length=256)] | None = None
    status: str | None = None


class FunctionCallOutputItem(RequestModel):
    """A call's result."""

    type: Literal["function_call_output"]
    call_id: Annotated[str, Field(max_length=256)]
    output: Text | Annotated[list[ContentPart], Field(max_length=64)]

    def text(self) -> str:
        return self.output if isinstance(self.output, str) else "".join(p.text for p in self.output)


class ResponsesRequest(RequestModel):
    model: str | None = None  # one model is served, whatever the client names
    input: Text | Annotated[list[Any], Field(max_length=4096)]  # items: read by responses_api.input_messages
    instructions: Text | None = None
    previous_response_id: Identifier | None = None
    reasoning: ResponsesReasoning | None = None
    max_output_tokens: Int(ge=1, le=BIG) | None = None
    temperature: Float(ge=0, le=2) | None = None
    top_p: Float(gt=0, le=1) | None = None
    stream: StrictBool = False
    store: StrictBool = True
    metadata: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]],
                        Field(max_length=16)] | None = None
    user: Identifier | None = None
    safety_identifier: Identifier | None = None  # user's newer name
    parallel_tool_calls: StrictBool = True  # without tools, any value changes nothing
    include: Includes | None = None  # reasoning.encrypted_content: the reasoning items carry it
    # the chat body's own fields, accepted here as on /v1/chat/completions
    top_k: Int(ge=0, le=BIG) | None = None
    seed: Int(ge=-(1 << 63), lt=1 << 64) | None = None
    stop: Stop | Annotated[list[Stop], Field(max_length=4)] | None = None
    thinking: ThinkingOptions | None = None
    reasoning_effort: Effort | None = None
    chat_template_kwargs: Annotated[dict[str, TemplateValue], Field(max_length=16)] | None = None
    tools: Annotated[list[ResponsesTool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedTool | None = None
    # not honoured: refused unless neutral
    text: TextOptions | None = None
    truncation: Unsupported(lambda v: v in (None, "disabled"), '"disabled"') = None
    top_logprobs: Zero = None
    background: Unsupported(lambda v: v in (None, False), "false") = None
    conversation: Unsupported(lambda v: v is None, "null (chain responses with previous_response_id)") = None
    prompt: Unsupported(lambda v: v is None, "null (send the prompt as input)") = None

    def user_id(self) -> str | None:
        return self.user or self.safety_identifier

    def encrypted(self) -> bool:
        return ENCRYPTED in (self.include or ())
