"""Per-signature DKIM verification: results, reason codes, the clock, and agreement with dkimpy."""

from __future__ import annotations

import base64
import random
import time
from pathlib import Path
from typing import Any

import dkim
import pytest
from dkim.canonicalization import Relaxed
from dkim.util import InvalidTagValueList, parse_tag_value
from hypothesis import given
from hypothesis import strategies as st

from bench.mailgen import generate
from bulkauth.core.dkim.verify import (
    B_TAG,
    MAX_SIGNATURES,
    KeyRecord,
    aggregate,
    relaxed_body,
    select_headers,
    signature_tags,
)
from bulkauth.core.message.check import key_names, verify_crypto
from bulkauth.core.message.headers import parse_header_block
from tests.msgkit import BASE_MSG, ed_key, rsa_key, sign, weak_rsa_key

T0 = 1_700_000_000.0
KEY = "sel._domainkey.example.com"


def ok(*records: str) -> KeyRecord:
    return KeyRecord("NOERROR", tuple(records))


def verify(
    msg: bytes,
    keys: dict[str, KeyRecord] | None = None,
    as_of: float = T0 + 60,
    crypto: str = "openssl",
    clock_trusted: bool = True,
) -> list[dict[str, Any]]:
    table = {KEY: ok(rsa_key().txt)} if keys is None else keys
    sigs, _ = verify_crypto(msg, table, as_of, crypto, clock_trusted=clock_trusted)  # type: ignore[arg-type]
    return sigs


def one(msg: bytes, keys: dict[str, KeyRecord] | None = None, **kw: Any) -> tuple[str, str | None]:
    sigs = verify(msg, keys, **kw)
    assert len(sigs) == 1
    return sigs[0]["result"], sigs[0]["code"]


@pytest.mark.parametrize(
    "canon",
    [
        (b"relaxed", b"relaxed"),
        (b"simple", b"simple"),
        (b"relaxed", b"simple"),
        (b"simple", b"relaxed"),
    ],
)
@pytest.mark.parametrize("crypto", ["openssl", "python"])
def test_a_good_signature_passes(canon: tuple[bytes, bytes], crypto: str) -> None:
    msg = sign(BASE_MSG, "example.com", canon=canon)
    sigs = verify(msg, crypto=crypto)
    assert [(s["result"], s["code"]) for s in sigs] == [("pass", None)]
    s = sigs[0]
    assert (s["d"], s["s"], s["a"], s["t"], s["h"]) == (
        "example.com",
        "sel",
        "rsa-sha256",
        int(T0),
        ["from", "to", "subject", "date"],
    )
    assert (
        {k: s["key"][k] for k in ("name", "type", "bits")}
        == {"name": KEY, "type": "rsa", "bits": 2048}
        and s["key_source"] == "dns"
        and len(s["key"]["hash"]) == 64
        and s["key"]["record"].startswith("v=DKIM1; k=rsa; p=MII")
        and s["c"] == b"/".join(canon).decode()
    )


def test_ed25519_rfc8463() -> None:
    priv, record = ed_key()
    msg = sign(BASE_MSG, "example.com", ed25519_key=priv)
    sigs = verify(msg, {KEY: ok(record)})
    assert sigs[0]["result"] == "pass" and sigs[0]["key"]["type"] == "ed25519"
    assert one(msg.replace(b"tomorrow", b"today"), {KEY: ok(record)}) == (
        "fail",
        "dkim.body_hash_mismatch",
    )


def test_changed_body_and_changed_header_fail_with_their_reason() -> None:
    msg = sign(BASE_MSG, "example.com")
    assert one(msg + b"appended\r\n") == ("fail", "dkim.body_hash_mismatch")
    assert one(msg.replace(b"Subject: hello", b"Subject: [EXT] hello")) == (
        "fail",
        "dkim.signature_mismatch",
    )
    # an added From above the signed one breaks the signature (dkimpy's rule, RFC 6376 8.15)
    assert one(b"From: mallory@evil.example\r\n" + msg) == ("fail", "dkim.signature_mismatch")
    # the key of another signer: the signature does not verify
    other = rsa_key(2048, 1)
    assert one(msg, {KEY: ok(other.txt)}) == ("fail", "dkim.signature_mismatch")


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (KeyRecord("NXDOMAIN"), "dkim.key_not_found"),
        (KeyRecord("NOERROR"), "dkim.key_not_found"),
        (ok("v=DKIM1; k=rsa; p="), "dkim.key_revoked"),
        (ok("v=DKIM1; k=rsa; p=!!notbase64"), "dkim.key_syntax"),
        (ok("v=DKIM2; p=" + "A" * 40), "dkim.key_syntax"),
        (ok("v=DKIM1; k=rsa; t; p=AAAA"), "dkim.key_syntax"),
        (ok("v=DKIM1; k=foobar; p=AAAA"), "dkim.key_syntax"),
        (ok("v=DKIM1; s=tlsrpt; p=PLACEHOLDER"), "dkim.key_service"),
        (ok("v=DKIM1; h=sha1; p=PLACEHOLDER"), "dkim.key_hash_not_allowed"),
    ],
)
def test_key_problems_are_permerrors(record: KeyRecord, code: str) -> None:
    if record.texts and "PLACEHOLDER" in record.texts[0]:
        pem_key = rsa_key().txt.split("p=", 1)[1]
        record = ok(record.texts[0].replace("PLACEHOLDER", pem_key))
    assert one(sign(BASE_MSG, "example.com"), {KEY: record}) == ("permerror", code)


