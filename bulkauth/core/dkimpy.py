"""dkimpy, imported without its DNS plug-in.

dkimpy imports ``dkim.dnsplug`` at import time: dnspython's whole stub resolver (and its DoH
client when httpx is installed), ~0.2 s of every run's start-up. bulkauth always hands dkimpy a
``dnsfunc`` that reads the run's resolver cache, so a stand-in takes the plug-in's place before
dkimpy is first imported; it refuses, should anything reach it.
"""

from __future__ import annotations

import sys
import types


def _stand_in_for_dnsplug() -> None:
    if "dkim" in sys.modules or "dkim.dnsplug" in sys.modules:
        return

    def get_txt(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("bulkauth passes dkimpy a dnsfunc; dkimpy's own DNS is not used")

    stub = types.ModuleType("dkim.dnsplug")
    stub.get_txt = get_txt  # type: ignore[attr-defined]
    sys.modules["dkim.dnsplug"] = stub


_stand_in_for_dnsplug()

import dkim  # noqa: E402  (after the stand-in, which is the point of this module)
from dkim.canonicalization import (  # noqa: E402
    CanonicalizationPolicy,
    InvalidCanonicalizationPolicyError,
    Relaxed,
    correct_empty_body,
    strip_trailing_lines,
)
from dkim.crypto import RSASSA_PKCS1_v1_5_verify  # noqa: E402

__all__ = [
    "CanonicalizationPolicy",
    "InvalidCanonicalizationPolicyError",
    "RSASSA_PKCS1_v1_5_verify",
    "Relaxed",
    "correct_empty_body",
    "dkim",
    "strip_trailing_lines",
]
