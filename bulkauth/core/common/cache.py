"""TtlCache: a bounded map whose entries expire, for every cache of a run.

The resolver's answers (positive and negative), the SPF include verdicts and the messages'
SPF/DMARC results all want the same thing: remember a value for its time to live, and hold at
most ``max_entries`` of them, the least recently used going first so hostile input cannot grow
memory. No I/O: time comes from the ``clock`` callable (monotonic seconds; tests pass their own).

An OrderedDict, not a dict with a delete and re-insert on every hit: ``move_to_end`` is one C call,
and the resolver's cache is asked once per question of a bulk run.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """``key -> value`` for ``ttl`` seconds each, at most ``max_entries`` (0 keeps nothing)."""

    __slots__ = ("_clock", "_entries", "max_entries")

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.max_entries = max_entries
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: K) -> bool:
        """Whether ``key`` has an entry, live or expired (``get`` tells): a cheap test."""
        return key in self._entries

    def get(self, key: K) -> V | None:
        """The value while it lives (and it becomes the most recently used), else None."""
        hit = self._entries.get(key)
        if hit is None:
            return None
        if self._clock() >= hit[0]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return hit[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        """Keep ``value`` for ``ttl`` seconds (nothing when ``ttl <= 0``), replacing any other."""
        if ttl <= 0 or self.max_entries <= 0:
            return
        entries = self._entries
        if key in entries:
            entries.move_to_end(key)
        entries[key] = (self._clock() + ttl, value)
        if len(entries) > self.max_entries:
            entries.popitem(last=False)
