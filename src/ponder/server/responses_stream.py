"""The Responses API's event stream: server-sent events named by their ``type``, each with a ``sequence_number``.

response.created, response.in_progress; the reasoning item (output_item.added, reasoning_text
deltas, reasoning_text.done, output_item.done); the message item (output_item.added,
content_part.added, output_text deltas, output_text.done, content_part.done, output_item.done);
response.completed with the whole response. A response the limit cut ends with response.completed
too, its ``status`` "incomplete" (the SDK's ``responses.stream()`` wants a completed event for its
final response). A generation that fails after the stream began ends with response.failed.
"""

from __future__ import annotations

from typing import Callable

from ..errors import PonderError
from .jobs import Outcome
from .responses import Trimmer
from .responses_shapes import (
    Shape, call_item, failed_body, message_item, reasoning_item, response_body, text_part,
)
from .serving import Server, Submission, deltas, gone, sse, summary

OnDone = Callable[[dict, Outcome], None]  # keeps a finished response (the store, when asked to)


class Events:
    """The stream's events in order, and the output items opened so far (their texts as streamed)."""

    def __init__(self, shape: Shape) -> None:
        self.shape, self.number = shape, 0
        self.open: str | None = None  # "reasoning" or "message", while its deltas come
        self.items: list[str] = []  # the kinds opened, in output order
        self.texts = {"reasoning": "", "message": ""}

    def event(self, kind: str, **fields) -> str:
        self.number += 1
        return sse({"type": kind, "sequence_number": self.number - 1, **fields}, kind)

    def at(self, kind: str) -> dict:
        """Where an item's events point: its id, its place in the output, its (one) content part."""
        item_id = self.shape.reasoning_id if kind == "reasoning" else self.shape.message_id
        return {"item_id": item_id, "output_index": self.items.index(kind), "content_index": 0}

    def start(self, kind: str) -> list[str]:
        self.items.append(kind)
        self.open = kind
        if kind == "reasoning":
            return [self.event("response.output_item.added", output_index=len(self.items) - 1,
                               item=reasoning_item(self.shape, None, "in_progress"))]
        return [self.event("response.output_item.added", output_index=len(self.items) - 1,
                           item=message_item(self.shape, None, "in_progress")),
                self.event("response.content_part.added", **self.at(kind), part=text_part(""))]

    def feed(self, phase: str, text: str) -> list[str]:
        """A delta of the thinking or the answer; the answer's first one closes the reasoning item."""
        kind = "reasoning" if phase == "thinking" else "message"
        if kind == "reasoning" and "message" in self.items:
            return []  # the answer has begun: the phases do not interleave
        out = self.close() if self.open not in (None, kind) else []
        if self.open is None:
            out += self.start(kind)
        self.texts[kind] += text
        name = "response.reasoning_text.delta" if kind == "reasoning" else "response.output_text.delta"
        extra = {} if kind == "reasoning" else {"logprobs": []}
        return out + [self.event(name, **self.at(kind), delta=text, **extra)]

    def close(self, final: dict | None = None) -> list[str]:
        """The open item's done events; ``final``, the finished response, gives the item's final status."""
        kind, self.open = self.open, None
        if kind is None:
            return []
        text, at = self.texts[kind], self.at(kind)
        status = "completed" if final is None else final["output"][at["output_index"]]["status"]
        if kind == "reasoning":
            return [self.event("response.reasoning_text.done", **at, text=text),
                    self.event("response.output_item.done", output_index=at["output_index"],
                               item=reasoning_item(self.shape, text, status))]
        return [self.event("response.output_text.done", **at, text=text, logprobs=[]),
                self.event("response.content_part.done", **at, part=text_part(text)),
                self.event("response.output_item.done", output_index=at["output_index"],
                           item=message_item(self.shape, text, status))]

    def call(self, call) -> list[str]:
        """A whole call: its item opened, its arguments in one delta, closed."""
        out = self.close()
        self.items.append(call.id)
        index = len(self.items) - 1
        at = {"item_id": call_item(call)["id"], "output_index": index}
        return out + [self.event("response.output_item.added", output_index=index,
                                 item=call_item(call, "in_progress", "")),
                      self.event("response.function_call_arguments.delta", **at, delta=call.arguments),
                      self.event("response.function_call_arguments.done", **at, name=call.name,
                                 arguments=call.arguments),
                      self.event("response.output_item.done", output_index=index, item=call_item(call))]

    def finish(self, final: dict) -> list[str]:
        """Close what is open, open (and close) the empty message the final output has if none was streamed."""
        out = self.close(final)
        if len(final["output"]) > len(self.items):
            out += self.start("message") + self.close(final)
        return out + [self.event("response.completed", response=final)]


async def stream(server: Server, shape: Shape, submission: Submission, on_done: OnDone):
    ticket, finished, events = submission.ticket, False, Events(shape)
    trimmers = {"thinking": Trimmer(), "answer": Trimmer()}
    try:
        yield events.event("response.created", response=shape.head())
        yield events.event("response.in_progress", response=shape.head())
        async for _index, phase, text in deltas(submission.events):
            if phase == "tool_call":
                for line in events.call(text):
                    yield line
                continue
            text = trimmers[phase].feed(text)
            if text and (phase == "answer" or shape.show_thinking):
                for line in events.feed(phase, text):
                    yield line
        try:
            outcome: Outcome = ticket.future.result()
        except Exception as err:  # noqa: BLE001 - reported in the stream, as a 4xx or 5xx would be
            ours = isinstance(err, PonderError)
            message = str(err) if ours else f"internal error ({type(err).__name__}): the server is still up"
            yield events.event("response.failed",
                               response=failed_body(shape, message, "invalid_prompt" if ours else "server_error"))
        else:
            final = response_body(shape, events.texts["reasoning"], events.texts["message"], outcome,
                                  server.settings, ticket.queue_seconds)
            for line in events.finish(final):
                yield line
            on_done(final, outcome)
            server.recent.update(shape.id, **summary(server, outcome, ticket))
        finished = True
    finally:
        if not finished:  # the client went away mid-stream: stop the generation, free the worker
            ticket.cancel()
            gone(server, shape.id)
