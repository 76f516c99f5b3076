"""vLLM offline in a process of its own: ``python engine.py SPEC.json OUT.json``.

SPEC: {"model": folder, "plugin": "none" | "class" | "installed", "requests": [{"prompt", "params"}],
"invalid": [params...], "repeat": n, "engine": {more LLM arguments}}. OUT: each request's token ids, text and finish reason,
the errors the invalid params raised, and the seconds each of the ``repeat`` batches took. One process per
engine: vLLM on CPU holds the process's distributed state.
"""

import json
import sys
import time


def main(spec_path: str, out_path: str) -> None:
    from vllm import LLM, SamplingParams

    spec = json.load(open(spec_path))
    kw = {}
    if spec["plugin"] == "class":
        from ponder.vllm.plugin import PonderLogitsProcessor

        kw["logits_processors"] = [PonderLogitsProcessor]
    llm = LLM(spec["model"], enforce_eager=True, dtype="bfloat16", max_model_len=2048, seed=0, **kw,
              **spec.get("engine", {}))
    params = [SamplingParams(**r["params"]) for r in spec["requests"]]
    prompts = [r["prompt"] for r in spec["requests"]]
    llm.generate(prompts[:1], params[:1], use_tqdm=False)  # warm up before timing
    seconds = []
    for _ in range(spec.get("repeat", 1)):
        start = time.perf_counter()
        outputs = llm.generate(prompts, params, use_tqdm=False)
        seconds.append(time.perf_counter() - start)
    errors = []
    for bad in spec.get("invalid", []):
        try:
            llm.generate(prompts[:1], SamplingParams(**bad), use_tqdm=False)
            errors.append(None)
        except Exception as err:  # noqa: BLE001 - the test reads the type and message
            errors.append({"type": type(err).__name__, "message": str(err)})
    results = [{"token_ids": list(o.outputs[0].token_ids), "text": o.outputs[0].text,
                "finish_reason": o.outputs[0].finish_reason} for o in outputs]
    json.dump({"results": results, "errors": errors, "seconds": seconds}, open(out_path, "w"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
