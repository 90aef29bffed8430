"""Hostile and broken input: every case yields a record with a clear code, never a traceback.

Three kinds: domain lists (what people paste, what disks and editors do to files), DNS data
(what a hostile or broken zone publishes), and property-based tests of the parsers that had
none: the list reader, the resume scanner, the DNS wire parser, SPF macro-strings, the PSL
lookups, zone files, MX audits, nameserver strings.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.message
import dns.rrset
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkauth.core.common.model import MX, Answer, Query, Rcode, RType, State
from bulkauth.core.common.psl import org_domain, public_suffix, to_ascii
from bulkauth.core.common.step import run_sync
from bulkauth.core.mx import MAX_HOSTS_RESOLVED, audit_mx
from bulkauth.core.spf.audit import MAX_DOMAINS, audit_spf
from bulkauth.core.spf.evaluate import LOOKUP_LIMIT, Verdict, check_host
from bulkauth.core.spf.macro import (
    DOMAIN_LETTERS,
    EXP_LETTERS,
    MacroError,
    MacroValues,
    expand,
    parse_macro_string,
)
from bulkauth.dns.backend import parse_nameserver
from bulkauth.dns.backends.aiodns import cares_server
from bulkauth.dns.backends.zonefile import ZoneLoadError, ZoneSet
from bulkauth.dns.resolver import ResolverConfig
from bulkauth.dns.wire import WireError, build_query, parse_answer
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.sinks import complete_records
from bulkauth.pipeline.sources import MAX_LINE_BYTES, read_domain_list
from tests.dnsserver import DnsServer
from tests.paths import ROOT
from tests.worldgen import RSA2048, records, run_domains_here, write_world

Record = dict[str, Any]


def bulkauth(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bulkauth", *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )


def in_process(paths: list[Path], config: RunConfig) -> list[Record]:
    run_domains_here([str(p) for p in paths], config)
    assert config.output
    out = records(Path(config.output).read_bytes())
    # an exception inside a check becomes a status "error" record: that is a bug, not a verdict
    assert not [r for r in out if r["status"] == "error"], [
        r["error"] for r in out if r["status"] == "error"
    ]
    return out


# --- domain lists ------------------------------------------------------------------------------

#: (raw line, expected status or error code); every line is one item
HOSTILE_LINES: list[tuple[bytes, str]] = [
    (b"d00000.test", "ok"),
    (b"good\x00.test", "input.control_character"),
    (b"\x00\x00\x00", "input.control_character"),
    (b"\x00d00000.test", "input.control_character"),
    (b"\xff\xfebad.test", "input.not_utf8"),
    (b"caf\xe9.test", "input.not_utf8"),  # Latin-1, not UTF-8
    (b"\xed\xa0\x80.test", "input.not_utf8"),  # a UTF-8-encoded surrogate
    (b"a" * 64 + b".test", "name.label_too_long"),
    ((b"a" * 60 + b".") * 5 + b"test", "name.too_long"),
    (b"x" * (MAX_LINE_BYTES + 1), "input.too_long"),
    (b"y" * (10 * 1024 * 1024), "input.too_long"),  # one 10 MB line
    (b"192.0.2.1", "input.ip_literal"),
    (b"2001:db8::1", "input.ip_literal"),
    (b"[2001:db8::1]", "input.ip_literal"),
    (b"::ffff:192.0.2.1", "input.ip_literal"),
    (b"http://d00000.test/", "input.url"),
    (b"https://d00000.test/path?q=1", "input.url"),
    (b"d00000.test/dmarc", "input.url"),
    (b"postmaster@d00000.test", "input.email"),
    (b"mailto:a@d00000.test", "input.email"),
    (b"exa mple.test", "input.whitespace"),
    (b"*.test", "input.bad_label"),
    (b"-bad-.test", "input.bad_label"),
    (b"<d00000.test>", "input.bad_label"),
    (b"a..b.test", "name.empty_label"),
    (b".", "name.empty"),
    (b"localhost", "input.single_label"),
    (b"example.123", "input.numeric_tld"),
    ("\u2603.test".encode(), "input.bad_idn"),  # a snowman: not allowed by IDNA 2008
    ("\u202eevil.test".encode(), "input.bad_idn"),  # a right-to-left override
    (b"D00000.TEST.", "ok"),
    (b"d00001.test\r", "ok"),  # a Windows line ending
    ("\ufeffd00001.test".encode(), "ok"),  # a byte-order mark (UTS 46 ignores it)
    (b"d00002.test   # a comment after the name", "ok"),
]


def test_hostile_domain_lists_get_one_coded_record_per_line(tmp_path: Path) -> None:
    _listing, zones = write_world(tmp_path, 8)
    hostile = tmp_path / "hostile.txt"
    hostile.write_bytes(
        b"# a comment\n\n" + b"\n".join(line for line, _ in HOSTILE_LINES) + b"\n   \n"
    )
    # and a file of binary junk: whatever its bytes, one record per item
    rng = random.Random(1)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(rng.randbytes(64 * 1024))
    n_junk = sum(1 for _ in read_domain_list([str(junk)]))
    t0 = time.monotonic()
    proc = bulkauth(
        "domains", str(hostile), str(junk), "--zones", str(zones), "--no-progress", "--timeout", "1"
    )
    assert time.monotonic() - t0 < 60
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr
    out = records(proc.stdout)  # every line is valid JSON, whatever the input bytes were
    assert len(out) == len(HOSTILE_LINES) + n_junk
    mine = [r for r in out if r["source"] == str(hostile)]
    assert [r["line"] for r in mine] == list(range(3, 3 + len(HOSTILE_LINES)))
    for r, (line, want) in zip(mine, HOSTILE_LINES, strict=True):
        got = "ok" if r["status"] == "ok" else r["error"]["code"]
        assert got == want, (line[:80], r.get("error"))
        if r["status"] != "ok":
            assert r["status"] == "invalid_input" and r["error"]["message"]
            assert len(r["input"]) <= MAX_LINE_BYTES  # a 10 MB line is not echoed back
    assert all(r["status"] in ("ok", "invalid_input") for r in out)


@pytest.mark.parametrize("spec", ["ns.example.com", "127.0.0.1:dns", "127.0.0.1:70000"])
def test_bad_nameserver_is_a_usage_error(spec: str) -> None:
    proc = bulkauth("domains", "-", "-n", spec, "--no-progress", stdin=b"d00000.test\n")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr, proc.stderr.decode()[-300:]


# --- DNS data ------------------------------------------------------------------------------------


def _txt(value: str) -> str:
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


NOT_KEYS = {
    "notb64": "v=DKIM1; k=rsa; p=!!!not*base64!!!",
    "junk": "v=DKIM1; k=rsa; p=" + base64.b64encode(random.Random(2).randbytes(200)).decode(),
    "shorted": "v=DKIM1; k=ed25519; p=" + base64.b64encode(b"\x01" * 17).decode(),
    "prose": "this is not a DKIM record at all",
    "dsa": "v=DKIM1; k=dsa; p=AAAA",
    "huge": "v=DKIM1; k=rsa; p=" + "A" * 20_000,
    "truncatedrsa": "v=DKIM1; k=rsa; p=" + RSA2048[:100],
}


def hostile_zone() -> str:
    incs = " ".join(f"include:{i}.%{{d}}" for i in range(10))
    z = [
        # a TXT set over 64 KB (300 x 250 bytes), one record of it SPF: no server can send it
        *[f'bigset TXT "filler-{i:03d}-' + "x" * 236 + '"' for i in range(300)],
        'bigset TXT "v=spf1 -all"',
        # one SPF record of ~70 KB in one TXT record
        "bigrec TXT "
        + _txt(
            "v=spf1 " + " ".join(f"ip4:10.{i // 256}.{i % 256}.1" for i in range(5000)) + " -all"
        ),
        # 300 SPF records and 300 DMARC records
        *[f'manyspf TXT "v=spf1 ip4:10.1.{i // 256}.{i % 256} -all"' for i in range(300)],
        *[
            f'_dmarc.manydmarc TXT "v=DMARC1; p=reject; rua=mailto:a{i}@manydmarc.hostile.test"'
            for i in range(300)
        ],
        'manydmarc TXT "v=spf1 -all"',
        # CNAME loops: the apex, and the DMARC record
        "cloop CNAME cloop2",
        "cloop2 CNAME cloop",
        "_dmarc.dloop CNAME l1.dloop",
        "l1.dloop CNAME l2.dloop",
        "l2.dloop CNAME _dmarc.dloop",
        'dloop TXT "v=spf1 -all"',
        # a chain of 30 CNAMEs before the DMARC record
        *[f"c{i}.chain CNAME c{i + 1}.chain" for i in range(30)],
        'c30.chain TXT "v=DMARC1; p=reject"',
        "_dmarc.longchain CNAME c0.chain",
        'longchain TXT "v=spf1 -all"',
        # an SPF include bomb without end: every name includes ten names below itself
        f'bomb TXT "v=spf1 {incs} -all"',
        f'*.bomb TXT "v=spf1 {incs} -all"',
        # DKIM keys that are not keys
        'notkeys TXT "v=spf1 -all"',
        *[f"{sel}._domainkey.notkeys TXT {_txt(rec)}" for sel, rec in NOT_KEYS.items()],
    ]
    head = (
        "$TTL 300\n$ORIGIN hostile.test.\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n"
    )
    return head + "\n".join(z) + "\n"


HOSTILE_DOMAINS = [
    "bigset",
    "bigrec",
    "manyspf",
    "manydmarc",
    "cloop",
    "dloop",
    "longchain",
    "bomb",
    "notkeys",
]


@pytest.fixture(scope="module")
def hostile_records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Record]:
    d = tmp_path_factory.mktemp("hostile")
    (d / "zones").mkdir()
    (d / "zones" / "hostile.test.zone").write_text(hostile_zone())
    listing = d / "list.txt"
    listing.write_text("".join(f"{n}.hostile.test\n" for n in HOSTILE_DOMAINS))
    config = RunConfig(zones=str(d / "zones"), output=str(d / "out.ndjson"), progress=False)
    config.selectors = list(NOT_KEYS)
    t0 = time.monotonic()
    out = in_process([listing], config)
    assert time.monotonic() - t0 < 20
    return {r["domain"].split(".")[0]: r for r in out}


def codes(section: Record) -> set[str]:
    return {p["code"] for p in section["problems"]}


def test_txt_set_over_64k(hostile_records: dict[str, Record]) -> None:
    r = hostile_records["bigset"]
    assert r["spf"]["state"] == "valid" and r["spf"]["records"] == ["v=spf1 -all"]
    assert "spf.udp_too_large" in codes(r["spf"])
    # the other 300 strings are not SPF: they are not copied into the record
    assert len(orjson.dumps(r)) < 20_000


def test_one_spf_record_of_70k(hostile_records: dict[str, Record]) -> None:
    spf = hostile_records["bigrec"]["spf"]
    assert spf["state"] in ("valid", "invalid")
    assert "spf.udp_too_large" in codes(spf)


def test_hundreds_of_records_where_one_is_allowed(hostile_records: dict[str, Record]) -> None:
    assert hostile_records["manyspf"]["spf"]["state"] == "invalid"
    assert "spf.multiple_records" in codes(hostile_records["manyspf"]["spf"])
    assert hostile_records["manydmarc"]["dmarc"]["state"] == "invalid"
    assert "dmarc.multiple_records" in codes(hostile_records["manydmarc"]["dmarc"])


@pytest.mark.parametrize(
    ("name", "section"),
    [("cloop", "spf"), ("cloop", "mx"), ("dloop", "dmarc"), ("longchain", "dmarc")],
)
def test_cname_loops_and_long_chains_are_indeterminate(
    name: str, section: str, hostile_records: dict[str, Record]
) -> None:
    sec = hostile_records[name][section]
    assert sec["state"] == "indeterminate"
    assert sec["dns_failure"]["name"].endswith(f"{name}.hostile.test")
    assert "CNAME" in sec["dns_failure"]["detail"]


def test_spf_include_bomb_is_bounded(hostile_records: dict[str, Record]) -> None:
    spf = hostile_records["bomb"]["spf"]
    assert spf["state"] == "invalid"
    assert {"spf.tree_truncated", "spf.too_many_lookups"} <= codes(spf)
    assert len(orjson.dumps(hostile_records["bomb"])) < 200_000


def test_dkim_keys_that_are_not_keys(hostile_records: dict[str, Record]) -> None:
    dkim = hostile_records["notkeys"]["dkim"]
    assert dkim["state"] == "invalid"
    by_selector = {k["selector"]: {p["code"] for p in k["problems"]} for k in dkim["keys"]}
    assert set(by_selector) == set(NOT_KEYS)
    assert "dkim.key_malformed" in by_selector["notb64"]
    assert "dkim.key_malformed" in by_selector["junk"]
    assert "dkim.key_malformed" in by_selector["shorted"]
    assert "dkim.key_malformed" in by_selector["truncatedrsa"]
    assert "dkim.syntax" in by_selector["prose"]
    assert "dkim.syntax" in by_selector["huge"]
    assert "dkim.unknown_key_type" in by_selector["dsa"]
    for k in dkim["keys"]:
        assert any(p["severity"] == "error" for p in k["problems"]), k["selector"]


# over real sockets, both live backends: what only a client talking to servers meets

WIRE_ZONES = {
    # a cross-zone CNAME chain of 12 hops (each zone answers one hop; the Resolver chases)
    **{
        f"z{i}.test": f"@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\n_dmarc.c CNAME _dmarc.c.z{i + 1}.test.\n"
        for i in range(12)
    },
    "z12.test": '@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\n_dmarc.c TXT "v=DMARC1; p=reject"\n',
    # a cross-zone CNAME loop
    "la.test": '@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\n_dmarc CNAME _dmarc.lb.test.\n@ TXT "v=spf1 -all"\n',
    "lb.test": "@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\n_dmarc CNAME _dmarc.la.test.\n",
    # the largest TXT set a server can send (about 62 KB, over TCP)
    "big.test": "@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\n"
    + "".join(f'@ TXT "filler-{i:03d}-' + "x" * 236 + '"\n' for i in range(240))
    + '@ TXT "v=spf1 -all"\n',
    "bomb.test": "@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\n"
    + '@ TXT "v=spf1 '
    + " ".join(f"include:{i}.%{{d}}" for i in range(10))
    + ' -all"\n'
    + '* TXT "v=spf1 '
    + " ".join(f"include:{i}.%{{d}}" for i in range(10))
    + ' -all"\n',
}


@pytest.mark.parametrize("backend", ["udp", "aiodns"])
def test_hostile_dns_data_over_the_wire(backend: str, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("c.z0.test\nla.test\nbig.test\nbomb.test\n")
    with DnsServer() as server:
        for origin, text in WIRE_ZONES.items():
            server.add_zone_text(origin, text)
        config = RunConfig(
            nameservers=[server.nameserver],
            backend=backend,
            output=str(tmp_path / "out.ndjson"),
            progress=False,
            resolver=ResolverConfig(timeout=1.0),
        )
        t0 = time.monotonic()
        out = {r["domain"]: r for r in in_process([listing], config)}
        elapsed = time.monotonic() - t0
        # the include targets: "<digit>.<...>.bomb.test" (the other names are DMARC, DKIM, ...)
        bomb_queries = sum(
            1
            for s in server.log
            if s.name.endswith("bomb.test") and s.name[:2] in {f"{i}." for i in range(10)}
        )
    chain = out["c.z0.test"]["dmarc"]
    assert chain["state"] == "indeterminate" and chain["dns_failure"]["rcode"] == "ERROR"
    assert "exceeds 8 hops" in chain["dns_failure"]["detail"]
    loop = out["la.test"]["dmarc"]
    assert loop["state"] == "indeterminate" and "loops" in loop["dns_failure"]["detail"]
    big = out["big.test"]["spf"]
    assert big["state"] == "valid" and "spf.udp_too_large" in codes(big)
    bomb = out["bomb.test"]["spf"]
    assert bomb["state"] == "invalid" and {"spf.tree_truncated", "spf.too_many_lookups"} <= codes(
        bomb
    )
    # bounded: the include tree is fetched for at most MAX_DOMAINS names
    assert bomb_queries <= MAX_DOMAINS + 10, bomb_queries
    assert elapsed < 15


def _bomb(depth: int, fanout: int) -> Callable[[Query], Answer]:
    """DNS answers for an include tree ``fanout`` wide and ``depth`` deep under bomb.test."""

    def answer(q: Query) -> Answer:
        if q.rtype is not RType.TXT or not q.name.endswith("bomb.test"):
            return Answer(Rcode.NOERROR, ttl=300)
        level = q.name.count(".") - 1
        if level >= depth:
            return Answer(Rcode.NOERROR, records=((b"v=spf1 ip4:192.0.2.0/24 -all",),), ttl=300)
        incs = " ".join(f"include:{i}.{q.name}" for i in range(fanout))
        return Answer(Rcode.NOERROR, records=((f"v=spf1 {incs} -all".encode(),),), ttl=300)

    return answer


def test_spf_include_bomb_ten_wide_five_deep_is_bounded() -> None:
    """111,111 records if followed to the end; the audit stops at MAX_DOMAINS names."""
    asked: list[Query] = []
    table = _bomb(depth=5, fanout=10)

    def answer(q: Query) -> Answer:
        asked.append(q)
        return table(q)

    t0 = time.monotonic()
    audit = run_sync(audit_spf("bomb.test"), answer)
    assert time.monotonic() - t0 < 2.0
    txt = [q for q in asked if q.rtype is RType.TXT]
    assert len(txt) <= MAX_DOMAINS
    assert audit.state is State.INVALID
    assert {p.code for p in audit.problems} >= {"spf.tree_truncated", "spf.too_many_lookups"}
    assert len(orjson.dumps(audit.to_dict())) < 200_000
    # and a receiver's evaluation (a client no leaf authorises) stops at the RFC 7208 4.6.4 limit
    asked.clear()
    result = run_sync(check_host("198.51.100.1", "bomb.test", "a@bomb.test", now=0), answer)
    assert result.result is Verdict.PERMERROR and result.problem is not None
    assert len([q for q in asked if q.rtype is RType.TXT]) <= LOOKUP_LIMIT + 1


# --- property-based tests of parsers without one ------------------------------------------------

_LINEISH = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from(
            [b"\n", b"\r\n", b"#", b" ", b"\x00", b"\xff", b"\xef\xbb\xbf", b"example.com", b"\xc3"]
        ),
        st.just(b"z" * (MAX_LINE_BYTES + 3)),
    ),
    max_size=30,
).map(b"".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_LINEISH)
def test_domain_list_reader_takes_any_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "list"
        p.write_bytes(data)
        items = list(read_domain_list([str(p)]))
    lines = [i.line for i in items]
    assert lines == sorted(set(lines))
    assert len(items) <= data.count(b"\n") + 1
    for i in items:
        assert "\n" not in i.text and len(i.text) <= MAX_LINE_BYTES
        assert i.defect is not None or (i.text and not i.text.startswith("#"))


_JSONL = st.lists(
    st.one_of(
        st.dictionaries(
            st.text(max_size=5), st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10), max_size=3
        ).map(lambda d: orjson.dumps(d) + b"\n"),
        st.binary(max_size=30),
    ),
    max_size=8,
).map(b"".join)


@settings(max_examples=100, deadline=None)
@given(_JSONL)
def test_resume_scanner_keeps_exactly_the_whole_json_lines(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "out"
        p.write_bytes(data)
        n = complete_records(str(p))
        kept = p.read_bytes()
    assert data.startswith(kept)
    assert kept.count(b"\n") == n and (not kept or kept.endswith(b"\n"))
    # split on \n only, as the scanner reads lines: splitlines() would also cut at a \r
    # (JSON whitespace inside a line), e.g. b"\r{}\n"
    for line in kept.split(b"\n")[:-1]:
        orjson.loads(line)
    rest = data[len(kept) :]
    if rest:  # what was cut starts with a line that is not whole JSON
        first = rest.split(b"\n", 1)
        bad = len(first) == 1
        if not bad:
            try:
                orjson.loads(first[0])
            except orjson.JSONDecodeError:
                bad = True
        assert bad


def _reply(q: Query) -> bytes:
    m = dns.message.make_query(q.name, q.rtype.name)
    r = dns.message.make_response(m)
    r.answer.append(dns.rrset.from_text(q.name + ".", 300, "IN", "CNAME", "b.example."))
    r.answer.append(
        dns.rrset.from_text(
            "b.example.",
            300,
            "IN",
            q.rtype.name,
            "10 mx.example." if q.rtype is RType.MX else '"v=spf1 -all"',
        )
    )
    return bytes(r.to_wire())


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([RType.TXT, RType.MX]),
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=255)),
        max_size=6,
    ),
    st.binary(max_size=40),
    st.integers(min_value=0, max_value=200),
)
def test_wire_parser_answers_or_raises_wire_error(
    rtype: RType, flips: list[tuple[int, int]], tail: bytes, cut_at: int
) -> None:
    """A reply with bytes flipped, cut short or extended gives an Answer or a WireError."""
    q = Query("a.example", rtype)
    _, key = build_query(q, 0)
    qlen = len(key)  # the question the caller has already matched (ID, name, type, class)
    good = bytearray(_reply(q))
    assert parse_answer(bytes(good), q, qlen).records  # the unmangled reply parses
    for pos, val in flips:
        # anything but the question count and the question itself: flags, counts, records
        if 2 <= pos < len(good) and not (4 <= pos < 6 or 12 <= pos < 12 + qlen):
            good[pos] = val
    data = bytes(good[: max(12 + qlen, len(good) - cut_at)]) + tail
    try:
        a = parse_answer(data, q, qlen)
    except WireError:
        return
    assert isinstance(a, Answer)
    assert all(isinstance(r, (str, MX, tuple)) for r in a.records)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.booleans(), st.text(max_size=20))
def test_macro_string_parser_and_expansion(text: str, explain: bool, value: str) -> None:
    try:
        ms = parse_macro_string(
            text, letters=EXP_LETTERS if explain else DOMAIN_LETTERS, explain=explain
        )
    except MacroError as exc:
        assert str(exc)
        return
    values = MacroValues(
        s=value, l=value, o=value, i="192.0.2.1", v="in-addr", h=value, c="192.0.2.1", r="r", t="0"
    )
    assert isinstance(expand(ms, values, "example.com"), str)


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=80)
    | st.lists(
        st.sampled_from(["a", "xn--", "_dmarc", "", "ü", "co", "uk", "*", "-"]), max_size=8
    ).map(".".join)
)
def test_psl_lookups_answer_or_none(name: str) -> None:
    for f in (to_ascii, org_domain, public_suffix):
        got = f(name)
        assert got is None or (isinstance(got, str) and got.isascii() and len(got) <= 253)


@settings(max_examples=100, deadline=None)
@given(
    st.text(max_size=200)
    | st.lists(
        st.sampled_from(
            [
                "@",
                "IN",
                "TXT",
                "MX",
                "CNAME",
                "A",
                '"x"',
                "10",
                "$TTL",
                "$ORIGIN",
                "$INCLUDE",
                "(",
                ")",
                ";",
                "\n",
                " ",
                "\\",
                "x.",
                "1.2.3.4",
            ]
        ),
        max_size=30,
    ).map(" ".join)
)
def test_zone_file_loader_loads_or_says_where(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "fuzz.test.zone"
        p.write_text(text, errors="surrogateescape")
        try:
            zones = ZoneSet.load(p)
        except ZoneLoadError as exc:
            assert "fuzz.test.zone" in str(exc)
            return
    assert isinstance(zones.answer(Query("fuzz.test", RType.TXT)), Answer)


_HOSTS = st.sampled_from(
    ["mx.example", "", "192.0.2.1", "[192.0.2.1]", "a.example", "b.example", "x" * 70]
)
_ANSWERS = st.sampled_from([Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.SERVFAIL, Rcode.TIMEOUT])


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.tuples(st.integers(min_value=0, max_value=65535), _HOSTS), max_size=15),
    _ANSWERS,
    st.dictionaries(
        _HOSTS,
        st.tuples(
            _ANSWERS, st.lists(st.sampled_from(["192.0.2.7", "2001:db8::7", "bogus"]), max_size=3)
        ),
    ),
)
def test_mx_audit_of_any_answers(
    mxs: list[tuple[int, str]], rcode: Rcode, hosts: dict[str, tuple[Rcode, list[str]]]
) -> None:
    def answer(q: Query) -> Answer:
        if q.rtype is RType.MX:
            if rcode is not Rcode.NOERROR:
                return Answer(rcode)
            return Answer(Rcode.NOERROR, records=tuple(MX(p, h) for p, h in mxs), ttl=60)
        rc, addrs = hosts.get(q.name, (Rcode.NXDOMAIN, []))
        return Answer(rc, records=tuple(addrs) if rc is Rcode.NOERROR else (), ttl=60)

    audit = run_sync(audit_mx("example.com"), answer)
    d = audit.to_dict()
    orjson.dumps(d)
    if rcode in (Rcode.SERVFAIL, Rcode.TIMEOUT):
        assert audit.state is State.INDETERMINATE and d["dns_failure"]["rcode"] == rcode.value
    elif rcode is Rcode.NXDOMAIN or not mxs:
        assert audit.state is State.MISSING
    else:
        assert audit.state in (State.VALID, State.INVALID)
    asked_hosts = {h for _, h in mxs if h}
    assert len(asked_hosts) <= len(mxs)
    if len({h for _, h in mxs if h}) > MAX_HOSTS_RESOLVED:
        assert "mx.too_many_hosts" in {p["code"] for p in d["problems"]}


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=40)
    | st.sampled_from(
        ["127.0.0.1:53", "[::1]:5300", "::1", "1.2.3.4:", ":53", "[::1", "a:b:c", "1.2.3.4:0"]
    )
)
def test_nameserver_strings_parse_or_raise_value_error(spec: str) -> None:
    for f in (parse_nameserver, cares_server):
        with contextlib.suppress(ValueError):
            f(spec)
