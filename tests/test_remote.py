"""The remote backend (the s1 loop over HTTP) against a real ``ponder serve``, and how it fails."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import ponder
from ponder import Budget, EntropyPause

pytest.register_assert_rewrite("serving", "remote_checks")

from ponder.remote import Client, Endpoint
from remote_checks import check_budgets, check_shaping, remote  # noqa: E402
from serving import free_port, start, stop  # noqa: E402

pytest_plugins = ["serving"]


def ponder_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "ponder.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_budgets_hold_against_ponder_serve(up):
    check_budgets(up.api)


def test_prefix_and_no_thinking_against_ponder_serve(up):
    check_shaping(up.api)


def test_raw_completions_continue_the_text_exactly(up):
    client = Client(Endpoint(up.api))
    done = client.complete("The capital of France is", max_tokens=12, stop=(".",))
    assert done.text == " Paris" and done.ended == "stop"
    assert client.count(" Paris") == len(ponder.load_backend(None).tokenize(" Paris"))


def test_a_raw_completion_with_thinking_options_is_a_400(up):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        up.client().completions.create(model="any", prompt="The capital of France is", max_tokens=4,
                                       extra_body={"raw": True, "thinking": {"max_tokens": 8}})
    assert "a raw completion continues text and has no thinking" in str(caught.value)


def test_a_policy_that_needs_the_logits_is_refused(up):
    with pytest.raises(ponder.PonderError, match="cannot run over an endpoint"):
        remote(up.api, [EntropyPause(2.0)])


def test_an_unreachable_endpoint_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}/v1"
    run = ponder_cli("generate", "hi", "--endpoint", url)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "failed 5 times" in run.stderr and "check that the server is running" in run.stderr


def test_a_request_the_server_refuses_is_not_retried(up):
    run = ponder_cli("generate", "hi", "--endpoint", up.api, "--max-tokens", "5000")
    assert run.returncode == 2 and "answered 400" in run.stderr and "above this server's limit" in run.stderr


class Flaky(BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` calls, then passes calls on to the real server."""

    target = ""
    failures = 0
    calls = 0

    def relay(self):
        type(self).calls += 1
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        if type(self).calls <= self.failures:
            status, data = 503, json.dumps({"error": {"message": "warming up"}}).encode()
        else:
            request = urllib.request.Request(self.target + self.path, data=body, method=self.command,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request) as res:
                status, data = res.status, res.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = relay

    def log_message(self, *args):
        pass


def test_failing_calls_are_retried_with_backoff(up):
    handler = type("Flaky3", (Flaky,), {"target": up.url, "failures": 3, "calls": 0})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        client = Client(Endpoint(f"http://127.0.0.1:{proxy.server_port}/v1", retries=4, backoff=0.05))
        started = time.perf_counter()
        result = ponder.generate("What is 2 + 2?", endpoint=client, thinking=Budget(max_tokens=8), format="s1",
                                 max_tokens=40)
        waited = time.perf_counter() - started
    finally:
        proxy.shutdown()
    assert result.usage.thinking_tokens <= 8 and result.finish_reason in ("stop", "length")
    assert handler.calls > 3 and waited >= 0.05 + 0.1 + 0.2  # three backoffs, doubling


def test_sweep_keeps_requests_in_flight_against_an_endpoint(up, tmp_path):
    out = tmp_path / "sweep"
    run = ponder_cli("sweep", "--endpoint", up.api, "--task", "addition", "--n", "3", "--policy", "budget,cap",
                     "--budgets", "0,8,16", "--format", "s1", "--concurrency", "4", "--no-progress", "--out", str(out))
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 6 and len({(r["item"], r["setting"]) for r in rows}) == 18
    assert all(r["within_budget"] for r in rows), [r for r in rows if not r["within_budget"]]
    assert all(r["thinking_tokens"] == r["budget"] for r in rows if r["policy"] == "budget")


