"""The server's own OpenAPI schema, fuzzed by schemathesis (valid and invalid requests): never a 5xx, never down,
errors always in the route's API's shape.

Schemathesis generates the cases from /openapi.json; hypothesis drives them here (schemathesis's own
pytest plugin does not run under this pytest). The fuzzed server has small limits (8 tokens, 2 choices),
and valid bodies ask for 4 tokens and one choice, so that they are served, and quickly.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

pytest.register_assert_rewrite("serving")

from serving import start, stop  # noqa: E402

EXAMPLES = 25  # per operation and mode
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
CASES = [  # operations without a body or query have no invalid requests to make
    ("POST", "/v1/chat/completions", POSITIVE), ("POST", "/v1/chat/completions", NEGATIVE),
    ("POST", "/v1/completions", POSITIVE), ("POST", "/v1/completions", NEGATIVE),
    ("POST", "/v1/messages", POSITIVE), ("POST", "/v1/messages", NEGATIVE),
    ("POST", "/v1/messages/count_tokens", POSITIVE), ("POST", "/v1/messages/count_tokens", NEGATIVE),
    ("GET", "/v1/models", POSITIVE), ("GET", "/v1/models/{model_id}", POSITIVE), ("GET", "/health", POSITIVE),
    ("GET", "/v1/ponder/requests", POSITIVE),
]


@pytest.fixture(scope="module")
def fuzzed():
    """A server of its own whose limits keep any request small: 8 tokens, 2 choices, a short prompt."""
    served = start("--max-tokens", "8", "--max-n", "2", "--max-prompt-tokens", "256", "--max-body-bytes", "65536")
    yield served
    stop(served)


@pytest.fixture(scope="module")
def api_schema(fuzzed):
    return schemathesis.openapi.from_url(fuzzed.url + "/openapi.json")


def small(body):
    """One choice of a few tokens, whatever else it asks."""
    if isinstance(body, dict):
        body = dict(body, max_tokens=4, n=1)
        body.pop("max_completion_tokens", None)
        if isinstance(body.get("prompt"), list) and body["prompt"]:
            body["prompt"] = body["prompt"][:1]
    return body


def check(case, server, mode) -> None:
    if mode == POSITIVE:  # valid bodies generate: ask for few tokens so that most are served, not refused
        case.body = small(case.body)
    response = case.call(base_url=server.url, timeout=120)
    assert response.status_code < 500, (case.body, response.text)
    if response.status_code >= 400:
        body = response.json()
        if case.path.startswith("/v1/messages"):  # Anthropic's error shape on its routes
            assert body["type"] == "error" and set(body["error"]) == {"type", "message"} and body["error"]["message"]
        else:  # OpenAI's everywhere else
            assert set(body["error"]) == {"message", "type", "param", "code"} and body["error"]["message"]


@pytest.mark.parametrize("method, path, mode", CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_no_request_makes_the_server_fail(api_schema, fuzzed, method, path, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        check(case, fuzzed, mode)

    fuzz()
    assert fuzzed.alive()
