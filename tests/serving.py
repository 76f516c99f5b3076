"""A real ``ponder serve`` process for the server tests (a pytest plugin: ``pytest_plugins = ["serving"]``).

One server per test session, on the embedded default model and a free port, shared by every test
that asks for it; it is terminated at the end of the session.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass

import pytest
from health import free_port, healthy, wait_healthy  # noqa: F401 (free_port: for the tests)

PRICE_INPUT, PRICE_OUTPUT = 0.1, 0.4  # dollars per million tokens
LIMITS = {"max_tokens": 1024, "max_prompt_tokens": 512, "max_body_bytes": 65536, "max_queue": 40}
QUESTION = "What is 12 + 30?"


@dataclass
class Served:
    url: str
    process: subprocess.Popen
    key: str | None = None

    @property
    def api(self) -> str:
        return self.url + "/v1"

    def client(self, **kw):
        import openai

        return openai.OpenAI(base_url=self.api, api_key=kw.pop("api_key", self.key or "unused"), max_retries=0,
                             timeout=kw.pop("timeout", 120), **kw)

    def aclient(self, **kw):
        import openai

        return openai.AsyncOpenAI(base_url=self.api, api_key=self.key or "unused", max_retries=0,
                                  timeout=kw.pop("timeout", 300), **kw)

    def alive(self) -> bool:
        return self.process.poll() is None and healthy(self.url)


def start(*args: str, env: dict | None = None, key: str | None = None) -> Served:
    port = free_port()
    cmd = [sys.executable, "-m", "ponder.cli", "serve", "--port", str(port), *args]
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: nobody reads it while the server runs
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, process, "ponder serve", log=log)
    return Served(url, process, key)


def stop(served: Served) -> None:
    served.process.terminate()
    try:
        served.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()


# helpers for the tests

def ask(server, method: str, path: str, headers: dict | None = None, body: str | None = None):
    """(status, headers, text) of one request whose Host and Origin the test chooses."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(method, path, body=body, headers={"Host": f"127.0.0.1:{port}", **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def chat(server, thinking=None, max_tokens=48, question=QUESTION, **kw):
    extra = {"thinking": thinking} if thinking is not None else None
    return server.client().chat.completions.create(
        model="anything", messages=[{"role": "user", "content": question}], max_tokens=max_tokens,
        extra_body=extra, **kw)


def details(response) -> dict:
    return response.model_extra["ponder"]


def metric(text: str, name: str) -> float:
    pattern = rf"^{re.escape(name)} ([0-9.e+-]+)$"
    found = re.search(pattern, text, flags=re.M)
    return float(found.group(1)) if found else 0.0


def get(url: str, key: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def reasoning_of(chunk) -> str:
    return "".join(c.delta.model_extra.get("reasoning_content") or "" for c in chunk.choices)


# the servers

@pytest.fixture(scope="session")
def server():
    """The default model with prices and small limits; checked to be still up after every test."""
    limits = [f"--{k.replace('_', '-')}={v}" for k, v in LIMITS.items()]
    served = start("--price-input", str(PRICE_INPUT), "--price-output", str(PRICE_OUTPUT), *limits)
    yield served
    stop(served)
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught
    assert served.process.returncode in (0, -signal.SIGTERM), "the server did not shut down cleanly"


@pytest.fixture
def up(server):
    """The shared server, with a check after the test that it survived whatever the test sent."""
    yield server
    assert server.alive(), "the server went down"


@pytest.fixture(scope="session")
def keyed():
    """A server that wants a key (Bearer or x-api-key) and returns the thinking under vLLM's name only."""
    served = start("--api-key", "s3cret", "--reasoning-field", "reasoning", key="s3cret")
    yield served
    stop(served)
