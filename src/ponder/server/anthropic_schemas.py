"""Request bodies of Anthropic's Messages API, as its clients send them, plus ponder's thinking fields.

``thinking`` takes Anthropic's ``{"type": "enabled", "budget_tokens": N}``, ``{"type": "disabled"}``
and ``{"type": "adaptive"}`` (with ``output_config.effort``), and ponder's own fields as well.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field, StrictBool

from .fields import BIG, Float, Int, NoAnthropicToolChoice, NoTools, RequestModel, Stop, Text
from .schemas import ThinkingOptions


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


Block = Annotated[Union[TextBlock, ThinkingBlock, RedactedThinkingBlock], Field(discriminator="type")]
BLOCKS = ("text", "thinking", "redacted_thinking")


def known_blocks(value):
    """Name the block this server cannot take (an image, a tool call...) instead of every union member's error."""
    if isinstance(value, list):
        for block in value:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind not in BLOCKS:
                raise ValueError(f"content blocks of type {kind!r} are not supported: send text blocks")
    return value


class AnthropicMessage(RequestModel):
    role: Literal["user", "assistant"]
    content: Annotated[Text | Annotated[list[Block], Field(max_length=256)], BeforeValidator(known_blocks)]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(block.text for block in self.content if isinstance(block, TextBlock))


class OutputConfig(RequestModel):
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None


class Metadata(RequestModel):
    user_id: Annotated[str, Field(max_length=256)] | None = None


class PromptFields(RequestModel):
    """What makes the prompt: shared by ``/v1/messages`` and ``/v1/messages/count_tokens``."""

    model: str | None = None  # one model is served, whatever the client names
    messages: Annotated[list[AnthropicMessage], Field(min_length=1)]
    system: Text | Annotated[list[TextBlock], Field(max_length=64)] | None = None
    thinking: ThinkingOptions | None = None
    output_config: OutputConfig | None = None

    def chat(self) -> list[dict]:
        system = self.system if isinstance(self.system, str) or self.system is None else \
            "".join(block.text for block in self.system)
        head = [{"role": "system", "content": system}] if system else []
        return head + [{"role": m.role, "content": m.text()} for m in self.messages]

    def effort(self) -> str | None:
        return self.output_config.effort if self.output_config is not None else None


class MessagesRequest(PromptFields):
    max_tokens: Int(ge=1, le=BIG)
    temperature: Float(ge=0, le=1) | None = None
    top_p: Float(gt=0, le=1) | None = None
    top_k: Int(ge=0, le=BIG) | None = None
    stop_sequences: Annotated[list[Stop], Field(max_length=16)] | None = None
    stream: StrictBool = False
    metadata: Metadata | None = None
    tools: NoTools = None  # not honoured: refused unless neutral (``fields.Unsupported``)
    tool_choice: NoAnthropicToolChoice = None

    def user(self) -> str | None:
        return self.metadata.user_id if self.metadata is not None else None


class CountTokensRequest(PromptFields):
    pass
