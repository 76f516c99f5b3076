"""The batch's reads and writes of vLLM's logits: a check over every quiet row at once, and one masked write.

On the CPU the checks read the logits through numpy (a view, no copy): torch's reductions over a
slice of a wide batch were ten times slower there (4.2 ms against 0.34 ms at 256 rows). Elsewhere
(a GPU, or a dtype numpy has not) they are torch operations with one device sync a step.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

HEAD = 1024  # the vocabulary's first tokens (in a BPE vocabulary its commonest), read to bound a row's best logits
# A forced token's logit. Every other logit stays, so forcing writes one value instead of a row of -inf (a pass over
# the vocabulary per row, 12 ms a step at 256 rows on the CPU); 1e30 is beyond any logit after any of vLLM's later
# steps (penalties, temperature >= 1e-5, top-k/p, min-p), so the sampler's choice is the same: every other token's
# probability underflows to exactly 0.
FORCED = 1e30


def on_host(logits: torch.Tensor) -> np.ndarray | None:
    """The logits as a numpy array without a copy, where they are on the CPU in a dtype numpy has."""
    if logits.device.type == "cpu" and logits.dtype in (torch.float32, torch.float64, torch.float16):
        return logits.numpy()
    return None


def greedy_may_end(logits: torch.Tensor, slots: np.ndarray, ends: np.ndarray, index=None) -> np.ndarray:
    """Whether each row's best token may be one of its ending tokens.

    Exact without reading whole rows: a row's best logit is at least the best of the vocabulary's first
    ``HEAD`` tokens, so an ending token below that is not the greedy choice. The rows left are read whole.
    ``index``: the slots and ends as tensors on a device (``Plan.greedy_index``), for logits numpy cannot view.
    """
    x = on_host(logits)
    if x is not None:
        if len(slots) == len(x):  # slots are distinct rows: all of them, in order, so no gather
            head = x[:, :HEAD].max(1)
        else:
            head = x[:, :HEAD].max(1)[slots] if 2 * len(slots) > len(x) else x[slots, :HEAD].max(1)
        best_end = x[slots, ends[:, 0]] if ends.shape[1] == 1 else x[slots[:, None], ends].max(1)
        return best_end >= head
    rows, cols = index(logits.device) if index else (torch.as_tensor(slots, device=logits.device),
                                                     torch.as_tensor(ends, device=logits.device))
    head = logits[:, :HEAD].amax(1) if len(slots) == len(logits) else logits[rows, :HEAD].amax(1)
    best_end = logits[rows, cols[:, 0]] if ends.shape[1] == 1 else logits[rows[:, None], cols].amax(1)
    return (best_end >= head).cpu().numpy()  # one device sync


def ending_bounds(logits: torch.Tensor, slots: np.ndarray, ends: np.ndarray, temperature: np.ndarray) -> np.ndarray:
    """Upper bounds of each ending token's probability at each row's temperature."""
    x = on_host(logits)
    if x is None:
        rows = torch.as_tensor(slots, device=logits.device)
        temps = torch.as_tensor(temperature, device=logits.device, dtype=torch.float32)[:, None]
        ending = logits[rows[:, None], torch.as_tensor(ends, device=logits.device)].float() / temps
        head = logits[rows, :HEAD].float() / temps
        return torch.exp(ending - torch.logsumexp(head, dim=1, keepdim=True)).cpu().double().numpy()
    ending = x[slots[:, None], ends].astype(np.float64) / temperature[:, None]
    head = x[slots, :HEAD].astype(np.float64) / temperature[:, None]
    top = head.max(1, keepdims=True)
    return np.exp(ending - top - np.log(np.exp(head - top).sum(1, keepdims=True)))


def shaped(logits: torch.Tensor, forced: Sequence[tuple[int, int]], bans: Sequence[tuple[np.ndarray, np.ndarray]]):
    """Bans, then forced tokens, each one masked write over the batch."""
    x = on_host(logits)
    if bans:
        rows, ids = np.concatenate([r for r, _ in bans]), np.concatenate([i for _, i in bans])
        if x is not None:
            x[rows, ids] = -np.inf
        else:
            logits[torch.as_tensor(rows, device=logits.device), torch.as_tensor(ids, device=logits.device)] = -np.inf
    if forced:
        rows, ids = (np.array(values, np.int64) for values in zip(*forced))
        wide = logits.dtype in (torch.float32, torch.float64)
        if not wide:  # too narrow for FORCED: every other logit -inf
            logits[torch.as_tensor(rows, device=logits.device)] = -np.inf
        if x is not None:
            x[rows, ids] = FORCED if wide else 0.0
        else:
            logits[torch.as_tensor(rows, device=logits.device), torch.as_tensor(ids, device=logits.device)] = (
                FORCED if wide else 0.0)
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
        host = on_host(row)  # on the CPU numpy finds the first best several times sooner than torch
        best = int(host.argmax()) if host is not None else int(torch.argmax(row))
        return best if best in ends else None

    def best(self) -> int:
        host = on_host(self.logits)
        return int(host.argmax()) if host is not None else int(torch.argmax(self.logits))

    def chances(self, ids, banned, temperature):
        scaled = self._masked(banned).float() / temperature
        probs = torch.exp(scaled[list(ids)] - torch.logsumexp(scaled, dim=-1))
        return probs.cpu().double().numpy()

    def stats(self) -> tuple[float, float]:
        from ..sampling import entropy_stats

        return entropy_stats(self.logits.float().cpu().numpy())
