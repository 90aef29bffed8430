"""DNS wire format for the UDP transport: build one query, turn one reply into an Answer.

Why a hand parser: dnspython's ``Message.from_wire`` builds Name, Rdata and RRset objects for
every record; on this machine it costs ~600 us per reply, against ~10 us here, and was the
ceiling of the transport (bench/README.md). This parser makes one pass over the octets and keeps
only what an Answer holds. Where it reads, it follows dnspython's rules: compression pointers
point strictly backwards and stay clear of the part of the name already read, at most 16 hops,
names of at most 255 octets, TTLs above 2^31-1 read as 0, a later CNAME (a singleton type) at
a name replaces an earlier one, identical records collapse, OPT only once and only in the
additional section, nothing after the last record. ``tests/dns/reference_wire.py`` does the same
job with dnspython; the tests hold the two to the same answers on generated and mangled messages.

What an Answer means (shared with the zone-file backend): ``records`` are the RRs of the asked
type at the end of the CNAME chain found in the answer section, ``cnames`` the chain's targets,
``ttl`` the least TTL over the chain and the records or, for a negative answer, over the chain
and the SOA's min(TTL, MINIMUM) (RFC 2308 5).
"""

from __future__ import annotations

import socket
import struct

from bulkauth.core.common.model import MX, Answer, Query, Rcode, Rdata, RType

_RCODES = {
    0: Rcode.NOERROR,
    1: Rcode.FORMERR,
    2: Rcode.SERVFAIL,
    3: Rcode.NXDOMAIN,
    4: Rcode.NOTIMP,
    5: Rcode.REFUSED,
}
_IN = 1
_A = 1
_CNAME = 5
_SOA = 6
_MX = 15
_AAAA = 28
_TLSA = 52
_OPT = 41
_MAX_HOPS = 16  # dnspython's MAX_COMPRESSION_POINTER_CHAIN
_MAX_CHAIN = 16  # CNAMEs followed inside one reply
_TTL_MAX = 0x7FFFFFFF
_NAME_TYPES = frozenset({int(RType.CNAME), int(RType.PTR), int(RType.NS)})
_TXT_TYPES = frozenset({int(RType.TXT), int(RType.SPF)})
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

# presentation-format escaping of label octets, as dnspython's Name.to_text does it
_ESCAPE = tuple(
    "\\" + chr(c) if c in b'"().;\\@$' else chr(c) if 0x20 < c < 0x7F else f"\\{c:03d}"
    for c in range(256)
)
_PLAIN = bytes(c for c in range(0x21, 0x7F) if c not in b'"().;\\@$')


class WireError(ValueError):
    """A reply (or a question) that breaks the DNS wire format."""


# ---------------------------------------------------------------------------------- queries


#: length octet for each label size; None at 0 so that an empty label fails the join below
_LENGTH: list[bytes | None] = [None, *(bytes((i,)) for i in range(1, 64))]


def encode_name(name: str) -> bytes:
    """Wire form of a query name given as text (a trailing dot is optional).

    Names are sent as their octets (UTF-8 for non-ASCII: SPF macros expand to anything), as
    c-ares does; ``\\.`` and ``\\DDD`` escapes are honoured.
    """
    if name in ("", "."):
        return b"\x00"
    if name.endswith(".") and not name.endswith("\\."):
        name = name[:-1]
    raw = name.encode("utf-8", "surrogateescape")
    labels = _split_escaped(raw) if b"\\" in raw else raw.split(b".")
    try:
        wire = b"".join([_LENGTH[len(label)] + label for label in labels])  # type: ignore[operator]
    except (IndexError, TypeError):
        bad = "empty label" if any(not label for label in labels) else "label longer than 63 octets"
        raise WireError(f"{bad} in {name[:80]!r}") from None
    if len(wire) > 254:
        raise WireError(f"name longer than 255 octets: {name[:80]!r}...")
    return wire + b"\x00"


def _split_escaped(raw: bytes) -> list[bytes]:
    labels: list[bytes] = []
    cur = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == 0x5C:  # backslash: \DDD or \X
            digits = raw[i + 1 : i + 4]
            if len(digits) == 3 and digits.isdigit():
                value = int(digits)
                if value > 255:
                    raise WireError("escape \\DDD above 255")
                cur.append(value)
                i += 4
                continue
            if i + 1 >= n:
                raise WireError("name ends in a backslash")
            cur.append(raw[i + 1])
            i += 2
            continue
        if c == 0x2E:
            labels.append(bytes(cur))
            cur = bytearray()
        else:
            cur.append(c)
        i += 1
    labels.append(bytes(cur))
    return labels


