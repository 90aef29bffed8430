"""Our ARC chain validator (RFC 8617 5.2) on chains sealed in the test: every algorithm, the
header forms real mail has, and each way a chain breaks, with its verdict and named reason."""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.arcseal import Form, Signer, base_message, seal
from bulkauth.core.arc.dkimpy import verify_arc_dkimpy
from bulkauth.core.arc.result import ArcResult
from bulkauth.core.arc.verify import arc_key_names, verify_arc
from bulkauth.core.common.model import Answer, Query, Rcode, RType
from bulkauth.core.dkim.verify import KeyRecord, message_parts
from bulkauth.core.message.check import CheckOptions, verify_message
from bulkauth.schema import MESSAGE_ARC
from tests.core.dmarc.dmarckit import txt

AS_OF = 1_700_000_100.0


@functools.cache
def rsa_signer(domain: str = "lists.example", bits: int = 2048) -> Signer:
    return Signer.rsa(domain, "arc", bits)


@functools.cache
def ed_signer(domain: str = "relay.example") -> Signer:
    return Signer.ed25519(domain)


def keys_for(raw: bytes, *signers: Signer, failed: str | None = None) -> dict[str, KeyRecord]:
    block, _ = message_parts(raw)
    table = {s.key_name: KeyRecord("NOERROR", (s.txt(),)) for s in signers}
    if failed is not None:
        table[failed] = KeyRecord("SERVFAIL")
    return {n: table.get(n, KeyRecord("NXDOMAIN")) for n in arc_key_names(block.headers)}


def check(raw: bytes, *signers: Signer, keys: dict[str, KeyRecord] | None = None) -> ArcResult:
    block, body = message_parts(raw)
    table = keys if keys is not None else keys_for(raw, *signers)
    return verify_arc(block.headers, body, table, AS_OF, malformed=block.malformed)


def verdict(r: ArcResult) -> tuple[str, str | None, int | None, str | None]:
    return r.result, r.code, r.failed_instance, r.failed_header


def chain(n: int, signer: Signer, form: Form | None = None) -> bytes:
    raw = base_message()
    for i in range(1, n + 1):
        raw = seal(raw, signer, "none" if i == 1 else "pass", form=form)
    return raw


# --------------------------------------------------------------------------------------------
# algorithms


def test_an_rsa_chain_passes_here_and_in_dkimpy() -> None:
    # the sealer and the validator agree with a third party: dkimpy validates our RSA chains
    s = rsa_signer()
    raw = chain(2, s)
    r = check(raw, s)
    assert verdict(r) == ("pass", None, None, None)
    assert (r.instances, r.oldest_pass, r.oldest_ams_domain) == (2, 0, "lists.example")
    block, _ = message_parts(raw)
    assert verify_arc_dkimpy(raw, block.headers, keys_for(raw, s)).result == "pass"


def test_an_ed25519_chain_passes() -> None:
    s = ed_signer()
    raw = chain(2, s)
    r = check(raw, s)
    assert verdict(r) == ("pass", None, None, None)
    assert [(x["instance"], x["ams_algorithm"], x["as_algorithm"]) for x in r.sets] == [
        (2, "ed25519-sha256", "ed25519-sha256"),
        (1, "ed25519-sha256", "ed25519-sha256"),
    ]
    assert all(x["ams_valid"] and x["as_valid"] for x in r.sets)
    # the reference cannot: dkimpy's ARC accepts rsa-sha256 only
    block, _ = message_parts(raw)
    old = verify_arc_dkimpy(raw, block.headers, keys_for(raw, s))
    assert (old.result, old.code) == ("fail", "arc.unsupported_algorithm")


def test_a_chain_mixing_rsa_and_ed25519_passes() -> None:
    rsa_s, ed_s = rsa_signer(), ed_signer()
    raw = seal(seal(base_message(), rsa_s, "none"), ed_s, "pass")
    assert verdict(check(raw, rsa_s, ed_s)) == ("pass", None, None, None)


