"""bench/vllm.py's figure 5: the plugin against plain vLLM at production batch sizes.

The tiny random Qwen3 the tests build (its forward pass is cheap, so whatever the plugin adds shows),
the same prompts on both sides, a fixed number of tokens each (EOS ignored), greedy, best of 3 turns in which
each batch runs once, so that the machine's drift falls on all alike: plain vLLM in an engine process before
and in one after the plugin's. The plugin's engine also runs each batch size with no row asking (the plugin
idle): the cases' ratios against it come from one process, in turns, and are the ones a noisy machine leaves
steady (on a shared 2-core machine one engine process ran 3x slower than the next, throughout). Three cases:

(a) every row with a budget that never triggers (``max_think`` 4096): the plugin should cost nothing;
(b) forcing on every row: an opening phrase, a minimum of thinking with waits, the wrap-up at the cap, and
    pauses in the answer (two units at its start and every 6 tokens). Random weights never end a thought
    (the tiny Qwen3 repeats the last token it was given), so the waits cannot fire; the rest is forced on
    every row, and a forced run asks its row's policies at every step;
(c) half the rows without thinking options.

Printed per batch size: both times, the ratio, the time spent in the plugin's hooks per row and
step (measured inside the engine process), and what that would add to a GPU decode step. Last, the
same batch check of case (a) outside vLLM (``SteeredBatch.apply`` on float32 logits of the tiny Qwen3's
width, one process, nothing else running), on the same logits each step and on new ones written just
before. On a CPU the first work after a new multi-megabyte tensor is written costs some 100 us a step,
nearly whatever it reads (the head of 1 row or of 8), which the plugin's hooks inside vLLM pay; a GPU
server, whose logits the CPU does not write, does not.
"""

from __future__ import annotations

import harness
import qwen3_tiny

SIZES = (8, 64, 256)
TOKENS = 64
REPEAT = 3
QUESTIONS = ["What is 12 + 30?", "Name a prime above 20.", "What is 7 times 6?", "Write about the sea.",
             "List three colours.", "Explain rain.", "What is 100 - 58?", "Describe a forest."]
# A decode step of an 8B model in bfloat16 at batch 256 must at least read its 16 GB of weights: 4.8 ms at an
# H100 SXM's 3.35 TB/s (NVIDIA's data sheet); with the KV cache of 256 rows real steps take several times that.
GPU_STEPS_MS = (4.8, 25.0)
TARGETS = {"a": 1.05, "b": 1.15, "c": 1.05}


def prompts(tokenizer) -> list[str]:
    rendered = [tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                              add_generation_prompt=True, enable_thinking=True) for q in QUESTIONS]
    return [text + "<think>\n" for text in rendered]


def request(prompt: str, extra: dict | None = None, stop: list[int] | None = None) -> dict:
    params = {"max_tokens": TOKENS, "temperature": 0.0, "ignore_eos": True}
    if extra is not None:
        params["extra_args"] = extra
    if stop:
        params["stop_token_ids"] = stop
    return {"prompt": prompt, "params": params}


FORCING = {"min_think": 40, "max_think": 40, "prefix": "Ok, so", "wait": ["Wait", "Hmm"], "pause": 2,
           "pause_every": 6}


def cases(texts: list[str]) -> dict[str, tuple[str, list]]:
    """Each case's requests at each batch size."""
    row = {
        "a": lambda i: request(texts[i % len(texts)], {"max_think": 4096}),
        "b": lambda i: request(texts[i % len(texts)], FORCING),
        "c": lambda i: request(texts[i % len(texts)], {"max_think": 4096} if i % 2 == 0 else None),
    }
    names = {"a": "a budget that never triggers", "b": "forcing on every row (prefix, minimum, wrap-up, pauses)",
             "c": "half the rows without thinking options"}
    return {key: (names[key], [[row[key](i) for i in range(n)] for n in SIZES]) for key in row}


def production_batches() -> None:
    from transformers import AutoTokenizer

    model = qwen3_tiny.folder()
    texts = prompts(AutoTokenizer.from_pretrained(model))
    table = cases(texts)
    plain_batches = [[request(texts[i % len(texts)]) for i in range(n)] for n in SIZES]
    run_plain = lambda: harness.run_engine(plain_batches[0], plugin="none", model=model,  # noqa: E731
                                           repeat=REPEAT, batches=plain_batches, in_turns=True)
    before = run_plain()
    # per size: no row asking (the plugin installed, idle), then each case, all in turns in one engine
    steered_batches = [batch for k, base in enumerate(plain_batches)
                       for batch in [base] + [batches[k] for _, batches in table.values()]]
    steered = harness.run_engine(steered_batches[0], plugin="timed", model=model, repeat=REPEAT,
                                 batches=steered_batches, in_turns=True)
    plain = best_of(before, run_plain())  # plain vLLM before and after the plugin's engine: drift falls on both
    runs = steered["batches"]
    idle = runs[::len(table) + 1]
    print(f"5. the plugin vs plain vLLM, tiny Qwen3 (vocabulary 151,936), {TOKENS} tokens a row, greedy, "
          f"best of {REPEAT} turns (each batch once a turn): plain vLLM in an engine before and one after the "
          f"plugin's; "
          f"the plugin's runs each batch size with no row asking (idle) and with each case's")
    for n, base, quiet in zip(SIZES, plain["batches"], idle):
        print(f"   batch {n:3d}: plain {min(base['seconds']):.2f} s, the plugin idle {min(quiet['seconds']):.2f} s "
              f"(ratio {min(quiet['seconds']) / min(base['seconds']):.3f}; its hooks {hooks_us(quiet, n):.2f} us "
              f"per row per step)")
    for c, (key, (name, _)) in enumerate(table.items()):
        print(f"   ({key}) {name} (target <= {TARGETS[key]:.2f} at 64 and 256):")
        for k, (n, base) in enumerate(zip(SIZES, plain["batches"])):
            report(n, base, idle[k], runs[k * (len(table) + 1) + 1 + c], key)
    alone = ", ".join(f"{check_alone(n):.1f} us at batch {n}" for n in SIZES)
    fresh = ", ".join(f"{check_alone(n, fresh=True):.1f} us at batch {n}" for n in SIZES)
    print(f"   case (a)'s batch check outside vLLM, per row per step: {alone}; on logits written just before it, "
          f"a new tensor each step as vLLM's forward pass leaves them: {fresh}")


