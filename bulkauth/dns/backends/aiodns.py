"""AiodnsBackend: the live backend, over aiodns 4 / pycares 5 (c-ares 1.34).

One c-ares channel per nameserver serves the whole run (see AiodnsBackend for why not one for
all); each is created lazily inside the running loop because aiodns binds it to that loop.
Facts about c-ares that shaped this module (measured here with pycares 5.2.1 / c-ares 1.34.9
against ``tests/dnsserver.py``):

- **Per-try timeout.** Once c-ares has a few RTT samples for a server it ignores the configured
  timeout and waits max(250 ms, 5 x average RTT) per try, doubling the window at each further
  try. With ``tries=1`` an answer that takes 300 ms after a run of fast ones is a timeout. So
  by default we give c-ares as many tries as it takes for its doubling windows to cover
  ``timeout``; the Resolver's own deadline still bounds the whole query. ``tries=1`` gives the
  strict single-try behaviour (retries then all happen in the Resolver).
- **Rcodes.** ``ARES_FLAG_NOCHECKRESP`` makes SERVFAIL/REFUSED come back as results instead of
  c-ares quietly trying other servers: retries and their counters live in the Resolver.
- **Truncation.** c-ares retries a TC=1 answer over TCP to the server's port, provided the port
  is part of the server string ("127.0.0.1:5300"); ``udp_port`` alone sends the TCP retry to 53.
- **TXT strings.** pycares joins a TXT record's character-strings into one bytes value; we read
  the strings back from the c-ares record (``_capture_txt_strings``) so that a record keeps its
  boundaries, as it does from the zone-file backend. Without that hook, one joined string.
- **Negative answers.** For NXDOMAIN and NODATA pycares returns only the error number, not the
  message, so the SOA (the RFC 2308 negative TTL) is not visible: ``negative_ttl`` is used.
  When a CNAME chain ends in NODATA the message is returned and its SOA is used.
- **c-ares' own cache.** c-ares caches NOERROR/NXDOMAIN answers per channel for their TTL
  (negative ones for the SOA minimum), at most 3600 s. It can only be switched off through
  ``ARES_OPT_QUERY_CACHE`` (qcache_max_ttl=0), which pycares does not expose, and it is not a
  resolv.conf/RES_OPTIONS option. So it stays on, under our cache: harmless for correctness
  (it honours TTLs), but a benchmark that repeats names measures it, and changed zone data is
  only seen by a new backend.
- **Names.** c-ares asks only host-name-like names: letters, digits, ``-``, ``_``, ``*``, ``/``;
  any other octet (space, ``+``, ``=``, ``%``, ...; even escaped) is EBADNAME -> BADNAME. That
  matters for SPF macros that expand a local-part. A backslash or NUL would be misread, so such
  names are refused here before c-ares sees them.
- **FORMERR.** c-ares repeats a query without EDNS when the server answers FORMERR (RFC 6891 7).
- **Message size** is not exposed by pycares: ``Answer.size`` is 0 (unknown).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import aiodns
import pycares

from bulkauth.core.common.model import MX, Answer, Query, Rcode, Rdata, RType
from bulkauth.dns.backend import check_nameserver
from bulkauth.dns.backends.health import SERVER_TROUBLE, Health, RoundRobin

#: every c-ares error number we can meet on a query, mapped once (DESIGN.md: one boundary)
ERRNO_TO_RCODE: dict[int, Rcode] = {
    pycares.errno.ARES_ENODATA: Rcode.NOERROR,  # NODATA: the name exists, no records of the type
    pycares.errno.ARES_ENOTFOUND: Rcode.NXDOMAIN,
    pycares.errno.ARES_ESERVFAIL: Rcode.SERVFAIL,
    pycares.errno.ARES_EREFUSED: Rcode.REFUSED,
    pycares.errno.ARES_ETIMEOUT: Rcode.TIMEOUT,
    pycares.errno.ARES_EFORMERR: Rcode.FORMERR,
    pycares.errno.ARES_ENOTIMP: Rcode.NOTIMP,
    pycares.errno.ARES_EBADNAME: Rcode.BADNAME,
    pycares.errno.ARES_EBADQUERY: Rcode.BADNAME,
    pycares.errno.ARES_EBADSTR: Rcode.BADNAME,
    # the rest (EBADRESP malformed reply, ECONNREFUSED, EOF, ECANCELLED, EDESTRUCTION,
    # ENOMEM, ...) are ERROR with the c-ares message as detail
}

#: query types c-ares can ask for (SPF, type 99, is not one of them)
_QTYPES = {
    RType.A: "A",
    RType.AAAA: "AAAA",
    RType.CNAME: "CNAME",
    RType.MX: "MX",
    RType.NS: "NS",
    RType.PTR: "PTR",
    RType.SOA: "SOA",
    RType.TXT: "TXT",
}

#: c-ares never waits less than this per try once it has RTT samples (ares_metrics.c)
_CARES_MIN_TRY = 0.25
_MAX_TRIES = 8


def tries_for(timeout: float) -> int:
    """Tries whose doubling windows (250 ms, 500 ms, 1 s, ...) add up to at least ``timeout``."""
    tries, covered = 1, _CARES_MIN_TRY
    while covered < timeout and tries < _MAX_TRIES:
        tries += 1
        covered += _CARES_MIN_TRY * 2 ** (tries - 1)
    return tries


def cares_server(spec: str) -> str:
    """``HOST[:PORT]`` -> the c-ares server string with the port always explicit, so that the
    TCP retry of a truncated answer goes to the same port as UDP."""
    addr, port = check_nameserver(spec)
    return f"[{addr}]:{port}" if addr.version == 6 else f"{addr}:{port}"


class _Upstream(Health):
    """One nameserver of several: its own c-ares channel and its health."""

    __slots__ = ("resolver", "server")

    def __init__(self, server: str | None) -> None:
        super().__init__()
        #: the c-ares server string, or None for the system resolvers
        self.server = server
        self.resolver: aiodns.DNSResolver | None = None


class AiodnsBackend:
    """The Backend over aiodns: one c-ares channel per given nameserver (one for the system
    resolvers), kept for the whole run.

    Several nameservers: c-ares would fail over between them only on timeouts, since
    ``ARES_FLAG_NOCHECKRESP`` hands SERVFAIL/REFUSED back as answers (so that retries and their
    counters live in the Resolver). A resolver that refuses us, or SERVFAILs everything, would
    then take every query and every retry. So each server gets its own channel and this backend
    chooses, as the UDP client does (``health.py``): round robin over the healthy ones, a server
    backed off after three troubles in a row, so the Resolver's retry goes to another server.
    """

    name = "aiodns"

    def __init__(
        self,
        nameservers: Sequence[str] = (),
        *,
        timeout: float = 3.0,
        tries: int | None = None,
        negative_ttl: int = 300,
    ) -> None:
        """``nameservers``: ``HOST[:PORT]`` IP addresses; empty = the system resolvers
        (/etc/resolv.conf). ``timeout`` is c-ares' first-try window and, unless ``tries`` is
        given, sets how many tries c-ares may make (see the module doc)."""
        self.nameservers = [cares_server(s) for s in nameservers]
        self.timeout = timeout
        self.tries = tries if tries is not None else tries_for(timeout)
        self.negative_ttl = negative_ttl
        self._upstreams = [_Upstream(s) for s in self.nameservers] or [_Upstream(None)]
        self._rotation = RoundRobin(self._upstreams)

    def _channel(self, up: _Upstream) -> aiodns.DNSResolver:
        if up.resolver is None:
            _capture_txt_strings()
            up.resolver = aiodns.DNSResolver(
                nameservers=[up.server] if up.server else None,
                loop=asyncio.get_running_loop(),
                timeout=self.timeout,
                tries=self.tries,
                flags=pycares.ARES_FLAG_EDNS | pycares.ARES_FLAG_NOCHECKRESP,
            )
        return up.resolver

    async def query(self, q: Query) -> Answer:
        qtype = _QTYPES.get(q.rtype)
        if qtype is None:
            return Answer(
                Rcode.NOTIMP, detail=f"type {q.rtype.name} cannot be asked through c-ares"
            )
        if "\\" in q.name or "\x00" in q.name:
            # c-ares reads the name as presentation text: a backslash starts an escape and NUL
            # ends the C string, so it would silently ask another name
            return Answer(Rcode.BADNAME, detail=f"name {q.name!r}: c-ares cannot ask it exactly")
        up = self._rotation.pick()
        try:
            result = await self._channel(up).query_dns(q.name, qtype)
        except aiodns.error.DNSError as exc:
            answer = self._failure(exc)
        except (UnicodeError, ValueError) as exc:  # pycares' IDNA encoding of the name
            return Answer(Rcode.BADNAME, detail=f"name {q.name!r}: {exc}")
        except asyncio.CancelledError:  # the Resolver's timeout: no answer from this server
            up.note(Rcode.TIMEOUT)
            raise
        else:
            answer = to_answer(q, result, self.negative_ttl)
        up.note(answer.rcode)
        if up.server and len(self._upstreams) > 1 and answer.rcode in SERVER_TROUBLE:
            answer = replace(answer, detail=f"{up.server}: {answer.detail}".rstrip(": "))
        return answer

    def _failure(self, exc: aiodns.error.DNSError) -> Answer:
        errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else -1
        rcode = ERRNO_TO_RCODE.get(errno, Rcode.ERROR)
        if rcode in (Rcode.NOERROR, Rcode.NXDOMAIN):
            return Answer(rcode, ttl=self.negative_ttl)
        name = pycares.errno.errorcode.get(errno, str(errno))
        message = exc.args[1] if len(exc.args) > 1 else ""
        return Answer(rcode, detail=f"{name}: {message}" if message else name)

    async def aclose(self) -> None:
        for up in self._upstreams:
            if up.resolver is not None:
                resolver, up.resolver = up.resolver, None
                await resolver.close()


def _name(text: str) -> str:
    return text.rstrip(".").lower()


def _fqdn(text: str) -> str:
    return _name(text) + "." if _name(text) else "."


def _rdata(rr: Any) -> Rdata:
    data = rr.data
    if rr.type == pycares.QUERY_TYPE_TXT:
        strings = getattr(data, "strings", None)
        return tuple(strings) if strings is not None else (bytes(data.data),)
    if rr.type == pycares.QUERY_TYPE_MX:
        return MX(int(data.priority), _name(data.exchange))
    if rr.type in (pycares.QUERY_TYPE_A, pycares.QUERY_TYPE_AAAA):
        return str(data.addr)
    if rr.type == pycares.QUERY_TYPE_CNAME:
        return _name(data.cname)
    if rr.type == pycares.QUERY_TYPE_NS:
        return _name(data.nsdname)
    if rr.type == pycares.QUERY_TYPE_PTR:
        return _name(data.dname)
    if rr.type == pycares.QUERY_TYPE_SOA:
        # master-file text, as the zone-file backend gives it
        return (
            f"{_fqdn(data.mname)} {_fqdn(data.rname)} {data.serial} {data.refresh} "
            f"{data.retry} {data.expire} {data.minimum}"
        )
    raise AssertionError(f"unexpected record type {rr.type}")


def to_answer(q: Query, result: Any, negative_ttl: int = 300) -> Answer:
    """A pycares DNSResult -> Answer: the records of the asked type at the end of the CNAME
    chain found in the answer section. Records at other owners are ignored (never trusted)."""
    qname = _name(q.name)
    cnames: dict[str, tuple[str, int]] = {}
    for rr in result.answer:
        if rr.type == pycares.QUERY_TYPE_CNAME:
            cnames.setdefault(_name(rr.name), (_name(rr.data.cname), int(rr.ttl)))
    chain: list[str] = []
    ttl: int | None = None
    name = qname
    if q.rtype is not RType.CNAME:
        seen = {name}
        while name in cnames:
            target, cttl = cnames[name]
            chain.append(target)
            ttl = cttl if ttl is None else min(ttl, cttl)
            if target in seen:  # a loop: the Resolver reports it when it chases
                break
            seen.add(target)
            name = target
    matches = [
        rr for rr in result.answer if int(rr.type) == int(q.rtype) and _name(rr.name) == name
    ]
    if matches:
        rttl = min(int(rr.ttl) for rr in matches)
        ttl = rttl if ttl is None else min(ttl, rttl)
    else:
        # NODATA at the end of an in-zone chain: the SOA says how long (RFC 2308 3)
        soas = [rr for rr in result.authority if rr.type == pycares.QUERY_TYPE_SOA]
        neg = min(int(soas[0].ttl), int(soas[0].data.minimum)) if soas else negative_ttl
        if soas or ttl is None:
            ttl = neg if ttl is None else min(ttl, neg)
    return Answer(
        Rcode.NOERROR, records=tuple(_rdata(rr) for rr in matches), ttl=ttl, cnames=tuple(chain)
    )


_txt_hook_installed = False


def _capture_txt_strings() -> None:
    """Make pycares keep TXT character-strings apart (idempotent, process-wide).

    pycares 5 builds ``TXTRecordData(data=b"".join(strings))`` in ``extract_record_data``, which
    ``parse_dnsrec`` looks up as a module global for every record. We wrap it: the returned
    object is unchanged (``data`` still holds the joined bytes for every other user) and gains a
    ``strings`` tuple read from the same c-ares record. If a pycares release moves these
    internals, the hook is not installed and TXT records arrive as one joined string — still
    correct for SPF/DKIM/DMARC, which concatenate the strings anyway (RFC 7208 3.3).
    """
    global _txt_hook_installed
    if _txt_hook_installed:
        return
    _txt_hook_installed = True
    try:
        from pycares._cares import ffi, lib

        original: Callable[[Any, int], Any] = pycares.extract_record_data
        txt_type, txt_field = lib.ARES_REC_TYPE_TXT, lib.ARES_RR_TXT_DATA
        count, get = lib.ares_dns_rr_get_abin_cnt, lib.ares_dns_rr_get_abin
    except (ImportError, AttributeError):
        return

    def extract_record_data(rr: Any, record_type: int) -> Any:
        data = original(rr, record_type)
        if record_type == txt_type:
            strings = []
            for i in range(count(rr, txt_field)):
                length = ffi.new("size_t *")
                ptr = get(rr, txt_field, i, length)
                strings.append(bytes(ffi.buffer(ptr, length[0])) if ptr != ffi.NULL else b"")
            data.strings = tuple(strings)
        return data

    pycares.extract_record_data = extract_record_data