def test_an_ed25519_ams_over_a_changed_body_fails_on_its_body_hash() -> None:
    s = ed_signer()
    raw = chain(2, s) + b"A footer added after sealing.\r\n"
    r = check(raw, s)
    assert verdict(r) == ("fail", "arc.ams_body_hash", 2, "ARC-Message-Signature")
    assert r.sets[0]["ams_code"] == "arc.ams_body_hash" and r.sets[0]["as_valid"]


def test_an_ed25519_seal_under_the_wrong_key_fails_on_its_signature() -> None:
    s, other = ed_signer(), Signer.ed25519("relay.example")
    raw = chain(1, s)
    keys = keys_for(raw, other)  # the DNS holds another key under the same name
    r = check(raw, keys=keys)
    # the AMS is checked first (step 4) and fails the same way
    assert verdict(r) == ("fail", "arc.ams_signature", 1, "ARC-Message-Signature")
    assert r.sets[0]["as_code"] == "arc.as_signature"


def test_a_seal_that_no_longer_verifies_is_as_signature() -> None:
    s = rsa_signer()
    raw = chain(2, s)
    # rewrite the AAR of instance 1, which only the seals sign
    raw = raw.replace(b"i=1; relay.lists.example; arc=none", b"i=1; relay.lists.example; arc=pass")
    r = check(raw, s)
    assert verdict(r) == ("fail", "arc.as_signature", 2, "ARC-Seal")
    assert [(x["instance"], x["ams_valid"], x["as_valid"]) for x in r.sets] == [
        (2, True, False),
        (1, True, False),
    ]


@pytest.mark.parametrize(("bits", "expected"), [(768, "fail"), (1024, "pass")])
def test_rsa_keys_under_1024_bits_are_refused_as_dkim_refuses_them(
    bits: int, expected: str
) -> None:
    s = Signer.rsa("small.example", "arc", bits)
    r = check(chain(1, s), s)
    assert r.result == expected
    if expected == "fail":
        assert (r.code, r.failed_instance, r.failed_header) == (
            "arc.weak_key",
            1,
            "ARC-Message-Signature",
        )
        assert "768-bit" in r.message and "RFC 8301" in r.message


# --------------------------------------------------------------------------------------------
# the forms real mail has


def test_ams_and_seal_without_a_space_before_i_pass() -> None:
    s = rsa_signer()
    raw = chain(2, s, Form(no_space=("ARC-Message-Signature", "ARC-Seal")))
    assert b"\r\nARC-Message-Signature:i=1; a=rsa-sha256" in raw
    assert raw.startswith(b"ARC-Seal:i=2; ")
    assert verdict(check(raw, s)) == ("pass", None, None, None)
    # the reference crashes on it (it finds the AMS by the substring " i=1;")
    block, _ = message_parts(raw)
    old = verify_arc_dkimpy(raw, block.headers, keys_for(raw, s))
    assert (old.result, old.code) == ("permerror", "arc.verifier_crash")


def test_i_last_folded_values_and_white_space_around_tags_pass() -> None:
    s = ed_signer()
    raw = chain(3, s, Form(i_last=True, folded=True))
    assert raw.startswith(b"ARC-Seal:  a = ed25519-sha256 ;\r\n\t cv = pass ;")
    assert b"\r\n\t i = 3 ;\r\n\tb=" in raw  # i= after the others, before b=
    assert b" a = ed25519-sha256 ;" in raw
    r = check(raw, s)
    assert verdict(r) == ("pass", None, None, None) and r.instances == 3


def test_a_field_name_with_other_case_counts() -> None:
    s = rsa_signer()
    raw = chain(1, s).replace(b"ARC-Seal:", b"arc-seal:", 1)
    assert verdict(check(raw, s)) == ("pass", None, None, None)


# --------------------------------------------------------------------------------------------
# structure (RFC 8617 5.2 steps 1-3)


def _drop_instance(raw: bytes, i: int) -> bytes:
    _, _, body = raw.partition(b"\r\n\r\n")
    block, _ = message_parts(raw)
    kept = []
    for name, value in block.headers:
        if name.lower().startswith(b"arc-") and (
            value.lstrip().startswith(f"i={i};".encode()) or f" i={i};".encode() in value
        ):
            continue
        kept.append(name + b":" + value)
    return b"".join(kept) + b"\r\n" + body


