"""A local server is safe from web pages: a foreign Host (DNS rebinding) and a foreign Origin get 403s, the
origins ``--allow-origin`` names get CORS headers; checked over HTTP and in a real browser (Debian's chromium)."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading

import pytest

pytest.register_assert_rewrite("serving")

pytest_plugins = ["serving"]

from browser import chromium  # noqa: E402
from serving import ask, chat, free_port, start, stop  # noqa: E402

SECRET = "my secret word is zebra-42"
EVIL = "evil.example"


@pytest.fixture(scope="module")
def pages():
    """Another origin: a tiny http.server on its own port serving one blank page at every path."""

    class Blank(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<!doctype html><title>elsewhere</title><p>another site"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Blank)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield site.server_address[1]
    site.shutdown()


@pytest.fixture(scope="module")
def served(pages):
    """The default model serving friend.test and *.lan.test besides its address, and pages on good.test;
    one request with a secret in its prompt sits in its list of recent requests."""
    server = start("--allowed-hosts", "friend.test,.lan.test", "--allow-origin", f"http://good.test:{pages}/")
    chat(server, question=SECRET, max_tokens=2)
    yield server
    stop(server)


def port_of(server) -> str:
    return server.url.rsplit(":", 1)[1]


def recent_count(server) -> int:
    return len(json.loads(ask(server, "GET", "/v1/ponder/requests")[2])["data"])


CHAT = json.dumps({"model": "any", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})


def test_a_foreign_host_is_refused_and_shown_nothing(served):
    port = port_of(served)
    for host in (EVIL, f"{EVIL}:{port}", "localhost.evil.example", "lan.test.evil.example"):
        for method, path, body in [("GET", "/v1/ponder/requests", None), ("GET", "/", None),
                                   ("GET", "/v1/models", None), ("POST", "/v1/chat/completions", CHAT)]:
            status, _, text = ask(served, method, path, {"Host": host, "Content-Type": "application/json"}, body)
            assert status == 403, (host, path, status)
            error = json.loads(text)["error"]
            assert error["code"] == "host_not_allowed" and "--allowed-hosts" in error["message"]
            assert "zebra" not in text
    status, _, text = ask(served, "POST", "/v1/messages", {"Host": EVIL, "Content-Type": "application/json"}, "{}")
    assert status == 403 and json.loads(text) == {"type": "error", "error": {
        "type": "permission_error", "message": json.loads(text)["error"]["message"]}}


def test_the_bound_address_and_the_allowed_hosts_pass(served):
    port = port_of(served)
    for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LocalHost", f"[::1]:{port}",
                 "friend.test", f"friend.test:{port}", f"lan.test:{port}", "box.lan.test", "10.0.0.7:8000"):
        status, _, text = ask(served, "GET", "/v1/ponder/requests", {"Host": host})
        assert status == 200 and "zebra" in text, (host, status, text)


def test_a_foreign_origin_is_refused(served):
    before = recent_count(served)
    for origin in ("http://evil.example", f"http://127.0.0.1:{free_port()}", "null", "http://good.test:1"):
        for method, path in [("GET", "/v1/ponder/requests"), ("POST", "/v1/chat/completions")]:
            status, headers, text = ask(served, method, path, {"Origin": origin, "Content-Type": "text/plain"}, CHAT)
            assert status == 403 and json.loads(text)["error"]["code"] == "origin_not_allowed", (origin, status)
            assert "access-control-allow-origin" not in headers and "zebra" not in text
        asking = {"Origin": origin, "Access-Control-Request-Method": "POST",
                  "Access-Control-Request-Headers": "content-type"}
        status, headers, _ = ask(served, "OPTIONS", "/v1/chat/completions", asking)
        assert status == 403 and "access-control-allow-origin" not in headers
    assert recent_count(served) == before  # nothing was generated
    # the playground's own requests carry the server's origin; JSON is still required of every POST
    own = {"Origin": served.url}
    assert ask(served, "GET", "/v1/ponder/requests", own)[0] == 200
    status, _, text = ask(served, "POST", "/tokenize", {**own, "Content-Type": "text/plain"}, '{"prompt": "hi"}')
    assert status == 400 and "Content-Type: application/json" in text


def test_an_allowed_origin_gets_cors_headers_and_its_preflight_answered(served, pages):
    origin = f"http://good.test:{pages}"
    status, headers, text = ask(served, "GET", "/v1/ponder/requests", {"Origin": origin})
    assert status == 200 and "zebra" in text
    assert headers["access-control-allow-origin"] == origin and "Origin" in headers["vary"]
    status, headers, text = ask(served, "OPTIONS", "/tokenize", {
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization"})
    assert status == 204 and headers["access-control-allow-origin"] == origin
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "content-type,authorization"
    status, headers, text = ask(served, "POST", "/tokenize", {"Origin": origin, "Content-Type": "application/json"},
                                '{"prompt": "hi"}')
    assert status == 200 and json.loads(text)["count"] >= 1 and headers["access-control-allow-origin"] == origin


def serve_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ponder.cli", "serve", "--port", str(free_port()), *args],
                          capture_output=True, text=True, timeout=120)


def test_bad_flags_exit_2_with_one_line():
    for args, message in [(["--allowed-hosts", "ponder.lan:8000"], "--allowed-hosts: 'ponder.lan:8000'"),
                          (["--allowed-hosts", "http://x"], "is not a host name"),
                          (["--allow-origin", "app.example"], "--allow-origin: 'app.example' is not an origin"),
                          (["--allow-origin", "https://app.example/path"], "no path")]:
        run = serve_cli(*args)
        assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
        assert run.stderr.startswith("ponder: error: ") and message in run.stderr


def test_an_exposed_address_without_a_key_is_warned_about():
    # the warning comes before the model loads: a missing model ends the run right after it
    run = serve_cli("--host", "0.0.0.0", "--model", "/no/such/model.gguf")
    warning, error = run.stderr.splitlines()
    assert warning.startswith("ponder: warning: listening on 0.0.0.0") and "--api-key" in warning
    assert error.startswith("ponder: error: ") and run.returncode == 2
    assert "warning" not in serve_cli("--host", "0.0.0.0", "--api-key", "k", "--model", "/no/such").stderr
    assert "warning" not in serve_cli("--host", "localhost", "--model", "/no/such").stderr


# a real browser: chromium resolves the test names to 127.0.0.1, as a rebinding attacker's DNS would

@pytest.fixture(scope="module")
def browser():
    rules = ", ".join(f"MAP {name} 127.0.0.1" for name in ("rebind.test", "friend.test", "good.test"))
    with chromium(f"--host-resolver-rules={rules}", "--disable-features=HttpsUpgrades") as browser:
        yield browser


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


# every way a page may try: a read, a JSON POST (preflighted), and no-cors sends it cannot read back
TRIES = """async (base) => {
  const chat = JSON.stringify({model: "any", messages: [{role: "user", content: "from a page"}], max_tokens: 2});
  const tries = {
    read: () => fetch(base + "/v1/ponder/requests"),
    post: () => fetch(base + "/v1/chat/completions", {method: "POST", body: chat,
                                                       headers: {"Content-Type": "application/json"}}),
    blind_post: () => fetch(base + "/v1/chat/completions", {method: "POST", body: chat, mode: "no-cors",
                                                             headers: {"Content-Type": "text/plain"}}),
    blind_read: () => fetch(base + "/v1/ponder/requests", {mode: "no-cors"}),
  };
  const out = {};
  for (const [name, go] of Object.entries(tries)) {
    try {
      const res = await go();
      out[name] = {status: res.status, type: res.type, text: await res.text()};
    } catch (err) {
      out[name] = {error: String(err)};
    }
  }
  return out;
}"""


def test_a_page_on_another_origin_reads_nothing(served, pages, page):
    before = recent_count(served)
    page.goto(f"http://127.0.0.1:{pages}/")
    got = page.evaluate(TRIES, served.url)
    for name in ("read", "post"):
        assert "TypeError" in got[name].get("error", ""), got  # refused, and without CORS headers: unreadable
    for name in ("blind_post", "blind_read"):
        assert got[name] == {"status": 0, "type": "opaque", "text": ""}, got
    assert recent_count(served) == before  # and the blind POST generated nothing
    # the origin named by --allow-origin reads and posts, preflight included
    page.goto(f"http://good.test:{pages}/")
    got = page.evaluate(TRIES, served.url)
    assert got["read"]["status"] == 200 and "zebra" in got["read"]["text"], got
    assert got["post"]["status"] == 200 and json.loads(got["post"]["text"])["object"] == "chat.completion", got


def test_a_rebinding_page_is_refused(served, page):
    port = port_of(served)
    response = page.goto(f"http://rebind.test:{port}/")
    assert response.status == 403 and "host_not_allowed" in page.content()
    got = page.evaluate(TRIES, "")  # same-origin to the browser: only the Host header tells
    for name in ("read", "post", "blind_post", "blind_read"):
        assert got[name]["status"] == 403 and "zebra" not in got[name]["text"], got
    # a name given to --allowed-hosts works as the address does: the playground loads and reads the list
    response = page.goto(f"http://friend.test:{port}/")
    assert response.status == 200 and page.title() == "ponder playground"
    got = page.evaluate(TRIES, "")
    assert got["read"]["status"] == 200 and "zebra" in got["read"]["text"], got
