"""The wire parser's yardstick: ``bulkauth.dns.wire.parse_answer`` done with dnspython.

Test-only: dnspython builds objects for every record (~600 us a reply against ~10 us for the hand
parser), so the transport cannot use it, but it is what the hand parser must agree with. The
constants are spelled out here rather than imported, so the two share no code.
"""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype

from bulkauth.core.common.model import MX, Answer, Query, Rcode, Rdata, RType
from bulkauth.dns.wire import WireError

_RCODES = {
    0: Rcode.NOERROR,
    1: Rcode.FORMERR,
    2: Rcode.SERVFAIL,
    3: Rcode.NXDOMAIN,
    4: Rcode.NOTIMP,
    5: Rcode.REFUSED,
}
_MAX_CHAIN = 16  # CNAMEs followed inside one reply
_TTL_MAX = 0x7FFFFFFF
_NAME_TYPES = frozenset({int(RType.CNAME), int(RType.PTR), int(RType.NS)})
_TXT_TYPES = frozenset({int(RType.TXT), int(RType.SPF)})


def parse_answer_reference(data: bytes, q: Query) -> Answer:
    """``parse_answer`` done with dnspython: the yardstick for the tests."""
    try:
        msg = dns.message.from_wire(data)
    except Exception as exc:  # dnspython raises many types on garbage
        raise WireError(f"dnspython: {exc!r}") from exc
    if len(msg.question) != 1:
        raise WireError("reply does not carry exactly one question")
    rcode_num = int(msg.rcode())
    rcode = _RCODES.get(rcode_num)
    if rcode is None:
        return Answer(Rcode.ERROR, size=len(data), detail=f"server answered rcode {rcode_num}")
    if rcode is not Rcode.NOERROR and rcode is not Rcode.NXDOMAIN:
        return Answer(rcode, size=len(data))
    rdtype = dns.rdatatype.RdataType.make(int(q.rtype))

    def text(n: dns.name.Name) -> str:
        return "" if n == dns.name.root else n.to_text(omit_final_dot=True).lower()

    name = msg.question[0].name
    cnames: list[str] = []
    chain_ttl = _TTL_MAX + 1
    seen = {name}
    for _ in range(_MAX_CHAIN):
        rrset = msg.get_rrset(msg.answer, name, dns.rdataclass.IN, rdtype)
        if rrset:
            recs: list[Rdata] = []
            for rd in rrset:
                if int(q.rtype) in _TXT_TYPES:
                    recs.append(tuple(rd.strings))
                elif q.rtype is RType.MX:
                    recs.append(MX(rd.preference, text(rd.exchange)))
                elif int(q.rtype) in _NAME_TYPES:
                    recs.append(text(rd.target))
                else:
                    recs.append(rd.to_text())
            return Answer(
                rcode,
                records=tuple(recs),
                ttl=min(rrset.ttl, chain_ttl),
                cnames=tuple(cnames),
                size=len(data),
            )
        if rdtype == dns.rdatatype.CNAME:
            break
        c = msg.get_rrset(msg.answer, name, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if not c:
            break
        chain_ttl = min(chain_ttl, c.ttl)
        target = c[0].target
        cnames.append(text(target))
        name = target
        if name in seen:
            break
        seen.add(name)
    negative = -1
    for rrset in msg.authority:
        if rrset.rdtype == dns.rdatatype.SOA and rrset.rdclass == dns.rdataclass.IN:
            negative = min(rrset.ttl, rrset[0].minimum)
            break
    ttl = min(negative, chain_ttl) if negative >= 0 else chain_ttl if cnames else 0
    return Answer(rcode, ttl=ttl, cnames=tuple(cnames), size=len(data))
