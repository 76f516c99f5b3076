"""Batched rows for the transformers backend: many sequences in one forward pass, each in its own strip of cache.

The new tokens of every row go through the model as one flat sequence, so the
layers outside attention only ever see real tokens (no padding: a forced run of
twenty tokens in one row costs nothing in the others). Attention alone is done
row by row: the queries are laid out on a (row, column) grid and each attends
to its own row's strip of keys up to its position, in one masked SDPA call. A
rewind or a finished row only moves the row's length back.
"""

from __future__ import annotations

from dataclasses import dataclass

NAME = "ponder_rows"  # the attention implementation ponder registers with transformers


def use_row_attention(model) -> bool:
    """Make ``model`` attend row by row when a pass carries a layout (and exactly as SDPA otherwise).

    False where the model cannot take another attention (one that does not go through transformers'
    attention interface).
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, row_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    try:
        model.set_attn_implementation(NAME)
    except ValueError:
        return False
    return model.config._attn_implementation == NAME


def row_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, rows_layout=None, **kwargs):
    """transformers' attention hook: SDPA, or the per-row attention of a batched pass."""
    if rows_layout is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      **kwargs)
    return rows_layout.attend(query, key, value, scaling), None


@dataclass(frozen=True)
class Grid:
    """Some of a pass's queries laid out as (row, column), with what each may see: one SDPA call."""

    tokens: object  # LongTensor: which of the pass's new tokens sit on this grid
    rows: object  # each one's grid row
    columns: object  # and grid column
    strips: object  # the cache row of each grid row; None: grid row i is cache row i (a view, no copy)
    mask: object  # BoolTensor (grid rows, 1, grid columns, key length): True where a query may look

    def attend(self, query, key, value, scaling, out) -> None:
        """Fill ``out`` (tokens, heads, dim) for this grid's tokens; query (1, heads, tokens, dim)."""
        import torch

        width, _, depth, length = self.mask.shape
        grid = query.new_zeros((width, query.shape[1], depth, query.shape[3]))
        grid[self.rows, :, self.columns] = query[0, :, self.tokens].transpose(0, 1)
        if self.strips is None:
            keys, values = key[:width, :, :length], value[:width, :, :length]
        else:
            keys = key[:, :, :length].index_select(0, self.strips)
            values = value[:, :, :length].index_select(0, self.strips)
        found = torch.nn.functional.scaled_dot_product_attention(
            grid, keys, values, attn_mask=self.mask, scale=scaling, enable_gqa=query.shape[1] != key.shape[1])
        out[self.tokens] = found[self.rows, :, self.columns]


@dataclass(frozen=True)
class Layout:
    """A pass's new tokens: each one's cache row and position, and the grids their attention runs on.

    Rows with one new token (most rows, most rounds) share a grid one column deep over the
    first rows of the cache, read in place; rows with more (a prompt, a forced run) get a grid
    of their own, so one long run does not make every row's grid deep.
    """

    rows: object  # LongTensor (tokens,)
    positions: object
    grids: tuple[Grid, ...]
    length: int  # key slots the pass reaches

    def attend(self, query, key, value, scaling):
        """query (1, heads, tokens, dim); key and value the strips (capacity, kv heads, slots, dim)."""
        out = query.new_empty((query.shape[2], query.shape[1], query.shape[3]))
        for grid in self.grids:
            grid.attend(query, key, value, scaling, out)
        return out[None]  # (1, tokens, heads, dim), as transformers' hooks return


def layout(work, starts: list[int]) -> Layout:
    """The layout of a pass: ``work`` the (row, ids) items, ``starts`` each row's length before it."""
    import torch

    rows, positions, single, runs = [], [], [], []
    for row, new in work:
        (single if len(new) == 1 else runs).append((row, len(rows), len(new)))
        rows += [row] * len(new)
        positions += range(starts[row], starts[row] + len(new))
    length = max(positions) + 1
    grids = []
    if single:
        grids.append(single_grid(single, positions))
    if runs:
        depth = max(n for _, _, n in runs)
        last = torch.tensor([starts[row] for row, _, _ in runs])[:, None] + torch.arange(depth)
        mask = torch.arange(max(starts[row] + n for row, _, n in runs))[None, None, :] <= last[:, :, None]
        grids.append(Grid(torch.tensor([first + j for _, first, n in runs for j in range(n)]),
                          torch.tensor([g for g, (_, _, n) in enumerate(runs) for _ in range(n)]),
                          torch.tensor([j for _, _, n in runs for j in range(n)]),
                          torch.tensor([row for row, _, _ in runs]), mask[:, None]))
    return Layout(torch.tensor(rows), torch.tensor(positions), tuple(grids), length)


