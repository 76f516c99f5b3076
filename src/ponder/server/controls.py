"""``POST /v1/ponder/requests/{id}/control``: end a running request's thinking now, or give it more.

The id is the response's (and every streamed chunk's); the route wants the server's key like every
other. The request takes it at its next step (every choice of it, batched or not); one that is not
running (unknown, or finished) is a 404.
"""

from __future__ import annotations

from typing import Literal

from .errors import ApiError
from .fields import BIG, Int, RequestModel


class ControlRequest(RequestModel):
    action: Literal["end_thinking", "extend"]
    tokens: Int(ge=1, le=BIG) | None = None  # extend: this many more thinking tokens


def control_request(server, request_id: str, body: ControlRequest) -> dict:
    control = server.controls.get(request_id)
    if control is None:
        raise ApiError(404, f"no running request {request_id!r}: it finished, or never was (the id is the "
                            "response's, e.g. chatcmpl-...)", "request_id", "request_not_found")
    if body.action == "extend":
        if body.tokens is None:
            raise ApiError(400, "extend needs tokens: how many more thinking tokens", "tokens", "invalid_request")
        control.extend(body.tokens)
    else:
        if body.tokens is not None:
            raise ApiError(400, "end_thinking takes no tokens: drop them", "tokens", "invalid_request")
        control.end_thinking()
    return {"id": request_id, "object": "ponder.control", "action": body.action, "tokens": body.tokens,
            "status": "accepted"}
