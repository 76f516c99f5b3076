"""Field types shared by every request body: whole numbers, numbers, Unicode text, lenient objects.

Unknown fields are ignored (clients send many we have no use for); a known field of the wrong
type or out of range is a 400. Bounds keep every request cheap to validate and to run. A field
that would change the output in a way ponder does not honour (a penalty, tools, a JSON format) is
declared ``Unsupported``: its neutral value (what clients send by default) passes, any other is a
400 that names it.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

BIG = 1 << 20  # token counts beyond this are never meaningful here
SHORT = 256  # characters in a policy text (a wait string, a prefix)
UNITS, UNIT = 1024, 16  # filler and pause units: the policy rebuilds count x unit tokens at each step
TOP_LOGPROBS = 20  # alternatives per token, the most OpenAI's API returns


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
Stop = Annotated[Text, Field(max_length=SHORT)]


def Unsupported(neutral: Callable[[Any], bool], neutral_value: str):  # noqa: N802 - used as a type
    """A field ponder does not honour: accepted only with a value that changes nothing (``neutral``)."""
    def check(value):
        if not neutral(value):
            raise ValueError(f"is not supported by this server: drop it, or send {neutral_value}")
        return value
    return Annotated[Any, AfterValidator(check)]


def is_number(value, target: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == target


# the unsupported fields' neutral values, as clients send them by default
Zero = Unsupported(lambda v: v is None or is_number(v, 0), "0")  # a penalty
One = Unsupported(lambda v: v is None or is_number(v, 1), "1")  # a multiplicative penalty, best_of
NoBias = Unsupported(lambda v: v is None or isinstance(v, dict) and all(is_number(b, 0) for b in v.values()),
                     "an empty object")
NoTools = Unsupported(lambda v: v is None or v == [], "an empty list")
NoText = Unsupported(lambda v: v is None or v == "", 'an empty string')
PlainText = Unsupported(lambda v: v is None or isinstance(v, dict) and v.get("type") == "text", '{"type": "text"}')
NoToolChoice = Unsupported(lambda v: v is None or v in ("none", "auto"), '"none" or "auto"')

class RequestModel(BaseModel):
    """The base of every request body's models: unknown fields ignored (clients send many we have no use
    for), NaN and infinities refused (JSON parsers let them through)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


def known_types(kinds: tuple[str, ...], what: str, hint: str):
    """A validator naming the ``what`` (a content part, a block) of a type this server cannot take, instead of
    every union member's error; ``hint`` says what to send."""
    def check(value):
        if isinstance(value, list):
            for item in value:
                kind = item.get("type") if isinstance(item, dict) else None
                if kind not in kinds:
                    raise ValueError(f"{what} of type {kind!r} are not supported: send {hint}")
        return value
    return check

