"""The endpoint client at its edges, against a real ``ponder serve``: bodies cut short, refused keys, options."""

from __future__ import annotations

import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import ponder
from ponder import Budget
from ponder.remote import Client, Endpoint

pytest.register_assert_rewrite("serving")

from serving import start, stop  # noqa: E402

pytest_plugins = ["serving"]


class CutShort(BaseHTTPRequestHandler):
    """Relays calls to the real server, but cuts the first ``failures`` answers short.

    ``how``: "connection" promises more bytes than it sends, then closes (an incomplete read);
    "json" sends half of the JSON with a length that matches it (a body that does not parse).
    """

    target, how, failures, calls = "", "connection", 0, 0

    def relay(self):
        type(self).calls += 1
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        request = urllib.request.Request(self.target + self.path, data=body, method=self.command,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as res:
            status, data = res.status, res.read()
        length = len(data)
        if type(self).calls <= self.failures:
            data = data[: len(data) // 2]
            length = len(data) if self.how == "json" else length
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    do_GET = do_POST = relay

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("how", ["connection", "json"])
def test_an_answer_cut_short_is_retried(up, how):
    handler = type("CutShort3", (CutShort,), {"target": up.url, "how": how, "failures": 3, "calls": 0})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        client = Client(Endpoint(f"http://127.0.0.1:{proxy.server_port}/v1", retries=4, backoff=0.01))
        result = ponder.generate("What is 2 + 2?", endpoint=client, thinking=Budget(max_tokens=8), format="s1",
                                 max_tokens=40)
    finally:
        proxy.shutdown()
    direct = ponder.generate("What is 2 + 2?", endpoint=up.api, thinking=Budget(max_tokens=8), format="s1",
                             max_tokens=40)
    assert handler.calls > 3 and result.completion == direct.completion


def test_a_refused_key_is_an_error_not_a_missing_route():
    served = start("--api-key", "sekrit")
    try:
        client = Client(Endpoint(served.api, model="any"))
        with pytest.raises(ponder.PonderError, match="answered 401"):
            client.count("Wait")  # not a server without /tokenize, whose count falls back to bytes
        with pytest.raises(ponder.PonderError, match="answered 401"):
            client.raw  # noqa: B018 - not a server other than ponder serve
        keyed = Client(Endpoint(served.api, model="any", api_key="sekrit"))
        assert keyed.count("Wait") == len(ponder.load_backend(None).tokenize("Wait")) and keyed.raw == {"raw": True}
    finally:
        stop(served)


def test_top_k_reaches_the_server_and_what_cannot_run_is_refused(up):
    ask = dict(endpoint=up.api, thinking=Budget(max_tokens=24), format="s1", max_tokens=48)
    greedy = ponder.generate("Write a line about the sea.", **ask)
    narrowed = ponder.generate("Write a line about the sea.", temperature=1.5, seed=5, top_k=1, **ask)
    assert narrowed.completion == greedy.completion  # one candidate left: sampling is greedy
    with pytest.raises(ponder.PonderError, match="need a local model"):
        ponder.generate("hi", cancelled=lambda: False, **ask)
    with pytest.raises(ponder.PonderError, match="need a local model"):
        ponder.generate("The sea is", continuation=True, raw_prompt=True, endpoint=up.api)


def test_what_the_loop_over_an_endpoint_cannot_honour_is_refused_and_chat_false_is_kept(up):
    ask = dict(endpoint=up.api, thinking=Budget(max_tokens=8), format="s1", max_tokens=16)
    for refused in (dict(logprobs=2), dict(prompt_logprobs=True)):
        with pytest.raises(ponder.PonderError, match="logprobs and prompt_logprobs need a local model"):
            ponder.generate("hi", **refused, **ask)
    with pytest.raises(ponder.PonderError, match="token ids needs a local model"):
        ponder.generate([1, 2, 3], raw_prompt=True, **ask)
    chatted, plain = (ponder.generate("The sea is", chat=chat, **ask) for chat in (True, False))
    assert "<|im_start|>user\nThe sea is<|im_end|>" in chatted.prompt
    assert "<|im_start|>user" not in plain.prompt and "The sea is\n<|im_start|>think" in plain.prompt


def test_openai_api_key_goes_only_where_nobody_on_the_way_reads_it(monkeypatch):
    from ponder.remote import environment_key

    monkeypatch.delenv("PONDER_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert environment_key("https://api.example.com/v1") == "sk-openai"
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1"):
        assert environment_key(url) == "sk-openai", url
    for url in ("http://10.1.2.3:8000/v1", "http://gpu-box:8000/v1", "http://example.com/v1"):
        assert environment_key(url) is None, url
    monkeypatch.setenv("PONDER_API_KEY", "meant-for-ponder")
    assert environment_key("http://gpu-box:8000/v1") == "meant-for-ponder"


def test_a_key_from_the_environment_reaches_a_local_server_and_a_missing_one_says_what_to_set(monkeypatch):
    served = start("--api-key", "sekrit")
    try:
        monkeypatch.delenv("PONDER_API_KEY", raising=False)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        ask = dict(endpoint=served.api, thinking=Budget(max_tokens=4), format="s1", max_tokens=8)
        with pytest.raises(ponder.PonderError, match="answered 401.*set PONDER_API_KEY"):
            ponder.generate("hi", **ask)
        monkeypatch.setenv("OPENAI_API_KEY", "sekrit")  # to this machine: sent
        assert ponder.generate("hi", **ask).usage.thinking_tokens <= 4
    finally:
        stop(served)
