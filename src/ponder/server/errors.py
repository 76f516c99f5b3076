"""Errors in each API's own shape: OpenAI's ``{"error": {"message", "type", "param", "code"}}`` and, on the
Messages routes, Anthropic's ``{"type": "error", "error": {"type", "message"}}``."""

from __future__ import annotations

from starlette.responses import JSONResponse

TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
         405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error"}
ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                   404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
                   429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
ANTHROPIC_ROUTES = "/v1/messages"


class ApiError(Exception):
    """An error a client can fix (or retry), answered with its status code in the route's API's shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def response(self, path: str = "") -> JSONResponse:
        return error_response(self.status, self.message, self.param, self.code, path=path)


def anthropic_route(path: str) -> bool:
    return path == ANTHROPIC_ROUTES or path.startswith(ANTHROPIC_ROUTES + "/")


def error_body(status: int, message: str, param: str | None = None, code: str | None = None, path: str = "") -> dict:
    if anthropic_route(path):
        kind = ANTHROPIC_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind = TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   headers: dict | None = None, path: str = "") -> JSONResponse:
    return JSONResponse(error_body(status, message, param, code, path), status_code=status, headers=headers)


def error_event(message: str, param: str | None = None, code: str | None = None,
                kind: str = "invalid_request_error") -> dict:
    """An error met after an OpenAI stream began: sent as one SSE event before ``[DONE]``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