def single_grid(single: list, positions: list[int]) -> Grid:
    """The grid of the rows with one new token, ``single`` their (row, token index, 1) items.

    It reads the first cache rows in place, unless most of them have no query (a batch running
    dry): then it takes a copy of the strips of the rows that have one.
    """
    import torch

    at = torch.tensor([row for row, _, _ in single])
    seen = torch.tensor([positions[first] for _, first, _ in single])
    length = int(seen.max()) + 1
    tokens = torch.tensor([first for _, first, _ in single])
    width = int(at.max()) + 1
    if 2 * len(single) < width:
        mask = torch.arange(length)[None, :] <= seen[:, None]
        grid_rows = torch.arange(len(single))
        return Grid(tokens, grid_rows, torch.zeros_like(at), at, mask[:, None, None, :])
    reach = torch.zeros(width, dtype=torch.long)  # a grid row without a query sees slot 0
    reach[at] = seen
    mask = torch.arange(length)[None, :] <= reach[:, None]
    return Grid(tokens, at, torch.zeros_like(at), None, mask[:, None, None, :])


class StripCache:
    """The K/V of ``capacity`` sequences, one strip of slots per row; transformers calls ``update`` per layer."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.keys: dict[int, object] = {}
        self.values: dict[int, object] = {}
        self.layout: Layout | None = None

    def update(self, key, value, layer_idx: int, *args, **kwargs):
        layout = self.layout
        for store, new in ((self.keys, key), (self.values, value)):
            strips = self._strips(store, layer_idx, new, layout.length)
            strips[layout.rows, :, layout.positions] = new[0].transpose(0, 1)
        return self.keys[layer_idx], self.values[layer_idx]

    def _strips(self, store: dict, layer_idx: int, like, length: int):
        """The layer's strips, grown (doubling) to hold ``length`` slots."""
        strips = store.get(layer_idx)
        if strips is None or strips.shape[2] < length:
            size = max(length, 2 * strips.shape[2] if strips is not None else 64)
            grown = like.new_zeros((self.capacity, like.shape[1], size, like.shape[3]))
            if strips is not None:
                grown[:, :, : strips.shape[2]] = strips
            store[layer_idx] = strips = grown
        return strips

    def copy(self, source: int, row: int, n_tokens: int) -> None:
        for store in (self.keys, self.values):
            for strips in store.values():
                strips[row, :, :n_tokens] = strips[source, :, :n_tokens]


class StripRows:
    """``capacity`` sequences decoded together: all their new tokens in one flat forward pass."""

    def __init__(self, backend, capacity: int) -> None:
        self.backend, self.torch, self.model, self.capacity = backend, backend.torch, backend.model, capacity
        self.cache = StripCache(capacity)
        self.lengths = [0] * capacity

    def forward(self, work, every=None) -> list:
        """The logits after each row's last id; for the rows ``every`` flags, after each of its ids."""
        torch = self.torch
        ids, kept, spans = [], [], []
        starts = list(self.lengths)
        for k, (row, new) in enumerate(work):
            ids += new
            self.lengths[row] += len(new)
            wanted = range(len(ids) - len(new), len(ids)) if every and every[k] else range(len(ids) - 1, len(ids))
            spans.append(slice(len(kept), len(kept) + len(wanted)) if every and every[k] else len(kept))
            kept += wanted
        self.cache.layout = plan = layout(work, starts)
        self.backend.use_threads(len(ids))
        with torch.inference_mode():  # a 4D mask goes to the attention as it is: the layout holds the real ones
            out = self.model(input_ids=torch.tensor([ids]), position_ids=plan.positions[None],
                             attention_mask=torch.ones((1, 1, 1, 1), dtype=torch.bool), past_key_values=self.cache,
                             use_cache=True, logits_to_keep=torch.tensor(kept), rows_layout=plan)
        self.cache.layout = None
        logits = out.logits[0].float().numpy()
        return [logits[span] for span in spans]

    def truncate(self, row: int, n_keep: int) -> None:
        self.lengths[row] = min(self.lengths[row], n_keep)

    def copy(self, source: int, row: int, n_tokens: int) -> None:
        with self.torch.inference_mode():  # the strips were made in inference mode
            self.cache.copy(source, row, n_tokens)
        self.lengths[row] = n_tokens

    def release(self, row: int) -> None:
        self.lengths[row] = 0

    def close(self) -> None:
        self.cache = StripCache(self.capacity)
