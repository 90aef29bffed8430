"""The UDP client's wire format: queries dnspython reads, replies read as dnspython reads them.

The hand parser is held to dnspython's reading of the same octets (reference_wire.py) with
hypothesis: generated messages, then mangled ones.
"""

from __future__ import annotations

import dns.flags
import dns.ipv6
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkauth.core.common.model import Answer, Query, RType
from bulkauth.dns.wire import WireError, build_query, encode_name, parse_answer
from tests.dns.reference_wire import parse_answer_reference


def test_query_wire_is_what_dnspython_reads() -> None:
    wire, key = build_query(Query("Mail.Example.COM", RType.MX), 0x1234)
    m = dns.message.from_wire(bytes(wire))
    assert m.id == 0x1234
    assert m.flags & dns.flags.RD
    assert m.question[0].name == dns.name.from_text("mail.example.com.")
    assert m.question[0].rdtype == dns.rdatatype.MX
    assert (m.edns, m.payload) == (0, 1232)
    assert key == bytes(wire[12 : 12 + len(key)]).lower()
    plain, _ = build_query(Query("example.com", RType.TXT), 1, edns_payload=0)
    assert dns.message.from_wire(bytes(plain)).edns == -1


def test_names_with_escapes_and_non_ascii_octets() -> None:
    assert encode_name("a\\.b.example.com") == b"\x03a.b\x07example\x03com\x00"
    assert encode_name("x\\032y.com.") == b"\x03x y\x03com\x00"
    assert encode_name("bücher.de") == b"\x07b\xc3\xbccher\x02de\x00"
    assert encode_name(".") == b"\x00"
    for bad in ("a..b", "x" * 64, "a\\", "a\\999.com"):
        with pytest.raises(WireError):
            encode_name(bad)


_labels = st.sampled_from(
    ["www", "Mail", "a", "x-1", "_dmarc", "_domainkey", "s1", "EXAMPLE", "com"]
)
_names = st.lists(_labels, min_size=1, max_size=4).map(lambda ls: ".".join(ls) + ".example.com.")
_txt = st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=3).map(
    lambda ss: " ".join('"' + "".join(f"\\{b:03d}" for b in s) + '"' for s in ss)
)
_rdata = st.one_of(
    st.tuples(st.just("A"), st.ip_addresses(v=4).map(str)),
    st.tuples(st.just("AAAA"), st.ip_addresses(v=6).map(str)),
    st.tuples(st.just("TXT"), _txt),
    st.tuples(
        st.just("MX"), st.tuples(st.integers(0, 65535), _names).map(lambda t: f"{t[0]} {t[1]}")
    ),
    st.tuples(st.just("MX"), st.just("0 .")),
    st.tuples(st.just("CNAME"), _names),
    st.tuples(st.just("PTR"), _names),
)


@st.composite
def replies(draw: st.DrawFn) -> tuple[bytes, Query]:
    qname = draw(_names)
    rtype = draw(
        st.sampled_from([RType.A, RType.AAAA, RType.TXT, RType.MX, RType.CNAME, RType.PTR])
    )
    query = dns.message.make_query(qname, rtype.name, id=draw(st.integers(0, 0xFFFF)))
    if draw(st.booleans()):
        query.use_edns(0, 0, 1232)
    r = dns.message.make_response(query)
    r.set_rcode(dns.rcode.Rcode.make(draw(st.sampled_from([0, 0, 0, 3, 2, 5]))))
    owners = [query.question[0].name] + [dns.name.from_text(draw(_names)) for _ in range(2)]
    for _ in range(draw(st.integers(0, 6))):
        owner = draw(st.sampled_from(owners))
        rt, text = draw(_rdata)
        ttl = draw(st.sampled_from([0, 30, 300, 3600, 2**31 + 5]))
        # one RRset per record (RRsets split across the section, as some servers send them);
        # also keeps dnspython from shuffling a set with the global random module
        r.answer.append(dns.rrset.from_rdata(owner, ttl, dns.rdata.from_text("IN", rt, text)))
    if draw(st.booleans()):
        soa = dns.rdata.from_text(
            "IN", "SOA", "ns.example.com. h.example.com. 1 2 3 4 " + str(draw(st.integers(0, 9999)))
        )
        r.authority.append(
            dns.rrset.from_rdata(
                dns.name.from_text("example.com."), draw(st.integers(0, 9999)), soa
            )
        )
    wire = r.to_wire()
    # the query as the backend sends it: the reply echoes its question
    return wire, Query(qname.rstrip("."), rtype)


