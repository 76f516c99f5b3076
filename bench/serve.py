"""What serving through ``ponder serve`` costs, next to calling ``ponder.generate`` in process.

Run: ``.venv/bin/python bench/serve.py`` (default model: SmolLM2-135M-Instruct, llama.cpp).

1. Aggregate throughput. A real ``ponder serve`` process on a free port; at concurrency 1, 4 and
   8, that many client threads each send streaming chat requests back to back; completion
   tokens of all requests / wall time. The worker decodes the requests in flight together, one
   forward pass per step for all of them, so the ratio to concurrency 1 shows what batching buys
   on this model and machine (``bench/batch.py`` compares it with llama.cpp's own server).

2. Server overhead. The same request, one at a time, alternating A/B/C: A = ``ponder.generate``
   in this process, B = the server, whole response, C = the server, streamed (SSE, one event per
   delta); wall time per request, medians. Every request is greedy and forced to the same
   length (thinking min = max), so all sides do the same forward passes (asserted).
   Target: server / direct <= 1.10.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ponder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from health import free_port, wait_healthy  # noqa: E402

QUESTION = "A farmer has 3 pens with 4 sheep in each pen. How many sheep are there?"
THINK = 48  # thinking tokens, min = max: every request does the same work
MAX_TOKENS = 96
LEVELS = (1, 4, 8)
PER_CLIENT = 3  # requests each client thread sends at each level
ROUNDS = 7  # A/B/C rounds for figure 2
BODY = {"model": "ponder", "messages": [{"role": "user", "content": QUESTION}], "max_tokens": MAX_TOKENS,
        "thinking": {"min_tokens": THINK, "max_tokens": THINK}}


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "ponder.cli", "serve", "--port", str(port), "--max-queue", "64"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(f"http://127.0.0.1:{port}", proc, "ponder serve", 120)
    return proc


def call(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request(method, path, json.dumps(body) if body else None, {"Content-Type": "application/json"})
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def whole(port: int) -> int:
    """One non-streaming request; its completion tokens."""
    status, data = call(port, "POST", "/v1/chat/completions", BODY)
    assert status == 200, data
    return json.loads(data)["usage"]["completion_tokens"]


def streamed(port: int) -> int:
    """One streaming request read event by event; its completion tokens (from the usage chunk)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        res = conn.getresponse()
        assert res.status == 200
        tokens = 0
        for line in res:
            if line.startswith(b"data: {") and b'"usage"' in line:
                tokens = json.loads(line[6:])["usage"]["completion_tokens"]
        return tokens
    finally:
        conn.close()


def direct(backend) -> int:
    result = ponder.generate(QUESTION, model=backend, max_tokens=MAX_TOKENS,
                             thinking=ponder.Budget(min_tokens=THINK, max_tokens=THINK))
    return result.usage.completion_tokens


def timed(fn, *args) -> tuple[float, int]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def throughput(port: int, clients: int) -> tuple[int, int, float]:
    """(requests, completion tokens, seconds) with ``clients`` threads sending back to back."""
    def client(_):
        return sum(streamed(port) for _ in range(PER_CLIENT))

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        tokens = sum(pool.map(client, range(clients)))
    return clients * PER_CLIENT, tokens, time.perf_counter() - start


def main() -> None:
    port = free_port()
    server = start_server(port)
    backend = ponder.load_backend()
    try:
        whole(port), direct(backend)  # warm both sides
        print(f"ponder serve on {os.cpu_count()} CPUs, SmolLM2-135M-Instruct (llama.cpp), greedy, "
              f"thinking min = max = {THINK}, max_tokens {MAX_TOKENS}\n")
        print("1. aggregate throughput (streaming requests)")
        print(f"{'concurrency':>11} {'requests':>9} {'tokens':>7} {'seconds':>8} {'tokens/s':>9} {'vs 1':>6}")
        single = None
        for clients in LEVELS:
            n, tokens, secs = throughput(port, clients)
            rate = tokens / secs
            single = single or rate
            print(f"{clients:>11} {n:>9} {tokens:>7} {secs:>8.2f} {rate:>9.1f} {rate / single:>6.2f}")

        a, b, c = [], [], []
        for _ in range(ROUNDS):
            for times, fn, arg in ((a, direct, backend), (b, whole, port), (c, streamed, port)):
                secs, tokens = timed(fn, arg)
                times.append((secs, tokens))
        counts = {t for _, t in a + b + c}
        assert len(counts) == 1, f"the sides generated different lengths: {counts}"
        med = [statistics.median(s for s, _ in side) for side in (a, b, c)]
        print(f"\n2. server overhead, one request at a time ({counts.pop()} completion tokens each, "
              f"median of {ROUNDS})")
        print(f"   ponder.generate in process   {med[0] * 1000:8.1f} ms")
        print(f"   server, whole response       {med[1] * 1000:8.1f} ms   ratio {med[1] / med[0]:.3f}")
        print(f"   server, streamed (SSE)       {med[2] * 1000:8.1f} ms   ratio {med[2] / med[0]:.3f}")
        worst = max(med[1], med[2]) / med[0]
        print(f"   target: ratio <= 1.10 -> {'met' if worst <= 1.10 else 'NOT met'} ({worst:.3f})")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
