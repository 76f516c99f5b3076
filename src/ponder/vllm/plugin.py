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

import functools
import logging

import numpy as np
import torch
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from ..errors import PonderError
from ..formats import FORMATS
from .extra_args import request_thinking
from .steer import MarkerVocab, Steer, Step, closes_thinking

logger = logging.getLogger("ponder.vllm")
HEAD = 4096  # the vocabulary's first tokens (in a BPE vocabulary its commonest), read to bound a row's best logits


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
        self.steers: dict[int, tuple[Steer, list[int]]] = {}  # batch index: (steer, the engine's output ids)
        self.order: list[tuple[int, tuple[Steer, list[int]]]] = []  # the same, by batch index
        # Unseeded requests draw their endings from one generator seeded like the engine, so that every
        # tensor-parallel rank, calling it in the same order, decides alike.
        self.rng = np.random.default_rng(vllm_config.model_config.seed or 0)

    def _vocab(self, fmt) -> MarkerVocab | None:
        ids = self.tokenizer.encode(fmt.end, add_special_tokens=False)
        if len(ids) != 1:
            return None
        eos = self.tokenizer.eos_token_id
        return MarkerVocab(self._encode, ids[0], self._encode(fmt.answer_lead),
                           frozenset(() if eos is None else (eos,)))

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one processor per engine, kept for its lifetime
    def _encode(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer.encode(text, add_special_tokens=False))

    def is_argmax_invariant(self) -> bool:
        return False  # forcing and banning change the greedy choice

    # the persistent batch

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        """Follow the batch's changes; a row's new output tokens are read only when its policies are asked."""
        if batch_update is None:
            return
        for index in batch_update.removed:
            self.steers.pop(index, None)
        for index, params, prompt, output in batch_update.added:
            steer = self._new_steer(params, prompt)
            if steer is None:
                self.steers.pop(index, None)
            else:
                self.steers[index] = (steer, output)
        for a, b, direction in batch_update.moved:
            first, second = self.steers.pop(a, None), self.steers.pop(b, None)
            if first is not None:
                self.steers[b] = first
            if second is not None and direction == MoveDirectionality.SWAP:
                self.steers[a] = second
        self.order = sorted(self.steers.items())

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
        vocab = MarkerVocab(vocab.encode, vocab.end_id, vocab.lead_ids, stops - {vocab.end_id})
        steer = Steer(policy, vocab, temperature=params.temperature, seed=params.seed, rng=self.rng)
        if closes_thinking(prompt, vocab.end_id, self.tokenizer.decode):
            steer.trace.close_thinking(0, forced=False)  # the template closed the thought: all answer
        return steer

    # each step

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Ask the policies of the rows that need them; every other row costs a check in the batch's tensors.

        A row needs its policies when its output reached the position they asked to be asked at (``due``), or
        when the token it is about to sample may end its thinking (``_may_end``). A quiet row that samples has
        its ending tokens banned for the step instead (its draw said it would not end); nothing else is done.
        """
        if not self.steers:
            return logits
        looks, quiet = [], []
        for index, (steer, output) in self.order:
            if len(output) >= steer.due:
                looks.append(index)
            elif steer.watched:
                quiet.append(index)
        bans: list[tuple[int, int]] = []
        if quiet:
            looks += self._may_end(logits, quiet, bans)
        forced: list[tuple[int, int]] = []
        for index in sorted(looks):
            steer, output = self.steers[index]
            steer.sync(output)
            step: Step = steer.next(TorchRow(logits[index]))
            if step.force is not None:
                forced.append((index, step.force))
            elif step.ban:
                bans += [(index, token) for token in sorted(step.ban)]
        return shaped(logits, forced, bans)

    def _may_end(self, logits: torch.Tensor, rows: list[int], bans: list) -> list[int]:
        """The quiet rows that may end their thinking now; the others that sample get their endings banned.

        Exact, and without reading whole rows: the most likely token (greedy) or the chance of an ending
        (sampling) is bounded with the first ``HEAD`` tokens of the vocabulary, whose logits stand below the
        row's. A row whose ending tokens stand above that bound, or whose draw falls under the bounded chance,
        is handed to its policies, which read the whole row.
        """
        steers = [self.steers[i][0] for i in rows]
        ends = [steer.watched for steer in steers]
        width = max(len(e) for e in ends)
        device = logits.device
        index = torch.tensor(rows, device=device)
        cols = torch.tensor([e + (e[0],) * (width - len(e)) for e in ends], device=device)
        temps = torch.tensor([max(steer.temperature, 1.0) if steer.greedy else steer.temperature
                              for steer in steers], device=device)[:, None]
        ending = logits[index[:, None], cols].float() / temps
        head = logits[index, :HEAD].float() / temps
        greedy = torch.tensor([steer.greedy for steer in steers], device=device)
        bound = torch.where(greedy, (ending.amax(1) >= head.amax(1)).float(),
                            torch.exp(ending - torch.logsumexp(head, dim=1, keepdim=True)).sum(1))
        flagged = []
        for i, steer, watched, chance in zip(rows, steers, ends, bound.tolist()):  # one device sync
            if steer.greedy:
                if chance > 0.5:
                    flagged.append(i)
            elif steer.draw(at=len(self.steers[i][1])) < chance * (1 + 1e-4):  # a margin over rounding
                flagged.append(i)
            else:
                bans += [(i, token) for token in watched]
        return flagged


def shaped(logits: torch.Tensor, forced: list[tuple[int, int]], bans: list[tuple[int, int]]) -> torch.Tensor:
    """Bans, then forced tokens (every other logit -inf), each as one masked write over the batch."""
    if bans:
        rows, ids = zip(*bans)
        logits[list(rows), list(ids)] = float("-inf")
    if forced:
        rows, ids = zip(*forced)
        logits[list(rows)] = float("-inf")
        logits[list(rows), list(ids)] = 0.0
    return logits


class TorchRow:
    """One row of the batch's logits, read only as far as a decision needs."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits

    def _masked(self, banned) -> torch.Tensor:
        if not banned:
            return self.logits
        row = self.logits.clone()
        row[list(banned)] = float("-inf")
        return row

    def best(self, banned) -> int:
        return int(torch.argmax(self._masked(banned)))

    def chances(self, ids, banned, temperature):
        scaled = self._masked(banned).float() / temperature
        probs = torch.exp(scaled[list(ids)] - torch.logsumexp(scaled, dim=-1))
        return probs.cpu().double().numpy()

    def stats(self) -> tuple[float, float]:
        from ..sampling import entropy_stats

        return entropy_stats(self.logits.float().cpu().numpy())
