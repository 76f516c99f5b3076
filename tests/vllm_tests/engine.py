"""vLLM offline in a process of its own: ``python engine.py SPEC.json OUT.json``.

SPEC: {"model": folder, "plugin": "none" | "class" | "checked" | "timed" | "installed", "requests": [{"prompt",
"params"}], "batches": [[request...]...], "in_turns": bool, "invalid": [params...], "repeat": n, "engine": {more
LLM arguments}}. OUT: each request's token ids, text and finish reason, the errors the invalid params raised, and
the seconds each of the ``repeat`` runs took; for each of ``batches`` (run after ``requests``, each ``repeat``
times, or with ``in_turns`` every batch once a turn), the same. One process per engine: vLLM on CPU holds the
process's distributed state. ``timed`` is the plugin with the time spent in its two hooks added up
(``plugin_seconds`` and ``plugin_steps`` per run). ``checked`` is the plugin with each step's logits compared
before and after it, row by row: ``untouched`` counts the steps of rows without a steer (``rows``) and those of
them whose logits it changed (``changed``: any at all is a bug). Greedy requests that ask for ``logprobs`` >= 2
also get each token's ``margins``, which say where two runs may part on a near tie.
"""

import json
import os
import sys
import time

HOOKS = {"seconds": 0.0, "steps": 0}
UNTOUCHED = {"rows": 0, "changed": 0}


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


def margins(logprobs) -> list[float] | None:
    """Per token, how far the likeliest token's log probability is above the runner-up's (with ``logprobs`` >= 2)."""
    if not logprobs:
        return None
    tops = [sorted((p.logprob for p in step.values()), reverse=True) for step in logprobs]
    return [top[0] - top[1] if len(top) > 1 else float("inf") for top in tops]


def checked_plugin():
    from ponder.vllm.plugin import PonderLogitsProcessor

    def apply(self, logits):
        before = logits.clone()
        after = PonderLogitsProcessor.apply(self, logits)
        unsteered = [i for i in range(len(logits)) if i >= len(self.batch.steers) or self.batch.steers[i] is None]
        UNTOUCHED["rows"] += len(unsteered)
        UNTOUCHED["changed"] += int((after[unsteered] != before[unsteered]).any(dim=1).sum())
        return after

    return type("Checked", (PonderLogitsProcessor,), {"apply": apply})


def sampling(make, given: dict):
    """SamplingParams from JSON: ``structured_outputs`` as vLLM's own object."""
    from vllm.sampling_params import StructuredOutputsParams

    if "structured_outputs" in given:
        given = {**given, "structured_outputs": StructuredOutputsParams(**given["structured_outputs"])}
    return make(**given)


def run(llm, requests, repeat):
    from vllm import SamplingParams

    params = [sampling(SamplingParams, r["params"]) for r in requests]
    prompts = [r["prompt"] for r in requests]
    seconds, hooks, outputs = [], [], None
    for _ in range(repeat):
        HOOKS.update(seconds=0.0, steps=0)
        start = time.perf_counter()
        outputs = llm.generate(prompts, params, use_tqdm=False)
        seconds.append(time.perf_counter() - start)
        hooks.append(dict(HOOKS))
    results = [{"token_ids": list(o.outputs[0].token_ids), "text": o.outputs[0].text,
                "finish_reason": o.outputs[0].finish_reason, "margins": margins(o.outputs[0].logprobs)}
               for o in outputs]
    return {"results": results, "seconds": seconds, "plugin_seconds": [h["seconds"] for h in hooks],
            "plugin_steps": [h["steps"] for h in hooks]}


def in_turns(llm, batches, repeat):
    """Each of ``batches`` once a turn, ``repeat`` turns, so that a machine's drift in speed falls on all alike."""
    turns = [[run(llm, batch, 1) for batch in batches] for _ in range(repeat)]
    return [{"results": runs[-1]["results"], **{key: [r[key][0] for r in runs] for key in
                                                ("seconds", "plugin_seconds", "plugin_steps")}}
            for runs in zip(*turns)]


def main(spec_path: str, out_path: str) -> None:
    # the engine core in this process, every engine alike: the checked and timed plugins count where they run
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    from vllm import LLM, SamplingParams

    spec = json.load(open(spec_path))
    kw = {}
    if spec["plugin"] == "class":
        from ponder.vllm.plugin import PonderLogitsProcessor

        kw["logits_processors"] = [PonderLogitsProcessor]
    elif spec["plugin"] == "timed":
        kw["logits_processors"] = [timed_plugin()]
    elif spec["plugin"] == "checked":
        kw["logits_processors"] = [checked_plugin()]
    llm = LLM(spec["model"], enforce_eager=True, dtype="bfloat16", max_model_len=2048, seed=0, **kw,
              **spec.get("engine", {}))
    requests = spec["requests"]
    llm.generate([requests[0]["prompt"]], sampling(SamplingParams, requests[0]["params"]), use_tqdm=False)  # warm up
    out = run(llm, requests, spec.get("repeat", 1))
    out["batches"] = in_turns(llm, spec.get("batches", []), spec.get("repeat", 1)) if spec.get("in_turns") else [
        run(llm, batch, spec.get("repeat", 1)) for batch in spec.get("batches", [])]
    errors = []
    for bad in spec.get("invalid", []):
        try:
            llm.generate([requests[0]["prompt"]], SamplingParams(**bad), use_tqdm=False)
            errors.append(None)
        except Exception as err:  # noqa: BLE001 - the test reads the type and message
            errors.append({"type": type(err).__name__, "message": str(err)})
    out["errors"] = errors
    out["untouched"] = UNTOUCHED
    json.dump(out, open(out_path, "w"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
