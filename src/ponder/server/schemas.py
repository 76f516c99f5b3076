"""OpenAI request bodies, plus the thinking controls every dialect shares.

ponder's own ``thinking`` object (with Anthropic's ``{"type", "budget_tokens"}`` read from it
too), OpenRouter's ``reasoning`` object and OpenAI's ``reasoning_effort``. The policies check the
rest (a minimum above the maximum...) with their own messages.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr

from .fields import (
    BIG, TOP_LOGPROBS, Count, Effort, Float, Int, NoBias, NoText, NoToolChoice, NoTools, One,
    RequestModel, ShortText, Stop, Text, Unit, Units, Zero,
)
from ..errors import PonderError
from ..turns import TurnBudget
from .errors import ApiError
from .answer_formats import ResponseFormat
from .tool_schemas import HistoryCall, OpenAIChoice, OpenAITools


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


class AdaptiveOptions(RequestModel):
    """Adaptive thinking's settings; each left out takes the policy's default."""

    every: Int(ge=1, le=BIG) | None = None
    agree: Int(ge=1, le=64) | None = None
    probe_tokens: Int(ge=1, le=256) | None = None


def relative_budget(text: str) -> str:
    from ..policies.relative import parse

    try:
        parse(text)
    except PonderError as err:
        raise ValueError(str(err)) from None
    return text


Relative = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(relative_budget)]  # "0.5p+256"


class ThinkingOptions(RequestModel):
    """ponder's ``thinking`` object; Anthropic's ``{"type", "budget_tokens", "display"}`` is read from it too."""

    enabled: StrictBool | None = None  # false: no thinking at all
    min_tokens: Relative | Count | None = None  # or relative to the prompt and the context: "0.5p+256"
    max_tokens: Relative | Count | None = None
    wait: ShortText | Annotated[list[ShortText], Field(min_length=1, max_length=16)] | None = None
    max_waits: Count | None = None
    wrap_up: ShortText | None = None
    soft_close: Count | None = None  # at the cap, write on up to this many tokens to the next boundary
    close_at: Literal["word", "line", "sentence"] | None = None
    prefix: ShortText | None = None
    countdown: Count | None = None  # every this many thinking tokens, a notice of the tokens left
    countdown_text: ShortText | None = None  # {left}: the tokens left
    filler: Units | FillerOptions | None = None  # a count, or the Filler policy's options
    pause: Units | PauseOptions | None = None  # a count, or the Pause policy's options
    entropy_pause: Float(ge=0, le=64) | EntropyPauseOptions | None = None  # bits, or options
    adaptive: StrictBool | AdaptiveOptions | None = None  # true, or the Adaptive policy's options
    # Anthropic: {"type": "enabled", "budget_tokens": N}, {"type": "disabled"}, {"type": "adaptive"}
    type: Literal["enabled", "disabled", "adaptive"] | None = None
    budget_tokens: Count | None = None
    display: Literal["summarized", "omitted"] | None = None  # omitted: thinking done, not returned
    # one budget across a turn (a tool loop's generations since the last user message): ``ponder.TurnBudget``
    turn_max_tokens: Count | None = None
    turn_min_tokens: Count | None = None
    turn_spent_tokens: Count | None = None  # the turn's thinking so far as the client counted it (else: the history's)

    def turn(self) -> TurnBudget | None:
        if self.turn_max_tokens is None and self.turn_min_tokens is None:
            if self.turn_spent_tokens is not None:
                raise ApiError(400, "thinking.turn_spent_tokens counts against a turn budget: give "
                                    "turn_max_tokens or turn_min_tokens too", "thinking.turn_spent_tokens",
                               "invalid_thinking")
            return None
        try:
            return TurnBudget(self.turn_max_tokens, self.turn_min_tokens or 0, self.turn_spent_tokens)
        except PonderError as err:
            raise ApiError(400, str(err), "thinking", "invalid_thinking") from None


class ReasoningOptions(RequestModel):
    """OpenRouter's ``reasoning`` object: an effort or a token maximum, on or off, returned or not."""

    effort: Effort | None = None
    max_tokens: Count | None = None
    exclude: StrictBool = False  # true: the model thinks, the thinking is not returned
    enabled: StrictBool | None = None


class StreamOptions(RequestModel):
    include_usage: StrictBool = False


