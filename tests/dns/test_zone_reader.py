"""masterfile.py builds the zones dnspython builds, and leaves the rest to it.

The reference is dnspython's own loader (tests/dns/zone_reference.py): every file of data/zones,
hand-picked edge cases and generated zones (names of any case, TXT strings with quotes, escapes,
semicolons, parentheses, several strings, long ones, TTL and class in either order, blank
owners, $ORIGIN and $TTL, records split across lines) must give the same zone field for field,
or, when dnspython refuses the text, Unsupported (so that ZoneSet.load reports dnspython's
error). ZoneSet answers are compared too, old loader against new.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import dns.exception
import dns.name
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkauth.core.common.model import Query, RType
from bulkauth.dns.backends import masterfile
from bulkauth.dns.backends.zonefile import ZoneLoadError, ZoneSet, origin_of
from tests.dns.zone_reference import reference, view

DATA = Path(__file__).resolve().parents[2] / "data" / "zones"
DATA_FILES = sorted(DATA.glob("*.zone"))


def _both(text: str, origin: str) -> tuple[object, object]:
    """(dnspython's view or its exception type, masterfile's view or Unsupported)."""
    try:
        ref: object = view(reference(text, origin))
    except Exception as exc:  # dnspython refuses the text (ValueError for some)
        ref = type(exc)
    try:
        got: object = view(masterfile.read(text, dns.name.from_text(origin)))
    except masterfile.Unsupported:
        got = masterfile.Unsupported
    return ref, got


def assert_same(text: str, origin: str, *, supported: bool = True) -> None:
    ref, got = _both(text, origin)
    if isinstance(ref, type):
        assert got is masterfile.Unsupported, f"dnspython refuses ({ref.__name__}), reader not"
    elif got is masterfile.Unsupported:
        assert not supported, "the fast reader gave up on a file it should read"
    else:
        assert got == ref


# --------------------------------------------------------------------------- data/zones


def test_data_zones_exist() -> None:
    assert len(DATA_FILES) > 10


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.name)
def test_every_data_zone_reads_as_dnspython_reads_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    origin = origin_of(path, text[:8192])
    # spf99.example holds a TYPE99 record in RFC 3597 form (\# ...): dnspython's to read
    assert_same(text, origin, supported=path.name != "spf99.example.zone")


def _questions(zs: ZoneSet) -> list[Query]:
    names = {"nonexistent.example", "a.b.c.nowhere.example", "x.wild.broad.example"}
    for lz in zs.loaded:
        names.add(f"zz-missing.{lz.origin}")
    for zone in zs._zones.values():
        for name in zone.nodes:
            text = name.to_text(omit_final_dot=True)
            names.update({text, f"below.{text}", text.replace("*", "anything")})
            if len(name.labels) > 2:
                names.add(name.parent().to_text(omit_final_dot=True))
    return [Query(n, t) for n in sorted(names) for t in RType]


def test_data_zones_answer_the_same_with_either_reader() -> None:
    old = ZoneSet.load(DATA, fast=False)
    new = ZoneSet.load(DATA)
    assert [(z.origin, z.file) for z in new.loaded] == [(z.origin, z.file) for z in old.loaded]
    questions = _questions(old)
    assert len(questions) > 1000
    for q in questions:
        assert new.answer(q) == old.answer(q), q


# --------------------------------------------------------------------------- edge cases

_SOA = "@ 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300\n"

CASES = {
    "ttl from $TTL": "$TTL 120\n" + _SOA + "www A 192.0.2.1\n",
    "ttl from the SOA minimum": "@ IN SOA ns h 1 2 3 4 77\nwww A 192.0.2.1\n",
    "ttl of the previous record": "@ 50 SOA ns h 1 2 3 4 77\nwww A 192.0.2.1\nx 9 A 192.0.2.2\ny A 192.0.2.3\n",
    "$TTL after a stated ttl": "@ 50 SOA ns h 1 2 3 4 77\nwww 9 A 192.0.2.1\n$TTL 33\ny A 192.0.2.3\n",
    "no ttl at all": "www A 192.0.2.1\n",
    "class then ttl": '$TTL 5\n@ IN 60 TXT "a"\n@ 70 in TXT "b"\n@ in TXT c\n',
    "ttl units": "$TTL 1h\n@ 1d2h SOA ns h 1 1h 15m 2w 5m\nwww 1W A 192.0.2.1\n",
    "blank owner": '$TTL 5\nwww A 192.0.2.1\n   TXT "x"\n\tMX 10 mail\n',
    "blank owner first": '$TTL 5\n  TXT "apex"\n',
    "absolute and relative names": "$TTL 5\nwww.example.com. A 192.0.2.1\nWWW CNAME other.example.net.\nmx MX 0 .\n",
    "case kept as first written": "$TTL 5\nWww TXT a\nwww TXT b\nx MX 1 Mail.Example.COM.\ny MX 1 mail.example.com.\n",
    "$ORIGIN relative and absolute": "$TTL 5\n$ORIGIN sub\na A 192.0.2.1\n$ORIGIN other.example.com.\nb A 192.0.2.2\n@ TXT x\n",
    "records outside the zone": "$TTL 5\nwww.elsewhere.org. A 192.0.2.1\n  TXT skipped\nin TXT kept\n",
    "duplicates and lower ttl": '$TTL 5\na 60 TXT "x"\na 30 TXT "x"\na 90 TXT "y"\nb MX 1 M.example.com.\nb MX 1 m.example.com.\n',
    "singleton cname twice": "$TTL 5\na CNAME x.example.org.\na 3 CNAME y.example.org.\n",
    "cname and other data": "$TTL 5\na CNAME x.example.org.\na TXT x\n",
    "txt escapes": '$TTL 5\n@ TXT "a\\"b" "c\\\\d" "\\059;x" "\\255" ""\n',
    "txt bad escape": '$TTL 5\n@ TXT "\\25"\n',
    "txt escape above 255": '$TTL 5\n@ TXT "\\256"\n',
    "txt too long": "$TTL 5\n@ TXT " + '"' + "x" * 256 + '"\n',
    "txt 255": "$TTL 5\n@ TXT " + '"' + "x" * 255 + '"\n',
    "txt unquoted tokens": "$TTL 5\n@ TXT v=spf1 -all\n@ SPF v=spf1 ~all\n",
    "txt quote inside a token": '$TTL 5\n@ TXT ab"cd"ef\n',
    "semicolons and parentheses in quotes": '$TTL 5\n@ TXT "a;b" "(c)" ; real comment\n',
    "parentheses across lines": '$TTL 5\n@ IN TXT ( "one" ; first\n   "two"\n ) ; end\nx MX (\n 10\n mail )\n',
    "soa in parentheses": "@ 60 IN SOA ns h (\n 2026 ; serial\n 1h 15m\n 2w 5m )\nwww A 192.0.2.1\n",
    "unbalanced close": "$TTL 5\n@ TXT a )\n",
    "unbalanced open": "$TTL 5\n@ TXT ( a\n",
    "newline in quotes": '$TTL 5\n@ TXT "a\nb"\n',
    "bad a": "$TTL 5\n@ A 192.0.2.300\n",
    "a with leading zeros": "$TTL 5\n@ A 192.000.2.1\n",
    "aaaa": "$TTL 5\n@ AAAA 2001:DB8:0:0::1\nx AAAA ::ffff:192.0.2.1\n",
    "generic types": '$TTL 5\n@ CAA 0 issue "ca.example.net"\n_25._tcp.mx TLSA 3 1 1 ( AB12cd\n ef34 )\n',
    "unknown type": "$TTL 5\n@ NOSUCHTYPE x\n",
    "class other than IN": "$TTL 5\n@ CH TXT x\n",
    "CLASS1 is IN": "$TTL 5\n@ CLASS1 TXT x\n",
    "wildcard": "$TTL 5\n*.w TXT x\n*.example.com. MX 1 mail\n",
    "label too long": "$TTL 5\n" + "a" * 64 + " TXT x\n",
    "empty label": "$TTL 5\na..b TXT x\n",
    "escape in a name": "$TTL 5\na\\.b TXT x\n",
    "at sign in a name": "$TTL 5\na@b TXT x\n",
    "soa below the apex": "$TTL 5\nsub SOA ns h 1 2 3 4 5\n",
    "mx extra token": "$TTL 5\n@ MX 10 mail extra\n",
    "mx preference too big": "$TTL 5\n@ MX 65536 mail\n",
    "$INCLUDE": "$TTL 5\n$INCLUDE other.zone\n",
    "$GENERATE": "$TTL 5\n$GENERATE 1-3 host$ A 192.0.2.$\n",
    "non-ASCII comment": "$TTL 5\n@ TXT x ; für\n",
    "carriage return": "$TTL 5\r\n@ TXT x\r\n",
    "vertical tab": "$TTL 5\n@ TXT a\x0bb\n",
    "rrsig": "$TTL 5\n@ RRSIG A 8 2 300 20300101000000 20200101000000 1 example.com. AAAA\n",
    "empty": "",
    "only comments": "; nothing\n\n   ; here\n",
}
UNSUPPORTED = {
    "cname and other data",
    "a with leading zeros",  # the constructor would take it; the reader hands it on
    "CLASS1 is IN",
    "escape in a name",
    "at sign in a name",
    "$GENERATE",
    "non-ASCII comment",
    "vertical tab",
    "carriage return",  # read from a file, universal newlines have made it \n
    "rrsig",
    "txt quote inside a token",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_edge_cases(case: str) -> None:
    assert_same(CASES[case], "example.com.", supported=case not in UNSUPPORTED)


def test_root_origin() -> None:
    assert_same("$TTL 5\n@ NS a.root.\ncom NS a.gtld.\nx.com. A 192.0.2.1\n", ".")


def test_rdatas_are_shared_and_immutable() -> None:
    z = masterfile.read('$TTL 5\na TXT "same"\nb TXT "same"\n', dns.name.from_text("ex."))
    a = z.nodes[dns.name.from_text("a.ex.")].rdatasets[0][0]
    b = z.nodes[dns.name.from_text("b.ex.")].rdatasets[0][0]
    assert a is b  # one object for equal records: safe because rdata cannot change
    with pytest.raises(TypeError):
        a.strings = (b"changed",)


# --------------------------------------------------------------------------- generated zones

_LABEL = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,14}", fullmatch=True)
_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def _quoted(s: str, escape_all: bool) -> str:
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif escape_all and c.isalnum():
            out.append(f"\\{ord(c):03d}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


@st.composite
def txt_rdata(draw: st.DrawFn) -> list[str]:
    strings = draw(
        st.lists(
            st.one_of(
                st.text(_PRINTABLE, max_size=40),
                st.text(st.sampled_from('";()\\ \tab'), max_size=12),
                st.text(_PRINTABLE, min_size=200, max_size=270),  # 255 and beyond
            ),
            min_size=1,
            max_size=4,
        )
    )
    out = []
    for s in strings:
        if s and draw(st.booleans()) and all(c.isalnum() or c in "=-:." for c in s):
            out.append(s)  # an unquoted token
        else:
            out.append(_quoted(s, draw(st.booleans()) and len(s) < 30))
    return out


@st.composite
def zone_text(draw: st.DrawFn) -> str:
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(f"$TTL {draw(st.sampled_from(['300', '1h', '2d']))}")
    if draw(st.booleans()):
        lines.append("@ 3600 IN SOA ns1.example.com. host.example.com. 7 7200 900 1209600 60")
    owners = [".".join(draw(st.lists(_LABEL, min_size=1, max_size=3))) for _ in range(4)]
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["TXT", "SPF", "MX", "A", "AAAA", "NS", "PTR", "CAA"]))
        if kind in ("TXT", "SPF"):
            rdata = draw(txt_rdata())
        elif kind == "MX":
            rdata = [str(draw(st.integers(0, 70000))), draw(st.sampled_from([*owners, "@", "."]))]
        elif kind == "A":
            rdata = [str(ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1))))]
        elif kind == "AAAA":
            ip = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
            rdata = [draw(st.sampled_from([str(ip), ip.exploded, ip.exploded.upper()]))]
        elif kind == "CAA":
            rdata = ["0", "issue", _quoted(draw(st.text(_PRINTABLE, max_size=20)), False)]
        else:
            rdata = [draw(st.sampled_from(owners)) + draw(st.sampled_from(["", ".example.com."]))]
        form = draw(st.sampled_from(["rel", "abs", "at", "blank", "wild"]))
        owner = draw(st.sampled_from(owners))
        owner = {
            "rel": owner,
            "abs": owner + ".Example.COM.",
            "at": "@",
            "blank": "",
            "wild": "*." + owner,
        }[form]
        ttl = draw(st.sampled_from(["", "60", "2h"]))
        cls = draw(st.sampled_from(["", "IN", "in"]))
        head = [ttl, cls] if draw(st.booleans()) else [cls, ttl]
        fields = [*[h for h in head if h], kind]
        if draw(st.booleans()) and len(rdata) > 1:
            body = "( " + rdata[0] + " ; c\n   " + "\n\t".join(rdata[1:]) + " )"
        else:
            body = " ".join(rdata)
        comment = draw(st.sampled_from(["", " ; a comment", ';x (y) "z']))
        lines.append(f"{owner or ' '} {' '.join(fields)} {body}{comment}")
        if draw(st.integers(0, 9)) == 0:
            lines.append(f"$ORIGIN {draw(st.sampled_from(owners))}.example.com.")
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zone_text())
def test_generated_zones_read_as_dnspython_reads_them(text: str) -> None:
    assert_same(text, "example.com.")


# --------------------------------------------------------------------------- fallback, errors


def test_unusual_file_falls_back_to_dnspython(tmp_path: Path) -> None:
    (tmp_path / "gen.example.zone").write_text(
        "$ORIGIN gen.example.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n$GENERATE 1-20 h$ A 192.0.2.$\n"
    )
    with pytest.raises(masterfile.Unsupported):
        masterfile.read(
            (tmp_path / "gen.example.zone").read_text(), dns.name.from_text("gen.example.")
        )
    zs = ZoneSet.load(tmp_path)
    assert view(zs._zones[dns.name.from_text("gen.example.")]) == view(
        next(iter(ZoneSet.load(tmp_path, fast=False)._zones.values()))
    )
    assert zs.answer(Query("h7.gen.example", RType.A)).records == ("192.0.2.7",)


@pytest.mark.parametrize(
    "body",
    [
        "www IN A 192.0.2.300\n",
        "www IN TXT ( unbalanced\n",
        "$INCLUDE /nonexistent/bulkauth-test.zone\n",
        'www TXT "' + "x" * 300 + '"\n',
    ],
)
def test_broken_file_fails_at_load_with_dnspythons_error(tmp_path: Path, body: str) -> None:
    f = tmp_path / "bad.example.zone"
    f.write_text("$ORIGIN bad.example.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n" + body)
    with pytest.raises(ZoneLoadError) as fast:
        ZoneSet.load(tmp_path)
    with pytest.raises(ZoneLoadError) as old:
        ZoneSet.load(tmp_path, fast=False)
    assert str(fast.value) == str(old.value)
    # dnspython's message, which names the file and the line
    assert re.search(re.escape(str(f)) + r":\d+: ", str(fast.value)) or "No such file" in str(
        fast.value
    )


def test_include_falls_back_to_dnspython(tmp_path: Path) -> None:
    inc = tmp_path / "part.inc"
    inc.write_text('www TXT "from the included file"\n')
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "inc.example.zone").write_text(
        f"$ORIGIN inc.example.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n$INCLUDE {inc}\n"
    )
    answer = ZoneSet.load(zones).answer(Query("www.inc.example", RType.TXT))
    assert answer.records == ((b"from the included file",),)


def test_gc_is_paused_only_while_loading() -> None:
    import gc

    assert gc.isenabled()
    ZoneSet.load(DATA)
    assert gc.isenabled()
