"""The FastAPI app: OpenAI-compatible routes, the playground, health, metrics, auth and error shapes."""

from __future__ import annotations

import asyncio
import hmac
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from .. import __version__
from ..backends import load_backend
from . import anthropic, openai, responses_api
from .anthropic_schemas import CountTokensRequest, MessagesRequest
from .errors import ApiError, error_response
from .guard import Guard
from .metrics import Metrics, Recent
from .middleware import BodyLimit, RequestMetrics
from .responses_schemas import ResponsesRequest
from .schemas import ChatRequest, CompletionRequest, TokenizeRequest
from .controls import ControlRequest, control_request
from .serving import Server
from .settings import ServerSettings
from .efforts import info as effort_info
from .worker import GenerationWorker

STATIC = Path(__file__).parent / "static"


def create_app(settings: ServerSettings, backend=None) -> FastAPI:
    """An app serving ``settings.model`` (loaded here, so a bad model fails before the server starts)."""
    backend = backend or load_backend(settings.model, settings.backend, settings.n_ctx, settings.threads,
                                      settings.device, settings.dtype, settings.gpu_layers)
    rows = settings.batch_size or backend.batch_rows
    server = Server(settings, backend, GenerationWorker(backend, settings.max_queue, rows, settings.prefix_cache), Metrics(),
                    Recent(settings.recent))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        server.worker.close()  # stop the running generation, drop the queued ones

    app = FastAPI(title="ponder", version=__version__, lifespan=lifespan, strict_content_type=False,
                  description="OpenAI-compatible chat and text completions with per-request thinking budgets.")
    app.state.server = server
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Guard, bound=settings.host, allowed_hosts=settings.allowed_hosts,  # before the body is read
                       allow_origins=settings.allow_origins)
    app.add_middleware(RequestMetrics, metrics=server.metrics)  # outermost: counts the 413s too
    add_error_handlers(app)
    add_routes(app, server, Depends(key_checker(settings.api_key)))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def key_checker(key: str | None):
    """A dependency refusing requests without the key (when one is set): ``Authorization: Bearer <key>``, as
    OpenAI's clients send it, or ``x-api-key: <key>``, as Anthropic's do."""

    async def check(request: Request) -> None:
        if key is None:
            return
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        given = [bearer.strip()] if scheme.lower() == "bearer" else []
        given += [request.headers["x-api-key"].strip()] if "x-api-key" in request.headers else []
        if not any(hmac.compare_digest(g.encode(), key.encode()) for g in given):
            raise ApiError(401, "missing or incorrect API key: send the header 'Authorization: Bearer <key>' "
                                "or 'x-api-key: <key>'", None, "invalid_api_key")

    return check