_TAILS: dict[tuple[int, int], bytes] = {}


def build_query(q: Query, qid: int, edns_payload: int = 1232) -> tuple[bytearray, bytes]:
    """A recursive query for ``q``, and the lower-cased question section a reply must echo.

    ``edns_payload`` 0 sends no OPT record. The ID is the first two octets; the transport
    overwrites them for each attempt.
    """
    qname = encode_name(q.name)
    rtype = int(q.rtype)
    tail = _TAILS.get((rtype, edns_payload))
    if tail is None:
        tail = struct.pack("!HH", rtype, _IN)
        if edns_payload:
            # root owner, type OPT, class = payload size, TTL = ext-rcode/version/flags 0
            tail += b"\x00\x00\x29" + _U16.pack(edns_payload) + b"\x00\x00\x00\x00\x00\x00"
        _TAILS[(rtype, edns_payload)] = tail
    # RD, and AD: a validating resolver then says whether it validated the answer (RFC 6840
    # 5.7) without the DO bit, which would fill answers with signatures nobody reads here
    wire = bytearray(_HEADER.pack(qid, 0x0120, 1, 0, 0, 1 if edns_payload else 0))
    wire += qname
    wire += tail
    return wire, qname.lower() + tail[:4]


# ---------------------------------------------------------------------------------- replies

#: offset -> (lower-cased wire name without the root octet, offset after its inline part,
#: pointer hops, length): names already read in this message, so the usual pointer to the
#: question or to an earlier name costs one dict lookup
_Memo = dict[int, tuple[bytes, int, int, int]]


def _read_name(data: bytes, pos: int, limit: int, memo: _Memo) -> tuple[bytes, int]:
    """The (possibly compressed) name at ``pos``: lower-cased wire form and the offset after it.

    The wire form omits the root octet, so b"" is the root.
    """
    origin = pos
    out: list[bytes] = []
    biggest = start = pos
    hops = 0
    after = -1
    total = 1
    while True:
        if pos >= limit:
            raise WireError("name runs past its end")
        c = data[pos]
        if c == 0:
            pos += 1
            break
        if c < 64:
            end = pos + 1 + c
            if end > limit:
                raise WireError("label runs past its end")
            out.append(data[pos:end])
            total += c + 1
            if total > 255:
                raise WireError("name longer than 255 octets")
            pos = end
        elif c >= 192:
            if pos + 1 >= limit:
                raise WireError("truncated compression pointer")
            ptr = ((c & 0x3F) << 8) | data[pos + 1]
            pos += 2
            if after < 0:
                after = pos
            if ptr >= biggest:
                raise WireError("compression pointer does not point backwards")
            hops += 1
            if hops > _MAX_HOPS:
                raise WireError("compression pointer chain too long")
            known = memo.get(ptr)
            if known is not None and known[1] <= start:
                hops += known[2]
                total += known[3]
                if hops > _MAX_HOPS:
                    raise WireError("compression pointer chain too long")
                if total > 255:
                    raise WireError("name longer than 255 octets")
                out.append(known[0])
                break
            biggest = ptr
            # the target must not overlap the part of the name read already
            limit = start
            start = pos = ptr
        else:
            raise WireError(f"unknown label type {c:#04x}")
    name = b"".join(out).lower()
    end_at = after if after >= 0 else pos
    if origin not in memo:
        memo[origin] = (name, end_at, hops, total - 1)
    return name, end_at


def _skip_name(data: bytes, pos: int, limit: int) -> int:
    """The offset after the name at ``pos``, for names whose value nobody reads (SOA MNAME)."""
    start = pos
    while pos < limit:
        c = data[pos]
        if c == 0:
            return pos + 1
        if c < 64:
            pos += c + 1
        elif c >= 192 and pos + 1 < limit:
            if ((c & 0x3F) << 8) | data[pos + 1] >= start:
                raise WireError("compression pointer does not point backwards")
            return pos + 2
        else:
            break
    raise WireError("name runs past its end")


