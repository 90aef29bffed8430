"""DANE (RFC 7672, RFC 6698): TLSA records parsed and matched against presented chains."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from bulkauth.core.common.model import Answer, Problem, Query, Rcode, RType
from bulkauth.core.common.step import answers_from, run_sync
from bulkauth.core.transport.dane import Tlsa, ask_tlsa, dane_host, matches, parse_tlsa
from bulkauth.core.transport.starttls import dane_section
from tests.probekit import Pki

HOST = "mx1.example.com"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def chain(pki: Pki) -> list[bytes]:
    leaf = pki.chain(HOST)
    ca = x509.load_pem_x509_certificate(pki.ca.cert_pem.bytes()).public_bytes(Encoding.DER)
    return [*leaf, ca]


def tlsa_for(der: bytes, usage: int, selector: int, mtype: int) -> str:
    cert = x509.load_der_x509_certificate(der)
    content = (
        der
        if selector == 0
        else cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    data = {0: content, 1: hashlib.sha256(content).digest(), 2: hashlib.sha512(content).digest()}[
        mtype
    ]
    return f"{usage} {selector} {mtype} {data.hex()}"


def certs(chain: list[bytes]) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(c) for c in chain]


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_dane_ee_matches_the_leaf(chain: list[bytes], selector: int, mtype: int) -> None:
    rec = parse_tlsa(tlsa_for(chain[0], 3, selector, mtype))
    assert isinstance(rec, Tlsa) and matches(rec, certs(chain), HOST)
    # the CA's data does not match as DANE-EE
    other = parse_tlsa(tlsa_for(chain[1], 3, selector, mtype))
    assert isinstance(other, Tlsa) and not matches(other, certs(chain), HOST)


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_dane_ta_matches_the_issuer_and_needs_the_name(
    chain: list[bytes], selector: int, mtype: int
) -> None:
    rec = parse_tlsa(tlsa_for(chain[1], 2, selector, mtype))
    assert isinstance(rec, Tlsa) and matches(rec, certs(chain), HOST)
    assert not matches(rec, certs(chain), "other.example.org")
    leaf_as_ta = parse_tlsa(tlsa_for(chain[0], 2, selector, mtype))
    assert isinstance(leaf_as_ta, Tlsa) and not matches(leaf_as_ta, certs(chain), HOST)


def test_dane_ee_ignores_name_and_dates(pki: Pki) -> None:
    import datetime as dt

    from tests.probekit import NOW

    expired = pki.chain(
        "elsewhere.example",
        not_after=NOW - dt.timedelta(days=1),
        not_before=NOW - dt.timedelta(days=9),
    )
    rec = parse_tlsa(tlsa_for(expired[0], 3, 1, 1))
    assert isinstance(rec, Tlsa) and matches(rec, certs(expired), HOST)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("3 1 1 zz" + "00" * 31, "dane.bad_record"),  # not hex
        ("3 1 1 abc", "dane.bad_record"),  # odd number of digits
        ("3 1 1 " + "00" * 31, "dane.bad_record"),  # 31 octets for SHA-256
        ("3 1 2 " + "00" * 32, "dane.bad_record"),  # 32 octets for SHA-512
        ("3 1 1", "dane.bad_record"),
        ("x y z 00", "dane.bad_record"),
        ("4 1 1 " + "00" * 32, "dane.unusable_record"),
        ("3 2 1 " + "00" * 32, "dane.unusable_record"),
    ],
)
def test_bad_records_are_problem_codes(text: str, code: str) -> None:
    got = parse_tlsa(text)
    assert isinstance(got, Problem) and got.code == code


def test_chunked_presentation_form_parses(chain: list[bytes]) -> None:
    text = tlsa_for(chain[0], 3, 0, 0)
    u, s, m, data = text.split()
    chunked = f"{u} {s} {m} " + " ".join(data[i : i + 128] for i in range(0, len(data), 128))
    assert parse_tlsa(chunked) == parse_tlsa(text)


def answer(*texts: str, authentic: bool = False) -> Answer:
    return Answer(Rcode.NOERROR, tuple(texts), 300, authentic=authentic)


def codes(h) -> list[str]:
    return [p.code for p in h.problems]


def test_host_results(chain: list[bytes]) -> None:
    good = tlsa_for(chain[0], 3, 1, 1)
    h = dane_host(HOST, answer(good, authentic=True), chain, dnssec_asked=True)
    assert h is not None and h.matched and h.matched_record == good and h.dnssec == "secure"
    assert codes(h) == []
    insecure = dane_host(HOST, answer(good), chain, dnssec_asked=True)
    assert insecure is not None and codes(insecure) == ["dane.not_dnssec_validated"]
    unknown = dane_host(HOST, answer(good), chain, dnssec_asked=False)
    assert unknown is not None and unknown.dnssec is None and codes(unknown) == []
    wrong = dane_host(HOST, answer("3 1 1 " + "ab" * 32), chain, dnssec_asked=False)
    assert wrong is not None and wrong.matched is False and codes(wrong) == ["dane.no_match"]
    pkix = dane_host(HOST, answer("1 1 1 " + "ab" * 32), chain, dnssec_asked=False)
    assert pkix is not None and codes(pkix) == ["dane.pkix_usage", "dane.no_usable_record"]
    no_cert = dane_host(HOST, answer(good), None, dnssec_asked=False)
    assert no_cert is not None and no_cert.matched is None
    assert dane_host(HOST, Answer(Rcode.NXDOMAIN), chain, dnssec_asked=False) is None
    failed = dane_host(HOST, Answer(Rcode.SERVFAIL), chain, dnssec_asked=False)
    assert failed is not None and codes(failed) == ["dane.dns_failure"]


def test_section_states(chain: list[bytes]) -> None:
    good = dane_host(HOST, answer(tlsa_for(chain[0], 3, 1, 1)), chain, dnssec_asked=False)
    bad = dane_host("mx2.example.com", answer("3 1 1 " + "ab" * 32), chain, dnssec_asked=False)
    assert dane_section([], []).state.value == "missing"
    assert dane_section([good], []).state.value == "valid"
    assert dane_section([good, bad], []).state.value == "invalid"
    partial = dane_section([good], ["mx3.example.com"])
    assert partial.state.value == "valid" and [p.code for p in partial.problems] == ["dane.partial"]
    unmatched = dane_host(HOST, answer(tlsa_for(chain[0], 3, 1, 1)), None, dnssec_asked=False)
    assert dane_section([unmatched], []).state.value == "indeterminate"


def test_ask_tlsa_asks_port_25_names() -> None:
    table = {("_25._tcp.mx1.example.com", RType.TLSA): answer("3 1 1 " + "00" * 32)}
    got = run_sync(ask_tlsa(["mx1.example.com", "mx2.example.com"]), answers_from(table))
    assert [a.rcode for a in got] == [Rcode.NOERROR, Rcode.NXDOMAIN]
    assert Query("_25._tcp.mx1.example.com", RType.TLSA) in {Query(n, t) for n, t in table}


@given(st.text(max_size=300))
def test_any_text_parses_without_raising(text: str) -> None:
    got = parse_tlsa(text)
    assert isinstance(got, Tlsa | Problem)