def test_key_type_and_strict_identity() -> None:
    _, ed_record = ed_key()
    msg = sign(BASE_MSG, "example.com")
    assert one(msg, {KEY: ok(ed_record)}) == ("permerror", "dkim.key_type_mismatch")
    strict = ok(rsa_key().txt + "; t=s")
    sub = msg.replace(b"i=@example.com", b"i=@news.example.com")
    assert one(sub, {KEY: strict}) == ("permerror", "dkim.key_strict_identity")
    # several TXT records: the first is used, and the record says so
    sigs = verify(msg, {KEY: ok(rsa_key().txt, "v=DKIM1; p=")})
    assert sigs[0]["result"] == "pass" and [p["code"] for p in sigs[0]["problems"]] == [
        "dkim.key_multiple_records"
    ]


@pytest.mark.parametrize("rcode", ["SERVFAIL", "TIMEOUT", "REFUSED", "ERROR"])
def test_a_dns_failure_is_temperror_never_no_key(rcode: str) -> None:
    assert one(sign(BASE_MSG, "example.com"), {KEY: KeyRecord(rcode, detail="x")}) == (
        "temperror",
        "dkim.dns_error",
    )


def _edit(msg: bytes, old: bytes, new: bytes) -> bytes:
    assert old in msg
    return msg.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "result", "code"),
    [
        (b"v=1; ", b"", "neutral", "dkim.sig_missing_tag"),
        (b"v=1; ", b"v=2; ", "neutral", "dkim.sig_version"),
        (b"a=rsa-sha256", b"a=rsa-md5", "permerror", "dkim.unsupported_algorithm"),
        (b"bh=", b"bh=@@", "neutral", "dkim.sig_syntax"),
        (b"c=relaxed/relaxed", b"c=fancy", "neutral", "dkim.sig_syntax"),
        (b"d=example.com", b"d=exa(mple.com", "neutral", "dkim.sig_syntax"),
        (b"i=@example.com", b"i=@example.org", "neutral", "dkim.identity_mismatch"),
        (b"h=from : ", b"h=", "neutral", "dkim.from_not_signed"),
        (b"q=dns/txt", b"q=dns", "permerror", "dkim.unsupported_query_method"),
        (b"v=1; ", b"v=1; v=1; ", "neutral", "dkim.sig_syntax"),
        (b"t=1700000000", b"t=17000x", "neutral", "dkim.sig_syntax"),
    ],
)
def test_signature_field_problems(old: bytes, new: bytes, result: str, code: str) -> None:
    assert one(_edit(sign(BASE_MSG, "example.com"), old, new)) == (result, code)


def test_i_is_dkim_quoted_printable_and_q_a_list() -> None:
    msg = sign(BASE_MSG, "example.com")
    # decoded before the domain check (RFC 6376 3.5 / 2.11); the signature itself breaks, later
    assert one(_edit(msg, b"i=@example.com", b"i=a=40b@example=2Ecom")) == (
        "fail",
        "dkim.signature_mismatch",
    )
    assert one(_edit(msg, b"q=dns/txt", b"q=foo/bar:dns/txt")) == (
        "fail",
        "dkim.signature_mismatch",
    )


def test_t_is_judged_at_the_as_of_time() -> None:
    signed = sign(BASE_MSG, "example.com", at=T0)
    assert one(signed, as_of=T0 + 60) == ("pass", None)
    assert one(signed, as_of=T0 - 86_400) == ("permerror", "dkim.signed_in_future")
    assert one(signed, as_of=T0 - 3_600) == ("pass", None)  # within the 10-hour skew allowance


def test_a_future_t_against_an_untrusted_clock_is_a_warning() -> None:
    signed = sign(BASE_MSG, "example.com", at=T0)
    (sig,) = verify(signed, as_of=T0 - 86_400, clock_trusted=False)
    assert (sig["result"], sig["code"]) == ("pass", None)
    assert [p["code"] for p in sig["problems"]] == ["dkim.signed_after_date"]
    # verified anyway means verified: a tampered body still fails
    (bad,) = verify(signed.replace(b"tomorrow", b"today"), as_of=T0 - 86_400, clock_trusted=False)
    assert (bad["result"], bad["code"]) == ("fail", "dkim.body_hash_mismatch")
    assert [p["code"] for p in bad["problems"]] == ["dkim.signed_after_date"]