def test_a_missing_instance_is_a_gap() -> None:
    s = ed_signer()
    raw = _drop_instance(chain(3, s), 2)
    assert b"i=2;" not in raw
    r = check(raw, s)
    assert verdict(r) == ("fail", "arc.instance_gap", 2, None)
    assert r.instances == 3


def test_a_duplicate_ams_is_named() -> None:
    s = rsa_signer()
    raw = chain(1, s)
    block, _ = message_parts(raw)
    ams = next(n + b":" + v for n, v in block.headers if n == b"ARC-Message-Signature")
    r = check(ams + raw, s)
    assert verdict(r) == ("fail", "arc.instance_duplicate", 1, "ARC-Message-Signature")


def test_two_sets_with_the_same_instance_are_duplicates() -> None:
    s = rsa_signer()
    raw = seal(chain(1, s), s, "pass", instance=1)
    r = check(raw, s)
    assert verdict(r) == ("fail", "arc.instance_duplicate", 1, "ARC-Authentication-Results")


def test_a_set_without_its_seal_is_incomplete() -> None:
    s = rsa_signer()
    raw = chain(2, s)
    raw = raw[raw.index(b"\r\nARC-Message-Signature") + 2 :]  # the top seal (i=2) is gone
    r = check(raw, s)
    assert verdict(r) == ("fail", "arc.set_incomplete", 2, "ARC-Seal")


def test_cv_fail_carried_forward_fails_at_the_seal_that_said_it() -> None:
    s = rsa_signer()
    raw = seal(seal(seal(base_message(), s, "none"), s, "fail"), s, "pass")
    r = check(raw, s)
    assert verdict(r) == ("fail", "arc.chain_terminated", 2, "ARC-Seal")
    assert "cv=fail" in r.message


def test_the_latest_seal_saying_cv_fail_ends_the_chain() -> None:
    s = rsa_signer()
    raw = seal(seal(base_message(), s, "none"), s, "fail")
    r = check(raw, s, keys={})  # step 2: no key is needed to know
    assert verdict(r) == ("fail", "arc.chain_terminated", 2, "ARC-Seal")


@pytest.mark.parametrize(
    ("cvs", "bad"),
    [(("pass",), 1), (("none", "none"), 2), (("none", "maybe"), 2)],
)
def test_cv_rules(cvs: tuple[str, ...], bad: int) -> None:
    s = rsa_signer()
    raw = base_message()
    for cv in cvs:
        raw = seal(raw, s, cv)
    assert verdict(check(raw, s)) == ("fail", "arc.cv_invalid", bad, "ARC-Seal")


def test_50_sets_pass_and_51_fail_before_any_key_is_needed() -> None:
    s = ed_signer()
    raw = chain(50, s)
    r = check(raw, s)
    assert verdict(r) == ("pass", None, None, None) and r.instances == 50
    raw = seal(raw, s, "pass")
    r = check(raw, s, keys={})
    assert verdict(r) == ("fail", "arc.too_many_instances", 51, "ARC-Seal")
    assert r.instances == 51


def test_a_hostile_number_of_arc_fields_is_not_read_to_the_end() -> None:
    s = rsa_signer()
    raw = chain(1, s)
    block, _ = message_parts(raw)
    aar = next(n + b":" + v for n, v in block.headers if n == b"ARC-Authentication-Results")
    r = check(aar * 200 + raw, s, keys={})
    assert (r.result, r.code) == ("fail", "arc.too_many_instances")


@pytest.mark.parametrize(
    ("cut", "code", "header"),
    [
        # the seal cut before its d=, s= and b=
        (
            lambda raw: raw.replace(b"; d=lists.example; s=arc; t=1700000000; b=", b";", 1),
            "arc.as_syntax",
            "ARC-Seal",
        ),
        # the seal's b= cut inside the signature
        (lambda raw: _cut_b(raw, b"ARC-Seal", 7), "arc.as_syntax", "ARC-Seal"),
        # the AMS cut before bh= and b=
        (
            lambda raw: _cut_tags(raw, b"ARC-Message-Signature", b" bh="),
            "arc.ams_syntax",
            "ARC-Message-Signature",
        ),
    ],
)
def test_a_truncated_header(cut: Any, code: str, header: str) -> None:
    s = rsa_signer()
    raw = cut(chain(1, s))
    r = check(raw, s)
    assert verdict(r) == ("fail", code, 1, header)


