"""DKIM conformance corpora: Mail::DKIM's verifier corpus and dkimpy's RFC 6376 / RFC 8463 data.

The Mail::DKIM corpus (79 messages) runs with its fake DNS served by the loopback DNS server
(timeouts and SERVFAIL programmed as faults) and resolved by the live backend, as a real run
would. Each message's verdict is compared with ``expected_verifier.tsv`` (pass / fail / invalid,
where invalid is any of our neutral, permerror, policy or temperror). Where we differ, it is on
purpose and named below, with the reason; the counts are asserted so that any change shows.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from bulkauth.core.common.model import Query, RType
from bulkauth.core.dkim.verify import KeyRecord, aggregate
from bulkauth.core.message.check import key_names, verify_crypto
from bulkauth.core.message.headers import parse_header_block
from bulkauth.dns.backends.aiodns import AiodnsBackend
from bulkauth.dns.resolver import Resolver, ResolverConfig
from tests.dnsserver import DnsServer
from tests.paths import suite

PERL = suite("perl-mail-dkim")
DKIMPY = suite("dkimpy-1.1.8-data")
needs_perl = pytest.mark.suite("perl-mail-dkim")
needs_dkimpy = pytest.mark.suite("dkimpy-1.1.8-data")

_DOMAINKEYS = (
    "DomainKeys (RFC 4870, historic): the message has a DomainKey-Signature and no DKIM-Signature"
)
_DRAFT = "a pre-RFC 4871 draft signature (no v= or v=0.5): RFC 6376 3.5 requires v=1"
_RSA512 = (
    "a 512-bit RSA key: RFC 8301 3.2 forbids accepting keys under 1024 bits (our result: policy)"
)

#: file -> (our aggregate verdict, why it differs from Mail::DKIM's)
DELIBERATE: dict[str, tuple[str, str]] = {
    **{
        f: ("none", _DOMAINKEYS)
        for f in (
            "good_dk_gmail.txt",
            "good_dk_yahoo.txt",
            "good_dk_1.txt",
            "good_dk_2.txt",
            "good_dk_3.txt",
            "good_dk_4.txt",
            "good_dk_5.txt",
            "good_dk_6.txt",
            "good_dk_7.txt",
            "dk_headers_1.txt",
            "dk_headers_2.txt",
            "dk_multiple_1.txt",
            "bad_dk_1.txt",
            "bad_dk_2.txt",
            "bad_dk_3.txt",
            "bad_dk_4.txt",
            "bad_dk_5.txt",
        )
    },
    **{
        f: ("neutral", _DRAFT)
        for f in (
            "good_ietf00_1.txt",
            "good_ietf00_2.txt",
            "good_ietf00_3.txt",
            "good_ietf00_4.txt",
            "good_ietf00_5.txt",
            "mine_ietf01_1.txt",
            "mine_ietf01_2.txt",
            "mine_ietf01_3.txt",
            "mine_ietf01_4.txt",
            "mine_ietf05_1.txt",
            "good_ietf01_1.txt",
            "good_ietf01_2.txt",
            "multiple_1.txt",
            "no_body_1.txt",
            "no_body_2.txt",
            "no_body_3.txt",
            "bad_ietf01_1.txt",
            "bad_ietf01_2.txt",
            "bad_ietf01_3.txt",
            "bad_1.txt",
        )
    },
    **{
        f: ("policy", _RSA512)
        for f in (
            "good_rfc4871_3.txt",
            "good_rfc4871_4.txt",
            "good_1878523.txt",
            "good_qp_1.txt",
            "good_qp_2.txt",
            "good_qp_3.txt",
            "goodkey_1.txt",
            "goodkey_2.txt",
            "goodkey_3.txt",
            "goodkey_4.txt",
        )
    },
}
ACCEPT = {
    "pass": {"pass"},
    "fail": {"fail"},
    "invalid": {"neutral", "permerror", "policy", "temperror"},
}


def _fake_dns(server: DnsServer) -> None:
    """FAKE_DNS.dat as zones (origin: the last two labels) and faults."""
    zones: dict[str, list[str]] = {}
    for line in (PERL / "FAKE_DNS.dat").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, value = line.strip().partition(" ")
        name, value = name.strip().lower(), value.strip()
        origin = ".".join(name.split(".")[-2:])
        zones.setdefault(origin, [])
        if value == "NXDOMAIN":
            continue
        if value == "~~Query timed out~~":
            server.fault("drop", name=name, rtype="TXT")
            continue
        if value == "~~SERVFAIL~~":
            server.fault("servfail", name=name, rtype="TXT")
            continue
        text = "" if value == '""' else value
        chunks = " ".join(f'"{text[i : i + 255]}"' for i in range(0, max(len(text), 1), 255))
        zones[origin].append(f"{name}. 300 IN TXT {chunks}")
    for origin, lines in zones.items():
        server.add_zone_text(origin, "\n".join(lines))


@pytest.fixture(scope="module")
def perl_results() -> dict[str, dict[str, Any]]:
    import anyio

    out: dict[str, dict[str, Any]] = {}

    async def run(server: DnsServer) -> None:
        resolver = Resolver(
            AiodnsBackend([server.nameserver], timeout=0.5), ResolverConfig(timeout=0.5, retries=0)
        )
        try:
            for line in (PERL / "expected_verifier.tsv").read_text().splitlines():
                fname, expected = line.split("\t")
                raw = (PERL / "corpus" / fname).read_bytes()
                names = key_names(parse_header_block(raw).headers)
                found = await resolver.resolve_many([Query(n, RType.TXT) for n in names])
                keys = {n: KeyRecord.of(a) for n, a in zip(names, found, strict=True)}
                sigs, _ = verify_crypto(raw, keys, time.time())
                out[fname] = {
                    "expected": expected,
                    "ours": aggregate(s["result"] for s in sigs),
                    "sigs": sigs,
                }
        finally:
            await resolver.aclose()

    with DnsServer() as server:
        _fake_dns(server)
        anyio.run(run, server, backend="asyncio", backend_options={"use_uvloop": True})
    return out


@needs_perl
def test_mail_dkim_corpus(perl_results: dict[str, dict[str, Any]]) -> None:
    agree, deliberate, wrong = [], [], []
    for fname, r in perl_results.items():
        if fname in DELIBERATE:
            ours, why = DELIBERATE[fname]
            assert r["ours"] == ours, (fname, r["ours"], why, r["sigs"])
            deliberate.append(fname)
        elif r["ours"] in ACCEPT[r["expected"]]:
            agree.append(fname)
        else:
            wrong.append(
                (fname, r["expected"], r["ours"], [(s["result"], s["code"]) for s in r["sigs"]])
            )
    assert not wrong
    assert len(perl_results) == 79
    # 32 verdicts as Mail::DKIM's; 47 named deliberate differences (17 DomainKeys, 20 drafts, 10 RSA-512)
    assert (len(agree), len(deliberate)) == (32, 47)
    assert Counter(v[1] for k, v in DELIBERATE.items()) == Counter(
        {_DOMAINKEYS: 17, _DRAFT: 20, _RSA512: 10}
    )


@needs_perl
def test_mail_dkim_reason_codes(perl_results: dict[str, dict[str, Any]]) -> None:
    def codes(f: str) -> list[str | None]:
        return [s["code"] for s in perl_results[f]["sigs"]]

    assert codes("bad_1878954.txt") == ["dkim.body_hash_mismatch"]
    assert codes("badkey2_ed25519.txt") == ["dkim.signature_mismatch"]
    assert codes("badkey4_ed25519.txt") == ["dkim.key_not_found"]  # NXDOMAIN, served as such
    assert codes("badkey5_ed25519.txt") == ["dkim.key_syntax"]  # an empty TXT string
    assert codes("badkey_14.txt") == ["dkim.dns_error"]  # the server never answers
    assert codes("badkey_15.txt") == ["dkim.dns_error"]  # SERVFAIL
    assert codes("badkey_11.txt") == ["dkim.key_hash_not_allowed"]
    assert codes("badkey_10.txt") == ["dkim.key_strict_identity"]
    assert codes("ignore_7.txt") == ["dkim.expired"]
    assert codes("ignore_8.txt") == ["dkim.identity_mismatch"]
    assert codes("ignore_5.txt") == ["dkim.unsupported_query_method"]
    assert codes("goodkey_1.txt") == ["dkim.weak_key"]
    assert perl_results["multiple_2.txt"]["ours"] == "pass"
    # i= in dkim-quoted-printable is decoded (dkimpy does not, and calls it a domain mismatch)
    assert codes("good_qp_2.txt") == codes("good_qp_3.txt") == ["dkim.weak_key"]
    # q= is a list; dns/txt among others is fine (dkimpy refuses anything but exactly dns/txt)
    assert perl_results["good_83176.txt"]["ours"] == "pass"


# --- dkimpy's data: the RFC 6376 / RFC 8463 examples -----------------------------------------


def _dkimpy_keys() -> dict[str, KeyRecord]:
    seed = base64.b64decode((DKIMPY / "rfc8032_7_1.key").read_text().strip())
    pub = (
        ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return {
        # RFC 8463 appendix A: the Ed25519 key is RFC 8032's test 1 key, the RSA key dkimpy's test key
        "brisbane._domainkey.football.example.com": KeyRecord(
            "NOERROR", ("v=DKIM1; k=ed25519; p=" + base64.b64encode(pub).decode(),)
        ),
        "test._domainkey.football.example.com": KeyRecord(
            "NOERROR", ((DKIMPY / "test.txt").read_text().strip(),)
        ),
        "sed._domainkey.test.ex": KeyRecord(
            "NOERROR", ((DKIMPY / "eximtest.dns").read_text().strip(),)
        ),
        # dkimpy's test_dkim.py serves this public key for its degenerate-folding message
        "20120113._domainkey.gmail.com": KeyRecord(
            "NOERROR",
            (
                "k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1Kd87/UeJjenpabgbFwh+eBCsSTrqmwIYYvywlbh"
                "bqoo2DymndFkbjOVIPIldNs/m40KF+yzMn1skyoxcTUGCQs8g3FgD2Ap3ZB5DekAo5wMmk4wimDO+U8QzI3SD07y2+07w"
                "lNWwIt8svnxgdxGkVbbhzY8i+RQ9DpSVpPbF7ykQxtKXkv/ahW3KjViiAH+ghvvIhkx4xYSIc9oSwVmAl5OctMEeWUwg"
                "8Istjqz8BZeTWbf41fbNhte7Y+YqZOwq1Sd0DbvYAD9NOZK9vlfuac0598HY+vtSBczUiKERHv1yRbcaQtZFh5wtiRrN0"
                "4BLUTD21MycBX5jYchHjPY/wIDAQAB",
            ),
        ),
    }


@pytest.mark.parametrize(
    ("fname", "expected"),
    [
        # RFC 8463 appendix A.3: the same message signed with Ed25519 and with RSA, both valid
        ("rfc6376.signed.msg", [("pass", None), ("pass", None)]),
        ("rfc6376.signed.rsa.msg", [("pass", None)]),
        # dkimpy's copy with t= replaced by x= after signing: the signature no longer matches
        ("rfc6376.signed.no_t.msg", [("fail", "dkim.signature_mismatch")]),
        # a signature made by Exim's Ed25519 implementation
        ("ed25519test2.msg", [("pass", None)]),
        # degenerate (but legal) folding of the signature
        ("test2.message", [("pass", None)]),
        # d= with a "(": dkimpy's test that such a domain is refused
        ("test.message.baddomain", [("neutral", "dkim.sig_syntax")]),
        # unsigned messages
        ("rfc6376.msg", []),
        ("test.message", []),
    ],
)
@needs_dkimpy
def test_dkimpy_rfc_examples(fname: str, expected: list[tuple[str, str | None]]) -> None:
    raw = (DKIMPY / fname).read_bytes()
    sigs, _ = verify_crypto(raw, _dkimpy_keys(), time.time())
    assert [(s["result"], s["code"]) for s in sigs] == expected
    if fname == "rfc6376.signed.msg":
        assert [s["key"]["type"] for s in sigs] == ["ed25519", "rsa"]


@pytest.mark.parametrize(
    "fname", ["test.message", "test_extra.message", "message.mbox", "rfc6376.w1258.msg"]
)
@needs_dkimpy
def test_dkimpy_messages_signed_with_dkimpys_keys(fname: str) -> None:
    """dkimpy's own sign-then-verify tests, with its keys: every canonicalization passes, and a
    changed body fails."""
    import dkim

    raw = (DKIMPY / fname).read_bytes()
    key = (DKIMPY / "test.private").read_bytes()
    record = {
        "test._domainkey.example.com": KeyRecord(
            "NOERROR", ((DKIMPY / "test.txt").read_text().strip(),)
        )
    }
    for canon in (
        (b"simple", b"simple"),
        (b"relaxed", b"relaxed"),
        (b"relaxed", b"simple"),
        (b"simple", b"relaxed"),
    ):
        signed = (
            dkim.sign(
                raw,
                b"test",
                b"example.com",
                key,
                canonicalize=canon,
                include_headers=[b"from", b"subject"],
            )
            + raw
        )
        # [0]: ours, on top (message.mbox carries an older signature of its own below)
        assert verify_crypto(signed, record, time.time())[0][0]["result"] == "pass", canon
        assert (
            verify_crypto(signed + b"tampered\r\n", record, time.time())[0][0]["code"]
            == "dkim.body_hash_mismatch"
        )


@needs_dkimpy
def test_dkimpy_key_records() -> None:
    """dkimpy's bad key records: wrong k=, a broken v= separator, a truncated key."""
    raw = dkim_signed_test_message()
    for fname, code in (
        ("badk.txt", "dkim.key_syntax"),
        ("badversion.txt", "dkim.key_syntax"),
        ("test_bad.txt", "dkim.key_syntax"),
    ):
        record = {
            "test._domainkey.example.com": KeyRecord(
                "NOERROR", ((DKIMPY / fname).read_text().strip(),)
            )
        }
        assert [s["code"] for s in verify_crypto(raw, record, time.time())[0]] == [code], fname


def dkim_signed_test_message() -> bytes:
    import dkim

    raw = (DKIMPY / "test.message").read_bytes()
    sig: bytes = dkim.sign(raw, b"test", b"example.com", (DKIMPY / "test.private").read_bytes())
    return sig + raw
