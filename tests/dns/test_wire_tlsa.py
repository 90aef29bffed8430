"""TLSA records and the AD bit through the wire parser (the rest: test_wire.py)."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.rrset

from bulkauth.core.common.model import Problem, Query, Rcode, RType
from bulkauth.core.transport.dane import dane_host, parse_tlsa
from bulkauth.dns.wire import build_query, parse_answer

Q = Query("_25._tcp.mx.example.com", RType.TLSA)


def reply(rdatas: list[bytes], ad: bool) -> tuple[bytes, int]:
    wire, key = build_query(Q, 0x4242, 0)
    flags = 0x8180 | (0x0020 if ad else 0)
    header = struct.pack("!HHHHHH", 0x4242, flags, 1, len(rdatas), 0, 0)
    body = bytes(wire[12:])
    for rd in rdatas:
        body += b"\xc0\x0c" + struct.pack("!HHIH", 52, 1, 300, len(rd)) + rd
    return header + body, len(key)


def test_queries_ask_for_the_ad_bit() -> None:
    wire, _ = build_query(Q, 1)
    m = dns.message.from_wire(bytes(wire))
    assert m.flags & dns.flags.AD and m.flags & dns.flags.RD and not m.ednsflags & dns.flags.DO


def test_tlsa_spelled_as_dnspython_does() -> None:
    data = bytes(range(200))
    wire, qlen = reply([b"\x03\x00\x00" + data], ad=True)
    a = parse_answer(wire, Q, qlen)
    rr = dns.rrset.from_text(Q.name + ".", 300, "IN", "TLSA", f"3 0 0 {data.hex()}")
    assert a.records == (rr[0].to_text(),) and a.authentic


def test_a_record_of_the_wrong_length_reaches_the_check_as_a_problem_code() -> None:
    # dnspython refuses a SHA-256 association of 2 octets; the wire parser hands it on
    wire, qlen = reply([b"\x03\x01\x01\x12\x34"], ad=False)
    a = parse_answer(wire, Q, qlen)
    assert a.rcode is Rcode.NOERROR and a.records == ("3 1 1 1234",) and not a.authentic
    assert isinstance(parse_tlsa("3 1 1 1234"), Problem)
    host = dane_host("mx.example.com", a, None, dnssec_asked=False)
    assert host is not None
    assert [p.code for p in host.problems] == ["dane.bad_record", "dane.no_usable_record"]