def _field_span(raw: bytes, name: bytes) -> tuple[int, int]:
    start = raw.index(name + b":")
    end = start
    while True:
        end = raw.index(b"\r\n", end) + 2
        if raw[end : end + 1] not in (b" ", b"\t"):
            return start, end


def _cut_b(raw: bytes, name: bytes, keep: int) -> bytes:
    start, end = _field_span(raw, name)
    value = raw[start:end]
    b_at = value.rindex(b"b=") + 2
    return raw[:start] + value[: b_at + keep] + b"\r\n" + raw[end:]


def _cut_tags(raw: bytes, name: bytes, at: bytes) -> bytes:
    start, end = _field_span(raw, name)
    value = raw[start:end]
    return raw[:start] + value[: value.index(at)] + b"\r\n" + raw[end:]


def test_an_unreadable_instance_names_the_header() -> None:
    s = rsa_signer()
    raw = chain(1, s).replace(
        b"ARC-Authentication-Results: i=1;", b"ARC-Authentication-Results: relay;", 1
    )
    r = check(raw, s)
    assert verdict(r) == ("fail", "arc.instance_invalid", None, "ARC-Authentication-Results")


# --------------------------------------------------------------------------------------------
# oldest-pass, keys, DNS


def test_oldest_pass_is_the_lowest_instance_from_which_every_ams_holds() -> None:
    s = rsa_signer()
    raw = seal(base_message(), s, "none")
    raw = raw.replace(b"Subject: A test", b"Subject: [list] A test")  # AMS 1 signed it
    raw = seal(seal(raw, s, "pass"), s, "pass")
    r = check(raw, s)
    assert verdict(r) == ("pass", None, None, None)
    assert r.oldest_pass == 2
    assert [(x["instance"], x["ams_valid"], x["ams_code"]) for x in r.sets] == [
        (3, True, None),
        (2, True, None),
        (1, False, "arc.ams_signature"),
    ]


def test_a_dns_failure_is_temperror_and_a_missing_key_is_fail() -> None:
    s = rsa_signer()
    raw = chain(1, s)
    r = check(raw, keys=keys_for(raw, s, failed=s.key_name))
    assert verdict(r) == ("temperror", "arc.dns_error", 1, "ARC-Message-Signature")
    r = check(raw, keys=keys_for(raw))
    assert verdict(r) == ("fail", "arc.key_not_found", 1, "ARC-Message-Signature")


def test_t_in_the_future_is_judged_at_the_given_clock() -> None:
    s = rsa_signer()
    raw = seal(base_message(), s, "none", t=int(AS_OF) + 3 * 86400)
    r = check(raw, s)
    assert verdict(r) == ("fail", "arc.signed_in_future", 1, "ARC-Message-Signature")
    assert r.problems == []


def test_a_future_t_against_the_senders_date_is_a_warning_as_for_dkim() -> None:
    s = rsa_signer()
    raw = seal(base_message(), s, "none", t=int(AS_OF) + 3 * 86400)
    raw = seal(raw, s, "pass")  # a second set, in time: only the first is reported
    block, body = message_parts(raw)
    r = verify_arc(block.headers, body, keys_for(raw, s), AS_OF, clock_trusted=False)
    assert verdict(r) == ("pass", None, None, None)
    assert [(p["code"], p["severity"]) for p in r.problems] == [
        ("arc.signed_after_date", "warning"),
        ("arc.signed_after_date", "warning"),
    ]
    assert [p["message"].split(" t=")[0] for p in r.problems] == [
        "ARC-Message-Signature 1",
        "ARC-Seal 1",
    ]
    jsonschema.validate(r.to_dict(), MESSAGE_ARC)
    # through the message check: no Received field, so the Date field is the clock
    key = s.txt()

    def answer(q: Query) -> Answer:
        return txt(key) if q.name == s.key_name else Answer(Rcode.NXDOMAIN)

    rec = verify_message(raw, answer, CheckOptions(), now=AS_OF + 10 * 86400)
    assert rec["as_of"]["source"] == "date"
    assert rec["arc"]["result"] == "pass"
    assert [p["code"] for p in rec["arc"]["problems"]] == ["arc.signed_after_date"] * 2
    rec = verify_message(raw, answer, CheckOptions(as_of=AS_OF), now=AS_OF)
    assert (rec["arc"]["result"], rec["arc"]["code"]) == ("fail", "arc.signed_in_future")
    # a broken chain stays broken: the warning never turns a failure into a pass
    bad = raw.replace(b"Subject: ", b"Subject: changed ", 1)
    block, body = message_parts(bad)
    r = verify_arc(block.headers, body, keys_for(bad, s), AS_OF, clock_trusted=False)
    assert r.result == "fail"


