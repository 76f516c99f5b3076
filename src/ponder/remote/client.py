"""An OpenAI-compatible text completions endpoint over the standard library's HTTP, with retries.

Any server with ``/v1/completions`` will do: vLLM, SGLang, llama-server, ``ponder serve``
(with ``raw``), a hosted API. Connection failures, timeouts, a body cut short, 429 and 5xx
answers are retried with exponential backoff; any other 4xx is the caller's mistake and is
raised at once with the server's own message.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlparse

from ..errors import PonderError

RETRIED = {408, 409, 425, 429, 500, 502, 503, 504}
ABSENT = {404, 405, 501}  # the server has no such route
MISUNDERSTOOD = {400, 422}  # the route exists but reads another body shape


class EndpointError(PonderError):
    """The endpoint could not be reached or kept failing after the retries."""


class Refused(PonderError):
    """The server answered with a 4xx it will repeat: the request is at fault (or the key, or the route)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# Token counting: the body shapes of the servers' /tokenize, tried in turn until one answers with tokens.
TOKENIZE_BODIES = (
    lambda model, text: {"model": model, "prompt": text, "add_special_tokens": False},  # vLLM, SGLang, ponder
    lambda model, text: {"content": text, "add_special": False, "parse_special": True},  # llama-server
)


@dataclass(frozen=True)
class Endpoint:
    """Where the server is and how patiently to talk to it. ``url`` is the API base (``.../v1`` or the root)."""

    url: str
    model: str | None = None  # None: the first model the server lists
    api_key: str | None = None
    timeout: float = 600.0  # seconds for one HTTP call
    retries: int = 4
    backoff: float = 0.5  # seconds before the first retry, doubled for each next one

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise PonderError(f"endpoint {self.url!r} is not an http(s) URL: pass e.g. http://127.0.0.1:8000/v1")
        if self.retries < 0 or self.backoff < 0 or self.timeout <= 0:
            raise PonderError("endpoint retries and backoff must be >= 0 and timeout > 0")

    @property
    def root(self) -> str:
        url = self.url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url


NO_KEY = ("; no key was sent: set PONDER_API_KEY (OPENAI_API_KEY is sent only over https or to this machine, "
          "as it is often a key to OpenAI itself)")

# how a completion ended: the length limit, EOS, a stop string, or one of the two (the server does not say which)
LENGTH, EOS, STOP, STOP_OR_EOS = "length", "eos", "stop", "stop or eos"


@dataclass(frozen=True)
class Completion:
    """One call's text and counts; ``ended`` is LENGTH, EOS, STOP or STOP_OR_EOS."""

    text: str
    tokens: int
    prompt_tokens: int
    ended: str
    cached_tokens: int = 0  # of the prompt's, read from the server's cache (where its usage says)


class Client:
    """Calls one endpoint; safe to share between threads (a sweep keeps several calls in flight)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._model = endpoint.model
        self._counts: dict[str, int] = {}
        self._tokenize_shapes = tuple(range(len(TOKENIZE_BODIES)))  # narrowed to the one that works
        self._raw: dict | None = None

    @property
    def raw(self) -> dict:
        """What makes the server continue the prompt as plain text: ``ponder serve`` needs ``raw: true``."""
        if self._raw is None:
            self._raw = {} if self.probe("GET", "/v1/ponder/info") is None else {"raw": True}
        return self._raw

    @property
    def model(self) -> str:
        if self._model is None:
            listed = self.call("GET", "/v1/models").get("data") or []
            if not listed:
                raise EndpointError(f"{self.endpoint.root}/v1/models lists no model: pass the model name")
            self._model = listed[0]["id"]
        return self._model

    def complete(self, prompt: str, max_tokens: int, stop: tuple[str, ...] = (), temperature: float = 0.0,
                 top_p: float = 1.0, seed: int | None = None, top_k: int = 0) -> Completion:
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature,
                "top_p": top_p, "top_k": top_k or None, "stop": list(stop) or None, "seed": seed, **self.raw}
        data = self.call("POST", "/v1/completions", {k: v for k, v in body.items() if v is not None})
        choice, usage = data["choices"][0], data.get("usage") or {}
        if choice.get("finish_reason") == "length":
            ended = LENGTH
        elif "stop_reason" in choice:  # vLLM and ponder serve: the stop string, or null for EOS
            ended = EOS if choice["stop_reason"] is None else STOP
        else:
            ended = STOP_OR_EOS
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return Completion(choice.get("text") or "", int(usage.get("completion_tokens", 0)),
                          int(usage.get("prompt_tokens", 0)), ended, int(cached))

    def count(self, text: str) -> int:
        """Tokens in ``text`` as the server's model counts them (``/tokenize``), else its UTF-8 bytes.

        Bytes are an upper bound for byte-level tokenizers, so a budget checked with
        them is never passed. A server that counts no tokens in a non-empty text did
        not understand the body: the next shape is tried, then bytes.
        """
        if not text:
            return 0
        if text not in self._counts:
            tokens = self._tokenized(text)
            self._counts[text] = len(text.encode("utf-8")) if tokens is None else tokens
        return self._counts[text]

    def _tokenized(self, text: str) -> int | None:
        """The server's count for a non-empty text, or None when it has no usable /tokenize."""
        for shape in self._tokenize_shapes:
            try:
                data = self.probe("POST", "/tokenize", TOKENIZE_BODIES[shape](self.model, text))
            except Refused as err:
                if err.status not in MISUNDERSTOOD:
                    raise
                data = {}
            if data is None:  # no such route
                break
            tokens = data.get("count", len(data.get("tokens") or ()))
            if tokens:
                self._tokenize_shapes = (shape,)
                return int(tokens)
        self._tokenize_shapes = ()  # bytes from now on
        return None

    def probe(self, method: str, path: str, body: dict | None = None) -> dict | None:
        """``call``, but None where the server has no such route; raises any other refusal (401...)."""
        try:
            return self.call(method, path, body)
        except Refused as err:
            if err.status in ABSENT:
                return None
            raise

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One JSON call, retried on connection errors, timeouts, 429 and 5xx."""
        e = self.endpoint
        url = e.root + path
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if e.api_key:
            headers["Authorization"] = f"Bearer {e.api_key}"
        reason = ""
        for attempt in range(e.retries + 1):
            if attempt:
                time.sleep(e.backoff * 2 ** (attempt - 1))
            try:
                request = urllib.request.Request(url, data=data, headers=headers, method=method)
                with urllib.request.urlopen(request, timeout=e.timeout) as response:
                    return json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as err:
                message = error_message(err)
                if err.code not in RETRIED:
                    hint = NO_KEY if err.code == 401 and not e.api_key else ""
                    raise Refused(f"{method} {url} answered {err.code}: {message}{hint}", err.code) from None
                reason = f"{err.code}: {message}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                reason = str(getattr(err, "reason", err))
            except (http.client.HTTPException, ValueError) as err:  # a body cut short, or not whole JSON
                reason = f"an incomplete answer ({type(err).__name__})"
        raise EndpointError(f"{method} {url} failed {e.retries + 1} times (last: {reason}): check that the server "
                            "is running and the URL is its API base, e.g. http://127.0.0.1:8000/v1")


def error_message(err: urllib.error.HTTPError) -> str:
    """The message of an OpenAI-style error body, or the raw body."""
    raw = err.read().decode("utf-8", "replace")
    try:
        detail = json.loads(raw)
        error = detail.get("error", detail)
        return str(error.get("message", error) if isinstance(error, dict) else error)
    except (ValueError, AttributeError):
        return raw[:300] or err.reason
