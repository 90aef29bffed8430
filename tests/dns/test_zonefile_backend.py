"""The zone-file backend answers as an authoritative server would."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkauth.core.common.model import MX, Query, Rcode, RType
from bulkauth.dns.backends.zonefile import ZoneLoadError, ZoneSet
from tests.paths import ROOT

ZONE = """
$TTL 3600
@ 3600 IN SOA ns. h. 1 2 3 4 60
@ IN TXT "v=spf1 " "-all"
@ IN MX 10 MX.Example.com.
www 120 IN CNAME foo
foo 600 IN A 192.0.2.1
a.b.c IN A 192.0.2.2
*.w IN TXT "wild"
out IN CNAME x.other.example.
loop1 IN CNAME loop2
loop2 IN CNAME loop1
"""


@pytest.fixture(scope="module")
def zones() -> ZoneSet:
    return ZoneSet.from_text(ZONE, "example.com.")


def ans(zones: ZoneSet, name: str, rtype: RType):
    return zones.answer(Query(name, rtype))


def test_records_keep_txt_strings_and_lowercase_mx(zones: ZoneSet) -> None:
    assert ans(zones, "example.com", RType.TXT).records == ((b"v=spf1 ", b"-all"),)
    assert ans(zones, "example.com", RType.MX).records == (MX(10, "mx.example.com"),)


def test_cname_followed_in_zone_with_min_ttl(zones: ZoneSet) -> None:
    a = ans(zones, "www.example.com", RType.A)
    assert a.records == ("192.0.2.1",) and a.cnames == ("foo.example.com",) and a.ttl == 120


def test_cname_out_of_zone_is_left_for_the_client(zones: ZoneSet) -> None:
    a = ans(zones, "out.example.com", RType.A)
    assert a.rcode is Rcode.NOERROR and not a.records and a.cnames == ("x.other.example",)


def test_nxdomain_nodata_and_empty_non_terminal(zones: ZoneSet) -> None:
    nx = ans(zones, "nope.example.com", RType.A)
    assert nx.rcode is Rcode.NXDOMAIN and nx.ttl == 60  # SOA minimum (RFC 2308)
    assert ans(zones, "example.com", RType.A).rcode is Rcode.NOERROR
    ent = ans(zones, "b.c.example.com", RType.A)
    assert ent.rcode is Rcode.NOERROR and not ent.records  # RFC 8020: not NXDOMAIN


def test_wildcard_synthesis(zones: ZoneSet) -> None:
    assert ans(zones, "x.y.w.example.com", RType.TXT).records == ((b"wild",),)
    assert ans(zones, "w.example.com", RType.TXT).records == ()


def test_cname_loop_and_foreign_names_fail_cleanly(zones: ZoneSet) -> None:
    assert ans(zones, "loop1.example.com", RType.A).rcode is Rcode.SERVFAIL
    assert ans(zones, "example.org", RType.A).rcode is Rcode.REFUSED


def test_load_directory_and_bad_file(tmp_path: Path) -> None:
    (tmp_path / "a.example.zone").write_text("@ 60 IN SOA ns. h. 1 2 3 4 5\n@ 60 IN A 192.0.2.9\n")
    zs = ZoneSet.load(tmp_path)
    assert zs.answer(Query("a.example", RType.A)).records == ("192.0.2.9",)
    (tmp_path / "b.example.zone").write_text("@ 60 IN SOA ns. h. 1 2 3 4 5\n@ IN BOGUS x\n")
    with pytest.raises(ZoneLoadError, match=r"b\.example\.zone"):
        ZoneSet.load(tmp_path)


def test_sample_data_loads() -> None:
    data = ROOT / "data" / "zones"
    zs = ZoneSet.load(data)
    assert zs.answer(Query("nxdomain.example", RType.MX)).rcode is Rcode.NXDOMAIN