def add_routes(app: FastAPI, server: Server, auth) -> None:
    settings, started = server.settings, int(time.time())
    model_card = {"id": settings.model_id, "object": "model", "created": started, "owned_by": "ponder"}

    @app.post("/v1/chat/completions", dependencies=[auth], tags=["openai"])
    async def chat_completions(body: ChatRequest, request: Request):
        return await openai.chat_completions(server, request, body)

    @app.post("/v1/completions", dependencies=[auth], tags=["openai"])
    async def completions(body: CompletionRequest, request: Request):
        """The prompt (text or token ids) is continued as is; asked for thinking, it opens the thinking."""
        return await openai.completions(server, request, body)

    @app.post("/v1/responses", dependencies=[auth], tags=["openai"])
    async def create_response(body: ResponsesRequest, request: Request):
        """OpenAI's Responses API: a reasoning item with the thinking, then the answer; ``previous_response_id``."""
        return await responses_api.create(server, request, body)

    @app.get("/v1/responses/{response_id}", dependencies=[auth], tags=["openai"])
    async def get_response(response_id: str, stream: bool = False):
        return responses_api.retrieve(server, response_id, stream)

    @app.delete("/v1/responses/{response_id}", dependencies=[auth], tags=["openai"])
    async def delete_response(response_id: str):
        return responses_api.delete(server, response_id)

    @app.post("/v1/messages", dependencies=[auth], tags=["anthropic"])
    async def messages(body: MessagesRequest, request: Request):
        """Anthropic's Messages API, with thinking blocks."""
        return await anthropic.messages(server, request, body)

    @app.post("/v1/messages/count_tokens", dependencies=[auth], tags=["anthropic"])
    async def count_tokens(body: CountTokensRequest):
        return await anthropic.count_tokens(server, body)

    @app.post("/tokenize", dependencies=[auth], tags=["ponder"])
    async def tokenize(body: TokenizeRequest):
        """vLLM's shape: the token ids of a text, so a client can count tokens as this model does."""
        tokens = await asyncio.wrap_future(server.worker.call(lambda: server.backend.tokenize(body.prompt)))
        return {"tokens": tokens, "count": len(tokens), "max_model_len": server.backend.n_ctx}

    @app.get("/v1/models", dependencies=[auth], tags=["openai"])
    async def models():
        return {"object": "list", "data": [model_card]}

    @app.get("/v1/models/{model_id:path}", dependencies=[auth], tags=["openai"])
    async def model(model_id: str):
        if model_id != settings.model_id:
            raise ApiError(404, f"model {model_id!r} is not served here: this server serves {settings.model_id!r}",
                           "model", "model_not_found")
        return model_card

    @app.get("/health", tags=["ponder"])
    async def health():
        worker = server.worker
        return {"status": "ok", "model": settings.model_id, "queued": worker.waiting, "running": worker.running}

    @app.get("/metrics", dependencies=[auth], tags=["ponder"], response_class=PlainTextResponse)
    async def metrics():
        worker = server.worker
        text = server.metrics.render(worker.waiting, worker.running, worker.max_queue)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/ponder/requests", dependencies=[auth], tags=["ponder"])
    async def recent_requests():
        return {"object": "list", "data": server.recent.list(), "queued": server.worker.waiting,
                "running": server.worker.running}

    @app.post("/v1/ponder/requests/{request_id}/control", dependencies=[auth], tags=["ponder"])
    async def control(request_id: str, body: ControlRequest):
        return control_request(server, request_id, body)

    @app.get("/v1/ponder/info", dependencies=[auth], tags=["ponder"])
    async def info():
        return {
            "model": settings.model_id, "version": __version__, "format": settings.format,
            "limits": {"max_tokens": settings.max_tokens, "max_prompt_tokens": settings.max_prompt_tokens,
                       "max_body_bytes": settings.max_body_bytes, "max_queue": settings.max_queue,
                       "max_n": settings.max_n},
            "batch_size": server.worker.batch.rows.capacity,
            "prices": {"input": settings.price_input, "output": settings.price_output},
            "reasoning_fields": list(settings.reasoning_fields),
            "reasoning_effort": effort_info(settings.effort_table),
            "efforts": settings.efforts or "fixed",  # the calibrated table's file, or the fixed budgets
        }

    @app.get("/", include_in_schema=False)
    async def playground():
        return FileResponse(STATIC / "index.html")


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        return err.response(request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        message, param = describe_validation(err.errors())
        kind = request.headers.get("content-type", "application/json")
        if param is None and "json" not in kind:
            message = f"the body must be JSON sent with Content-Type: application/json, not {kind}"
        return error_response(400, message, param, "invalid_request", path=request.url.path)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        message = err.detail if isinstance(err.detail, str) else "request failed"
        if err.status_code == 404:
            message = f"no route {request.method} {request.url.path}: see /openapi.json for the API"
        return error_response(err.status_code, message, headers=getattr(err, "headers", None),
                              path=request.url.path)

    @app.exception_handler(Exception)
    async def crashed(request: Request, err: Exception) -> JSONResponse:
        return error_response(500, f"internal error ({type(err).__name__}): the server is still up", None,
                              "internal_error", path=request.url.path)


def describe_validation(errors) -> tuple[str, str | None]:
    """One line for the first validation error, and the parameter it is about (dotted path)."""
    if not errors:
        return "the request is not valid", None
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        return f"the body is not valid JSON ({first.get('ctx', {}).get('error', 'parse error')})", None
    if not loc:
        return "the body must be a JSON object with the request's fields", None
    # union members add their type or model names to the path (our fields are lower case): keep the fields
    param = ".".join(p for p in loc if not any(c in p for c in "[]()-") and not p[:1].isupper())
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{param}: {message}{more}", param
