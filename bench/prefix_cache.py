"""Prefix caching: re-sent and extended prompts, measured side by side in one run and printed as ratios.

Run: ``.venv/bin/python bench/prefix_cache.py`` (builds llama.cpp's own server on first use, about 6 minutes:
``tests/llama_server_tests/build``). llama-server runs the same GGUF (SmolLM2-135M-Instruct Q4_1) on the
same threads with 8 slots and its prompt cache (on by default); ``ponder serve`` runs with 8 rows, with its
prefix cache (the default) and with ``--no-prefix-cache``. Raw text completions, greedy.

1. A 1,451-token prompt: the first time, the same again, the same plus one sentence (``max_tokens: 1``),
   the median of three prompts, each server in turn. Targets: again and extended within 1.5x of
   llama-server's times; the first prefill at least 0.9x llama-server's speed.
2. A sweep through ``--endpoint`` (the s1 loop re-sends prompt and thinking at every wait), 48 generations
   of the addition task at concurrency 8: generations/s, best of two. Target: ponder / llama-server >= 0.9.
3. The README's main job on ponder-tiny (fewer items): generations/s with the cache against without.
4. A 5-turn chat whose history grows to about 2,000 tokens: the total time. Target: >= 0.9x llama-server's speed.
5. Memory: ponder serve's RSS after distinct 500-token prompts against the bound its rows allocate.
6. What the cache changes: greedy generations whose tokens differ with it on against off, and the largest
   logit difference between a prompt evaluated whole and the same prompt resumed from a cached prefix.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import ponder
from batch import SLOTS, THREADS, call, in_turn, median, start_llama_server, start_ponder
from health import free_port, wait_healthy
from ponder.backends import default_model_path
from ponder.batching import rows_for

LONG = 1451  # the prompt's tokens in figure 1
PER_SLOT = 4096  # llama-server's context per slot, ponder's per row (its default)
WORDS = ("river stone lantern winter orchard copper whisper meadow harbor signal thunder velvet marble "
         "candle forest engine garden shadow silver ladder window compass pepper ribbon valley").split()


def text_of(port: int, seed: int, tokens: int) -> str:
    """Prose of exactly about ``tokens`` SmolLM2 tokens (counted by llama-server), different for each seed."""
    rng = np.random.default_rng(seed)
    text = f"Document {seed}."
    while len(call(port, "/tokenize", {"content": text})["tokens"]) < tokens:
        words = rng.choice(WORDS, size=12)
        text += " " + " ".join(words).capitalize() + "."
    return text


def body(side: str, prompt: str, max_tokens: int = 1) -> dict:
    common = {"model": "m", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0}
    return {**common, "raw": True} if side != "llama-server" else {**common, "cache_prompt": True}


def timed(port: int, side: str, prompt: str, max_tokens: int = 1) -> tuple[float, dict]:
    start = time.perf_counter()
    answer = call(port, "/v1/completions", body(side, prompt, max_tokens))
    return time.perf_counter() - start, answer


def figure_resent(servers: dict, texts: list[str]) -> dict:
    """Figure 1: for each text, each server in turn (the first one moves along): first, again, extended."""
    times = {name: {"first": [], "again": [], "extended": []} for name in servers}
    names = list(servers)
    for k, text in enumerate(texts):
        for name in names[k % len(names):] + names[: k % len(names)]:
            port = servers[name]
            for case, prompt in (("first", text), ("again", text), ("extended", text + " And then the rain stopped.")):
                secs, answer = timed(port, name, prompt)
                times[name][case].append(secs)
                cached = answer["usage"].get("prompt_tokens_details", {}) or {}
                print(f"   {name:<24} {case:<9} {secs * 1000:8.0f} ms  (prompt {answer['usage']['prompt_tokens']}, "
                      f"cached {cached.get('cached_tokens', '-')})", flush=True)
    return {name: {case: median(v) for case, v in cases.items()} for name, cases in times.items()}


def figure_sweep(servers: dict) -> dict:
    """Figure 2: the s1 loop's sweep through each endpoint, best of two runs each, in turn."""
    from ponder.lab.sweep import SweepConfig, run_sweep

    config = dict(task="addition", policies=("budget",), budgets=(32, 64, 96), n=16, model=None, format="s1")
    best = {}

    def run(name: str) -> float:
        before = prompt_counts(servers[name])
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            run_sweep(SweepConfig(**config, endpoint=f"http://127.0.0.1:{servers[name]}"), out, progress=False,
                      concurrency=SLOTS)
            secs = time.perf_counter() - start
        rate = 48 / secs
        sent, read = (after - was for after, was in zip(prompt_counts(servers[name]), before))
        print(f"   {name:<24} 48 generations in {secs:6.1f} s = {rate:5.2f} generations/s; prompt tokens "
              f"{sent:.0f} sent, {read:.0f} read from the cache, {sent - read:.0f} evaluated", flush=True)
        best[name] = max(best.get(name, 0.0), rate)
        return rate

    for _ in range(2):
        for name in servers:
            run(name)
    return best