def _question_len(wire: bytes) -> int:
    end = 12
    while wire[end]:
        end += wire[end] + 1
    return end + 5 - 12


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies())
def test_parser_agrees_with_dnspython(case: tuple[bytes, Query]) -> None:
    wire, q = case
    mine = parse_answer(wire, q, _question_len(wire))
    assert mine == parse_answer_reference(wire, q)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies(), st.data())
def test_parser_survives_mangled_replies(case: tuple[bytes, Query], data: st.DataObject) -> None:
    wire, q = case
    buf = bytearray(wire)
    qlen = _question_len(wire)
    # mangle only past the question: the transport has matched that part already
    for _ in range(data.draw(st.integers(1, 6))):
        if len(buf) <= 12 + qlen:
            break
        at = data.draw(st.integers(12 + qlen, len(buf) - 1))
        op = data.draw(st.sampled_from(["flip", "cut", "ptr", "insert"]))
        if op == "flip":
            buf[at] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del buf[at:]
        elif op == "ptr":
            buf[at] = 0xC0
        else:
            buf.insert(at, data.draw(st.integers(0, 255)))
    mangled = bytes(buf)
    try:
        mine: Answer | None = parse_answer(mangled, q, qlen)
    except WireError:
        mine = None
    try:
        theirs: Answer | None = parse_answer_reference(mangled, q)
    except WireError:
        theirs = None
    # whatever dnspython can read, we read the same way (we may accept replies it refuses in
    # parts we skip, such as the rdata of types we were not asked for)
    if theirs is not None:
        assert mine == theirs


_V6_GROUPS = st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xDB8, 0x2001]), min_size=8, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_V6_GROUPS, st.just([0, 0, 0, 0, 0, 0xFFFF, 0x102, 0x304])))
def test_aaaa_text_is_spelled_as_dnspython_spells_it(groups: list[int]) -> None:
    # the C library's inet_ntop is our fast path: zero runs and embedded IPv4 forms must come
    # out as dnspython (and so the other backends) writes them
    packed = b"".join(g.to_bytes(2, "big") for g in groups)
    text = dns.ipv6.inet_ntoa(packed)
    query = dns.message.make_query("v6.example.com.", "AAAA", id=7)
    r = dns.message.make_response(query)
    r.answer.append(
        dns.rrset.from_rdata(
            dns.name.from_text("v6.example.com."), 60, dns.rdata.from_text("IN", "AAAA", text)
        )
    )
    wire = r.to_wire()
    mine = parse_answer(wire, Query("v6.example.com", RType.AAAA), _question_len(wire))
    assert mine.records == (text,)


def test_compression_rules() -> None:
    q = Query("www.example.com", RType.A)
    base = bytes(build_query(q, 1, 0)[0])
    header = bytearray(base[:12])
    header[2] = 0x81
    header[3] = 0x80
    header[7] = 1  # one answer
    question = base[12:]
    rr_tail = b"\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x01"
    ok = bytes(header) + question + b"\xc0\x0c" + rr_tail
    assert parse_answer(ok, q, len(question)).records == ("192.0.2.1",)
    forward = bytes(header) + question + b"\xc0\x30" + rr_tail  # points ahead
    loop_ = bytes(header) + question + b"\xc0\x21" + rr_tail  # points at itself
    for bad in (forward, loop_):
        with pytest.raises(WireError):
            parse_answer(bad, q, len(question))
        with pytest.raises(WireError):
            parse_answer_reference(bad, q)
    trailing = ok + b"\x00"
    with pytest.raises(WireError):
        parse_answer(trailing, q, len(question))
