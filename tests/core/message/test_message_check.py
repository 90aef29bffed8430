"""One message end to end without sockets: SPF from the envelope, DMARC alignment and
disposition, ARC, and the comparison with the receiver's Authentication-Results."""

from __future__ import annotations

from typing import Any

import pytest

from bulkauth.core.common.model import Answer, Rcode
from bulkauth.core.dmarc.alignment import aligned, in_sample
from bulkauth.core.message.check import CheckOptions, verify_message
from bulkauth.core.message.headers import MessageDefect
from tests.msgkit import BASE_MSG, RECEIVED, answers, rsa_key, sign, txt

NOW = 1_750_000_000.0


def dns(**extra: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "sel._domainkey.example.com": rsa_key().txt,
        "example.com": "v=spf1 ip4:192.0.2.0/24 -all",
        "_dmarc.example.com": "v=DMARC1; p=reject; rua=mailto:d@example.com",
    }
    table.update(extra)
    return table


def check(raw: bytes, table: dict[str, Any] | None = None, **opts: Any) -> dict[str, Any]:
    return verify_message(
        raw, answers(table if table is not None else dns()), CheckOptions(**opts), now=NOW
    )


SIGNED = RECEIVED + sign(BASE_MSG, "example.com")


def test_a_good_message() -> None:
    r = check(SIGNED)
    assert r["dkim"]["result"] == "pass"
    spf = r["spf"]
    assert (spf["result"], spf["identity"], spf["domain"], spf["client_ip"], spf["helo"]) == (
        "pass",
        "mailfrom",
        "example.com",
        "192.0.2.10",
        "mail.example.com",
    )
    assert spf["sources"] == {
        "mail_from": "return-path",
        "client_ip": "received",
        "helo": "received",
        "received_index": 0,
    }
    d = r["dmarc"]
    assert (d["result"], d["policy"], d["disposition"], d["from_domain"]) == (
        "pass",
        "reject",
        "none",
        "example.com",
    )
    assert d["alignment"]["dkim"]["aligned"] and d["alignment"]["spf"]["aligned"]
    assert r["as_of"] == {"time": "2023-11-14T22:14:00Z", "source": "received:top"}
    assert r["arc"]["result"] == "none" and r["history"] is None and r["problems"] == []
    assert r["from"] == {"addresses": ["alice@example.com"], "domain": "example.com", "fields": 1}


def test_no_envelope_is_none_with_a_code() -> None:
    r = check(sign(BASE_MSG, "example.com"))
    assert (r["spf"]["result"], r["spf"]["code"]) == ("none", "spf.no_envelope")
    assert "client IP" in r["spf"]["message"] and "MAIL FROM" in r["spf"]["message"]
    # DKIM alone still passes DMARC
    assert r["dmarc"]["result"] == "pass" and not r["dmarc"]["alignment"]["spf"]["aligned"]
    assert r["as_of"]["source"] == "date"


def test_null_sender_checks_the_helo_identity() -> None:
    raw = RECEIVED.replace(b"<bounce@example.com>", b"<>") + BASE_MSG
    r = check(raw, dns(**{"mail.example.com": "v=spf1 a:nothing.example ip4:192.0.2.10 -all"}))
    assert (r["spf"]["identity"], r["spf"]["domain"], r["spf"]["result"]) == (
        "helo",
        "mail.example.com",
        "pass",
    )
    # the HELO domain is in example.com's organisation: relaxed SPF alignment holds
    assert r["dmarc"]["alignment"]["spf"]["aligned"] and r["dmarc"]["result"] == "pass"


@pytest.mark.parametrize(
    ("record", "result", "disposition", "sampled"),
    [
        ("v=DMARC1; p=reject", "fail", "reject", None),
        ("v=DMARC1; p=quarantine; pct=0", "fail", "none", False),
        ("v=DMARC1; p=reject; t=y", "fail", "quarantine", None),
        ("v=DMARC1; p=none", "fail", "none", None),
    ],
)
def test_dmarc_failure_and_disposition(
    record: str, result: str, disposition: str, sampled: bool | None
) -> None:
    raw = RECEIVED + sign(BASE_MSG, "other.example", key=rsa_key(2048, 1))
    table = dns(
        **{
            "_dmarc.example.com": record,
            "sel._domainkey.other.example": rsa_key(2048, 1).txt,
            "example.com": "v=spf1 -all",
        }
    )
    d = check(raw, table)["dmarc"]
    assert (d["result"], d["disposition"], d["sampled"], d["code"]) == (
        result,
        disposition,
        sampled,
        "dmarc.not_aligned",
    )
    assert d["alignment"]["dkim"] == {
        "mode": "r",
        "aligned": False,
        "domain": "other.example",
        "authenticated": ["other.example"],
    }


def test_strict_and_relaxed_alignment() -> None:
    raw = RECEIVED + sign(BASE_MSG, "mail.example.com")
    table = dns(**{"sel._domainkey.mail.example.com": rsa_key().txt, "example.com": "v=spf1 -all"})
    assert check(raw, table)["dmarc"]["result"] == "pass"
    table["_dmarc.example.com"] = "v=DMARC1; p=reject; adkim=s"
    d = check(raw, table)["dmarc"]
    assert d["result"] == "fail" and d["alignment"]["dkim"]["mode"] == "s"
    assert aligned("a.b.example.co.uk", "example.co.uk", "r") and not aligned(
        "other.co.uk", "example.co.uk", "r"
    )
    assert in_sample("<x@y>", 100) is None and in_sample(None, 50) is True
    assert in_sample("<x@y>", 37) == in_sample("<x@y>", 37)  # reproducible


