"""Certificate chains judged without I/O: trust, name, dates (trustme CA, fixed clock)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkauth.core.transport.certs import check_chain, load_roots, name_matches
from tests.probekit import NOW, Pki, self_signed

HOST = "mx1.example.com"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


def codes(check) -> list[str]:
    return [p.code for p in check.problems]


def test_good_chain(pki: Pki) -> None:
    c = check_chain(pki.chain(HOST), HOST, load_roots(pki.ca_file.read_bytes()), NOW, "starttls")
    assert codes(c) == [] and c.chain_valid and c.name_matches
    assert c.names == [HOST] and c.days_to_expiry is not None and c.days_to_expiry > 300


def test_expired(pki: Pki) -> None:
    chain = pki.chain(
        HOST, not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=3)
    )
    c = check_chain(chain, HOST, load_roots(pki.ca_file.read_bytes()), NOW, "starttls")
    assert codes(c) == ["starttls.cert_expired"] and c.chain_valid and c.days_to_expiry == -3


def test_expires_soon_is_a_warning(pki: Pki) -> None:
    chain = pki.chain(HOST, not_after=NOW + dt.timedelta(days=5, hours=1))
    c = check_chain(chain, HOST, load_roots(pki.ca_file.read_bytes()), NOW, "starttls")
    assert [(p.code, p.severity) for p in c.problems] == [("starttls.cert_expires_soon", "warning")]


def test_wrong_name(pki: Pki) -> None:
    c = check_chain(
        pki.chain("other.example.org"), HOST, load_roots(pki.ca_file.read_bytes()), NOW, "starttls"
    )
    assert codes(c) == ["starttls.cert_name_mismatch"] and c.chain_valid and not c.name_matches


def test_self_signed(pki: Pki) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem, _ = self_signed(HOST)
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    c = check_chain([der], HOST, load_roots(pki.ca_file.read_bytes()), NOW, "starttls")
    assert codes(c) == ["starttls.cert_self_signed"] and not c.chain_valid and c.name_matches


def test_untrusted_ca(pki: Pki, tmp_path) -> None:
    other = Pki.create(tmp_path)
    c = check_chain(other.chain(HOST), HOST, load_roots(pki.ca_file.read_bytes()), NOW, "starttls")
    assert codes(c) == ["starttls.cert_untrusted"]


@pytest.mark.parametrize("chain", [[], [b"\x30\x03garbage"]])
def test_no_or_unreadable_certificate(pki: Pki, chain: list[bytes]) -> None:
    c = check_chain(chain, HOST, load_roots(pki.ca_file.read_bytes()), NOW, "starttls")
    assert codes(c) in (["starttls.no_certificate"], ["starttls.bad_certificate"])


@pytest.mark.parametrize(
    ("pattern", "host", "ok"),
    [
        ("*.example.com", "mx.example.com", True),
        ("*.example.com", "a.mx.example.com", False),
        ("*.com", "example.com", False),
        ("MX.example.com", "mx.example.com.", True),
    ],
)
def test_wildcards(pattern: str, host: str, ok: bool) -> None:
    assert name_matches(pattern, host) is ok


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=300), max_size=3), st.integers(0, 2))
def test_any_bytes_are_a_problem_code_never_an_exception(
    pki: Pki, chain: list[bytes], cut: int
) -> None:
    # garbage, and real certificates cut short
    real = pki.chain(HOST)[0]
    mangled = [real[: len(real) // (cut + 2)], *chain] if cut else chain
    c = check_chain(mangled, HOST, load_roots(pki.ca_file.read_bytes()), NOW, "starttls")
    assert c.problems and all(p.code.startswith("starttls.") for p in c.problems)
