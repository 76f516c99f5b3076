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
HEAD = 1024  # the vocabulary's first tokens (in a BPE vocabulary its commonest), read to bound a row's best logits


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
        self.width, self.watch = 1, None
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
        self.width = max((len(steer.vocab.eos_ids) + 1 for steer, _ in self.steers.values()), default=1)
        self.watch = None  # the batch's ending tokens as a tensor, made again when the watched rows change

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
        when the token it is about to sample may end its thinking (``Watch``). A quiet row that samples has
        its ending tokens banned for the step instead (its draw said it would not end); nothing else is done.
        """
        if not self.steers:
            return logits
        looks, greedy, sampled = [], [], []
        for index, (steer, output) in self.order:
            if len(output) >= steer.due:
                looks.append(index)
            if steer.watched:
                (greedy if steer.greedy else sampled).append(index)
        may_end = self._greedy_may_end(logits, greedy) if greedy else set()
        looks = set(looks)
        looks.update(may_end)
        bans: list[tuple[int, int]] = []
        quiet_sampled = [i for i in sampled if i not in looks]
        if quiet_sampled:
            looks.update(self._sampled_may_end(logits, quiet_sampled, bans))
        forced: list[tuple[int, int]] = []
        for index in sorted(looks):
            steer, output = self.steers[index]
            steer.sync(output)
            step: Step = steer.next(TorchRow(logits[index], index in may_end or not steer.greedy))
            if step.force is not None:
                forced.append((index, step.force))
            elif step.ban:
                bans += [(index, token) for token in sorted(step.ban)]
        return shaped(logits, forced, bans)

    def _greedy_may_end(self, logits: torch.Tensor, rows: list[int]) -> set[int]:
        """The greedy rows whose best token may be one of their ending tokens, in one pass over the batch.

        Exact without reading whole rows: a row's best logit is at least the best of the vocabulary's first
        ``HEAD`` tokens, so an ending token below that is not the greedy choice. The rows left are read whole.
        """
        key = (logits.shape[0], tuple(rows))
        if self.watch is None or self.watch[0] != key:
            cols = [[0] * self.width for _ in range(logits.shape[0])]
            mask = [False] * logits.shape[0]
            for i in rows:
                ends = self.steers[i][0].watched
                cols[i], mask[i] = list(ends + (ends[0],) * (self.width - len(ends))), True
            self.watch = (key, torch.tensor(cols, device=logits.device), torch.tensor(mask, device=logits.device))
        _, cols, mask = self.watch
        flags = (logits.gather(1, cols).amax(1) >= logits[:, :HEAD].amax(1)) & mask
        return set(flags.nonzero().flatten().tolist())  # one device sync

    def _sampled_may_end(self, logits: torch.Tensor, rows: list[int], bans: list) -> list[int]:
        """The quiet sampling rows whose draw may pick an ending; the others get their endings banned.

        The chance of an ending is bounded from above with the first ``HEAD`` tokens' share of the
        probability, so a draw above the bound (with a margin over rounding) cannot be an ending.
        """
        steers = [self.steers[i][0] for i in rows]
        width = self.width
        device = logits.device
        index = torch.tensor(rows, device=device)
        cols = torch.tensor([s.watched + (s.watched[0],) * (width - len(s.watched)) for s in steers], device=device)
        temps = torch.tensor([s.temperature for s in steers], device=device)[:, None]
        ending = logits[index[:, None], cols].float() / temps
        head = logits[index, :HEAD].float() / temps
        bound = torch.exp(ending - torch.logsumexp(head, dim=1, keepdim=True))
        flagged = []
        for i, steer, chances in zip(rows, steers, bound.tolist()):  # one device sync
            if steer.draw(at=len(self.steers[i][1])) < sum(chances[: len(steer.watched)]) * (1 + 1e-4):
                flagged.append(i)
            else:
                bans += [(i, token) for token in steer.watched]
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

    def __init__(self, logits: torch.Tensor, may_end: bool = True) -> None:
        self.logits = logits
        self.may_end = may_end  # False: the batch's check showed no ending token is the greedy choice

    def _masked(self, banned) -> torch.Tensor:
        if not banned:
            return self.logits
        row = self.logits.clone()
        row[list(banned)] = float("-inf")
        return row

    def greedy_ending(self, ends, banned) -> int | None:
        if not banned and not self.may_end:
            return None
        row = self._masked(banned)
        # on the CPU numpy finds the first best several times sooner than torch
        best = int(row.numpy().argmax()) if row.device.type == "cpu" else int(torch.argmax(row))
        return best if best in ends else None

    def chances(self, ids, banned, temperature):
        scaled = self._masked(banned).float() / temperature
        probs = torch.exp(scaled[list(ids)] - torch.logsumexp(scaled, dim=-1))
        return probs.cpu().double().numpy()

    def stats(self) -> tuple[float, float]:
        from ..sampling import entropy_stats

        return entropy_stats(self.logits.float().cpu().numpy())