def test_dmarc_edge_results() -> None:
    assert check(SIGNED, dns(**{"_dmarc.example.com": []}))["dmarc"]["result"] == "none"
    failed = dns(**{"_dmarc.example.com": Answer(Rcode.SERVFAIL)})
    assert check(SIGNED, failed)["dmarc"]["result"] == "temperror"
    two = dns(**{"_dmarc.example.com": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]})
    assert check(SIGNED, two)["dmarc"]["result"] in ("permerror", "none")
    multi = SIGNED.replace(
        b"From: Alice <alice@example.com>", b"From: alice@example.com, eve@evil.example"
    )
    d = check(multi)["dmarc"]
    assert (d["result"], d["code"]) == ("permerror", "dmarc.multiple_from_domains")


def test_history_names_a_rotated_key() -> None:
    raw = (
        b"Authentication-Results: mx.example.net; dkim=pass header.d=example.com header.s=sel; "
        b"spf=pass smtp.mailfrom=bounce@example.com; dmarc=pass header.from=example.com\r\n"
        + SIGNED
    )
    rotated = dns(**{"sel._domainkey.example.com": []})
    h = check(raw, rotated)["history"]
    assert h["authserv_id"] == "mx.example.net" and h["disagree"] is True
    assert [(d["method"], d["ours"], d["theirs"], d["code"]) for d in h["disagreements"]] == [
        ("dkim", "permerror", "pass", "history.dkim_key_rotated")
    ]
    # with the key still there, we agree with the receiver
    h = check(raw)["history"]
    assert h["disagree"] is False and h["dkim"][0]["d"] == "example.com"


def test_trusted_receiver_selects_hop_and_results() -> None:
    raw = (
        b"Authentication-Results: store.example.net; dkim=fail\r\n"
        b"Received: from mx.example.net (mx.example.net [10.0.0.5]) by store.example.net with LMTP; "
        b"Tue, 14 Nov 2023 22:14:05 +0000\r\n"
        b"Authentication-Results: mx.example.net; dkim=pass header.d=example.com\r\n" + SIGNED
    )
    r = check(raw)
    assert (
        r["envelope"]["client_ip"] == "10.0.0.5"
        and r["history"]["authserv_id"] == "store.example.net"
    )
    assert "envelope.internal_client" in {p["code"] for p in r["problems"]}
    r = check(raw, trusted_receiver="mx.example.net")
    assert r["envelope"]["client_ip"] == "192.0.2.10" and r["spf"]["result"] == "pass"
    assert r["history"]["authserv_id"] == "mx.example.net" and r["history"]["disagree"] is False


def test_dkim_temperror_never_looks_like_no_key() -> None:
    r = check(SIGNED, dns(**{"sel._domainkey.example.com": Answer(Rcode.TIMEOUT)}))
    assert [(s["result"], s["code"]) for s in r["dkim"]["signatures"]] == [
        ("temperror", "dkim.dns_error")
    ]
    assert r["dmarc"]["result"] == "pass"  # SPF still aligns


def test_as_of_options() -> None:
    assert check(SIGNED, as_of="now")["as_of"]["source"] == "now"
    assert (
        check(SIGNED, as_of=1_600_000_000.0)["dkim"]["signatures"][0]["code"]
        == "dkim.signed_in_future"
    )


def test_a_future_t_fails_only_against_a_clock_a_receiver_would_trust() -> None:
    # signed a day after the message's Date and its Received date
    late = sign(BASE_MSG, "example.com", at=1_700_000_000.0 + 86_400)
    # no Received field: the Date field is the clock; the signature is verified, with a warning
    r = check(late)
    assert r["as_of"]["source"] == "date"
    sig = r["dkim"]["signatures"][0]
    assert (sig["result"], sig["code"]) == ("pass", None)
    assert [(p["code"], p["severity"]) for p in sig["problems"]] == [
        ("dkim.signed_after_date", "warning")
    ]
    assert r["dmarc"]["result"] == "pass"
    # the receiver's Received date (found, or named by --trusted-receiver): an error
    for trusted in (None, "mx.example.net"):
        r = check(RECEIVED + late, trusted_receiver=trusted)
        sig = r["dkim"]["signatures"][0]
        assert (sig["result"], sig["code"]) == ("permerror", "dkim.signed_in_future")
    assert check(RECEIVED + late, trusted_receiver="mx.example.net")["as_of"]["source"] == (
        "received:mx.example.net"
    )
    # a time given with --as-of: an error too
    r = check(late, as_of=1_700_000_000.0)
    assert r["as_of"]["source"] == "given"
    assert r["dkim"]["signatures"][0]["code"] == "dkim.signed_in_future"


def test_not_a_message() -> None:
    with pytest.raises(MessageDefect):
        check(b"\x00\x01\x02 binary junk")
    assert txt("x").records == ((b"x",),)