def _name_text(wire: bytes) -> str:
    """Presentation form of a lower-cased wire name, without the final dot; "" for the root."""
    parts = []
    pos = 0
    n = len(wire)
    while pos < n:
        c = wire[pos]
        label = wire[pos + 1 : pos + 1 + c]
        pos += 1 + c
        if label.translate(None, _PLAIN):
            parts.append("".join([_ESCAPE[x] for x in label]))
        else:
            parts.append(label.decode("ascii"))
    return ".".join(parts)


def _rdata(data: bytes, rtype: int, start: int, end: int, memo: _Memo) -> Rdata:
    if rtype in _TXT_TYPES:
        if end > start and data[start] + 1 == end - start:
            return (data[start + 1 : end],)
        strings = []
        pos = start
        while pos < end:
            size = data[pos]
            pos += 1
            if pos + size > end:
                raise WireError("TXT string runs past its record")
            strings.append(data[pos : pos + size])
            pos += size
        if not strings:
            raise WireError("TXT record without strings")
        return tuple(strings)
    if rtype == _A:
        if end - start != 4:
            raise WireError("A record is not 4 octets")
        return socket.inet_ntop(socket.AF_INET, data[start:end])
    if rtype == _MX:
        if end - start < 3:
            raise WireError("MX record too short")
        name, pos = _read_name(data, start + 2, end, memo)
        if pos != end:
            raise WireError("MX record longer than its name")
        return MX(_U16.unpack_from(data, start)[0], _name_text(name))
    if rtype in _NAME_TYPES:
        name, pos = _read_name(data, start, end, memo)
        if pos != end:
            raise WireError("record longer than its name")
        return _name_text(name)
    if rtype == _TLSA:
        # spelled as dnspython does, but without its check of the data's length, which would
        # make the whole answer a failure: a bad record is the DANE check's to report
        if end - start < 3:
            raise WireError("TLSA record too short")
        hexdata = data[start + 3 : end].hex()
        chunks = " ".join(hexdata[i : i + 128] for i in range(0, len(hexdata), 128))
        return f"{data[start]} {data[start + 1]} {data[start + 2]} {chunks}"
    if rtype == _AAAA and end - start == 16:
        # the C library spells addresses as dnspython does, embedded IPv4 forms included
        # (tests/test_udp_backend.py); importing dnspython costs a process more than a bulk
        # run's AAAA answers
        return socket.inet_ntop(socket.AF_INET6, data[start:end])
    # the rare rest: dnspython's text, so that every backend spells them alike
    import dns.exception
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    try:
        rd = dns.rdata.from_wire(
            dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype), data, start, end - start
        )
    except (dns.exception.DNSException, ValueError) as exc:
        raise WireError(f"bad type {rtype} record: {exc}") from exc
    return str(rd.to_text())


