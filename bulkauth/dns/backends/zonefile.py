"""Answer questions from RFC 1035 master files, as an authoritative server would.

Offline mode for the demo and the tests, and a way to check a zone before publishing it. Zones
are read by masterfile.py (fast, for the common forms) into dnspython zones, or by dnspython
itself (everything else); answers follow the authoritative algorithm of RFC 1034 4.3.2 for the
cases checks care about: exact match, CNAME (followed inside the zone set), wildcard
(RFC 4592), empty non-terminal (NODATA, not NXDOMAIN: RFC 8020 depends on it) and negative
TTLs from the SOA (RFC 2308).
"""

from __future__ import annotations

import contextlib
import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

from bulkauth.core.common.model import MX, Answer, Query, Rcode, Rdata, RType
from bulkauth.dns.backends import masterfile

_MAX_CNAME_HOPS = 16
#: how much of a zone file is read to find its origin (origin_of): the lines before its SOA
_HEAD = 8192


class ZoneLoadError(Exception):
    """A zone file could not be read; the message names the file and the line."""


def _origin_text(origin: dns.name.Name) -> str:
    return origin.to_text(omit_final_dot=True) if origin != dns.name.root else "."


def _to_rdata(rdtype: RType, rd: Any) -> Rdata:
    if rdtype in (RType.TXT, RType.SPF):
        return tuple(rd.strings)
    if rdtype is RType.MX:
        exchange = "" if rd.exchange == dns.name.root else rd.exchange.to_text(omit_final_dot=True)
        return MX(int(rd.preference), str(exchange).lower())
    if rdtype in (RType.CNAME, RType.PTR, RType.NS):
        return str(rd.target.to_text(omit_final_dot=True)).lower()
    return str(rd.to_text())


def _lower(name: dns.name.Name) -> tuple[bytes, ...]:
    """The labels of ``name`` in lower case: equal for names dnspython holds equal."""
    return tuple(map(bytes.lower, name.labels))


