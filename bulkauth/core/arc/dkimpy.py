"""The reference: ARC chain validation by dkimpy's ``ARC.verify``, with the keys given. Sans-I/O.

``bulkauth messages --arc-verifier dkimpy`` and the tests run it beside our own validator
(``bulkauth.core.arc.verify``) to compare verdicts. dkimpy gets a ``dnsfunc`` that reads the key
answers prefetched for the message (``bulkauth.core.dkim.verify.KeyRecord``: ARC signs with DKIM
keys); its known failure modes are turned into named results. Its codes (``arc.structure``,
``arc.ams_invalid``, ``arc.seal_invalid``, ``arc.verifier_crash``) are coarser than ours and
name no instance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bulkauth.core.arc.result import ArcResult
from bulkauth.core.arc.sets import MAX_ARC_INSTANCES, signature_fields
from bulkauth.core.dkim.dkimpy import dkim
from bulkauth.core.dkim.key import RSA_MIN_BITS
from bulkauth.core.dkim.verify import KeyTable, key_name, signature_tags, tag_text
from bulkauth.core.message.headers import Header, unfold

_INSTANCE = re.compile(rb"(?:^|;)\s*i\s*=\s*(\d{1,6})\s*(?:;|$)")


def _arc_reason_code(reason: str) -> str:
    """Name dkimpy's ARC failure reasons (dkimpy 1.1.8 texts; tests pin them)."""
    low = reason.lower()
    if "reported failure, the chain is terminated" in low:
        return "arc.chain_terminated"
    if "most recent arc-message-signature did not validate" in low:
        return "arc.ams_invalid"
    if "did not validate" in low:
        return "arc.seal_invalid"
    if "reported invalid status" in low:
        return "arc.cv_invalid"
    if "unknown signature algorithm" in low:
        return "arc.unsupported_algorithm"
    return "arc.structure"


def verify_arc_dkimpy(raw: bytes, headers: Sequence[Header], keys: KeyTable) -> ArcResult:
    """Validate the ARC chain with dkimpy, answering its key lookups from ``keys``. Never raises.

    Named cases where dkimpy 1.1.8 needs help:

    * a DNS failure for any key of the chain is ``temperror`` (``arc.dns_error``): dkimpy would
      read the missing answer as "no key" and fail the chain;
    * ARC sets signed with ed25519 fail (``arc.unsupported_algorithm``): dkimpy's ARC accepts
      only rsa-sha256, as RFC 8617 defines;
    * ``ARC-Message-Signature:i=3;`` (no space before ``i=``) makes dkimpy raise IndexError, as
      it finds the raw AMS by the substring `` i=3;``: that is ``permerror``
      (``arc.verifier_crash``) naming the cause, as is any other exception from dkimpy.
    """
    out = ArcResult(verifier="dkimpy")
    arc = signature_fields(headers)
    seals = [h for h in arc if h[0].lower() == b"arc-seal"]
    all_arc = [h for h in headers if h[0].lower() in dkim.ARC.ARC_HEADERS]
    if not all_arc:
        return out
    instances: dict[int, dict[bytes, bytes]] = {}
    for name, value in all_arc:
        flat = unfold(value)
        m = _INSTANCE.search(flat)
        if m is None:
            continue
        i = int(m.group(1))
        if name.lower() == b"arc-message-signature":
            tags = signature_tags(flat)
            if tags is not None:
                instances[i] = tags
    out.instances = max(
        (int(m.group(1)) for _, v in all_arc if (m := _INSTANCE.search(unfold(v)))), default=0
    )
    if 1 in instances:
        out.oldest_ams_domain = tag_text(instances[1].get(b"d"))
    if out.instances > MAX_ARC_INSTANCES:
        return _arc_done(
            out,
            "fail",
            "arc.too_many_instances",
            f"{out.instances} ARC sets; RFC 8617 allows {MAX_ARC_INSTANCES}",
        )
    if not seals and not instances:
        return _arc_done(out, "fail", "arc.structure", "ARC fields without a complete set")
    for _, value in arc:
        tags = signature_tags(unfold(value))
        kname = key_name(tags) if tags is not None else None
        rec = keys.get(kname) if kname is not None else None
        if rec is not None and rec.failed:
            return _arc_done(
                out, "temperror", "arc.dns_error", f"DNS lookup of {kname} TXT failed ({rec.rcode})"
            )

    def dnsfunc(qname: bytes, timeout: float = 5) -> bytes | None:
        n = qname.decode("ascii", "replace").rstrip(".").lower()
        rec = keys.get(n)
        if rec is None or not rec.texts:
            return None
        return rec.texts[0].encode("utf-8", "surrogateescape")

    try:
        cv, data, reason = dkim.ARC(raw, minkey=RSA_MIN_BITS).verify(dnsfunc=dnsfunc)
    except IndexError as exc:
        return _arc_done(
            out,
            "permerror",
            "arc.verifier_crash",
            "dkimpy's ARC verifier cannot locate an ARC-Message-Signature written without a space "
            f"before i= (IndexError: {exc})",
        )
    except Exception as exc:
        return _arc_done(
            out,
            "permerror",
            "arc.verifier_crash",
            f"dkimpy's ARC verifier failed: {type(exc).__name__}: {exc}"[:300],
        )
    for d in data:
        out.sets.append(
            {
                "instance": d.get("instance"),
                "ams_domain": tag_text(d.get("ams-domain")),
                "ams_valid": bool(d.get("ams-valid")),
                "as_domain": tag_text(d.get("as-domain")),
                "as_valid": bool(d.get("as-valid")),
                "cv": tag_text(d.get("cv")),
            }
        )
    if cv == dkim.CV_Pass:
        return _arc_done(out, "pass", None, "the chain validates")
    if cv == dkim.CV_None:
        return _arc_done(out, "none", None, str(reason))
    # cv None: a seal said cv=fail, so the chain was already broken when it was sealed
    return _arc_done(out, "fail", _arc_reason_code(str(reason)), str(reason)[:300])


def _arc_done(out: ArcResult, result: str, code: str | None, message: str) -> ArcResult:
    out.result, out.code, out.message = result, code, message
    return out
