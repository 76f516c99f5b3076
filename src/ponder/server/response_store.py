"""The Responses API's stored responses, kept in memory for ``GET /v1/responses/{id}`` and ``previous_response_id``.

Bounded by count: the least recently used response goes first. Each holds a conversation that
fit the server's prompt limit, so the store's size is bounded too. Used from the event loop only.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

KEPT = 256  # responses kept


@dataclass(frozen=True)
class StoredResponse:
    body: dict  # the response object as it was returned
    turns: tuple[dict, ...]  # the conversation it ended, as chat messages: earlier turns, its input, its answer


class ResponseStore:
    def __init__(self, capacity: int = KEPT) -> None:
        if capacity < 1:
            raise ValueError(f"a response store keeps at least 1 response, not {capacity}")
        self.capacity = capacity
        self.items: OrderedDict[str, StoredResponse] = OrderedDict()

    def put(self, rid: str, stored: StoredResponse) -> None:
        self.items[rid] = stored
        self.items.move_to_end(rid)
        while len(self.items) > self.capacity:
            self.items.popitem(last=False)

    def get(self, rid: str) -> StoredResponse | None:
        stored = self.items.get(rid)
        if stored is not None:
            self.items.move_to_end(rid)  # a conversation in use stays
        return stored

    def delete(self, rid: str) -> bool:
        return self.items.pop(rid, None) is not None

    def __len__(self) -> int:
        return len(self.items)
