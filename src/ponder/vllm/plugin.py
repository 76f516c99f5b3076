"""ponder's policies inside vLLM: a v1 logits processor.

Load it with ``vllm serve MODEL --logits-processors ponder.vllm.plugin:PonderLogitsProcessor``
or ``LLM(MODEL, logits_processors=[PonderLogitsProcessor])``: only an engine that
names it runs it (ponder declares no entry point that would load it into every
engine, and vLLM refuses it next to speculative decoding). A request
asks for thinking control in ``SamplingParams.extra_args`` (over HTTP:
``vllm_xargs``) with ponder's option names: ``{"min_think": 64, "max_think":
256}``. Requests without them are left alone.

The thinking must end at one token: a native ``</think>``, or for models
without it s1's format, where the prompt opens ``<|im_start|>think`` and the
thinking ends at the special token ``<|im_start|>``. ``think_format`` picks one
(default: ``think`` where ``</think>`` is one token, else ``s1``). The prompt
must end with the opened thinking; one whose template closed the thought
(Qwen3's with ``enable_thinking`` off) is all answer, and left alone.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import numpy as np
import torch
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from ..errors import PonderError
from ..formats import FORMATS
from ..policies import Vocab
from ..policies.relative import resolve as resolve_relative
from .extra_args import request_thinking, stopping_text
from .batch import SteeredBatch
from .steer import Steer, TokenText, closes_thinking

logger = logging.getLogger("ponder.vllm")


class PonderLogitsProcessor(LogitsProcessor):
    """Runs each request's ponder policies, forcing one token per step where they inject."""

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        try:
            request_thinking(sampling_params.extra_args)
        except PonderError as err:
            raise ValueError(f"ponder: {err}") from None

    def __init__(self, vllm_config, device: torch.device, is_pin_memory: bool) -> None:
        from vllm.tokenizers import cached_tokenizer_from_config

        self.tokenizer = cached_tokenizer_from_config(vllm_config.model_config)
        self.vocabs = {name: self._vocab(fmt) for name, fmt in FORMATS.items()}
        usable = [name for name, vocab in self.vocabs.items() if vocab is not None]
        self.default_format = usable[0] if usable else None
        if not usable:
            logger.error("ponder: this model has neither </think> nor <|im_start|> as one token; "
                         "requests with thinking options run unsteered")
        self.context = vllm_config.model_config.max_model_len  # for a budget relative to the context ("25%ctx")
        self.batch = SteeredBatch()
        # Unseeded requests draw their endings from one generator seeded like the engine, so that every
        # tensor-parallel rank, calling it in the same order, decides alike.
        self.rng = np.random.default_rng(vllm_config.model_config.seed or 0)

    def _vocab(self, fmt) -> Vocab | None:
        ids = self.tokenizer.encode(fmt.end, add_special_tokens=False)
        if len(ids) != 1:
            return None
        eos = self.tokenizer.eos_token_id
        eos_ids = frozenset(() if eos is None else (eos,))
        return Vocab(self._encode, (ids[0],), self._encode(fmt.answer_lead), eos_ids, native_end=ids[0], end_text=fmt.end)

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one processor per engine, kept for its lifetime
    def _encode(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer.encode(text, add_special_tokens=False))

    @functools.lru_cache(maxsize=1)  # noqa: B019 - built on the first soft close, kept for the engine's lifetime
    def _token_text(self) -> TokenText:
        from ..policies.boundaries import UnitStarts

        pieces = [self.tokenizer.decode([i]) for i in range(len(self.tokenizer))]
        return TokenText(self.tokenizer.decode, UnitStarts(pieces))

    def is_argmax_invariant(self) -> bool:
        return False  # forcing and banning change the greedy choice

    # the persistent batch

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        """Follow the batch's changes; a row's new output tokens are read only when its policies are asked."""
        if batch_update is None:
            return
        for index in batch_update.removed:
            self.batch.put(index, None)
        for index, params, prompt, output in batch_update.added:
            self.batch.put(index, self._new_steer(params, prompt), output)
        for a, b, direction in batch_update.moved:
            self.batch.move(a, b, swap=direction == MoveDirectionality.SWAP)
        self.batch.changed()

    def _new_steer(self, params: SamplingParams, prompt=None) -> Steer | None:
        policy, fmt = request_thinking(params.extra_args)
        if policy is None or self.default_format is None:
            return None
        vocab = self.vocabs.get(fmt or self.default_format)
        if vocab is None:
            logger.error("ponder: think_format %r needs its end marker as one token in this model; "
                         "the request runs unsteered", fmt)
            return None
        stops = frozenset(params.all_stop_token_ids) | (frozenset() if params.ignore_eos else vocab.eos_ids)
        vocab = dataclasses.replace(vocab, eos_ids=stops - {vocab.native_end})
        if params.structured_outputs is not None:  # vLLM's grammar takes over after the end marker: no lead
            vocab = dataclasses.replace(vocab, lead_ids=())
        stopping = stopping_text(policy, self._encode, stops)
        if stopping is not None:  # forced, it would end the request where the policy means to go on
            logger.error("ponder: %s %r encodes to a token that stops this request; it runs unsteered "
                         "(choose a text without it)", *stopping)
            return None
        try:
            policy = resolve_relative(policy, len(prompt or ()), self.context)  # "0.5p+256": the prompt is known
        except PonderError as err:  # only now can a relative minimum come out above its maximum
            logger.error("ponder: %s; the request runs unsteered", err)
            return None
        reads_text = any(getattr(p, "reads_text", False) for p in policy.policies)  # a soft close, a countdown
        steer = Steer(policy, vocab, temperature=params.temperature, seed=params.seed, rng=self.rng,
                      text=self._token_text() if reads_text else None)
        if closes_thinking(prompt, vocab.native_end, self.tokenizer.decode):
            steer.trace.close_thinking(0, capped=False)  # the template closed the thought: all answer
        return steer

    # each step

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Ask the policies of the rows that need them; every other row costs a check over the batch."""
        return self.batch.apply(logits)
