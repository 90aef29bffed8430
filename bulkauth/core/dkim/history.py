"""Keys a selector published before: candidates when today's DNS no longer has the key.

Senders rotate DKIM keys every few months, so a message signed years ago finds no key (or
another one) under its selector today. A key history (built by earlier runs, or imported
from a public key archive) holds each value a selector was seen with and when; the verifier
tries those values, as data, after the live answer failed (DESIGN.md: keys are values).

Which keys are tried first: those whose first/last-seen span covers the message's time,
then the others by how far their span lies from it. A key that verifies proves the
signature was made with it; a key first seen only after the message's time cannot also
prove the message existed before the key was published, and the verdict says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bulkauth.core.common.model import Problem

#: the live verdicts a historical key may replace: the key is gone, or is not the one
#: that signed (a body or syntax fault stays whatever key is used)
RETRY_CODES = frozenset(
    {
        "dkim.key_not_found",
        "dkim.key_revoked",
        "dkim.key_malformed",
        "dkim.key_type_mismatch",
        "dkim.unknown_key_type",
        "dkim.signature_mismatch",
    }
)
#: keys tried per signature at most: each costs a public-key operation
MAX_TRIED = 8
#: a day: first-seen is when someone looked, not when the key was published
SEEN_SLACK = 86_400.0


@dataclass(frozen=True, slots=True)
class HistoricalKey:
    """One value a selector was seen with: the record, its key hash, the span it was seen
    in (epoch seconds, UTC) and where the sighting comes from (a run, an imported file)."""

    record: str
    key_hash: str
    first_seen: float
    last_seen: float
    source: str

    def covers(self, at: float) -> bool:
        return self.first_seen - SEEN_SLACK <= at <= self.last_seen + SEEN_SLACK

    def distance(self, at: float) -> float:
        if self.covers(at):
            return 0.0
        return min(abs(at - self.first_seen), abs(at - self.last_seen))


#: a key history by key name (``<selector>._domainkey.<domain>``, lower case)
KeyHistory = Mapping[str, Sequence[HistoricalKey]]


def candidates(
    history: KeyHistory, name: str, at: float, live_hash: str | None
) -> list[HistoricalKey]:
    """The keys to try for ``name`` at time ``at``: not the live one, each value once,
    those covering ``at`` first, then the nearest; at most MAX_TRIED."""
    seen = {live_hash} if live_hash else set()
    out = []
    for key in sorted(history.get(name, ()), key=lambda k: (k.distance(at), -k.last_seen)):
        if key.key_hash not in seen:
            seen.add(key.key_hash)
            out.append(key)
    return out[:MAX_TRIED]


def seen_later(key: HistoricalKey, at: float) -> Problem | None:
    """The problem of a key that verifies but was first seen after the message's time."""
    if key.first_seen - SEEN_SLACK <= at:
        return None
    return Problem(
        "dkim.history_key_seen_later",
        "warning",
        "the signature verifies with a key from the history that was first seen after the "
        "message's time: it shows the key signed the message, not that the message is as old "
        "as it says",
    )


def describe(key: HistoricalKey) -> dict[str, Any]:
    """The key's history fields, as a signature's ``key`` object carries them."""
    return {
        "first_seen": _iso(key.first_seen),
        "last_seen": _iso(key.last_seen),
        "seen_in": key.source,
    }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