def test_expiry_is_judged_at_delivery() -> None:
    # dkimpy's sign() has no x=: build the signature with its gen_header over our own tags
    from bench.mailgen import openssl_signing

    pair = rsa_key()
    d2 = dkim.DKIM(BASE_MSG)
    d2.hasher = dkim.HASH_ALGORITHMS[b"rsa-sha256"]
    body = dkim.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed").canonicalize_body(d2.body)
    import hashlib

    bh = base64.b64encode(hashlib.sha256(body).digest())
    fields = [
        (b"v", b"1"),
        (b"a", b"rsa-sha256"),
        (b"c", b"relaxed/relaxed"),
        (b"d", b"example.com"),
        (b"s", b"sel"),
        (b"t", b"1700000000"),
        (b"x", b"1700086400"),
        (b"h", b"from : subject"),
        (b"bh", bh),
        (b"b", b""),
    ]
    with openssl_signing([pair]):
        value = d2.gen_header(
            fields,
            [b"from", b"subject"],
            dkim.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed"),
            b"DKIM-Signature",
            dkim.parse_pem_private_key(pair.pem),
        )
    msg = b"DKIM-Signature: " + value + BASE_MSG
    assert one(msg, as_of=T0 + 3_600) == ("pass", None)  # delivered within the day: valid
    assert one(msg, as_of=time.time()) == ("permerror", "dkim.expired")  # judged today: expired
    # expiry keeps its rule whatever the clock: a Date clock past x= is expired too
    assert one(msg, as_of=time.time(), clock_trusted=False) == ("permerror", "dkim.expired")
    assert (
        dkim.verify(msg, dnsfunc=lambda n, timeout=5: pair.txt.encode()) is False
    )  # dkimpy's clock


def test_body_length() -> None:
    msg = sign(BASE_MSG, "example.com", length=True)
    assert one(msg) == ("pass", None)
    sigs = verify(msg + b"unsigned text added later\r\n")
    assert sigs[0]["result"] == "pass"
    lim = [p for p in sigs[0]["problems"] if p["code"] == "dkim.body_length_limit"]
    assert lim and lim[0]["severity"] == "warning" and "unsigned" in lim[0]["message"]
    shorter = msg.replace(b"see you tomorrow.\r\n", b"")
    assert one(shorter) == ("permerror", "dkim.body_length_exceeds")


def test_rsa_under_1024_bits_is_policy_and_1024_a_warning() -> None:
    small = weak_rsa_key()
    msg = sign(BASE_MSG, "example.com", key=small)
    assert one(msg, {KEY: ok(small.txt)}) == ("policy", "dkim.weak_key")
    assert one(msg + b"x", {KEY: ok(small.txt)}) == ("fail", "dkim.body_hash_mismatch")
    k1024 = rsa_key(1024)
    sigs = verify(sign(BASE_MSG, "example.com", key=k1024), {KEY: ok(k1024.txt)})
    assert sigs[0]["result"] == "pass" and "dkim.weak_key" in {
        p["code"] for p in sigs[0]["problems"]
    }


def test_every_signature_is_verified_and_aggregated() -> None:
    k2 = rsa_key(2048, 1)
    msg = sign(sign(BASE_MSG, "example.com"), "esp.example", "s2", key=k2)
    keys = {KEY: ok(rsa_key().txt), "s2._domainkey.esp.example": KeyRecord("NXDOMAIN")}
    sigs = verify(msg, keys)
    assert [(s["index"], s["d"], s["result"]) for s in sigs] == [
        (0, "esp.example", "permerror"),
        (1, "example.com", "pass"),
    ]
    assert aggregate(s["result"] for s in sigs) == "pass"
    assert aggregate(["permerror", "fail", "neutral"]) == "fail" and aggregate([]) == "none"
    block = parse_header_block(msg)
    assert key_names(block.headers) == ["s2._domainkey.esp.example", KEY]


def test_signature_count_is_capped() -> None:
    sig_line = sign(BASE_MSG, "example.com").split(BASE_MSG)[0]
    msg = sig_line * (MAX_SIGNATURES + 3) + BASE_MSG
    sigs = verify(msg)
    assert len(sigs) == MAX_SIGNATURES + 3
    assert {s["result"] for s in sigs[:MAX_SIGNATURES]} == {"pass"}
    assert {s["code"] for s in sigs[MAX_SIGNATURES:]} == {"dkim.too_many_signatures"}


def test_a_malformed_header_block_refuses_dkim() -> None:
    msg = sign(BASE_MSG, "example.com").replace(b"To: bob", b"not a field\r\nTo: bob")
    assert one(msg) == ("neutral", "dkim.message_syntax")


