"""Request bodies of Anthropic's Messages API, as its clients send them, plus ponder's thinking fields.

``thinking`` takes Anthropic's ``{"type": "enabled", "budget_tokens": N}``, ``{"type": "disabled"}``
and ``{"type": "adaptive"}`` (with ``output_config.effort``), and ponder's own fields as well.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

import json
from typing import Any

from pydantic import BeforeValidator, Field, StrictBool

from .answer_formats import FlatFormat
from .fields import BIG, Float, Int, RequestModel, Stop, Text, known_types
from .schemas import ThinkingOptions
from .tool_schemas import MAX_TOOLS, Schema


class TextBlock(RequestModel):
    type: Literal["text"]
    text: Text


class ThinkingBlock(RequestModel):
    """A thinking block from an earlier turn: accepted, and left out of the prompt (as Anthropic does)."""

    type: Literal["thinking"]
    thinking: Text = ""
    signature: str | None = None


class RedactedThinkingBlock(RequestModel):
    type: Literal["redacted_thinking"]
    data: str = ""


class ToolUseBlock(RequestModel):
    """A call from an earlier assistant turn."""

    type: Literal["tool_use"]
    id: Annotated[str, Field(max_length=256)]
    name: Annotated[str, Field(max_length=64)]
    input: dict[str, Any] = {}


class ToolResultBlock(RequestModel):
    """A call's result, in the user turn after it."""

    type: Literal["tool_result"]
    tool_use_id: Annotated[str, Field(max_length=256)]
    content: Text | Annotated[list[TextBlock], Field(max_length=64)] = ""
    is_error: StrictBool = False

    def text(self) -> str:
        text = self.content if isinstance(self.content, str) else "".join(b.text for b in self.content)
        return f"Error: {text}" if self.is_error else text


Block = Annotated[Union[TextBlock, ThinkingBlock, RedactedThinkingBlock, ToolUseBlock, ToolResultBlock],
                  Field(discriminator="type")]
BLOCKS = ("text", "thinking", "redacted_thinking", "tool_use", "tool_result")


known_blocks = known_types(BLOCKS, "content blocks", "text, thinking, tool_use and tool_result blocks")


class AnthropicMessage(RequestModel):
    role: Literal["user", "assistant"]
    content: Annotated[Text | Annotated[list[Block], Field(max_length=256)], BeforeValidator(known_blocks)]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(block.text for block in self.content if isinstance(block, TextBlock))

    def to_dicts(self) -> list[dict]:
        """The turn in OpenAI's chat shape: a user turn's tool results become tool messages (before its text), an
        assistant turn's calls its ``tool_calls``."""
        blocks = [] if isinstance(self.content, str) else self.content
        results = [{"role": "tool", "tool_call_id": b.tool_use_id, "content": b.text()}
                   for b in blocks if isinstance(b, ToolResultBlock)]
        calls = [{"id": b.id, "type": "function", "function": {"name": b.name, "arguments": json.dumps(b.input)}}
                 for b in blocks if isinstance(b, ToolUseBlock)]
        text = self.text()
        thought = "".join(b.thinking for b in blocks if isinstance(b, ThinkingBlock))
        message = {"role": self.role, "content": text, **({"tool_calls": calls} if calls else {}),
                   **({"reasoning_content": thought} if thought and self.role == "assistant" else {})}
        return results + ([message] if text or calls or not results else [])


class AnthropicTool(RequestModel):
    type: Literal["custom"] | None = None
    name: Annotated[str, Field(max_length=64)]
    description: Text | None = None
    input_schema: Schema


class AnthropicToolChoice(RequestModel):
    type: Literal["auto", "any", "tool", "none"]
    name: Annotated[str, Field(max_length=64)] | None = None
    disable_parallel_tool_use: StrictBool = False


class OutputConfig(RequestModel):
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: FlatFormat | None = None  # {"type": "json_schema", "schema": ...}: the answer held to it


class Metadata(RequestModel):
    user_id: Annotated[str, Field(max_length=256)] | None = None


class PromptFields(RequestModel):
    """What makes the prompt: shared by ``/v1/messages`` and ``/v1/messages/count_tokens``."""

    model: str | None = None  # one model is served, whatever the client names
    messages: Annotated[list[AnthropicMessage], Field(min_length=1)]
    system: Text | Annotated[list[TextBlock], Field(max_length=64)] | None = None
    thinking: ThinkingOptions | None = None
    output_config: OutputConfig | None = None
    tools: Annotated[list[AnthropicTool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: AnthropicToolChoice | None = None

    def chat(self) -> list[dict]:
        system = self.system if isinstance(self.system, str) or self.system is None else \
            "".join(block.text for block in self.system)
        head = [{"role": "system", "content": system}] if system else []
        return head + [d for m in self.messages for d in m.to_dicts()]

    def effort(self) -> str | None:
        return self.output_config.effort if self.output_config is not None else None

    def answer_format(self) -> tuple[object, str]:
        """The structured output asked for, and the field that asked: ``output_config.format`` or the beta's
        ``output_format``."""
        given = self.output_config.format if self.output_config is not None else None
        if given is None and getattr(self, "output_format", None) is not None:
            return self.output_format, "output_format"
        return given, "output_config.format"


class MessagesRequest(PromptFields):
    output_format: FlatFormat | None = None  # the structured outputs beta's name for output_config.format
    max_tokens: Int(ge=1, le=BIG)
    temperature: Float(ge=0, le=1) | None = None
    top_p: Float(gt=0, le=1) | None = None
    top_k: Int(ge=0, le=BIG) | None = None
    stop_sequences: Annotated[list[Stop], Field(max_length=16)] | None = None
    stream: StrictBool = False
    metadata: Metadata | None = None

    def user(self) -> str | None:
        return self.metadata.user_id if self.metadata is not None else None


class CountTokensRequest(PromptFields):
    pass
