"""DKIM selector discovery: RFC 8020 short-cut, wildcard detection, CNAMEs, states, bounds."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from bulkauth.core.common.model import Answer, Query, Rcode, RType, State
from bulkauth.core.common.step import Step
from bulkauth.core.dkim.probe import (
    BUILTIN_SELECTORS,
    MAX_EXTRA_SELECTORS,
    DkimAudit,
    audit_dkim,
    mark_parked,
    selectors_to_try,
    wildcard_selector,
)

DOMAIN = "example.com"
BASE = f"_domainkey.{DOMAIN}"
WILD = f"{wildcard_selector(DOMAIN)}.{BASE}"


@functools.cache
def key_record(bits: int = 2048, extra: str = "") -> str:
    pub = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    der = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; {extra}p={base64.b64encode(der).decode()}"


def txt(*records: str, cnames: tuple[str, ...] = ()) -> Answer:
    # Split like a real publisher: 255-octet character-strings.
    rrs = tuple(
        tuple(r.encode()[i : i + 255] for i in range(0, max(len(r), 1), 255)) for r in records
    )
    return Answer(Rcode.NOERROR, rrs, ttl=300, cnames=cnames)


NODATA = Answer(Rcode.NOERROR)
NX = Answer(Rcode.NXDOMAIN)


class Zone:
    """Answers from a dict, recording every batch of questions (no sockets)."""

    def __init__(
        self,
        table: dict[str, Answer],
        default: Answer = NX,
        under: Callable[[str], Answer | None] | None = None,
    ) -> None:
        self.table = table
        self.default = default
        self.under = under
        self.batches: list[tuple[Query, ...]] = []

    def answer(self, q: Query) -> Answer:
        assert q.rtype is RType.TXT
        if q.name in self.table:
            return self.table[q.name]
        if self.under is not None and (a := self.under(q.name)) is not None:
            return a
        return self.default

    def run(self, step: Step[DkimAudit]) -> DkimAudit:
        try:
            batch = step.send(None)  # type: ignore[arg-type]
            while True:
                self.batches.append(batch)
                batch = step.send(tuple(self.answer(q) for q in batch))
        except StopIteration as stop:
            result: DkimAudit = stop.value
        json.dumps(result.to_dict())  # every audit must serialise
        return result

    @property
    def names(self) -> list[str]:
        return [q.name for b in self.batches for q in b]


def codes(audit: DkimAudit) -> list[str]:
    return [p.code for p in audit.problems]


def sel(selector: str) -> str:
    return f"{selector}.{BASE}"


def test_key_found_at_a_builtin_selector() -> None:
    zone = Zone({BASE: NODATA, sel("google"): txt(key_record())})
    audit = zone.run(audit_dkim(DOMAIN))
    assert audit.state is State.VALID and codes(audit) == []
    [key] = audit.keys
    assert key.selector == "google" and key.record == key_record() and key.cname is None
    assert key.key.key_bits == 2048
    # One question for _domainkey, then one batch: the wildcard guess and every selector at once.
    assert [len(b) for b in zone.batches] == [1, 1 + len(BUILTIN_SELECTORS)]
    assert zone.batches[0][0] == Query(BASE, RType.TXT)
    assert zone.batches[1][0].name == WILD
    assert audit.selectors_tried == list(BUILTIN_SELECTORS)
    d = audit.to_dict()
    assert d["keys"][0]["selector"] == "google" and d["keys"][0]["key_bits"] == 2048
    assert d["wildcard"] is None and d["skipped"] is None


def test_builtin_list_is_sane() -> None:
    assert 40 <= len(BUILTIN_SELECTORS) <= 60
    assert len(set(BUILTIN_SELECTORS)) == len(BUILTIN_SELECTORS)
    for s in ("google", "selector1", "selector2", "k1", "s1", "fm1", "protonmail", "default"):
        assert s in BUILTIN_SELECTORS


@pytest.mark.parametrize("parked", [False, True])
def test_rfc8020_nxdomain_at_domainkey_skips_every_probe(parked: bool) -> None:
    zone = Zone({BASE: NX}, default=txt(key_record()))  # a probe would find a key
    audit = zone.run(audit_dkim(DOMAIN, extra_selectors=["mine"], parked=parked))
    assert zone.names == [BASE]
    assert audit.state is State.MISSING and audit.skipped == "rfc8020"
    assert audit.keys == [] and audit.selectors_tried == []
    code = "dkim.parked" if parked else "dkim.none_found"
    assert codes(audit) == [code] and audit.problems[0].severity == "info"


def test_nxdomain_behind_a_cname_does_not_skip() -> None:
    zone = Zone(
        {
            BASE: Answer(Rcode.NXDOMAIN, cnames=("elsewhere.example.net",)),
            sel("s1"): txt(key_record()),
        }
    )
    audit = zone.run(audit_dkim(DOMAIN))
    assert audit.skipped is None and [k.selector for k in audit.keys] == ["s1"]


def test_failed_domainkey_lookup_still_probes() -> None:
    zone = Zone({BASE: Answer(Rcode.SERVFAIL), sel("k1"): txt(key_record())})
    audit = zone.run(audit_dkim(DOMAIN))
    assert audit.state is State.VALID and [k.selector for k in audit.keys] == ["k1"]


def test_none_found_is_missing_with_an_info() -> None:
    zone = Zone({BASE: NODATA})
    audit = zone.run(audit_dkim(DOMAIN))
    assert audit.state is State.MISSING and codes(audit) == ["dkim.none_found"]
    assert audit.problems[0].severity == "info"
    assert f"{len(BUILTIN_SELECTORS)} selectors" in audit.problems[0].message
    parked = Zone({BASE: NODATA}).run(audit_dkim(DOMAIN, parked=True))
    assert parked.state is State.MISSING and codes(parked) == ["dkim.parked"]


def wildcard_zone(table: dict[str, Answer], record: str) -> Zone:
    return Zone(table, under=lambda n: txt(record) if n.endswith("." + BASE) else None)


def test_wildcard_answers_are_not_keys() -> None:
    wild = key_record(1024)
    real = key_record(2048)
    zone = wildcard_zone({BASE: NODATA, sel("selector1"): txt(real)}, wild)
    audit = zone.run(audit_dkim(DOMAIN))
    assert [k.selector for k in audit.keys] == ["selector1"]
    assert audit.wildcard is not None and audit.wildcard.record == wild
    assert audit.wildcard.selector == wildcard_selector(DOMAIN)
    assert "dkim.wildcard" in codes(audit)
    assert audit.state is State.VALID  # a warning; the wildcard's own weak key is not counted
    assert "dkim.key_weak" not in codes(audit)
    assert audit.to_dict()["wildcard"]["key_bits"] == 1024


def test_only_wildcard_answers_means_missing() -> None:
    zone = wildcard_zone({BASE: NODATA}, "v=spf1 -all")
    audit = zone.run(audit_dkim(DOMAIN))
    assert audit.keys == [] and audit.state is State.MISSING
    assert codes(audit) == ["dkim.wildcard", "dkim.none_found"]


def test_cname_to_provider_is_reported() -> None:
    target = "selector1-example-com._domainkey.example.onmicrosoft.com"
    zone = Zone({BASE: NODATA, sel("selector1"): txt(key_record(), cnames=(target,))})
    audit = zone.run(audit_dkim(DOMAIN))
    [key] = audit.keys
    assert key.cname == target and audit.to_dict()["keys"][0]["cname"] == target


def test_key_with_an_error_makes_the_section_invalid() -> None:
    zone = Zone(
        {
            BASE: NODATA,
            sel("google"): txt(key_record()),
            sel("s1"): txt(key_record(extra="h=sha1; ")),
        }
    )
    audit = zone.run(audit_dkim(DOMAIN))
    assert audit.state is State.INVALID
    assert codes(audit) == ["dkim.sha1_only"]
    assert audit.problems[0].message.startswith("selector s1: ")
    d = audit.to_dict()
    assert d["keys"][0]["problems"] == []
    assert d["keys"][1]["problems"][0]["code"] == "dkim.sha1_only"


def test_revoked_and_testing_keys_are_warnings() -> None:
    zone = Zone(
        {
            BASE: NODATA,
            sel("selector1"): txt("v=DKIM1; k=rsa; p="),
            sel("selector2"): txt(key_record(extra="t=y; ")),
        }
    )
    audit = zone.run(audit_dkim(DOMAIN))
    assert audit.state is State.VALID
    assert codes(audit) == ["dkim.key_revoked", "dkim.testing"]
    assert audit.keys[0].key.revoked


def test_malformed_key_is_invalid() -> None:
    zone = Zone({BASE: NODATA, sel("default"): txt("v=DKIM1; p=bm90IGEga2V5")})
    audit = zone.run(audit_dkim(DOMAIN))
    assert audit.state is State.INVALID and codes(audit) == ["dkim.key_malformed"]


def test_several_records_at_one_selector() -> None:
    zone = Zone({BASE: NODATA, sel("mail"): txt("some note", key_record())})
    audit = zone.run(audit_dkim(DOMAIN))
    [key] = audit.keys
    assert key.record == key_record()  # the one with p= is graded
    assert audit.state is State.INVALID and codes(audit) == ["dkim.multiple_records"]


def test_failed_probes_without_a_key_are_indeterminate() -> None:
    zone = Zone({BASE: NODATA, sel("k2"): Answer(Rcode.TIMEOUT)})
    audit = zone.run(audit_dkim(DOMAIN))
    assert audit.state is State.INDETERMINATE and audit.dns_failure is not None
    assert audit.dns_failure.name == sel("k2") and audit.dns_failure.rcode == "TIMEOUT"
    assert codes(audit) == []


def test_failed_wildcard_probe_alone_does_not_block_missing() -> None:
    zone = Zone({BASE: NODATA, WILD: Answer(Rcode.SERVFAIL)})
    audit = zone.run(audit_dkim(DOMAIN))
    assert audit.state is State.MISSING and codes(audit) == ["dkim.none_found"]


def test_failed_probes_beside_a_key_are_noted() -> None:
    zone = Zone({BASE: NODATA, sel("k1"): txt(key_record()), sel("k2"): Answer(Rcode.SERVFAIL)})
    audit = zone.run(audit_dkim(DOMAIN))
    assert audit.state is State.VALID and audit.dns_failure is None
    assert codes(audit) == ["dkim.probe_dns_failure"] and audit.problems[0].severity == "info"


def test_extra_selectors() -> None:
    zone = Zone({BASE: NODATA, sel("2024.mail"): txt(key_record())})
    extra = ["2024.mail.", "GOOGLE", "google", "bad selector", "-x", "a..b", ""]
    audit = zone.run(audit_dkim(DOMAIN, extra_selectors=extra))
    assert [k.selector for k in audit.keys] == ["2024.mail"]
    assert audit.selectors_tried == [*BUILTIN_SELECTORS, "2024.mail"]
    assert codes(audit) == ["dkim.bad_selector"] * 3
    assert sel("2024.mail") in zone.names and all(" " not in n for n in zone.names)


def test_extra_selectors_are_bounded() -> None:
    tried, problems = selectors_to_try(f"x{i}" for i in range(1000))
    assert len(tried) == len(BUILTIN_SELECTORS) + MAX_EXTRA_SELECTORS
    assert [p.code for p in problems] == ["dkim.too_many_selectors"]


def test_selectors_too_long_for_the_name_are_dropped() -> None:
    domain = ".".join(["a" * 60] * 3) + ".com"  # 187 octets: room for short selectors only
    long_sel = ".".join(["b" * 30] * 2)
    zone = Zone({f"_domainkey.{domain}": NODATA})
    audit = zone.run(audit_dkim(domain, extra_selectors=[long_sel]))
    assert long_sel not in audit.selectors_tried
    assert all(len(n) <= 253 for n in zone.names)


def test_wildcard_selector_is_stable_and_per_domain() -> None:
    a = wildcard_selector("example.com")
    assert a == wildcard_selector("example.com") != wildcard_selector("example.org")
    assert a.startswith("bulkauth-wildcard-") and len(a) == len("bulkauth-wildcard-") + 8


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=3))
def test_probe_never_raises_on_garbage_records(strings: list[bytes]) -> None:
    answer = Answer(Rcode.NOERROR, (tuple(strings),))
    audit = Zone({BASE: NODATA, sel("selector1"): answer}).run(audit_dkim(DOMAIN))
    assert audit.state in (State.VALID, State.INVALID)


def test_domain_too_long_for_any_selector() -> None:
    domain = ".".join(["c" * 60] * 4)[:240] + ".com"
    zone = Zone({f"_domainkey.{domain}": NODATA})
    audit = zone.run(audit_dkim(domain))
    assert audit.state is State.MISSING and audit.selectors_tried == [] and audit.wildcard is None
    assert len(zone.batches) == 1  # nothing left to ask after _domainkey


def test_mark_parked_after_the_fact() -> None:
    audit = Zone({BASE: NODATA}).run(audit_dkim(DOMAIN))
    assert codes(mark_parked(audit)) == ["dkim.parked"] and audit.state is State.MISSING
    found = Zone({BASE: NODATA, sel("k1"): txt(key_record())}).run(audit_dkim(DOMAIN))
    assert codes(mark_parked(found)) == []
