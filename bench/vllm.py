"""ponder with vLLM, measured side by side in one run (SmolLM2-135M-Instruct, vLLM on CPU).

    tests/vllm_tests/run --co -q >/dev/null   # once: makes .venv-vllm (and .venv for ponder serve, per the README)
    PYTHONPATH=src .venv-vllm/bin/python bench/vllm.py

Prints three comparisons:
1. the plugin vs plain vLLM, a batch of 8 with a thinking budget that never triggers
   (target: at most 1.10);
2. the plugin vs the remote s1 loop for one request with 4 waits, both over HTTP;
3. a sweep at concurrency 8 against vLLM (the s1 loop, no plugin) vs against ``ponder serve``;
4. a sweep at concurrency 8 through vLLM with the plugin: each setting steered in the engine
   (``--steer plugin``) vs the s1 loop's calls (``--steer loop``), same server;
5. the plugin vs plain vLLM at batch 8, 64 and 256 on the tiny random Qwen3 the tests build (its steps are
   cheap, so whatever the plugin adds shows), with (a) a budget that never triggers, (b) forcing on every
   row, (c) half the rows without thinking options; the time the plugin's hooks took, per row and step,
   and what that would add to a GPU's step.

``--only 5`` (or any of 1-5, comma-separated) runs only those figures.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "vllm_tests"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")

import harness  # noqa: E402

TOPICS = ["the sea", "a mountain", "rain", "the moon", "a city", "a forest", "winter", "a river"]


def plugin_overhead(repeat: int = 3) -> None:
    """Same 8 prompts, 128 tokens each, EOS ignored so every run writes the same tokens."""
    def batch(extra):
        return [{"prompt": harness.chat_prompt(f"Write about {t}."),
                 "params": {"max_tokens": 128, "temperature": 0.0, "ignore_eos": True, **extra}} for t in TOPICS]

    plain = harness.run_engine(batch({}), plugin="none", repeat=repeat)
    steered = harness.run_engine(batch({"extra_args": {"max_think": 4096}}), plugin="class", repeat=repeat)
    same = [a["token_ids"] for a in plain["results"]] == [b["token_ids"] for b in steered["results"]]
    tokens = sum(len(r["token_ids"]) for r in plain["results"])
    p, s = min(plain["seconds"]), min(steered["seconds"])
    print(f"1. batch of 8 x 128 tokens, budget never triggered (best of {repeat}):")
    print(f"   plain vLLM {p:.2f} s ({tokens / p:.0f} tok/s) | with the plugin {s:.2f} s ({tokens / s:.0f} tok/s)"
          f" | ratio {s / p:.3f} (target <= 1.10) | identical tokens: {same}")


def four_waits(plugin_url: str, plain_url: str, repeat: int = 3) -> None:
    """One request forced to 4 waits: in-engine forcing vs the s1 loop's five thinking calls and the answer."""
    import openai

    import ponder
    from ponder import Budget

    question = "What is 12 + 30?"
    client = openai.OpenAI(base_url=plugin_url, api_key="unused", max_retries=0)
    xargs = {"min_think": 1000, "max_think": 1000, "max_waits": 4}

    def in_engine():
        return client.completions.create(model="smollm2", prompt=harness.s1_prompt(question), max_tokens=1100,
                                         temperature=0, extra_body={"vllm_xargs": xargs})

    def s1_loop():
        return ponder.generate(question, endpoint=plain_url, format="s1", max_tokens=1100,
                               thinking=Budget(min_tokens=1000, max_tokens=1000, max_waits=4))

    plugin_s, loop_s = best(in_engine, repeat), best(s1_loop, repeat)
    loop = s1_loop()
    print("2. one request with 4 waits, over HTTP (best of 3):")
    print(f"   plugin {plugin_s:.3f} s | remote s1 loop {loop_s:.3f} s ({loop.waits} waits, "
          f"{loop.usage.thinking_tokens} thinking tokens) | loop / plugin {loop_s / plugin_s:.2f}x")


def sweep_throughput(vllm_url: str, serve_url: str) -> None:
    from ponder.lab.sweep import SweepConfig, run_sweep

    rates = {}
    for name, url in (("vLLM", vllm_url), ("ponder serve", serve_url)):
        config = SweepConfig(task="addition", policies=("budget", "cap"), budgets=(0, 16, 32), n=8, model=None,
                             format="s1", endpoint=url)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            folder = run_sweep(config, out, progress=False, concurrency=8)
            seconds = time.perf_counter() - start
            rows = folder.read_rows()
        tokens = sum(r["completion_tokens"] for r in rows)
        rates[name] = len(rows) / seconds
        print(f"   {name:12s} {len(rows)} generations in {seconds:.1f} s: {len(rows) / seconds:.2f} gen/s, "
              f"{tokens / seconds:.0f} completion tok/s")
    print(f"   vLLM / ponder serve: {rates['vLLM'] / rates['ponder serve']:.2f}x")


def sweep_paths(plugin_url: str) -> None:
    """The same sweep through the plugin and through the s1 loop, against one plugin server."""
    from ponder.lab.sweep import SweepConfig, run_sweep

    rates = {}
    for steer in ("plugin", "loop"):
        config = SweepConfig(task="addition", policies=("budget", "min"), budgets=(16, 32, 64), n=8, model=None,
                             format="s1", endpoint=plugin_url, steer=steer)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            rows = run_sweep(config, out, progress=False, concurrency=8).read_rows()
            seconds = time.perf_counter() - start
        rates[steer] = len(rows) / seconds
        waits = sum(r["waits"] for r in rows) / len(rows)
        print(f"   {steer:6s} {len(rows)} generations in {seconds:.1f} s: {rates[steer]:.2f} gen/s "
              f"({waits:.1f} waits each)")
    print(f"   plugin / s1 loop: {rates['plugin'] / rates['loop']:.2f}x")


def best(run, repeat: int) -> float:
    run()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def ponder_serve():
    """``ponder serve`` from the core environment (.venv), which has llama.cpp."""
    from serving import start

    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit("bench/vllm.py also needs .venv (the README's test command makes it) for ponder serve")
    os.environ["PATH"] = f"{python.parent}{os.pathsep}{os.environ['PATH']}"
    old, sys.executable = sys.executable, str(python)
    try:
        return start()
    finally:
        sys.executable = old


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="1,2,3,4,5", help="the figures to run, e.g. 5 or 1,5")
    figures = set(parser.parse_args().only.split(","))
    harness.model_dir()
    if "1" in figures:
        plugin_overhead()
    if figures & {"2", "3", "4"}:
        with harness.vllm_server(plugin=True) as plugin_url, harness.vllm_server(plugin=False) as plain_url:
            if "2" in figures:
                four_waits(plugin_url, plain_url)
            if "3" in figures:
                print("3. sweep, 48 generations at concurrency 8 (the s1 loop over HTTP):")
                served = ponder_serve()
                try:
                    sweep_throughput(plain_url, served.api)
                finally:
                    from serving import stop

                    stop(served)
            if "4" in figures:
                print("4. sweep through vLLM with the plugin, 48 generations at concurrency 8 (budget and min):")
                sweep_paths(plugin_url)
    if "5" in figures:
        from vllm_batches import production_batches

        production_batches()


if __name__ == "__main__":
    main()