class TextPart(RequestModel):
    type: Literal["text"]
    text: Text


class Message(RequestModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | list[TextPart] | None = None
    tool_calls: Annotated[list[HistoryCall], Field(max_length=64)] | None = None  # an assistant's calls
    tool_call_id: Annotated[str, Field(max_length=256)] | None = None  # the call a tool message answers
    reasoning_content: Text | None = None  # an assistant's thinking (llama.cpp's and SGLang's name), for turn budgets
    reasoning: Text | None = None  # the same under vLLM's and OpenRouter's name

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""

    def to_dict(self) -> dict:
        message = {"role": self.role, "content": self.text()}
        if self.tool_calls:
            message["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.role == "tool":
            message["tool_call_id"] = self.tool_call_id
        thought = self.reasoning_content or self.reasoning
        if self.role == "assistant" and thought:
            message["reasoning_content"] = thought
        return message


TemplateValue = Union[StrictBool, StrictInt, StrictStr, None]


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
    reasoning: ReasoningOptions | None = None
    reasoning_effort: Effort | None = None
    # vLLM's and SGLang's variables for the chat template, e.g. {"enable_thinking": false}
    chat_template_kwargs: Annotated[dict[str, TemplateValue], Field(max_length=16)] | None = None
    # not honoured: refused unless neutral (``fields.Unsupported``)
    presence_penalty: Zero = None
    frequency_penalty: Zero = None
    repetition_penalty: One = None  # vLLM's
    logit_bias: NoBias = None
    response_format: ResponseFormat | None = None  # json_object or json_schema: the answer held to it
    functions: NoTools = None  # the tools' older names
    function_call: NoToolChoice = None

    def completion_limit(self) -> int | None:
        """``max_completion_tokens`` (the newer name) wins over ``max_tokens``."""
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def asks_thinking(self) -> bool:
        """Whether any thinking control is given (a text completion then thinks; otherwise it continues)."""
        template = self.chat_template_kwargs or {}
        return any(v is not None for v in (self.thinking, self.reasoning, self.reasoning_effort)) or \
            "enable_thinking" in template


class ChatRequest(GenerationRequest):
    messages: Annotated[list[Message], Field(min_length=1)]
    logprobs: StrictBool = False
    top_logprobs: Int(ge=0, le=TOP_LOGPROBS) | None = None
    tools: OpenAITools | None = None
    tool_choice: OpenAIChoice | None = None
    parallel_tool_calls: StrictBool | None = None

    def chat(self) -> list[dict]:
        return [m.to_dict() for m in self.messages]


TokenId = Int(ge=0, lt=1 << 31)
Tokens = Annotated[list[TokenId], Field(min_length=1, max_length=1 << 16)]


class CompletionRequest(GenerationRequest):
    """``prompt`` is text continued as is (OpenAI's text completion): no template, stop strings from the start.

    A prompt may be text, a list of texts, token ids or a list of token-id lists. Asked for
    thinking (``thinking``, ``reasoning``, ``reasoning_effort``), the prompt is taken to open
    the thinking (ponder opens it if it does not) and the policies apply. ``raw: true``
    continues the text whatever else is asked (ponder's remote client sends it).
    """

    prompt: Text | Tokens | Annotated[list[Text], Field(min_length=1, max_length=16)] | \
        Annotated[list[Tokens], Field(min_length=1, max_length=16)]
    max_tokens: Int(ge=0, le=BIG) | None = None  # 0 with echo: score the prompt, write nothing
    raw: StrictBool | None = None
    echo: StrictBool = False
    logprobs: Int(ge=0, le=TOP_LOGPROBS) | None = None
    best_of: One = None  # not honoured, as the other unsupported fields
    suffix: NoText = None
    tools: NoTools = None  # a text completion has no tools
    tool_choice: NoToolChoice = None

    def prompts(self) -> list[str | list[int]]:
        prompt = self.prompt
        if isinstance(prompt, str) or (prompt and isinstance(prompt[0], int)):
            return [prompt]
        return list(prompt)


class TokenizeRequest(RequestModel):
    """``POST /tokenize`` as vLLM takes it (``model`` and ``add_special_tokens`` are accepted and ignored)."""

    prompt: Annotated[Text, Field(max_length=1 << 20)]
