"""vLLM offline in a process of its own: ``python engine.py SPEC.json OUT.json``.

SPEC: {"model": folder, "plugin": "none" | "class" | "timed" | "installed", "requests": [{"prompt", "params"}],
"batches": [[request...]...], "invalid": [params...], "repeat": n, "engine": {more LLM arguments}}. OUT: each
request's token ids, text and finish reason, the errors the invalid params raised, and the seconds each of the
``repeat`` runs took; for each of ``batches`` (run after ``requests``, each ``repeat`` times), the same. One
process per engine: vLLM on CPU holds the process's distributed state. ``timed`` is the plugin with the time
spent in its two hooks added up (``plugin_seconds`` and ``plugin_steps`` per run).
"""

import json
import sys
import time

HOOKS = {"seconds": 0.0, "steps": 0}


def timed(hook, counts_step: bool):
    """A hook of the plugin with its time added to HOOKS (and, for ``apply``, one step counted)."""
    def wrapper(self, *args):
        start = time.perf_counter()
        try:
            return hook(self, *args)
        finally:
            HOOKS["seconds"] += time.perf_counter() - start
            HOOKS["steps"] += counts_step

    return wrapper


def timed_plugin():
    from ponder.vllm.plugin import PonderLogitsProcessor

    return type("Timed", (PonderLogitsProcessor,), {
        "update_state": timed(PonderLogitsProcessor.update_state, False),
        "apply": timed(PonderLogitsProcessor.apply, True),
    })


def run(llm, requests, repeat):
    from vllm import SamplingParams

    params = [SamplingParams(**r["params"]) for r in requests]
    prompts = [r["prompt"] for r in requests]
    seconds, hooks, outputs = [], [], None
    for _ in range(repeat):
        HOOKS.update(seconds=0.0, steps=0)
        start = time.perf_counter()
        outputs = llm.generate(prompts, params, use_tqdm=False)
        seconds.append(time.perf_counter() - start)
        hooks.append(dict(HOOKS))
    results = [{"token_ids": list(o.outputs[0].token_ids), "text": o.outputs[0].text,
                "finish_reason": o.outputs[0].finish_reason} for o in outputs]
    return {"results": results, "seconds": seconds, "plugin_seconds": [h["seconds"] for h in hooks],
            "plugin_steps": [h["steps"] for h in hooks]}


def main(spec_path: str, out_path: str) -> None:
    from vllm import LLM, SamplingParams

    spec = json.load(open(spec_path))
    kw = {}
    if spec["plugin"] == "class":
        from ponder.vllm.plugin import PonderLogitsProcessor

        kw["logits_processors"] = [PonderLogitsProcessor]
    elif spec["plugin"] == "timed":
        kw["logits_processors"] = [timed_plugin()]
    llm = LLM(spec["model"], enforce_eager=True, dtype="bfloat16", max_model_len=2048, seed=0, **kw,
              **spec.get("engine", {}))
    requests = spec["requests"]
    llm.generate([requests[0]["prompt"]], SamplingParams(**requests[0]["params"]), use_tqdm=False)  # warm up
    out = run(llm, requests, spec.get("repeat", 1))
    out["batches"] = [run(llm, batch, spec.get("repeat", 1)) for batch in spec.get("batches", [])]
    errors = []
    for bad in spec.get("invalid", []):
        try:
            llm.generate([requests[0]["prompt"]], SamplingParams(**bad), use_tqdm=False)
            errors.append(None)
        except Exception as err:  # noqa: BLE001 - the test reads the type and message
            errors.append({"type": type(err).__name__, "message": str(err)})
    out["errors"] = errors
    json.dump(out, open(out_path, "w"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
