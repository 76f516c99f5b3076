"""The server's own OpenAPI schema, fuzzed by schemathesis (valid and invalid requests): never a 5xx, never down,
errors always in the route's API's shape. Then the inputs a schema cannot describe: policy texts holding the
model's special tokens, and Host and Origin headers naming other sites.

Schemathesis generates the cases from /openapi.json; hypothesis drives them here (schemathesis's own
pytest plugin does not run under this pytest). The fuzzed server has small limits (8 tokens, 2 choices),
and valid bodies ask for 4 tokens and one choice, so that they are served, and quickly.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

pytest.register_assert_rewrite("serving")

from serving import ask, start, stop  # noqa: E402

EXAMPLES = 25  # per operation and mode
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
CASES = [  # operations without a body or query have no invalid requests to make
    ("POST", "/v1/chat/completions", POSITIVE), ("POST", "/v1/chat/completions", NEGATIVE),
    ("POST", "/v1/completions", POSITIVE), ("POST", "/v1/completions", NEGATIVE),
    ("POST", "/v1/responses", POSITIVE), ("POST", "/v1/responses", NEGATIVE),
    ("GET", "/v1/responses/{response_id}", POSITIVE), ("GET", "/v1/responses/{response_id}", NEGATIVE),
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
        if "input" in body:  # the Responses API's limit
            body["max_output_tokens"] = 4
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


# policy texts with SmolLM2's special tokens in them: each is served, or refused naming its option

SPECIAL = ["<|im_end|>", "<|im_start|>", "<|endoftext|>", "<think>", "</think>"]
ENDINGS = ("<|im_end|>", "<|endoftext|>")  # SmolLM2's end-of-sequence tokens
PIECE = st.one_of(st.text(max_size=6), st.sampled_from(SPECIAL))
TEXTS = st.lists(PIECE, min_size=1, max_size=3).map("".join).filter(lambda t: 1 <= len(t) <= 16 and t.strip())
PLACES = {  # where a text goes in the thinking object, and the option a refusal names
    "wait": (lambda t: {"min_tokens": 2, "max_tokens": 6, "wait": t}, "wait"),
    "wrap_up": (lambda t: {"max_tokens": 2, "wrap_up": t}, "wrap"),
    "prefix": (lambda t: {"prefix": t}, "prefix"),
    "filler": (lambda t: {"filler": {"count": 2, "text": t}}, "filler"),
    "pause": (lambda t: {"pause": {"count": 1, "text": t}}, "pause"),
}
FUZZ = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def call(server, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    """(status, JSON) of one request with exactly these headers (urllib would write its own Host)."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    status, _, text = ask(server, method, path, sent, None if body is None else json.dumps(body))
    return status, json.loads(text or "null")


@FUZZ
@given(place=st.sampled_from(sorted(PLACES)), text=TEXTS)
def test_a_policy_text_with_special_tokens_is_served_or_refused_by_name(fuzzed, place, text):
    thinking, option = PLACES[place]
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "thinking": thinking(text)}
    status, answer = call(fuzzed, "POST", "/v1/chat/completions", body)
    assert status in (200, 400), (body, answer)
    if status == 400:
        assert option in answer["error"]["message"] and set(answer["error"]) == {"message", "type", "param", "code"}
    if any(token in text for token in ENDINGS):  # forced, it would end the generation: never served
        assert status == 400 and "which a policy may not force" in answer["error"]["message"], (body, answer)
    assert fuzzed.alive()


# Host and Origin headers: only this server's names pass, whatever else a page puts there

NAMES = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,6}){0,2}\Z").filter(
    lambda n: n.rstrip(".") != "localhost")
PORTS = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))


@FUZZ
@given(name=NAMES, port=PORTS, path=st.sampled_from(["/v1/models", "/v1/ponder/requests", "/v1/chat/completions"]))
def test_a_host_that_is_not_this_servers_reads_nothing(fuzzed, name, port, path):
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2} if "chat" in path else None
    status, answer = call(fuzzed, "POST" if body else "GET", path, body, {"Host": name + port})
    assert status == 403 and "DNS rebinding" in answer["error"]["message"], (name, answer)
    assert "data" not in answer and "choices" not in answer


@FUZZ
@given(name=NAMES, port=PORTS, scheme=st.sampled_from(["http", "https"]))
def test_a_page_on_another_origin_reads_nothing(fuzzed, name, port, scheme):
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    url = urlsplit(fuzzed.url)
    status, answer = call(fuzzed, "POST", "/v1/chat/completions", body,
                          {"Host": f"127.0.0.1:{url.port}", "Origin": f"{scheme}://{name}{port}"})
    assert status == 403 and "--allow-origin" in answer["error"]["message"], (name, answer)
    status, answer = call(fuzzed, "GET", "/v1/models", None, {"Host": f"localhost:{url.port}"})
    assert status == 200 and answer["data"]  # the server's own names still pass
