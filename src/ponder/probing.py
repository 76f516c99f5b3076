"""A probe: the answer read mid-thought, then cut back out of the KV cache.

The probe builds on what the cache already holds: the trace's pending tokens and
the forced end marker and lead go through the model in one forward pass, then
the answer is written greedily, one pass per token. No prefill: the prompt and
the thinking are never evaluated again. Afterwards the cache is cut back to
where it was, and the trace was never touched, so the generation goes on exactly
as it would have without the probe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .policies import Probe, ProbeAnswer

if TYPE_CHECKING:
    from .decoding import Decoder, Steps


def run_probe(decoder: "Decoder", action: Probe, at: int) -> "Steps":
    """Carry out ``action`` at ``at`` thinking tokens; its answer is added to ``decoder.trace.probes``."""
    trace = decoder.trace
    cut = len(trace.ids) - action.force.rewind  # the probe asks after these tokens (an ending left out)
    keep = min(decoder.n_eval, cut)  # of the tokens in the cache, those the probe builds on
    forced = list(action.force.ids)
    room = decoder.backend.n_ctx - len(decoder.prompt_ids) - cut - len(forced)
    if room < 1:  # the context cannot hold the question: an empty answer, which never agrees
        trace.probes.append(ProbeAnswer(at, "", 0))
        return
    base = len(decoder.prompt_ids) + keep
    if keep < decoder.n_eval:
        decoder.cache.truncate(base)  # an ending's marker tokens already evaluated: not part of the question
    logits = yield [*trace.ids[keep:cut], *forced]
    written = yield from write_answer(decoder, logits, min(action.max_tokens, room))
    decoder.cache.truncate(base)
    if keep < decoder.n_eval:  # the marker tokens cut above: evaluated again when next needed
        decoder.n_eval, decoder.logits = keep, None
    text = decoder.backend.detokenize(written).strip()
    trace.probes.append(ProbeAnswer(at, text, len(forced) + len(written)))


def write_answer(decoder: "Decoder", logits: np.ndarray, limit: int) -> "Steps":
    """Greedy answer tokens up to ``limit``, a newline or EOS (neither written); the last one is not evaluated."""
    written: list[int] = []
    while True:
        token = int(np.argmax(logits))
        if token in decoder.vocab.eos_ids or "\n" in decoder.backend.detokenize([token]):
            return written
        written.append(token)
        if len(written) >= limit:
            return written
        logits = yield [token]