def parse_answer(data: bytes, q: Query, question_len: int) -> Answer:
    """The Answer that reply ``data`` gives to ``q``.

    The caller has matched the reply's question (``question_len`` octets at offset 12) with
    the one it sent. Raises WireError when the reply is malformed in any part this reads.
    """
    n = len(data)
    pos = 12 + question_len
    if n < pos:
        raise WireError("shorter than a header and question")
    _, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
    if qd != 1:
        raise WireError("reply does not carry exactly one question")
    qname = data[12 : pos - 5].lower()
    memo: _Memo = {}
    # the question and each of its suffixes (zone apex for the SOA, targets in the same zone)
    # are what the records' names mostly point to
    size = len(qname)
    at = 0
    while at < size:
        memo[12 + at] = (qname[at:], pos - 4, 0, size - at)
        at += qname[at] + 1
    memo[12 + size] = (b"", pos - 4, 0, 0)
    want = int(q.rtype)
    unpack_rr = _RR.unpack_from
    # answer section: records of the asked type and CNAMEs, by owner
    found: list[tuple[bytes, int, int, int]] = []  # owner, ttl, rdata start, end
    cnames: dict[bytes, tuple[bytes, int]] = {}  # owner -> (target, least ttl)
    soa_owner: bytes | None = None
    soa_ttl = -1
    soa_min = 0
    opt = False
    ext = 0
    for i in range(an + ns + ar):
        # fast path: the owner is one pointer to a name already read (usually the question)
        c = data[pos] if pos < n else 0x40  # 0x40: no name here, the slow path says why
        known = None
        if c >= 0xC0 and pos + 1 < n:
            known = memo.get(((c & 0x3F) << 8) | data[pos + 1])
        if known is not None and known[1] <= pos and known[2] < _MAX_HOPS:
            owner = known[0]
            pos += 2
        elif c == 0:
            owner = b""
            pos += 1
        else:
            owner, pos = _read_name(data, pos, n, memo)
        if pos + 10 > n:
            raise WireError("record header runs past the message")
        rtype, rclass, ttl, rdlen = unpack_rr(data, pos)
        pos += 10
        end = pos + rdlen
        if end > n:
            raise WireError("record data runs past the message")
        if rtype == _OPT:
            if i < an + ns or owner or opt:
                raise WireError("misplaced or repeated OPT record")
            opt = True
            ext = ttl >> 24  # the TTL field of OPT is EXTENDED-RCODE, VERSION, flags
            pos = end
            continue
        if ttl > _TTL_MAX:
            ttl = 0
        if rclass != _IN:
            pass
        elif i < an:
            if rtype == want:
                found.append((owner, ttl, pos, end))
            elif rtype == _CNAME:
                target, after = _read_name(data, pos, end, memo)
                if after != end:
                    raise WireError("CNAME record longer than its name")
                prev = cnames.get(owner)
                # a singleton type: the last target wins, the least TTL stays (as dnspython)
                cnames[owner] = (target, ttl if prev is None else min(prev[1], ttl))
        elif i < an + ns and rtype == _SOA:
            after = _skip_name(data, _skip_name(data, pos, end), end)
            if after + 20 != end:
                raise WireError("SOA record of the wrong length")
            if soa_owner is None:
                soa_owner = owner
            if owner == soa_owner:
                soa_ttl = ttl if soa_ttl < 0 else min(soa_ttl, ttl)
                soa_min = _U32.unpack_from(data, after + 16)[0]
        pos = end
    if pos != n:
        raise WireError("trailing octets after the last record")

    rcode_num = (ext << 4) | (flags & 0x0F)
    rcode = _RCODES.get(rcode_num)
    if rcode is None:
        return Answer(Rcode.ERROR, size=n, detail=f"server answered rcode {rcode_num}")
    if rcode is not Rcode.NOERROR and rcode is not Rcode.NXDOMAIN:
        return Answer(rcode, size=n)

    name = qname
    chain: list[str] = []
    chain_ttl = _TTL_MAX + 1
    seen = {name}
    for _ in range(_MAX_CHAIN):
        records: list[Rdata] = []
        ttl = -1
        for owner, rttl, start, end in found:
            if owner == name:
                rd = _rdata(data, want, start, end, memo)
                if want == _CNAME:
                    records = [rd]  # a singleton type: the last one wins
                elif rd not in records:
                    records.append(rd)
                ttl = rttl if ttl < 0 else min(ttl, rttl)
        if records:
            return Answer(
                rcode,
                records=tuple(records),
                ttl=ttl if ttl < chain_ttl else chain_ttl,
                cnames=tuple(chain) if chain else (),
                size=n,
                authentic=bool(flags & 0x0020),
            )
        hop = cnames.get(name) if want != _CNAME else None
        if hop is None:
            break
        name = hop[0]
        chain_ttl = min(chain_ttl, hop[1])
        chain.append(_name_text(name))
        if name in seen:
            break  # a loop inside the reply: the Resolver's chase reports it
        seen.add(name)
    # negative (or chain-only) answers: RFC 2308 min(SOA TTL, MINIMUM), and the chain's TTL
    ttl = min(soa_ttl, soa_min, chain_ttl) if soa_ttl >= 0 else chain_ttl if chain else 0
    return Answer(rcode, ttl=ttl, cnames=tuple(chain), size=n, authentic=bool(flags & 0x0020))


def reply_has_opt(data: bytes, question_len: int) -> bool:
    """Whether a reply carries an OPT record (a server that speaks EDNS). False if malformed."""
    n = len(data)
    pos = 12 + question_len
    if n < pos:
        return False
    _, _, _, an, ns, ar = _HEADER.unpack_from(data)
    memo: _Memo = {}
    try:
        for _ in range(an + ns + ar):
            _, pos = _read_name(data, pos, n, memo)
            if pos + 10 > n:
                return False
            rtype, _, _, rdlen = _RR.unpack_from(data, pos)
            if rtype == _OPT:
                return True
            pos += 10 + rdlen
    except WireError:
        return False
    return False
