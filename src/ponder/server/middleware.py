"""ASGI middleware: a cap on request bodies, and per-route request counts and latency."""

from __future__ import annotations

import time

from .errors import error_response
from .metrics import Metrics


class BodyLimit:
    """Refuse a body over ``limit`` bytes with a 413, before any of it is parsed.

    The body is read here (declared length first, then the bytes actually sent, which chunked
    uploads do not declare) and handed to the app from memory.
    """

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self.too_large(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await self.too_large(scope, receive, send)
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def too_large(self, scope, receive, send) -> None:
        message = f"the request body is over this server's limit of {self.limit} bytes (--max-body-bytes)"
        await error_response(413, message, code="request_too_large", path=scope.get("path", ""))(scope, receive, send)


class RequestMetrics:
    """Count every request by route and status code and time it to the end of its response."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def record(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = getattr(scope.get("route"), "path", None) or "other"  # unknown paths share one label
            self.metrics.request(route, status, time.perf_counter() - start)
