"""OpenAI's Responses API: ``POST /v1/responses`` (whole or streamed), ``GET`` and ``DELETE /v1/responses/{id}``.

A Responses body becomes a ``ChatRequest`` (``chat_request``) and runs as a chat completion does:
the same plan, the same thinking controls, the same queue. ``previous_response_id`` continues a
stored response: its conversation (earlier turns, its input, its answer; not its instructions,
as on OpenAI's API) comes before the new input. Errors come in OpenAI's shape.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .answer_formats import chat_format, schema_or_400
from .errors import ApiError
from .jobs import Outcome, Plan
from .openai import chat_plan
from .response_store import StoredResponse
from .responses_schemas import FunctionCallItem, FunctionCallOutputItem, InputMessage, NamedTool, ResponsesRequest
from .responses_shapes import Shape, echo_of, response_body
from .responses_stream import stream
from .schemas import ChatRequest, ReasoningOptions
from .serving import SSE_HEADERS, Server, preview_of, submit
from .thinking import Resolved
from .worker import ClientGone

RENAMED = {"max_completion_tokens": "max_output_tokens", "messages": "input"}  # chat's names for our fields


def input_messages(given: str | list) -> list[dict]:
    """The ``input`` as chat messages: the one place where input items become messages.

    Message items keep their role; ``function_call`` items become the assistant's ``tool_calls``
    (consecutive ones, one message), ``function_call_output`` items tool messages. Reasoning items
    (the model's earlier thinking, sent back) are not shown to the model (the chat template drops
    earlier thinking anyway) but count towards a turn budget: their text goes with the assistant
    message that follows. Any other item type is a 400 that names it.
    """
    if isinstance(given, str):
        return [{"role": "user", "content": given}]
    messages, thought = [], ""
    for index, item in enumerate(given):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise ApiError(400, f"{where} must be an item object, such as "
                                '{"role": "user", "content": "..."}', where, "invalid_request")
        kind = item.get("type") or "message"
        if kind == "reasoning":
            thought += "".join(str(c.get("text") or "") for c in item.get("content") or () if isinstance(c, dict))
        elif kind == "function_call":
            call = parsed(FunctionCallItem, item, where)
            entry = {"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(entry)
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [entry]})
            thought = attach(messages[-1], thought)
        elif kind == "function_call_output":
            output = parsed(FunctionCallOutputItem, item, where)
            messages.append({"role": "tool", "tool_call_id": output.call_id, "content": output.text()})
        elif kind == "message":
            message = parsed(InputMessage, item, where)
            messages.append({"role": message.role, "content": message.text()})
            thought = attach(messages[-1], thought) if message.role == "assistant" else thought
        else:
            raise ApiError(400, f"{where} is an item of type {kind!r}, which this server does not take: send "
                                "message, function_call, function_call_output or reasoning items",
                           f"{where}.type", "unsupported_input_item")
    return messages


def attach(message: dict, thought: str) -> str:
    """The reasoning sent before an assistant message goes with it (a turn budget counts it); none is left."""
    if thought:
        message["reasoning_content"] = message.get("reasoning_content", "") + thought
    return ""


def parsed(model, item: dict, where: str):
    """``item`` as ``model``, or a 400 naming the field of the item that is wrong."""
    try:
        return model.model_validate(item)
    except ValidationError as err:
        first = err.errors()[0]
        loc = [str(p) for p in first.get("loc", ()) if not any(c in str(p) for c in "[]()-")]
        param = ".".join([where, *loc])
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise ApiError(400, f"{param}: {message}", param, "invalid_request") from None


def chat_request(body: ResponsesRequest, turns: list[dict]) -> ChatRequest:
    """The chat body this request stands for: the instructions as the system message, then the turns."""
    if not turns:
        raise ApiError(400, "input holds no message (reasoning items are skipped): send at least one", "input",
                       "invalid_request")
    system = [{"role": "system", "content": body.instructions}] if body.instructions else []
    controls = body.reasoning.controls() if body.reasoning is not None else {}
    fields = dict(messages=system + turns, max_completion_tokens=body.max_output_tokens, temperature=body.temperature,
                  top_p=body.top_p, top_k=body.top_k, seed=body.seed, stop=body.stop, user=body.user_id(),
                  thinking=body.thinking, reasoning_effort=body.reasoning_effort,
                  # a reasoning object that only asks for a summary leaves the thinking as the model likes it
                  reasoning=ReasoningOptions(**controls) if controls else None,
                  chat_template_kwargs=body.chat_template_kwargs,
                  tools=[t.chat() for t in body.tools] if body.tools else None,
                  tool_choice=chat_choice(body.tool_choice),
                  parallel_tool_calls=body.parallel_tool_calls,
                  response_format=text_format(body))
    try:
        return ChatRequest.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as err:  # the fields were checked already, with this API's names: a bug
        raise ApiError(400, f"the request does not make a chat: {err.errors()[0].get('msg', 'invalid value')}",
                       None, "invalid_request") from None


def text_format(body: ResponsesRequest) -> dict | None:
    """``text.format`` as the chat's ``response_format``, its schema checked here to name this API's field."""
    given = body.text.format if body.text is not None else None
    schema_or_400(given, "text.format")
    return chat_format(given)


def chat_choice(choice):
    """This API's ``{"type": "function", "name"}`` in chat's shape; the strings are the same."""
    if isinstance(choice, NamedTool):
        return {"type": "function", "function": {"name": choice.name}}
    return choice


def plan_of(chat: ChatRequest, server: Server) -> tuple[Plan, Resolved]:
    """The chat route's plan, its refusals under this API's field names."""
    try:
        return chat_plan(chat, server.settings)
    except ApiError as err:
        message = err.message.replace("max_completion_tokens", "max_output_tokens")  # a message starts with it
        raise ApiError(err.status, message, RENAMED.get(err.param, err.param), err.code) from None


def earlier_turns(server: Server, previous: str | None) -> list[dict]:
    if previous is None:
        return []
    stored = server.responses.get(previous)
    if stored is None:
        raise ApiError(400, f"previous_response_id {previous!r} is not stored here: it is unknown, was created "
                            f"with store: false, or is no longer kept (this server keeps the last "
                            f"{server.responses.capacity}); send the conversation as input instead",
                       "previous_response_id", "previous_response_not_found")
    return list(stored.turns)


async def create(server: Server, request: Request, body: ResponsesRequest) -> Response:
    turns = earlier_turns(server, body.previous_response_id) + input_messages(body.input)
    plan, resolved = plan_of(chat_request(body, turns), server)
    shape = Shape(server.settings.model_id, echo_of(body, plan), not resolved.exclude, body.encrypted())

    def keep(final: dict, outcome: Outcome) -> None:
        if body.store:
            result = outcome.results[0]
            answer = {"role": "assistant", "content": result.answer.strip(), "reasoning_content": result.thinking,
                      **({"tool_calls": [c.to_openai() for c in result.tool_calls]} if result.tool_calls else {})}
            server.responses.put(shape.id, StoredResponse(final, tuple(turns) + (answer,)))

    try:
        submission, outcome = await submit(server, request, plan, shape.id, endpoint="responses", user=body.user_id(),
                                           stream=body.stream, preview=preview_of(plan.prompts[0]), param="input")
    except ClientGone:
        return Response(status_code=499)  # nobody reads it: the client closed the connection
    if outcome is None:
        return StreamingResponse(stream(server, shape, submission, keep), media_type="text/event-stream",
                                 headers=SSE_HEADERS)
    result = outcome.results[0]
    final = response_body(shape, result.thinking.strip() if shape.show_thinking else "", result.answer.strip(),
                          outcome, server.settings, submission.ticket.queue_seconds)
    keep(final, outcome)
    return JSONResponse(final)


def stored_or_404(server: Server, response_id: str) -> StoredResponse:
    stored = server.responses.get(response_id)
    if stored is None:
        raise ApiError(404, f"no response {response_id!r} is stored here (unknown, created with store: false, or "
                            f"no longer kept: this server keeps the last {server.responses.capacity})",
                       "response_id", "response_not_found")
    return stored


def retrieve(server: Server, response_id: str, stream_again: bool) -> dict:
    if stream_again:
        raise ApiError(400, "stream: true replays a response's events, which this server does not keep: "
                            "drop stream to get the response object", "stream", "invalid_request")
    return stored_or_404(server, response_id).body


def delete(server: Server, response_id: str) -> dict:
    stored_or_404(server, response_id)
    server.responses.delete(response_id)
    return {"id": response_id, "object": "response.deleted", "deleted": True}
