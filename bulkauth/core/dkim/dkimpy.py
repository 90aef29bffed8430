"""dkimpy, imported without its DNS plug-in and its async support.

dkimpy imports ``dkim.dnsplug`` at import time: dnspython's whole stub resolver (and its DoH
client when httpx is installed), ~0.2 s of every run's start-up. bulkauth always hands dkimpy a
``dnsfunc`` that reads the run's resolver cache, so a stand-in takes the plug-in's place before
dkimpy is first imported; it refuses, should anything reach it. dkimpy also imports aiodns
(with asyncio and c-ares, ~0.09 s) for ``dkim.asyncsupport``, which bulkauth does not use: aiodns
is hidden while dkimpy loads, and stays importable for the aiodns backend.
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
_hidden = "aiodns" not in sys.modules
if _hidden:
    sys.modules["aiodns"] = None  # type: ignore[assignment]  # `import aiodns` fails in dkimpy
try:
    import dkim
finally:
    if _hidden:
        del sys.modules["aiodns"]
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
