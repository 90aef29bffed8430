"""The verifier with a key history (keys as values): which keys are tried, in what order,
and what the verdict says about them."""

from __future__ import annotations

from typing import Any

from bulkauth.core.dkim.history import MAX_TRIED, HistoricalKey, candidates
from bulkauth.core.dkim.verify import KeyRecord
from bulkauth.core.message.check import verify_crypto
from tests.msgkit import BASE_MSG, rsa_key, sign

T0 = 1_700_000_000.0
DAY = 86_400.0
NAME = "sel._domainkey.example.com"
A, B, C = rsa_key(2048, 0), rsa_key(2048, 1), rsa_key(2048, 2)


def key(pair: Any, first: float, last: float, source: str = "run r1") -> HistoricalKey:
    from bulkauth.core.dkim.key import parse_dkim_key

    digest = parse_dkim_key(pair.txt).key_sha256
    assert digest is not None
    return HistoricalKey(pair.txt, digest, first, last, source)


def verify(msg: bytes, live: KeyRecord, history: dict[str, list[HistoricalKey]]) -> dict[str, Any]:
    (sig,), _ = verify_crypto(msg, {NAME: live}, T0 + 60, history=history)
    return sig


GONE = KeyRecord("NXDOMAIN")


def codes(sig: dict[str, Any]) -> list[str]:
    return [p["code"] for p in sig["problems"]]


def test_keys_covering_the_time_come_first_then_the_nearest() -> None:
    far = key(A, T0 - 900 * DAY, T0 - 800 * DAY)
    near = key(B, T0 + 10 * DAY, T0 + 20 * DAY)
    covering = key(C, T0 - 5 * DAY, T0 + 5 * DAY)
    got = candidates({NAME: [far, near, covering]}, NAME, T0, live_hash=None)
    assert got == [covering, near, far]
    # the live key is not tried again, and each value once
    assert candidates({NAME: [near, near, covering]}, NAME, T0, covering.key_hash) == [near]
    many = [key(A, T0 + i * DAY, T0 + i * DAY) for i in range(20)]
    assert len(candidates({NAME: many}, NAME, T0, None)) == 1  # one value
    assert MAX_TRIED == 8


def test_a_rotated_key_passes_from_history_and_the_live_verdict_is_kept_beside_it() -> None:
    msg = sign(BASE_MSG, "example.com", key=A, at=T0)
    live = KeyRecord("NOERROR", (B.txt,))
    sig = verify(msg, live, {NAME: [key(B, T0, T0 + DAY), key(A, T0 - DAY, T0 + DAY)]})
    assert (sig["result"], sig["key_source"]) == ("pass", "history")
    assert sig["key"]["record"] == A.txt and sig["key"]["seen_in"] == "run r1"
    assert "dkim.live_key_failed" in codes(sig)
    # without a history: the live verdict alone
    plain = verify(msg, live, {})
    assert (plain["result"], plain["code"], plain["key_source"]) == (
        "fail",
        "dkim.signature_mismatch",
        "dns",
    )


def test_a_key_seen_later_and_conflicting_keys_are_said() -> None:
    msg = sign(BASE_MSG, "example.com", key=A, at=T0)
    later = verify(msg, GONE, {NAME: [key(A, T0 + 30 * DAY, T0 + 60 * DAY)]})
    assert later["result"] == "pass" and "dkim.history_key_seen_later" in codes(later)
    both = verify(msg, GONE, {NAME: [key(B, T0 - DAY, T0 + DAY), key(A, T0 - DAY, T0 + DAY)]})
    assert both["result"] == "pass" and both["key"]["record"] == A.txt
    assert "dkim.history_conflict" in codes(both)


def test_no_history_key_verifies_keeps_the_live_verdict_and_says_why() -> None:
    msg = sign(BASE_MSG, "example.com", key=A, at=T0)
    sig = verify(msg, GONE, {NAME: [key(B, T0 - DAY, T0 + DAY)]})
    assert (sig["result"], sig["code"]) == ("permerror", "dkim.key_not_found")
    assert "dkim.history_key_failed" in codes(sig)
    # a fault no key can mend (the body) is not retried
    changed = msg.replace(b"see you tomorrow", b"see you never")
    sig = verify(changed, KeyRecord("NOERROR", (A.txt,)), {NAME: [key(B, T0, T0)]})
    assert sig["code"] == "dkim.body_hash_mismatch" and "dkim.history_key_failed" not in codes(sig)