def test_same_verdicts_as_dkimpy_on_a_generated_mailbox(tmp_path: Path) -> None:
    """Every signature of a mailbox with broken, rotated and good signatures: our pass/not-pass
    is dkimpy's, with the RSA step from OpenSSL and from dkimpy's pure Python alike."""
    generate(tmp_path, messages=60, seed=7, authors=6)
    import dns.zone

    keys: dict[str, str] = {}
    for f in (tmp_path / "zones").glob("*.zone"):
        z = dns.zone.from_file(str(f), relativize=False)
        for name, node in z.nodes.items():
            for rds in node.rdatasets:
                if rds.rdtype == 16:
                    keys[name.to_text().rstrip(".").lower()] = b"".join(
                        next(iter(rds)).strings
                    ).decode()
    from bulkauth.pipeline.archives import read_sources

    table = {n: ok(v) for n, v in keys.items()}
    checked = 0
    for item in read_sources([str(tmp_path / "mail.mbox")]):
        raw = item.data
        assert raw is not None
        block = parse_header_block(raw)
        for n in key_names(block.headers):
            table.setdefault(n, KeyRecord("NXDOMAIN"))
        ours = {
            c: [s["result"] == "pass" for s in verify_crypto(raw, table, time.time(), c)[0]]
            for c in ("openssl", "python")
        }
        d = dkim.DKIM(raw)
        n_sigs = len([h for h in d.headers if h[0].lower() == b"dkim-signature"])

        def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
            v = keys.get(name.decode().rstrip(".").lower())
            return v.encode() if v else None

        theirs = []
        for i in range(n_sigs):
            try:
                theirs.append(bool(d.verify(idx=i, dnsfunc=dnsfunc)))
            except dkim.DKIMException:
                theirs.append(False)
        assert ours["openssl"] == ours["python"] == theirs, item.index
        checked += n_sigs
    assert checked > 60


@given(
    st.lists(st.sampled_from([b"a", b"b", b" ", b"\t", b"  ", b"\r\n", b"\r", b"\n"]), max_size=24)
)
def test_relaxed_body_is_dkimpys(parts: list[bytes]) -> None:
    body = b"".join(parts)
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


_NAMES = [b"From", b"from", b"To", b"Subject", b"subject ", b"X-A", b"FROM"]


@given(
    st.lists(st.sampled_from(_NAMES), max_size=12),
    st.lists(st.sampled_from([b"from", b"to", b"subject", b"x-a", b"cc"]), max_size=12),
)
def test_select_headers_is_dkimpys(names: list[bytes], include: list[bytes]) -> None:
    # repeated names in h= take the fields bottom up; a missing name takes nothing
    headers = [(n, b" value %d\r\n" % i) for i, n in enumerate(names)]
    assert select_headers(headers, include) == dkim.select_headers(headers, include)


@given(
    st.lists(
        st.sampled_from([b"a", b"B", b"1", b"_", b"=", b";", b" ", b"\r\n\t", b"d", b"=="]),
        max_size=16,
    )
)
def test_tag_parser_is_dkimpys(parts: list[bytes]) -> None:
    value = b"".join(parts)
    try:
        expected: dict[bytes, bytes] | None = parse_tag_value(value)
    except InvalidTagValueList:
        expected = None
    assert signature_tags(value) == expected


def test_random_bytes_never_crash_the_verifier() -> None:
    rng = random.Random(5)
    base = sign(BASE_MSG, "example.com")
    for _ in range(300):
        msg = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            msg[rng.randrange(len(msg))] = rng.randrange(256)
        sigs, _ = verify_crypto(bytes(msg), {KEY: ok(rsa_key().txt)}, T0)
        assert all(
            s["result"] in ("pass", "fail", "neutral", "permerror", "temperror", "policy")
            for s in sigs
        )


@given(st.lists(st.sampled_from([b"b", b"=", b";", b" ", b"\t", b"\r\n", b"\n", b"bh", b"aZ0+/", b"x", b"b="]), max_size=40).map(b"".join))  # fmt: skip
def test_b_tag_blanking_matches_dkimpy(value: bytes) -> None:
    assert B_TAG.sub(b"\\1", value) == dkim.RE_BTAG.sub(b"\\1", value)


def test_b_tag_blanking_on_a_real_signature() -> None:
    field = b" v=1; a=rsa-sha256; d=example.com; s=s1;\r\n\tbh=abc=; h=from:to;\r\n\tb=" + base64.b64encode(bytes(256)) + b"\r\n"  # fmt: skip
    assert B_TAG.sub(b"\\1", field) == dkim.RE_BTAG.sub(b"\\1", field)
    assert B_TAG.sub(b"\\1", field).endswith(b"\tb=")