def test_a_sweep_whose_server_dies_keeps_its_rows_and_resumes(tmp_path):
    served = start()
    out = tmp_path / "sweep"
    args = ["sweep", "--endpoint", served.api, "--task", "addition", "--n", "10", "--policy", "budget",
            "--budgets", "8,16", "--format", "s1", "--concurrency", "2", "--no-progress", "--out", str(out)]
    sweep = subprocess.Popen([sys.executable, "-m", "ponder.cli", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    rows = out / "rows.jsonl"
    deadline = time.time() + 120
    while (not rows.exists() or len(rows.read_text().splitlines()) < 4) and time.time() < deadline:
        time.sleep(0.2)
    stop(served)
    _, stderr = sweep.communicate(timeout=120)
    assert sweep.returncode == 2 and "failed 5 times" in stderr and "Traceback" not in stderr
    kept = rows.read_text().splitlines()
    assert 4 <= len(kept) < 20 and all(json.loads(line) for line in kept)

    again = start()
    try:
        args[args.index("--endpoint") + 1] = again.api
        run = ponder_cli(*args)
    finally:
        stop(again)
    assert run.returncode == 0, run.stderr
    final = [json.loads(line) for line in rows.read_text().splitlines()]
    assert final[: len(kept)] == [json.loads(line) for line in kept]
    assert len(final) == 20 and len({(r["item"], r["setting"]) for r in final}) == 20


def test_a_sweep_spread_over_two_replicas_loses_nothing_when_one_dies(tmp_path):
    first, second = start(), start()
    out = tmp_path / "sweep"
    args = ["sweep", "--endpoint", f"{first.api},{second.api}", "--task", "addition", "--n", "12", "--policy",
            "budget", "--budgets", "8,16", "--format", "s1", "--concurrency", "2", "--no-progress", "--out", str(out)]
    sweep = subprocess.Popen([sys.executable, "-m", "ponder.cli", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    rows = out / "rows.jsonl"
    try:
        deadline = time.time() + 120
        while (not rows.exists() or len(rows.read_text().splitlines()) < 4) and time.time() < deadline:
            time.sleep(0.1)
        kept = rows.read_text().splitlines()
        stop(first)  # mid-sweep: its generations in flight move to the other replica
        _, stderr = sweep.communicate(timeout=300)
    finally:
        stop(second)
    assert sweep.returncode == 0, stderr
    final = [json.loads(line) for line in rows.read_text().splitlines()]
    assert final[: len(kept)] == [json.loads(line) for line in kept]
    assert len(final) == 24 and len({(r["item"], r["setting"]) for r in final}) == 24
    assert all(r["thinking_tokens"] == r["budget"] for r in final)


def test_steering_by_the_plugin_needs_a_server_that_loads_it(up, tmp_path):
    run = ponder_cli("sweep", "--endpoint", up.api, "--steer", "plugin", "--n", "1", "--policy", "budget",
                     "--budgets", "8", "--no-progress", "--out", str(tmp_path / "out"))
    assert run.returncode == 2 and "does not load ponder's vLLM plugin" in run.stderr
    assert not (tmp_path / "out").exists()
    run = ponder_cli("sweep", "--endpoint", up.api, "--n", "1", "--policy", "entropy_pause", "--budgets", "8",
                     "--format", "s1", "--no-progress", "--out", str(tmp_path / "out"))
    assert run.returncode == 2 and "the s1 loop cannot run" in run.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--concurrency", "4"], "--concurrency needs --endpoint"),
    (["--endpoint", "ftp://x"], "is not an http(s) URL"),
    (["--endpoint", "http://127.0.0.1:1/v1", "--steer", "loop", "--policy", "entropy_pause"],
     "cannot run over an endpoint with the s1 loop"),
    (["--endpoint", "http://127.0.0.1:1/v1", "--concurrency", "0"], "--concurrency must be >= 1"),
])
def test_bad_sweep_endpoint_options_exit_2_and_write_nothing(args, message, tmp_path):
    run = ponder_cli("sweep", "--n", "1", "--no-progress", "--out", str(tmp_path / "out"), *args)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()
