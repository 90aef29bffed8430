"""Answer questions from RFC 1035 master files, as an authoritative server would.

Offline mode for the demo and the tests, and a way to check a zone before publishing it. Zones
are parsed with dnspython; answers follow the authoritative algorithm of RFC 1034 4.3.2 for the
cases checks care about: exact match, CNAME (followed inside the zone set), wildcard
(RFC 4592), empty non-terminal (NODATA, not NXDOMAIN: RFC 8020 depends on it) and negative
TTLs from the SOA (RFC 2308).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

from bulkauth.core.common.model import MX, Answer, Query, Rcode, Rdata, RType

_MAX_CNAME_HOPS = 16


class ZoneLoadError(Exception):
    """A zone file could not be read; the message names the file and the line."""


def _to_rdata(rdtype: RType, rd: Any) -> Rdata:
    if rdtype in (RType.TXT, RType.SPF):
        return tuple(rd.strings)
    if rdtype is RType.MX:
        exchange = "" if rd.exchange == dns.name.root else rd.exchange.to_text(omit_final_dot=True)
        return MX(int(rd.preference), str(exchange).lower())
    if rdtype in (RType.CNAME, RType.PTR, RType.NS):
        return str(rd.target.to_text(omit_final_dot=True)).lower()
    return str(rd.to_text())


def _origin_from_filename(path: Path) -> str:
    name = path.name
    for suffix in (".zone", ".db", ".txt"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class ZoneSet:
    """All zones of a file or directory, looked up by the closest enclosing origin."""

    def __init__(self, zones: list[dns.zone.Zone]) -> None:
        self._zones: dict[dns.name.Name, dns.zone.Zone] = {}
        for z in zones:
            assert z.origin is not None  # zones are always loaded with an origin here
            self._zones[z.origin] = z
        # names with something below them: empty non-terminals answer NODATA, not NXDOMAIN
        self._interior: set[dns.name.Name] = set()
        for z in zones:
            for n in z.nodes:
                while n != z.origin and n != dns.name.root:
                    n = n.parent()
                    if n in self._interior:
                        break
                    self._interior.add(n)

    @classmethod
    def load(cls, path: str | Path) -> ZoneSet:
        p = Path(path)
        files = (
            sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            if p.is_dir()
            else [p]
        )
        if not files:
            raise ZoneLoadError(f"{p}: no zone files found")
        zones = []
        for f in files:
            try:
                zones.append(
                    dns.zone.from_file(
                        str(f),
                        origin=_origin_from_filename(f),
                        relativize=False,
                        check_origin=False,  # a zone checked before publishing may lack NS
                    )
                )
            except (dns.exception.DNSException, OSError, UnicodeDecodeError) as exc:
                raise ZoneLoadError(f"{f}: {exc}") from exc
        return cls(zones)

    @classmethod
    def from_text(cls, text: str, origin: str) -> ZoneSet:
        return cls([dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)])

    def _zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        n = name
        while True:
            z = self._zones.get(n)
            if z is not None:
                return z
            if n == dns.name.root:
                return None
            n = n.parent()

    def answer(self, q: Query) -> Answer:
        """Answer synchronously (the async backend and the tests both use this)."""
        try:
            qname = dns.name.from_text(q.name if q.name.endswith(".") else q.name + ".")
        except dns.exception.DNSException as exc:
            return Answer(Rcode.BADNAME, detail=str(exc))
        rdtype = dns.rdatatype.RdataType(int(q.rtype))
        cnames: list[str] = []
        cname_ttl = 2**31 - 1
        name = qname
        for _ in range(_MAX_CNAME_HOPS):
            zone = self._zone_for(name)
            if zone is None:
                if cnames:  # chain left our zones: the client chases it, as with a real server
                    return Answer(Rcode.NOERROR, cnames=tuple(cnames), ttl=cname_ttl)
                return Answer(Rcode.REFUSED, detail=f"no zone loaded for {q.name}")
            node = zone.get_node(name)
            if node is None and name not in self._interior:
                node = self._wildcard(zone, name)
            if node is None:
                rcode = Rcode.NOERROR if name in self._interior else Rcode.NXDOMAIN
                return Answer(
                    rcode, cnames=tuple(cnames), ttl=min(cname_ttl, self._negative_ttl(zone))
                )
            rds = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if rds is not None:
                return Answer(
                    Rcode.NOERROR,
                    records=tuple(_to_rdata(q.rtype, rd) for rd in rds),
                    ttl=min(rds.ttl, cname_ttl),
                    cnames=tuple(cnames),
                )
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None or q.rtype is RType.CNAME:
                ttl = min(cname_ttl, self._negative_ttl(zone))
                return Answer(Rcode.NOERROR, cnames=tuple(cnames), ttl=ttl)
            name = cname[0].target
            cname_ttl = min(cname_ttl, cname.ttl)
            cnames.append(name.to_text(omit_final_dot=True).lower())
        return Answer(
            Rcode.SERVFAIL, cnames=tuple(cnames), detail="CNAME chain too long in zone data"
        )

    def _wildcard(self, zone: dns.zone.Zone, name: dns.name.Name) -> dns.node.Node | None:
        # RFC 4592: synthesise from "*." + the closest encloser, the nearest existing ancestor.
        n = name
        while n != zone.origin:
            n = n.parent()
            if n == zone.origin or n in self._interior or zone.get_node(n) is not None:
                return zone.get_node(dns.name.Name(("*", *n.labels)))
        return None

    @staticmethod
    def _negative_ttl(zone: dns.zone.Zone) -> int:
        assert zone.origin is not None
        soa = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)
        if soa is None:
            return 300
        return int(min(soa.ttl, soa[0].minimum))


class ZoneBackend:
    """The Backend over a ZoneSet."""

    name = "zones"

    def __init__(self, zones: ZoneSet) -> None:
        self.zones = zones

    async def query(self, q: Query) -> Answer:
        return self.zones.answer(q)

    async def aclose(self) -> None:
        return None
