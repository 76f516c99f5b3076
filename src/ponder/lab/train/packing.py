"""A batch's traces packed into fewer rows: the same tokens and the same loss, with less padding to compute.

Padded one trace per row, a batch of traces of mixed lengths is a third padding. Packed
first-fit (longest first) into rows as wide as the longest trace, each trace keeps its
own positions (from 0) and attends only to itself, so every token sees and predicts
exactly what it would in a row of its own.
"""

from __future__ import annotations

Row = tuple[list[int], list[int]]  # (ids, labels): -100 where nothing is learned


def bins(rows: list[Row]) -> list[list[Row]]:
    """The traces grouped into rows no wider than the longest, first fit, longest first."""
    width = max(len(ids) for ids, _ in rows)
    packed: list[list[Row]] = []
    room: list[int] = []
    for row in sorted(rows, key=lambda r: -len(r[0])):
        at = next((i for i, left in enumerate(room) if left >= len(row[0])), None)
        if at is None:
            packed.append([]), room.append(width)
            at = len(packed) - 1
        packed[at].append(row)
        room[at] -= len(row[0])
    return packed


def pack(rows: list[Row], pad: int) -> dict:
    """Keyword arguments for the model: input ids, labels, position ids and the attention mask (4D, True: seen)."""
    import torch

    width = max(len(ids) for ids, _ in rows)
    groups = bins(rows)
    ids = torch.full((len(groups), width), pad)
    labels = torch.full((len(groups), width), -100)
    positions = torch.zeros((len(groups), width), dtype=torch.long)
    segment = torch.arange(width).repeat(len(groups), 1) + width  # padding: each token a segment of its own
    for r, group in enumerate(groups):
        at = 0
        for s, (trace, learned) in enumerate(group):
            n = len(trace)
            ids[r, at: at + n], labels[r, at: at + n] = torch.tensor(trace), torch.tensor(learned)
            labels[r, at] = -100  # the trace before this one never learns to predict its first token
            positions[r, at: at + n], segment[r, at: at + n] = torch.arange(n), s
            at += n
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    mask = (segment[:, :, None] == segment[:, None, :]) & causal
    return {"input_ids": ids, "labels": labels, "position_ids": positions, "attention_mask": mask[:, None]}
