"""Request bodies, as OpenAI clients send them, plus ponder's ``thinking`` object.

Unknown fields are ignored (clients send many we have no use for); a known field of the wrong
type or out of range is a 400. Bounds here keep every request cheap to validate and to run;
the policies check the rest (a minimum above the maximum...) with their own messages.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

BIG = 1 << 20  # token counts beyond this are never meaningful here
SHORT = 256  # characters in a policy text (a wait string, a prefix)
UNITS, UNIT = 1024, 16  # filler and pause units: the policy rebuilds count x unit tokens at each step


def encodable(text: str) -> str:
    """Lone surrogates survive JSON decoding but not UTF-8 encoding, which tokenizing needs."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return text


def whole(value):
    """JSON integers, 5.0 included (JSON Schema calls it an integer); not true, not "5", not 5.5."""
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral:
        raise ValueError("must be a whole number")
    return int(value)


def number(value):
    """JSON numbers; not true, not "0.5"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number")
    return value


def Int(**bounds):  # noqa: N802 - used as a type
    """A whole number within ``bounds`` (the bounds go first, so the OpenAPI schema shows them)."""
    return Annotated[int, Field(**bounds), BeforeValidator(whole)]


def Float(**bounds):  # noqa: N802 - used as a type
    return Annotated[float, Field(**bounds), BeforeValidator(number)]

Text = Annotated[str, AfterValidator(encodable)]
ShortText = Annotated[str, Field(min_length=1, max_length=SHORT), AfterValidator(encodable)]
Count = Int(ge=0, le=BIG)
Units = Int(ge=0, le=UNITS)
Unit = Annotated[str, Field(min_length=1, max_length=UNIT), AfterValidator(encodable)]
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class RequestModel(BaseModel):
    """The base of every request body's models: unknown fields ignored (clients send many we have no use
    for), NaN and infinities refused (JSON parsers let them through)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class FillerOptions(RequestModel):
    count: Units = 16
    text: Unit = "."
    where: Literal["replace", "before_end"] = "replace"


class PauseOptions(RequestModel):
    count: Units = 4
    text: Unit = " ..."
    every: Count | None = None


class EntropyPauseOptions(RequestModel):
    threshold: Float(ge=0, le=64) = 3.0
    varentropy_max: Float(ge=0, le=1e6) | None = None
    text: ShortText = " ..."
    cooldown: Count = 8
    max_insertions: Count = 4
    phase: Literal["thinking", "answer", "both"] = "thinking"


class ThinkingOptions(RequestModel):
    """ponder's ``thinking`` object; Anthropic's ``{"type", "budget_tokens"}`` is read from it too."""

    enabled: StrictBool | None = None  # false: no thinking at all
    min_tokens: Count | None = None
    max_tokens: Count | None = None
    wait: ShortText | Annotated[list[ShortText], Field(min_length=1, max_length=16)] | None = None
    max_waits: Count | None = None
    wrap_up: ShortText | None = None
    prefix: ShortText | None = None
    filler: Units | FillerOptions | None = None  # a count, or the Filler policy's options
    pause: Units | PauseOptions | None = None  # a count, or the Pause policy's options
    entropy_pause: Float(ge=0, le=64) | EntropyPauseOptions | None = None  # bits, or options
    # Anthropic: {"type": "enabled", "budget_tokens": N} or {"type": "disabled"}
    type: Literal["enabled", "disabled"] | None = None
    budget_tokens: Count | None = None


class StreamOptions(RequestModel):
    include_usage: StrictBool = False


class TextPart(RequestModel):
    type: Literal["text"]
    text: Text


class Message(RequestModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


Stop = Annotated[Text, Field(max_length=SHORT)]


class GenerationRequest(RequestModel):
    """The fields chat and text completions share."""

    model: str | None = None  # one model is served, whatever the client names
    max_tokens: Int(ge=1, le=BIG) | None = None
    max_completion_tokens: Int(ge=1, le=BIG) | None = None
    temperature: Float(ge=0, le=2) | None = None
    top_p: Float(gt=0, le=1) | None = None
    top_k: Int(ge=0, le=BIG) | None = None
    seed: Int(ge=-(1 << 63), lt=1 << 64) | None = None
    stop: Stop | Annotated[list[Stop], Field(max_length=4)] | None = None
    n: Int(ge=1, le=128) = 1
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    user: Annotated[str, Field(max_length=256)] | None = None
    thinking: ThinkingOptions | None = None
    reasoning_effort: Effort | None = None

    def completion_limit(self) -> int | None:
        """``max_completion_tokens`` (the newer name) wins over ``max_tokens``."""
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatRequest(GenerationRequest):
    messages: Annotated[list[Message], Field(min_length=1)]

    def chat(self) -> list[dict]:
        return [{"role": m.role, "content": m.text()} for m in self.messages]


class CompletionRequest(GenerationRequest):
    """``prompt`` is a question, sent as the user message of the chat template.

    With ``raw: true`` the prompt is text continued as is (OpenAI's plain text
    completion): no template, no thinking phase, stop strings from the first token.
    """

    prompt: Text | Annotated[list[Text], Field(min_length=1, max_length=16)]
    raw: StrictBool = False

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


class TokenizeRequest(RequestModel):
    """``POST /tokenize`` as vLLM takes it (``model`` and ``add_special_tokens`` are accepted and ignored)."""

    prompt: Annotated[Text, Field(max_length=1 << 20)]
