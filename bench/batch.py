"""Batched decoding, measured side by side in one run and printed as ratios.

Run: ``.venv/bin/python bench/batch.py`` (builds llama.cpp's own server on first use, about 6 minutes:
``tests/llama_server_tests/build``). Every figure compares two things run here, now, on the same model:

1. ``ponder serve`` against llama.cpp's own server (built from the llama.cpp sources llama-cpp-python
   vendors), same GGUF (SmolLM2-135M-Instruct Q4_1), same threads, 8 slots each, the same 16 raw text
   completions of up to 128 tokens, greedy, each prompt different (no prompt cache to reuse): completion
   tokens/s at 1 client and at 8 clients, the median of three runs in pairs. Target: ponder >= 0.9x at both.
2. The README's main job on ponder-tiny (fewer items, same settings): the default batch size against
   ``--batch-size 1``, generations/s. Target >= 10x.
3. ``ponder serve`` on ponder-tiny: 8 concurrent clients against 1, aggregate tokens/s, the median of
   three runs in pairs. Target >= 4x.
4. ``ponder serve`` on SmolLM2 (llama.cpp): 8 clients against 1 (from figure 1). Target >= 1.25x.
5. Batched controlled decoding against a batched plain forward loop over the same rows and tokens
   (ponder-tiny, 64 rows, a budget that never has to act), both from the same prompt text to the
   completion's text: the median ratio of 15 runs in pairs. Target <= 1.10.
6. What batching changes: the share of greedy generations whose tokens differ from batch size 1
   (ponder-tiny on the main job's settings; SmolLM2 on llama.cpp and on transformers).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import ponder
from ponder.backends import default_model_path, physical_cores
from ponder.batching import Batch, rows_for

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from health import free_port, wait_healthy  # noqa: E402

THREADS = physical_cores()
SLOTS = 8
PROMPTS = [f"Chapter {i + 1}. The {s} of the old {t} began on a cold morning, when" for i, (s, t) in enumerate(
    (s, t) for s in ("story", "history", "journey", "legend") for t in ("harbor", "mill", "library", "bridge"))]
TOKENS = 128
CHAT = "/v1/chat/completions"


def call(port: int, path: str, body: dict | None = None) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    try:
        conn.request("POST" if body is not None else "GET", path, json.dumps(body) if body is not None else None,
                     {"Content-Type": "application/json"})
        res = conn.getresponse()
        data = res.read()
        if res.status != 200:
            raise RuntimeError(f"{path} answered {res.status}: {data[:300]!r}")
        return json.loads(data or b"{}")
    finally:
        conn.close()


def start_ponder(model: str | None, *extra: str) -> tuple[subprocess.Popen, int]:
    """``ponder serve`` on ``model`` with 8 rows (the embedded SmolLM2 on llama-server's threads), its defaults else."""
    port = free_port()
    threads = [] if model else ["--threads", str(THREADS)]
    args = [sys.executable, "-m", "ponder.cli", "serve", "--port", str(port), *threads,
            "--batch-size", str(SLOTS), "--max-queue", "64", *(["--model", model] if model else []), *extra]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(f"http://127.0.0.1:{port}", proc, "ponder serve", 300)
    return proc, port


def start_llama_server(per_slot: int = 1024) -> tuple[subprocess.Popen, int]:
    """llama.cpp's own server on the same GGUF and threads, with 8 slots of ``per_slot`` tokens each."""
    binary = subprocess.run([str(ROOT / "tests/llama_server_tests/build")], capture_output=True, text=True,
                            check=True).stdout.strip().splitlines()[-1]
    port = free_port()
    args = [binary, "-m", default_model_path(), "--host", "127.0.0.1", "--port", str(port), "-t", str(THREADS),
            "-tb", str(THREADS), "-np", str(SLOTS), "-c", str(SLOTS * per_slot), "--no-warmup", "--metrics"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(f"http://127.0.0.1:{port}", proc, "llama-server", 300)
    return proc, port


def throughput(port: int, bodies: list[dict], clients: int, path: str = "/v1/completions") -> tuple[int, float]:
    """(completion tokens, seconds) for all bodies sent by ``clients`` threads, each request after the last."""
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        tokens = sum(pool.map(lambda body: call(port, path, body)["usage"]["completion_tokens"], bodies))
    return tokens, time.perf_counter() - start


def raw_bodies(ponder_side: bool) -> list[dict]:
    common = {"model": "m", "max_tokens": TOKENS, "temperature": 0.0}
    if ponder_side:
        return [{**common, "prompt": p, "raw": True} for p in PROMPTS]
    return [{**common, "prompt": p, "cache_prompt": False} for p in PROMPTS]


def in_turn(first, second, pairs: int) -> list[tuple[float, float]]:
    """``pairs`` runs of two measures, each going first in every other pair, so a drift hits both alike."""
    runs = []
    for k in range(pairs):
        if k % 2 == 0:
            a = first()
            b = second()
        else:
            b = second()
            a = first()
        runs.append((a, b))
    return runs


def median(values) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def figure_servers(pairs: int = 3) -> dict:
    """Figures 1 and 4: ponder serve against llama-server, 1 and 8 clients.

    Consecutive runs move by about 10 % here, so each count of clients runs ``pairs`` pairs, the two
    servers in turn (each goes first in one pair of two): the figures are the medians.
    """
    llama, lport = start_llama_server()
    mine, pport = start_ponder(None)
    sides = {"llama-server": (lport, raw_bodies(False)), "ponder": (pport, raw_bodies(True))}
    out = {}
    try:
        throughput(lport, raw_bodies(False)[:2], 2), throughput(pport, raw_bodies(True)[:2], 2)  # warm up
        for clients in (1, SLOTS):
            def rate(name: str, clients: int = clients) -> float:
                tokens, secs = throughput(*sides[name], clients)
                print(f"   {name:<13} {clients} client(s): {tokens:5d} tokens in {secs:6.2f} s = "
                      f"{tokens / secs:6.1f} tokens/s", flush=True)
                return tokens / secs

            runs = in_turn(lambda: rate("llama-server"), lambda: rate("ponder"), pairs)
            out[("ratio", clients)] = median(mine / theirs for theirs, mine in runs)
            out[("llama-server", clients)] = median(theirs for theirs, _ in runs)
            out[("ponder", clients)] = median(mine for _, mine in runs)
    finally:
        for proc in (llama, mine):
            proc.terminate()
            proc.wait(timeout=30)
    return out


def figure_sweep(n: int) -> tuple[float, float]:
    """Figure 2: the README's main job (n items) at the default batch size and at batch size 1."""
    from ponder.lab.sweep import SweepConfig, run_sweep

    config = SweepConfig(n=n)
    with tempfile.TemporaryDirectory() as out:  # untimed: imports and first calls would count against one side
        run_sweep(SweepConfig(n=1), out, progress=False)
    rates = []
    for batch_size in (None, 1):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            run_sweep(config, out, progress=False, batch_size=batch_size)
            secs = time.perf_counter() - start
        total = n * len(config.settings())
        rates.append(total / secs)
        print(f"   batch size {batch_size or 'default'}: {total} generations in {secs:6.1f} s = "
              f"{total / secs:6.1f} generations/s", flush=True)
    return rates[0], rates[1]


def figure_tiny_server(pairs: int = 3) -> float:
    """Figure 3: ponder serve on ponder-tiny, 8 clients against 1: the median of ``pairs`` pairs, each first in turn."""
    from ponder.lab.tasks import get_task

    items = get_task("tiny-multiplication").items(32, seed=5)
    bodies = [{"model": "m", "messages": [{"role": "user", "content": i.question}], "max_tokens": 80,
               "temperature": 0.0, "thinking": {"min_tokens": 40, "max_tokens": 48}} for i in items]
    proc, port = start_ponder("ponder-tiny", "--batch-size", "64")

    def rate(clients: int) -> float:
        tokens, secs = throughput(port, bodies, clients, CHAT)
        print(f"   {clients} client(s): {tokens} tokens in {secs:6.2f} s = {tokens / secs:7.1f} tokens/s", flush=True)
        return tokens / secs

    try:
        throughput(port, bodies[:4], 4, CHAT)
        runs = in_turn(lambda: rate(1), lambda: rate(SLOTS), pairs)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return median(eight / one for one, eight in runs)


def figure_loop(rows: int = 64, repeats: int = 15) -> float:
    """Figure 5: controlled batched decoding against a plain batched loop feeding the same tokens.

    Runs of a fraction of a second move by 10-20 % here from one to the next, so the two loops run in
    pairs, in turn, and the figure is the median of the pairs' ratios (the best of each is printed too).
    """
    from ponder.formats import get_format
    from ponder.lab.tasks import get_task

    tiny = ponder.load_backend("ponder-tiny")
    items = get_task("tiny-multiplication").items(rows, seed=11)
    # both loops start from the same prompt text (the chat template applied once, here, for both)
    prompts = [ponder.build_prompt(tiny, i.question, get_format("think")) for i in items]
    requests = [dict(prompt=p, raw_prompt=True, thinking=ponder.Budget(max_tokens=500), max_tokens=120)
                for p in prompts]
    results = dict(ponder.generate_many(requests, model=tiny, batch_size=rows))
    completions = [list(results[i].token_ids) for i in range(rows)]

    def controlled() -> float:
        start = time.perf_counter()
        dict(ponder.generate_many(requests, model=tiny, batch_size=rows))
        return time.perf_counter() - start

    pairs = in_turn(lambda: plain_loop(tiny, prompts, completions), controlled, repeats)
    ratios = [c / p for p, c in pairs]
    print(f"   best of {repeats}: controlled {min(c for _, c in pairs):.3f} s, plain {min(p for p, _ in pairs):.3f} s "
          f"({rows} rows, {sum(map(len, completions))} tokens); ratios of the pairs "
          f"{min(ratios):.2f}-{max(ratios):.2f}, median {median(ratios):.3f}", flush=True)
    return median(ratios)


def plain_loop(backend, prompts: list[str], completions: list[list[int]]) -> float:
    """Each row: its prompt tokenized and evaluated in one pass, then one token per round with an argmax, as far
    as its completion goes, which is then detokenized: what any loop that turns text into text does."""
    rows = rows_for(backend, len(prompts))
    batch = Batch(rows)
    start = time.perf_counter()
    streams = [backend.prompt_ids(p) for p in prompts]
    position = [len(s) for s in streams]
    streams = [s + c for s, c in zip(streams, completions)]
    work = [(i, s[:p]) for i, (s, p) in enumerate(zip(streams, position))]
    while work:
        logits = rows.forward(work)
        [int(np.argmax(row)) for row in logits]
        batch.forward_passes += 1
        work = [(i, [streams[i][position[i]]]) for i, _ in work if position[i] < len(streams[i])]
        for i, _ in work:
            position[i] += 1
    [backend.detokenize(c) for c in completions]
    rows.close()
    return time.perf_counter() - start


def figure_determinism() -> None:
    """Figure 6: greedy generations batched against one at a time, the share whose tokens differ."""
    from ponder.lab.sweep import SweepConfig, request_for
    from ponder.lab.tasks import get_task

    config = SweepConfig()
    items = get_task(config.task).items(10, seed=1)
    tiny_jobs = [request_for(config, item, p, b, 0) for item in items for p, b in config.settings()]
    smol_jobs = [dict(prompt=f"Tell me about {t}.", thinking=ponder.Budget(max_tokens=32), max_tokens=64)
                 for t in ("the sea", "bread", "owls", "rain", "glass", "maps", "salt", "tea", "ice", "wool",
                           "clocks", "bees", "snow", "paper", "iron", "moss")]
    for name, model, backend, jobs, size in (("ponder-tiny", "ponder-tiny", "auto", tiny_jobs, None),
                                             ("SmolLM2, llama.cpp", None, "llama.cpp", smol_jobs, SLOTS),
                                             ("SmolLM2, transformers", None, "transformers", smol_jobs, SLOTS)):
        engine = ponder.load_backend(model, backend)
        single = dict(ponder.generate_many(jobs, model=engine, batch_size=1))
        batched = dict(ponder.generate_many(jobs, model=engine, batch_size=size or engine.batch_rows))
        differ = sum(single[i].token_ids != batched[i].token_ids for i in single)
        print(f"   {name:<22} {differ}/{len(jobs)} greedy generations differ ({differ / len(jobs):.1%})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="items of the main job in figure 2")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {THREADS} threads for each model\n")
    print("1 and 4. ponder serve against llama-server (SmolLM2 Q4_1, raw completions, greedy)")
    servers = figure_servers()
    print("2. the main job, default batch size against 1")
    batched, single = figure_sweep(args.n)
    print("3. ponder serve on ponder-tiny")
    tiny_serve = figure_tiny_server()
    print("5. controlled against plain batched decoding")
    loop = figure_loop()
    print("6. batched against batch size 1: greedy generations whose tokens differ")
    figure_determinism()
    rows = [
        ("ponder serve / llama-server, 1 client", servers[("ratio", 1)], ">= 0.9"),
        ("ponder serve / llama-server, 8 clients", servers[("ratio", SLOTS)], ">= 0.9"),
        ("main job, default batch / batch 1 (generations/s)", batched / single, ">= 10"),
        ("ponder serve on ponder-tiny, 8 clients / 1", tiny_serve, ">= 4"),
        ("ponder serve on SmolLM2, 8 clients / 1", servers[("ponder", SLOTS)] / servers[("ponder", 1)], ">= 1.25"),
        ("controlled / plain batched loop", loop, "<= 1.10"),
    ]
    print(f"\n{'figure':<52} {'ratio':>7}  target")
    for name, ratio, target in rows:
        bound = float(target.split()[1])
        met = ratio >= bound if target.startswith(">=") else ratio <= bound
        print(f"{name:<52} {ratio:7.2f}  {target} {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
