"""Batched rows for the transformers backend: many sequences in one forward pass, each in its own strip of cache.

The new tokens of every row go through the model as one flat sequence, so the
layers outside attention only ever see real tokens (no padding: a forced run of
twenty tokens in one row costs nothing in the others). Attention alone is done
row by row: the queries are laid out on a (row, column) grid and each attends
to its own row's strip of keys up to its position, in one masked SDPA call. A
rewind or a finished row only moves the row's length back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def sliding_window(config) -> int | None:
    """The window of the model's sliding-window layers, if it has any: the per-row attention sees whole rows."""
    text = config.get_text_config()
    window, types = getattr(text, "sliding_window", None), getattr(text, "layer_types", None)
    if not window:
        return None
    uses = any("sliding" in t for t in types) if types else getattr(text, "use_sliding_window", True)
    return window if uses else None


def row_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, rows_layout=None, **kwargs):
    """transformers' attention hook: SDPA, or the per-row attention of a batched pass."""
    if rows_layout is not None and kwargs.get("sliding_window") is not None:
        raise RuntimeError("a batched pass reached a sliding-window layer: such a model must decode one row at a time")
    if rows_layout is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      **kwargs)
    return rows_layout.on(query.device).attend(query, key, value, scaling), None


@dataclass(frozen=True)
class Grid:
    """Some of a pass's queries laid out as (row, column), with what each may see: one SDPA call.

    The query heads that share a key head sit side by side as that head's queries (grid columns
    times the group), so the keys are read once per key head and never copied per query head.
    """

    tokens: object  # LongTensor: which of the pass's new tokens sit on this grid
    rows: object  # each one's grid row
    columns: object  # and grid column
    strips: object  # the cache row of each grid row; None: grid row i is cache row i (a view, no copy)
    mask: object  # BoolTensor (grid rows, 1, group x grid columns, key length): True where a query may look

    def attend(self, query, key, value, scaling, out) -> None:
        """Fill ``out`` (tokens, heads, dim) for this grid's tokens; query (1, heads, tokens, dim)."""
        import torch

        width, _, deep, length = self.mask.shape
        heads, kv_heads, dim = query.shape[1], key.shape[1], query.shape[3]
        grid = query.new_zeros((width, heads, deep * kv_heads // heads, dim))
        grid[self.rows, :, self.columns] = query[0, :, self.tokens].transpose(0, 1)
        if self.strips is None:
            keys, values = key[:width, :, :length], value[:width, :, :length]
        else:
            keys = key[:, :, :length].index_select(0, self.strips)
            values = value[:, :, :length].index_select(0, self.strips)
        found = torch.nn.functional.scaled_dot_product_attention(
            grid.view(width, kv_heads, deep, dim), keys, values, attn_mask=self.mask, scale=scaling)
        out[self.tokens] = found.reshape(grid.shape)[self.rows, :, self.columns]

    def to(self, device) -> "Grid":
        return Grid(*(None if t is None else t.to(device) for t in (self.tokens, self.rows, self.columns,
                                                                     self.strips, self.mask)))


@dataclass(frozen=True)
class Layout:
    """A pass's new tokens: their ids, each one's cache row and position, the grids their attention runs on.

    Rows with one new token (most rows, most rounds) share a grid one column deep over the
    first rows of the cache, read in place; rows with more (a prompt, a forced run) get a grid
    of their own, so one long run does not make every row's grid deep.
    """

    ids: object  # LongTensor (1, tokens)
    rows: object  # LongTensor (tokens,)
    positions: object
    keep: object  # the tokens whose logits the pass returns
    grids: tuple[Grid, ...]
    length: int  # key slots the pass reaches
    copies: dict = field(default_factory=dict, compare=False)  # on the other devices of a model spread over GPUs

    def attend(self, query, key, value, scaling):
        """query (1, heads, tokens, dim); key and value the strips (capacity, kv heads, slots, dim)."""
        out = query.new_empty((query.shape[2], query.shape[1], query.shape[3]))
        for grid in self.grids:
            grid.attend(query, key, value, scaling, out)
        return out[None]  # (1, tokens, heads, dim), as transformers' hooks return

    def on(self, device) -> "Layout":
        """This layout on ``device`` (the layers of a model spread over GPUs are on several)."""
        if device == self.rows.device:
            return self
        if device not in self.copies:
            self.copies[device] = Layout(self.ids.to(device), self.rows.to(device), self.positions.to(device),
                                         self.keep.to(device), tuple(g.to(device) for g in self.grids), self.length)
        return self.copies[device]


@dataclass(frozen=True)
class GridPlan:
    """A grid worked out on the host, as lists of indices: grid row g sees slots up to reach[g] + column."""

    tokens: list[int]
    rows: list[int]
    columns: list[int]
    strips: list[int] | None
    reach: list[int]
    depth: int
    length: int  # key slots it reads

    def lists(self) -> list[list[int]]:
        return [self.tokens, self.rows, self.columns, self.reach] + ([] if self.strips is None else [self.strips])

    def grid(self, sent, group: int, device) -> Grid:
        """The grid from its lists on the device; ``group`` query heads share each key head."""
        import torch

        tokens, rows, columns, reach, *strips = sent
        last = reach[:, None] + torch.arange(self.depth, device=device).repeat(group)  # query j*depth + c: column c
        mask = torch.arange(self.length, device=device)[None, None, :] <= last[:, :, None]
        return Grid(tokens, rows, columns, strips[0] if strips else None, mask[:, None])


def layout(work, starts: list[int], keep: list[int], group: int = 1, device="cpu") -> Layout:
    """The layout of a pass: ``work`` the (row, ids) items, ``starts`` each row's length before it, ``keep``
    the tokens whose logits are wanted, ``group`` the query heads per key head.

    Everything is worked out on the host from the lists, and goes to the device in one copy.
    """
    ids, rows, positions, single, runs = [], [], [], [], []
    for row, new in work:
        (single if len(new) == 1 else runs).append((row, len(rows), len(new)))
        ids += new
        rows += [row] * len(new)
        positions += range(starts[row], starts[row] + len(new))
    plans = ([single_plan(single, positions)] if single else []) + ([runs_plan(runs, starts)] if runs else [])
    sent = send([ids, rows, positions, keep, *(part for plan in plans for part in plan.lists())], device)
    grids, at = [], 4
    for plan in plans:
        grids.append(plan.grid(sent[at:at + len(plan.lists())], group, device))
        at += len(plan.lists())
    return Layout(sent[0][None], sent[1], sent[2], sent[3], tuple(grids), max(positions) + 1)


def send(lists: list[list[int]], device) -> list:
    """The lists as LongTensors on ``device``: one copy from the host for all of them."""
    import torch

    flat = torch.tensor([v for values in lists for v in values], dtype=torch.long)
    return list(flat.to(device, non_blocking=True).split([len(values) for values in lists]))


def runs_plan(runs: list, starts: list[int]) -> GridPlan:
    """The grid of the rows with several new tokens, ``runs`` their (row, first token, count) items."""
    return GridPlan([first + j for _, first, n in runs for j in range(n)],
                    [g for g, (_, _, n) in enumerate(runs) for _ in range(n)],
                    [j for _, _, n in runs for j in range(n)],
                    [row for row, _, _ in runs], [starts[row] for row, _, _ in runs],
                    max(n for _, _, n in runs), max(starts[row] + n for row, _, n in runs))


def single_plan(single: list, positions: list[int]) -> GridPlan:
    """The grid of the rows with one new token, ``single`` their (row, token index, 1) items.

    It reads the first cache rows in place, unless most of them have no query (a batch running
    dry): then it takes a copy of the strips of the rows that have one.
    """
    at = [row for row, _, _ in single]
    seen = [positions[first] for _, first, _ in single]
    tokens, zeros, length = [first for _, first, _ in single], [0] * len(single), max(seen) + 1
    width = max(at) + 1
    if 2 * len(single) < width:
        return GridPlan(tokens, list(range(len(single))), zeros, at, seen, 1, length)
    reach = [0] * width  # a grid row without a query sees slot 0
    for row, slot in zip(at, seen):
        reach[row] = slot
    return GridPlan(tokens, at, zeros, None, reach, 1, length)


class StripCache:
    """The K/V of ``capacity`` sequences, one strip of slots per row; transformers calls ``update`` per layer."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.keys: dict[int, object] = {}
        self.values: dict[int, object] = {}
        self.layout: Layout | None = None

    def update(self, key, value, layer_idx: int, *args, **kwargs):
        layout = self.layout.on(key.device)
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

    can_copy = True

    def __init__(self, backend, capacity: int) -> None:
        self.backend, self.torch, self.model, self.capacity = backend, backend.torch, backend.model, capacity
        self.cache = StripCache(capacity)
        self.lengths = [0] * capacity
        config = self.model.config
        heads = config.num_attention_heads
        self.group = heads // (getattr(config, "num_key_value_heads", None) or heads)  # query heads per key head
        self.unmasked = self.torch.ones((1, 1, 1, 1), dtype=self.torch.bool, device=backend.device)
        self.head = self.model.get_output_embeddings().weight.device  # the last layers' (a model spread over GPUs)

    def forward(self, work, all_positions=None) -> list:
        """The logits after each row's last id; for the rows ``all_positions`` flags, after each of its ids."""
        torch = self.torch
        kept, spans, n = [], [], 0
        starts = list(self.lengths)
        for k, (row, new) in enumerate(work):
            n += len(new)
            self.lengths[row] += len(new)
            whole = bool(all_positions and all_positions[k])  # the logits after each of the row's ids
            wanted = range(n - len(new), n) if whole else range(n - 1, n)
            spans.append(slice(len(kept), len(kept) + len(wanted)) if whole else len(kept))
            kept += wanted
        self.cache.layout = plan = layout(work, starts, kept, self.group, self.backend.device)
        self.backend.use_threads(n)
        with torch.inference_mode():  # a 4D mask goes to the attention as it is: the layout holds the real ones
            out = self.model(input_ids=plan.ids, position_ids=plan.positions[None], attention_mask=self.unmasked,
                             past_key_values=self.cache, use_cache=True, logits_to_keep=plan.on(self.head).keep,
                             rows_layout=plan)
        self.cache.layout = None
        logits = out.logits[0].float().cpu().numpy()  # the pass's one copy to the host
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
