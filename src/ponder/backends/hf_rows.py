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
class Layout:
    """Where each new token of a pass sits: its row, its column on the grid, its position in its row."""

    rows: object  # LongTensor (tokens,)
    columns: object
    positions: object
    mask: object  # BoolTensor (grid rows, 1, grid columns, key length): what each query may attend to

    def attend(self, query, key, value, scaling):
        """query (1, heads, tokens, dim); key and value the strips (capacity, kv heads, slots, dim)."""
        import torch

        width, _, depth, length = self.mask.shape
        grid = query.new_zeros((width, query.shape[1], depth, query.shape[3]))
        grid[self.rows, :, self.columns] = query[0].transpose(0, 1)
        keys, values = key[:width, :, :length], value[:width, :, :length]
        groups = query.shape[1] // key.shape[1]
        if groups > 1:  # grouped-query attention: each key head serves several query heads
            keys, values = keys.repeat_interleave(groups, dim=1), values.repeat_interleave(groups, dim=1)
        out = torch.nn.functional.scaled_dot_product_attention(grid, keys, values, attn_mask=self.mask, scale=scaling)
        return out[self.rows, :, self.columns][None]  # (1, tokens, heads, dim), as transformers' hooks return


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
            strips = self._strips(store, layer_idx, new, layout.mask.shape[-1])
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
        self.torch, self.model, self.capacity = backend.torch, backend.model, capacity
        self.cache = StripCache(capacity)
        self.lengths = [0] * capacity

    def forward(self, work, every=None) -> list:
        """The logits after each row's last id; for the rows ``every`` flags, after each of its ids."""
        torch = self.torch
        ids, rows, columns, kept, spans = [], [], [], [], []
        starts = list(self.lengths)
        for k, (row, new) in enumerate(work):
            ids += new
            rows += [row] * len(new)
            columns += range(len(new))
            self.lengths[row] += len(new)
            wanted = range(len(ids) - len(new), len(ids)) if every and every[k] else range(len(ids) - 1, len(ids))
            spans.append(slice(len(kept), len(kept) + len(wanted)) if every and every[k] else len(kept))
            kept += wanted
        rows_t, columns_t = torch.tensor(rows), torch.tensor(columns)
        width, depth = int(rows_t.max()) + 1, int(columns_t.max()) + 1
        start_t = torch.tensor(starts[:width])
        positions = start_t[rows_t] + columns_t
        # a query at column t of row b sees that row's slots up to start_b + t (never none: slot 0 is always seen)
        last = start_t[:, None] + torch.arange(depth)  # the last slot each grid query may see
        mask = torch.arange(int(positions.max()) + 1)[None, None, :] <= last[:, :, None]
        self.cache.layout = Layout(rows_t, columns_t, positions, mask[:, None])
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([ids]), position_ids=positions[None], attention_mask=mask[:, None],
                             past_key_values=self.cache, use_cache=True, logits_to_keep=torch.tensor(kept),
                             rows_layout=self.cache.layout)
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
