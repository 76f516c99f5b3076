"""The Responses API's response object and its output items, whole or as the stream opens them.

``output`` holds a ``reasoning`` item when the model's thinking is returned (its text as
``reasoning_text``; no summary is written), then the ``message`` item with the answer. A thinking
that fills the whole limit leaves no answer: the output is then the reasoning item alone, as on
OpenAI's API. The whole response and the stream build their items here, so they agree.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field

from ..tools import ToolCall
from .jobs import Outcome, Plan
from .responses import ponder_details, usage
from .responses_schemas import ResponsesRequest
from .settings import ServerSettings


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


@dataclass(frozen=True)
class Shape:
    """What every shape of one response shares: its ids, the request's settings echoed, what is shown."""

    model: str
    echo: dict
    show_thinking: bool = True  # false when the thinking is excluded: no reasoning item
    encrypted: bool = False  # include: reasoning.encrypted_content
    id: str = field(default_factory=lambda: new_id("resp_"))
    reasoning_id: str = field(default_factory=lambda: new_id("rs_"))
    message_id: str = field(default_factory=lambda: new_id("msg_"))
    created_at: int = field(default_factory=lambda: int(time.time()))

    def head(self, status: str = "in_progress") -> dict:
        """The response object before any output: what response.created and response.in_progress carry."""
        return {"id": self.id, "object": "response", "created_at": self.created_at, "status": status,
                "error": None, "incomplete_details": None, "model": self.model, "output": [], "usage": None,
                **self.echo}


def echo_of(body: ResponsesRequest, plan: Plan) -> dict:
    """The request's settings as the response repeats them (the sampling as it ran: ponder's default is greedy)."""
    reasoning = body.reasoning
    text = {"format": {"type": "text"}}
    if body.text is not None and body.text.verbosity is not None:
        text["verbosity"] = body.text.verbosity
    return {"instructions": body.instructions, "max_output_tokens": body.max_output_tokens,
            "previous_response_id": body.previous_response_id,
            "reasoning": {"effort": (reasoning.effort if reasoning else None) or body.reasoning_effort,
                          "summary": (reasoning.summary or reasoning.generate_summary) if reasoning else None},
            "store": body.store, "temperature": plan.temperature, "top_p": plan.top_p,
            "tools": [{**t.model_dump(exclude_none=True), "strict": t.strict} for t in body.tools or ()],
            "tool_choice": (body.tool_choice.model_dump() if hasattr(body.tool_choice, "model_dump")
                            else body.tool_choice or "auto"), "parallel_tool_calls": body.parallel_tool_calls,
            "text": text, "truncation": "disabled", "background": False, "metadata": body.metadata or {},
            "user": body.user_id()}


def reasoning_item(shape: Shape, text: str | None, status: str = "completed") -> dict:
    """The reasoning item; ``text`` None while it is still being streamed (its content arrives in deltas)."""
    item = {"type": "reasoning", "id": shape.reasoning_id, "summary": [],
            "content": [] if text is None else [{"type": "reasoning_text", "text": text}], "status": status}
    if shape.encrypted and text is not None:  # opaque to clients; ponder shows its thinking anyway
        item["encrypted_content"] = base64.b64encode(text.encode()).decode()
    return item


def text_part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": []}


def message_item(shape: Shape, text: str | None, status: str = "completed") -> dict:
    return {"type": "message", "id": shape.message_id, "role": "assistant", "status": status,
            "content": [] if text is None else [text_part(text)]}


def call_item(call: ToolCall, status: str = "completed", arguments: str | None = None) -> dict:
    """A call the model made: its item id follows from the call's, so the stream and the whole response agree."""
    return {"type": "function_call", "id": "fc_" + call.id.removeprefix("call_"), "call_id": call.id,
            "name": call.name, "arguments": call.arguments if arguments is None else arguments, "status": status}


def output_items(shape: Shape, thinking: str, answer: str, cut: bool, calls=()) -> list[dict]:
    """The output: the reasoning item if there is thinking to show, the message if there is an answer (or nothing
    else to show), then the calls. ``cut``: the limit ended it, so the last item is incomplete."""
    status = "incomplete" if cut else "completed"
    items = [reasoning_item(shape, thinking, status if not (answer or calls) else "completed")] if thinking else []
    if answer or not (items or calls):
        items.append(message_item(shape, answer, status))
    return items + [call_item(call) for call in calls]


def response_usage(outcome: Outcome) -> dict:
    """Chat's usage under the Responses API's names: input tokens (those read from the cache among them),
    output tokens (thinking, end marker and answer), of which the thinking is ``reasoning_tokens``."""
    u = usage(list(outcome.results), outcome.prompt_tokens)
    return {"input_tokens": u["prompt_tokens"], "input_tokens_details": u["prompt_tokens_details"],
            "output_tokens": u["completion_tokens"], "output_tokens_details": u["completion_tokens_details"],
            "total_tokens": u["total_tokens"]}


def response_body(shape: Shape, thinking: str, answer: str, outcome: Outcome, settings: ServerSettings,
                  queue_seconds: float) -> dict:
    """The finished response object, from the texts as returned (``thinking`` empty when it is not shown)."""
    result = outcome.results[0]
    cut = result.finish_reason == "length" and not result.tool_calls
    return {**shape.head("incomplete" if cut else "completed"),
            "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
            "completed_at": int(time.time()), "output": output_items(shape, thinking, answer, cut, result.tool_calls),
            "usage": response_usage(outcome),
            "ponder": ponder_details(list(outcome.results), outcome.prompt_tokens, settings, queue_seconds,
                                     outcome.turn)}


def failed_body(shape: Shape, message: str, code: str) -> dict:
    """The response of a generation that failed after its stream began (response.failed carries it)."""
    return {**shape.head("failed"), "error": {"code": code, "message": message}}