def test_no_arc_is_none() -> None:
    r = check(base_message())
    assert verdict(r) == ("none", None, None, None) and r.instances == 0


# --------------------------------------------------------------------------------------------
# the record


def test_the_record_section_matches_the_schema() -> None:
    s = ed_signer()
    raw = chain(2, s)
    key = s.txt()

    def answer(q: Query) -> Answer:
        if q.name == s.key_name and q.rtype is RType.TXT:
            return txt(key)
        return Answer(Rcode.NXDOMAIN)

    rec = verify_message(raw, answer, CheckOptions(as_of="now"), now=AS_OF)
    arc = rec["arc"]
    jsonschema.validate(arc, MESSAGE_ARC)
    assert (arc["result"], arc["verifier"], arc["oldest_pass"]) == ("pass", "bulkauth", 0)
    old = verify_message(raw, answer, CheckOptions(as_of="now", arc_verifier="dkimpy"), now=AS_OF)
    jsonschema.validate(old["arc"], MESSAGE_ARC)
    assert (old["arc"]["result"], old["arc"]["verifier"]) == ("fail", "dkimpy")
    for r in (check(raw[: len(raw) // 3], s), check(_drop_instance(raw, 1), s)):
        jsonschema.validate(r.to_dict(), MESSAGE_ARC)


# --------------------------------------------------------------------------------------------
# never raises


@functools.cache
def _fuzz_base() -> tuple[bytes, dict[str, KeyRecord]]:
    s = rsa_signer()
    raw = chain(2, s, Form(no_space=("ARC-Seal",)))
    return raw, keys_for(raw, s)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mangled_chains_get_a_verdict(data: st.DataObject) -> None:
    raw, keys = _fuzz_base()
    head_len = raw.index(b"\r\nFrom:")
    pos = data.draw(st.integers(0, head_len - 1))
    junk = data.draw(st.binary(max_size=6))
    cut = data.draw(st.integers(0, 4))
    mangled = raw[:pos] + junk + raw[pos + cut :]
    try:
        block, body = message_parts(mangled)
    except Exception:
        return
    r = verify_arc(block.headers, body, keys, AS_OF, malformed=block.malformed)
    assert r.result in ("pass", "fail", "none", "temperror", "permerror")
    assert r.code != "arc.verifier_error", r.message
    jsonschema.validate(r.to_dict(), MESSAGE_ARC)


def test_every_code_is_documented() -> None:
    from bulkauth.core.arc import verify
    from tests.paths import ROOT

    source = (ROOT / "bulkauth" / "core" / "arc" / "verify.py").read_text()
    written = set(re.findall(r'"(arc\.[a-z_]+)"', source))
    built = {"arc.ams_syntax", "arc.as_syntax", "arc.ams_signature", "arc.as_signature"}
    keys = {f"arc.{c}" for c in ("key_revoked", "key_syntax", "key_service")} | {
        "arc.key_type_mismatch",
        "arc.key_hash_not_allowed",
    }
    codes = written | built | keys
    assert len(written) >= 15 and verify.ALGORITHMS
    readme = (ROOT / "README.md").read_text()
    props = MESSAGE_ARC["properties"]
    described = props["code"]["description"] + props["problems"]["description"]
    for code in codes:
        assert f"`{code}`" in readme and code in described, code
