"""Prometheus metrics (text format 0.0.4, written by hand) and the live list of recent requests."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TOKEN_BUCKETS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
PHASES = ("prompt", "thinking", "marker", "answer", "probe")


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.sum += value
        self.count += 1
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out = [f'{name}_bucket{{{labels}{sep}le="{b:g}"}} {c}' for b, c in zip(self.buckets, self.counts)]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        suffix = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{suffix} {self.sum:.6f}", f"{name}_count{suffix} {self.count}"]
        return out


class Metrics:
    """Counters and histograms, updated from the event loop and the middleware; a lock keeps reads whole."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = defaultdict(int)  # (route, status code)
        self.latency: dict[str, Histogram] = {}
        self.tokens: dict[str, int] = dict.fromkeys(PHASES, 0)
        self.injected: dict[str, int] = {"thinking": 0, "answer": 0}
        self.generations: dict[str, int] = defaultdict(int)  # by finish reason
        self.waits = 0
        self.capped = 0
        self.cancelled = 0  # requests whose client went away before the end
        self.cache_hits = 0  # generations that started from a prefix kept in the cache
        self.cached_tokens = 0  # prompt tokens they read from it instead of evaluating
        self.cost = 0.0
        self.queue_wait = Histogram(LATENCY_BUCKETS)
        self.thinking_tokens = Histogram(TOKEN_BUCKETS)

    def request(self, route: str, status: int, seconds: float) -> None:
        with self.lock:
            self.requests[(route, str(status))] += 1
            self.latency.setdefault(route, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def generation(self, results, prompt_tokens: int, queue_seconds: float, cost: float | None) -> None:
        with self.lock:
            self.tokens["prompt"] += prompt_tokens
            self.queue_wait.observe(queue_seconds)
            self.cost += cost or 0.0
            for r in results:
                u = r.usage
                self.tokens["thinking"] += u.thinking_tokens
                self.tokens["marker"] += u.marker_tokens
                self.tokens["answer"] += u.answer_tokens
                self.tokens["probe"] += u.probe_tokens
                self.injected["thinking"] += u.thinking_injected
                self.injected["answer"] += u.answer_injected
                self.generations[r.finish_reason] += 1
                self.waits += r.waits
                self.capped += r.capped
                self.thinking_tokens.observe(u.thinking_tokens)
                self.cache_hits += u.cached_tokens > 0
                self.cached_tokens += u.cached_tokens

    def client_gone(self) -> None:
        with self.lock:
            self.cancelled += 1

    def render(self, queued: int, running: int, max_queue: int) -> str:
        with self.lock:
            out = [
                "# HELP ponder_requests_total HTTP requests by route and status code.",
                "# TYPE ponder_requests_total counter",
                *(f'ponder_requests_total{{route="{r}",code="{c}"}} {n}'
                  for (r, c), n in sorted(self.requests.items())),
                "# HELP ponder_request_duration_seconds Time from request to the end of the response.",
                "# TYPE ponder_request_duration_seconds histogram",
                *(line for r, h in sorted(self.latency.items()) for line in h.lines(
                    "ponder_request_duration_seconds", f'route="{r}"')),
                "# HELP ponder_queue_wait_seconds Time a generation request waited for the worker.",
                "# TYPE ponder_queue_wait_seconds histogram",
                *self.queue_wait.lines("ponder_queue_wait_seconds"),
                "# HELP ponder_tokens_total Tokens by phase (prompt, thinking, marker, answer; probe: cut back out).",
                "# TYPE ponder_tokens_total counter",
                *(f'ponder_tokens_total{{phase="{p}"}} {n}' for p, n in self.tokens.items()),
                "# HELP ponder_injected_tokens_total Tokens ponder injected (waits, prefixes, fillers, pauses).",
                "# TYPE ponder_injected_tokens_total counter",
                *(f'ponder_injected_tokens_total{{phase="{p}"}} {n}' for p, n in self.injected.items()),
                "# HELP ponder_thinking_tokens Thinking tokens per generation.",
                "# TYPE ponder_thinking_tokens histogram",
                *self.thinking_tokens.lines("ponder_thinking_tokens"),
                "# HELP ponder_generations_total Generations by finish reason.",
                "# TYPE ponder_generations_total counter",
                *(f'ponder_generations_total{{finish_reason="{f}"}} {n}' for f, n in sorted(self.generations.items())),
                "# HELP ponder_waits_total Wait strings injected (budget forcing).",
                "# TYPE ponder_waits_total counter",
                f"ponder_waits_total {self.waits}",
                "# HELP ponder_capped_total Generations whose thinking hit the cap.",
                "# TYPE ponder_capped_total counter",
                f"ponder_capped_total {self.capped}",
                "# HELP ponder_cancelled_total Requests stopped because the client disconnected.",
                "# TYPE ponder_cancelled_total counter",
                f"ponder_cancelled_total {self.cancelled}",
                "# HELP ponder_prefix_cache_hits_total Generations that started from a prefix kept in the cache.",
                "# TYPE ponder_prefix_cache_hits_total counter",
                f"ponder_prefix_cache_hits_total {self.cache_hits}",
                "# HELP ponder_prefix_cache_tokens_total Prompt tokens read from the prefix cache, not evaluated.",
                "# TYPE ponder_prefix_cache_tokens_total counter",
                f"ponder_prefix_cache_tokens_total {self.cached_tokens}",
                "# HELP ponder_cost_dollars_total What the served requests cost at the configured prices.",
                "# TYPE ponder_cost_dollars_total counter",
                f"ponder_cost_dollars_total {self.cost:.9f}",
            ]
        out += [
            "# HELP ponder_queue_depth Requests waiting for the worker.",
            "# TYPE ponder_queue_depth gauge",
            f"ponder_queue_depth {queued}",
            "# HELP ponder_running Generation requests running (0 or 1).",
            "# TYPE ponder_running gauge",
            f"ponder_running {running}",
            "# HELP ponder_queue_limit The most requests waiting or running at once.",
            "# TYPE ponder_queue_limit gauge",
            f"ponder_queue_limit {max_queue}",
        ]
        return "\n".join(out) + "\n"


class Recent:
    """The last few requests, newest first, for the playground's live view (GET /v1/ponder/requests)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.items: OrderedDict[str, dict] = OrderedDict()

    def add(self, rid: str, **fields) -> None:
        with self.lock:
            self.items[rid] = {"id": rid, "created": time.time(), "status": "queued", **fields}
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def update(self, rid: str, **fields) -> None:
        with self.lock:
            if rid in self.items:
                self.items[rid].update(fields)

    def list(self) -> list[dict]:
        with self.lock:
            return [dict(item) for item in reversed(self.items.values())]