def _origin_from_filename(path: Path) -> str:
    name = path.name
    for suffix in (".zone", ".db", ".txt"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def origin_of(path: Path, head: str) -> str:
    """The zone a master file holds: the owner of its SOA record (the apex, by definition),
    read with the ``$ORIGIN`` in force; a file whose first record is not an SOA: its first
    ``$ORIGIN``; with neither, its file name less ``.zone``/``.db``/``.txt``.

    ``head`` is the start of the file: the SOA comes first in a zone (RFC 1035 5.2), so only
    lines up to the first record are read, which keeps loading 10,000 files one parse each.
    The file name alone is a poor guide: BIND names its files ``db.example.com``, a root zone
    is ``root.zone``, and any name can be wrong; a zone loaded under the wrong origin answers
    REFUSED for all its names.
    """
    origin: dns.name.Name | None = None
    for line in head.splitlines():
        text = line.split(";", 1)[0]
        if not text.strip():
            continue
        if text[0].isspace():
            break  # a record without an owner: the previous owner, and there is none yet
        tokens = text.split()
        word = tokens[0].upper()
        if word == "$ORIGIN" and len(tokens) > 1:
            try:
                origin = dns.name.from_text(tokens[1], origin)
            except dns.exception.DNSException:
                break  # dnspython will say what is wrong with it
            continue
        if word.startswith("$"):
            if word == "$INCLUDE":
                break  # the records, SOA included, may be elsewhere: no guess
            continue  # $TTL
        if "SOA" in (t.upper() for t in tokens[1:4]):
            try:
                owner = (
                    origin
                    if tokens[0] == "@"
                    else dns.name.from_text(tokens[0], origin or dns.name.empty)
                )
            except dns.exception.DNSException:
                break
            if owner is not None and owner.is_absolute():
                return owner.to_text()
        break
    return origin.to_text() if origin is not None else _origin_from_filename(path)


@dataclass(frozen=True, slots=True)
class LoadedZone:
    """One zone of a ZoneSet: its origin (``example.com``, ``.`` for the root) and its file."""

    origin: str
    file: str | None


class ZoneSet:
    """All zones of a file or directory, looked up by the closest enclosing origin."""

    def __init__(
        self,
        zones: list[dns.zone.Zone],
        files: list[str | None] | None = None,
        source: str | None = None,
    ) -> None:
        #: the file or directory the zones were read from (None: built from text)
        self.source = source
        self._zones: dict[dns.name.Name, dns.zone.Zone] = {}
        loaded: list[LoadedZone] = []
        for z, f in zip(zones, files or [None] * len(zones), strict=True):
            assert z.origin is not None  # zones are always loaded with an origin here
            if z.origin in self._zones:
                other = next(lz.file for lz in loaded if lz.origin == _origin_text(z.origin))
                raise ZoneLoadError(f"{f}: zone {_origin_text(z.origin)} is also in {other}")
            self._zones[z.origin] = z
            loaded.append(LoadedZone(_origin_text(z.origin), f))
        #: which zones were loaded from which files, in loading order
        self.loaded: tuple[LoadedZone, ...] = tuple(loaded)
        # names with something below them: empty non-terminals answer NODATA, not NXDOMAIN.
        # Kept as lower-case label tuples (how dnspython compares names), not dns.name.Name:
        # building and hashing a Name for every ancestor of every node took longer than
        # reading the files with masterfile.py
        self._interior: set[tuple[bytes, ...]] = set()
        for z in zones:
            assert z.origin is not None
            top = len(z.origin.labels)
            for n in z.nodes:
                key = _lower(n)
                for i in range(1, len(key) - top + 1):
                    parent = key[i:]
                    if parent in self._interior:
                        break
                    self._interior.add(parent)

    def describe(self, show: int = 5) -> str:
        """``12 loaded from data/zones (a.example, b.example, ... and 7 more)``, for summaries."""
        names = [lz.origin for lz in self.loaded]
        listed = ", ".join(names[:show]) + (
            f", ... and {len(names) - show} more" if len(names) > show else ""
        )
        where = f" from {self.source}" if self.source else ""
        return f"{len(names):,} loaded{where} ({listed})"

    @classmethod
    def load(cls, path: str | Path, glob: str | None = None, *, fast: bool = True) -> ZoneSet:
        """The zone file ``path``, or every file in the directory ``path`` and below (not
        hidden ones; with ``glob``, only those whose names match it, e.g. ``*.zone``).

        Files are read by masterfile.read, ~10x faster than dnspython and the same zones; a file
        it does not handle, by dnspython. ``fast=False``: every file by dnspython (the bench
        measures the two, and the tests compare them)."""
        p = Path(path)
        is_dir = p.is_dir()
        files = (
            sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and not f.name.startswith(".")
                and (glob is None or fnmatch.fnmatchcase(f.name, glob))
            )
            if is_dir
            else [p]
        )
        if not files:
            matching = f" matching {glob!r}" if glob is not None and is_dir else ""
            raise ZoneLoadError(f"{p}: no zone files found{matching}")
        zones = []
        # loading allocates a few objects a record and keeps them all: the cyclic collector,
        # which would otherwise walk the growing heap again and again, has nothing to find
        # (~40% of the fast reader's time); paused while loading and indexing (fast=False: as
        # before issue 17, for the bench's comparison)
        with masterfile.gc_paused() if fast else contextlib.nullcontext():
            zones = cls._read_all(files, is_dir, fast)
            return cls(zones, [str(f) for f in files], str(p))

    @staticmethod
    def _read_all(files: list[Path], is_dir: bool, fast: bool) -> list[dns.zone.Zone]:
        zones = []
        cache = masterfile.Cache()  # names and rdatas the files have in common, built once
        for f in files:
            try:
                # read as dnspython reads it (UTF-8, universal newlines), once for both readers
                with f.open(encoding="utf-8") as fh:
                    text = fh.read()
                origin = origin_of(f, text[:_HEAD])
                zone = None
                if fast:
                    with contextlib.suppress(masterfile.Unsupported):
                        zone = masterfile.read(text, dns.name.from_text(origin), cache)
                if zone is None:
                    # the unusual and the broken: dnspython reads it, or says what is wrong
                    zone = dns.zone.from_file(
                        str(f),
                        origin=origin,
                        relativize=False,
                        check_origin=False,  # a zone checked before publishing may lack NS
                    )
                zones.append(zone)
            except (dns.exception.DNSException, OSError, UnicodeDecodeError) as exc:
                hint = (
                    " (a directory may hold other files: load only the zone files with"
                    " --zones-glob PATTERN, e.g. --zones-glob '*.zone')"
                    if is_dir
                    else ""
                )
                raise ZoneLoadError(f"{f}: {exc}{hint}") from exc
        return zones

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
            if node is None and _lower(name) not in self._interior:
                node = self._wildcard(zone, name)
            if node is None:
                rcode = Rcode.NOERROR if _lower(name) in self._interior else Rcode.NXDOMAIN
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
            if n == zone.origin or _lower(n) in self._interior or zone.get_node(n) is not None:
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
    """The Backend over a ZoneSet, given loaded or as the file or directory to load (``glob``:
    only the files of the directory whose names match it)."""

    name = "zones"

    def __init__(self, zones: ZoneSet | str | Path, glob: str | None = None) -> None:
        self.zones = zones if isinstance(zones, ZoneSet) else ZoneSet.load(zones, glob)

    async def query(self, q: Query) -> Answer:
        return self.zones.answer(q)

    async def aclose(self) -> None:
        return None
