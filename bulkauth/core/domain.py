"""The `bulkauth domains` record for one domain: every section's audit, run side by side."""

from __future__ import annotations

from typing import Any

from bulkauth.core.dmarc import Method, audit_dmarc
from bulkauth.core.mx import audit_mx
from bulkauth.core.spf_audit import audit_spf
from bulkauth.core.step import Step, parallel

SCHEMA = "bulkauth.domain/1"
SECTIONS = ("spf", "dmarc", "mx")


def audit_domain(domain: str, dmarc_discovery: Method = "psl") -> Step[dict[str, Any]]:
    """All sections of one domain's record (without the input bookkeeping fields)."""
    spf, dmarc, mx = yield from parallel(
        audit_spf(domain),
        audit_dmarc(domain, dmarc_discovery),
        audit_mx(domain),
    )
    return {
        "exists": mx.domain_exists,
        "spf": spf.to_dict(),
        "dmarc": dmarc.to_dict(),
        "mx": mx.to_dict(),
    }