def prompt_counts(port: int) -> tuple[float, float]:
    """The server's prompt tokens so far, sent and read from its cache (its Prometheus metrics)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/metrics")
    lines = conn.getresponse().read().decode().splitlines()
    value = lambda name: sum(float(line.split()[-1]) for line in lines if line.startswith(name))  # noqa: E731
    if value("llamacpp:"):  # llama-server counts what it evaluated and what it reused
        evaluated, read = value("llamacpp:prompt_tokens_total"), value("llamacpp:prompt_tokens_cached_total")
        return evaluated + read, read
    return value('ponder_tokens_total{phase="prompt"}'), value("ponder_prefix_cache_tokens_total")


def figure_main_job(n: int) -> tuple[float, float]:
    """Figure 3: the README's main job (n items) with the prefix cache and without, in turn twice."""
    from ponder.lab.sweep import SweepConfig, run_sweep

    config = SweepConfig(n=n)
    total = n * len(config.settings())
    with tempfile.TemporaryDirectory() as out:  # untimed: imports and first calls
        run_sweep(SweepConfig(n=1), out, progress=False)

    def rate(cache: bool) -> float:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            run_sweep(config, out, progress=False, prefix_cache=cache)
            secs = time.perf_counter() - start
        print(f"   prefix cache {'on ' if cache else 'off'}: {total} generations in {secs:6.1f} s = "
              f"{total / secs:6.1f} generations/s", flush=True)
        return total / secs

    runs = in_turn(lambda: rate(True), lambda: rate(False), 2)
    return median(a for a, _ in runs), median(b for _, b in runs)


def figure_chat(servers: dict, port_for_text: int) -> dict:
    """Figure 4: five turns, each adding about 380 tokens of user text and a 24-token reply."""
    turns = [text_of(port_for_text, 100 + k, 360) for k in range(5)]
    totals = {}
    for name, port in servers.items():
        history, start = "A conversation between a user and a patient assistant.", time.perf_counter()
        for turn in turns:
            history += f"\nUser: {turn}\nAssistant:"
            _, answer = timed(port, name, history, max_tokens=24)
            history += answer["choices"][0]["text"]
        totals[name] = time.perf_counter() - start
        tokens = len(call(port_for_text, "/tokenize", {"content": history})["tokens"])
        print(f"   {name:<24} 5 turns, history {tokens} tokens: {totals[name]:6.2f} s", flush=True)
    return totals


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kib / 1024


