"""The reference for masterfile.py: a master file as dnspython loads it, and a comparable view.

``ZoneSet.load`` used to read every file this way (``dns.zone.from_file``, absolute names, no
origin check); the fast reader must build the same zone, field for field.
"""

from __future__ import annotations

from typing import Any

import dns.name
import dns.zone


def reference(text: str, origin: str | dns.name.Name) -> dns.zone.Zone:
    return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)


def _slots(obj: Any) -> dict[str, str]:
    # every field the object holds, in the form that tells an enum from an int and a case
    names = {s for k in type(obj).__mro__ for s in getattr(k, "__slots__", ())}
    return {s: repr(getattr(obj, s)) for s in sorted(names)}


def view(zone: dns.zone.Zone) -> dict[str, Any]:
    """Everything of a zone an answer can depend on, and more: origin, each owner as written,
    each rdataset's type, covered type, TTL and rdatas in order, each rdata's class, fields,
    text and hash."""
    assert zone.origin is not None
    nodes: dict[str, Any] = {}
    for name, node in zone.nodes.items():
        sets = {}
        for rds in node.rdatasets:
            sets[(int(rds.rdtype), int(rds.covers))] = (
                rds.ttl,
                [(type(rd).__name__, rd.to_text(), _slots(rd), hash(rd)) for rd in rds],
            )
        nodes[repr(name.labels)] = (type(node).__name__, sets)
    return {
        "origin": repr(zone.origin.labels),
        "class": repr(zone.rdclass),
        "relativize": zone.relativize,
        "nodes": nodes,
    }
