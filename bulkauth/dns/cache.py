"""A bounded TTL cache of Answers, positive and negative (RFC 2308)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from bulkauth.core.common.model import Answer, Query, Rcode


class AnswerCache:
    """LRU-bounded map of Query -> Answer that expires entries by their TTL.

    Only authoritative outcomes (records, NODATA, NXDOMAIN) are cached; failures such as
    SERVFAIL or TIMEOUT are retried rather than remembered. ``max_ttl`` caps what a hostile
    zone can pin in memory; ``min_ttl`` keeps zero-TTL answers for the run's own reuse
    (thousands of domains asking for the same provider record within a second).
    """

    def __init__(
        self,
        max_entries: int = 200_000,
        min_ttl: int = 0,
        max_ttl: int = 86_400,
        negative_max_ttl: int = 3_600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[Query, tuple[float, Answer]] = OrderedDict()
        self.max_entries = max_entries
        self.min_ttl = min_ttl
        self.max_ttl = max_ttl
        self.negative_max_ttl = negative_max_ttl
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, q: Query) -> Answer | None:
        hit = self._entries.get(q)
        if hit is None:
            return None
        expires, answer = hit
        if self._clock() >= expires:
            del self._entries[q]
            return None
        self._entries.move_to_end(q)
        return answer

    def put(self, q: Query, answer: Answer) -> None:
        rcode = answer.rcode
        if self.max_entries <= 0 or (rcode is not Rcode.NOERROR and rcode is not Rcode.NXDOMAIN):
            return  # only authoritative outcomes (Answer.ok), tested inline: this runs per query
        ttl = answer.ttl
        cap = self.max_ttl if answer.records else self.negative_max_ttl
        if ttl < self.min_ttl:
            ttl = self.min_ttl
        if ttl > cap:
            ttl = cap
        if ttl <= 0:
            return
        entries = self._entries
        if q in entries:
            entries.move_to_end(q)
        entries[q] = (self._clock() + ttl, answer)
        if len(entries) > self.max_entries:
            entries.popitem(last=False)