def figure_memory(port_for_text: int, prompts: int) -> tuple[list, float]:
    """Figure 5: ponder serve's RSS before and after rounds of distinct 500-token prompts, 8 clients."""
    texts = [text_of(port_for_text, 1000 + k, 500) for k in range(prompts)]
    port = free_port()
    args = [sys.executable, "-m", "ponder.cli", "serve", "--port", str(port), "--threads", str(THREADS),
            "--batch-size", str(SLOTS), "--max-queue", "64"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, "ponder serve", 300)
        call(port, "/v1/completions", body("ponder", "Warm up.", 1))
        points = [(0, rss_mib(proc.pid))]
        half = prompts // 2
        for chunk in (texts[:half], texts[half:]):
            with ThreadPoolExecutor(SLOTS) as pool:
                list(pool.map(lambda t: call(port, "/v1/completions", body("ponder", t, 1)), chunk))
            points.append((points[-1][0] + len(chunk), rss_mib(proc.pid)))
            print(f"   after {points[-1][0]:4d} distinct prompts: RSS {points[-1][1]:7.1f} MiB", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return points, kv_mib(SLOTS * PER_SLOT)


def kv_mib(cells: int) -> float:
    """The KV cache of ``cells`` tokens of the default GGUF in MiB (keys and values in float16, every layer)."""
    import llama_cpp

    meta = llama_cpp.Llama(default_model_path(), vocab_only=True, verbose=False).metadata
    arch = meta["general.architecture"]
    layers, width = int(meta[f"{arch}.block_count"]), int(meta[f"{arch}.embedding_length"])
    heads, kv_heads = int(meta[f"{arch}.attention.head_count"]), int(meta[f"{arch}.attention.head_count_kv"])
    return cells * layers * 2 * (width // heads * kv_heads) * 2 / 2**20


def figure_changes() -> None:
    """Figure 6: cache on against off, greedy: generations that differ, and the largest logit difference."""
    from ponder.lab.sweep import SweepConfig, request_for
    from ponder.lab.tasks import get_task

    config = SweepConfig()
    items = get_task(config.task).items(10, seed=1)
    tiny_jobs = [request_for(config, item, p, b, 0) for item in items for p, b in config.settings()]
    smol_jobs = [dict(prompt=f"Tell me about {t}.", thinking=ponder.Budget(max_tokens=b), max_tokens=48)
                 for t in ("the sea", "bread", "owls", "rain", "glass", "maps", "salt", "tea") for b in (8, 16, 24)]
    for name, model, backend, jobs in (("ponder-tiny", "ponder-tiny", "auto", tiny_jobs),
                                       ("SmolLM2, llama.cpp", None, "llama.cpp", smol_jobs),
                                       ("SmolLM2, transformers", None, "transformers", smol_jobs)):
        engine = ponder.load_backend(model, backend)
        size = engine.batch_rows if model else SLOTS
        runs = {}
        for cache in (False, True):
            results = dict(ponder.generate_many(jobs, model=engine, batch_size=size, prefix_cache=cache))
            runs[cache] = results
        differ = sum(runs[False][i].token_ids != runs[True][i].token_ids for i in runs[False])
        reused = sum(runs[True][i].usage.cached_tokens for i in runs[True])
        gap = logit_gap(engine, [j["prompt"] for j in jobs[:: max(1, len(jobs) // 8)]])
        print(f"   {name:<22} {differ}/{len(jobs)} greedy generations differ ({differ / len(jobs):.1%}); "
              f"{reused} prompt tokens reused; largest logit difference {gap:.2e}", flush=True)


def logit_gap(engine, prompts: list[str]) -> float:
    """The largest |logit| difference: each prompt evaluated whole against resumed after its first half."""
    rows, gap = rows_for(engine, 2), 0.0
    try:
        for prompt in prompts:
            text = engine.chat_prompt([{"role": "user", "content": prompt}]) or prompt
            ids = engine.prompt_ids(text)
            cut = len(ids) // 2
            rows.release(0)
            whole = rows.forward([(0, list(ids))])[0]
            rows.truncate(0, cut)
            resumed = rows.forward([(0, list(ids[cut:]))])[0]
            gap = max(gap, float(np.max(np.abs(np.asarray(whole, np.float64) - resumed))))
    finally:
        rows.close()
    return gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="items of the main job in figure 3")
    parser.add_argument("--prompts", type=int, default=96, help="distinct 500-token prompts in figure 5")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {THREADS} threads for each model\n")
    llama, lport = start_llama_server(PER_SLOT)
    cached, cport = start_ponder(None, "--max-prompt-tokens", "3000")
    exact, eport = start_ponder(None, "--max-prompt-tokens", "3000", "--no-prefix-cache")
    servers = {"llama-server": lport, "ponder serve": cport, "ponder --no-prefix-cache": eport}
    try:
        texts = [text_of(lport, k, LONG) for k in range(3)]
        timed(lport, "llama-server", "Warm up."), timed(cport, "ponder", "Warm up."), timed(eport, "ponder", "Warm up.")
        print(f"1. a {LONG}-token prompt: first, again, plus one sentence (max_tokens 1)")
        resent = figure_resent(servers, texts)
        print("2. a sweep through --endpoint (the s1 loop), concurrency 8")
        sweep = figure_sweep({k: servers[k] for k in ("llama-server", "ponder serve")})
        print("4. a 5-turn chat growing to about 2,000 tokens")
        chat = figure_chat(servers, lport)
    finally:
        for proc in (cached, exact):
            proc.terminate()
            proc.wait(timeout=30)
    try:
        print(f"5. memory: ponder serve after {args.prompts} distinct 500-token prompts")
        points, kv = figure_memory(lport, args.prompts)
    finally:
        llama.terminate()
        llama.wait(timeout=30)
    print("3. the main job on ponder-tiny, prefix cache on against off")
    on, off = figure_main_job(args.n)
    print("6. what the cache changes (on against off)")
    figure_changes()

    print(f"\n{'1. 1,451-token prompt (ms)':<28} {'llama-server':>13} {'ponder serve':>13} {'--no-prefix-cache':>18}")
    for case in ("first", "again", "extended"):
        print(f"{case:<28} " + " ".join(f"{resent[n][case] * 1000:{w}.0f}" for n, w in zip(servers, (13, 13, 18))))
    ours, theirs = resent["ponder serve"], resent["llama-server"]
    rows = [
        ("again: ponder / llama-server time", ours["again"] / theirs["again"], "<= 1.5"),
        ("extended: ponder / llama-server time", ours["extended"] / theirs["extended"], "<= 1.5"),
        ("first prefill: ponder / llama-server speed", theirs["first"] / ours["first"], ">= 0.9"),
        ("sweep via --endpoint: ponder / llama-server", sweep["ponder serve"] / sweep["llama-server"], ">= 0.9"),
        ("5-turn chat: ponder / llama-server speed", chat["llama-server"] / chat["ponder serve"], ">= 0.9"),
        ("main job: cache on / off (generations/s)", on / off, "as measured"),
    ]
    print(f"\n{'figure':<46} {'ratio':>7}  target")
    for name, ratio, target in rows:
        verdict = ""
        if target != "as measured":
            bound = float(target.split()[1])
            verdict = "met" if (ratio >= bound if target.startswith(">=") else ratio <= bound) else "NOT met"
        print(f"{name:<46} {ratio:7.2f}  {target} {verdict}")
    growth = points[-1][1] - points[1][1]
    print(f"memory: RSS {points[0][1]:.0f} MiB warm, {points[1][1]:.0f} after {points[1][0]} prompts, "
          f"{points[-1][1]:.0f} after {points[-1][0]} ({growth:+.0f} MiB over the second half); "
          f"the rows' KV cells ({SLOTS} x {PER_SLOT} tokens), allocated once: {kv:.0f} MiB")


if __name__ == "__main__":
    main()