def best_of(first: dict, second: dict) -> dict:
    """Two runs of the same batches, as one with every repeat of both."""
    return {"batches": [{**a, "seconds": a["seconds"] + b["seconds"]} for a, b in zip(first["batches"],
                                                                                     second["batches"])]}


def hooks_us(run: dict, rows: int) -> float:
    """Microseconds per row per step in the plugin's hooks, in the run's fastest repeat."""
    best = min(range(len(run["seconds"])), key=run["seconds"].__getitem__)
    return run["plugin_seconds"][best] / max(1, run["plugin_steps"][best]) / rows * 1e6


def check_alone(rows: int, steps: int = 200, fresh: bool = False, device: str = "cpu") -> float:
    """Microseconds per row per step of case (a)'s batch check outside vLLM (a budget that never triggers).

    ``fresh``: new logits each step, written (untimed) just before the check, as a CPU forward pass writes them.
    ``device``: where the logits are (bench/gpu.py times the check on a GPU's logits, its torch path).
    """
    import time

    import torch

    from ponder import Budget
    from ponder.policies import chain
    from ponder.vllm.batch import SteeredBatch
    from ponder.policies import Vocab
    from ponder.vllm.steer import Steer

    width, end, eos = 151936, 151668, 151645  # the tiny Qwen3's vocabulary, </think> and EOS
    encode = lambda text: tuple(range(10, 10 + len(text)))  # noqa: E731 - never called: the budget never acts
    vocab = Vocab(encode, (end,), encode("\nFinal Answer:"), frozenset({eos}), native_end=end)
    batch, outputs = SteeredBatch(), [[] for _ in range(rows)]
    for slot, output in enumerate(outputs):
        batch.put(slot, Steer(chain([Budget(max_tokens=4096)]), vocab, temperature=0.0, seed=None), output)
    batch.changed()
    logits, spent = torch.randn(rows, width, device=device), 0.0
    sync = torch.cuda.synchronize if logits.is_cuda else (lambda: None)
    for _ in range(steps):
        for output in outputs:
            output.append(5)
        if fresh:
            logits = torch.randn(rows, width, device=device)
        sync()  # the logits are written before the clock starts; the check's own read of them syncs it
        start = time.perf_counter()
        batch.apply(logits)
        sync()
        spent += time.perf_counter() - start
    return spent / steps / rows * 1e6


def report(rows: int, base: dict, idle: dict, run: dict, key: str) -> None:
    """One line: plain vLLM, the case, their ratio and the case against the idle plugin of its own engine."""
    p, i, s = min(base["seconds"]), min(idle["seconds"]), min(run["seconds"])
    same = [r["token_ids"] for r in base["results"]] == [r["token_ids"] for r in run["results"]]
    best = min(range(len(run["seconds"])), key=run["seconds"].__getitem__)
    steps = max(1, run["plugin_steps"][best])
    per_row = hooks_us(run, rows)
    added = (s - i) / steps / rows * 1e6
    projection = ", ".join(f"{per_row * rows / 1000 / ms:.1%} of a {ms:g} ms step" for ms in GPU_STEPS_MS)
    line = (f"     batch {rows:3d}: plain {p:.2f} s | plugin {s:.2f} s | ratio {s / p:.3f} (against the idle plugin in "
            f"turns {s / i:.3f}) | hooks {per_row:.1f} us per row per step ({added:+.1f} us by wall time against "
            f"idle) | at {rows} rows on a GPU: {projection}")
    if key == "a":
        line += f" | identical tokens: {same}"
    elif key == "b":
        texts = [r["text"] for r in run["results"]]
        framed = sum(t.startswith("Ok, so") and "Final Answer:" in t for t in texts)
        pauses = sum(t.count(" ...") for t in texts) / rows
        line += (f" | {framed}/{rows} rows with the prefix and the wrap-up, {pauses:.1f} pause units a row (forced, "
                 f"or copied by the model)")
    print(line)
