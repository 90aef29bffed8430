"""STARTTLS observations judged without I/O: each way a conversation can end."""

from __future__ import annotations

import datetime as dt

import pytest

from bulkauth.core.common.model import State
from bulkauth.core.transport.certs import load_roots
from bulkauth.core.transport.posture import transport_posture
from bulkauth.core.transport.starttls import (
    HostsSection,
    TlsObservation,
    assess_host,
    starttls_section,
)
from tests.probekit import NOW, Pki

HOST = "mx1.example.com"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


def assess(pki: Pki, seen: TlsObservation):
    return assess_host(HOST, seen, load_roots(pki.ca_file.read_bytes()), NOW)


@pytest.mark.parametrize(
    ("seen", "state", "codes"),
    [
        (
            TlsObservation("127.0.0.2", 25, "connect", "refused"),
            State.INDETERMINATE,
            ["starttls.connect_failed"],
        ),
        (
            TlsObservation("127.0.0.2", 25, "timeout", "silent"),
            State.INDETERMINATE,
            ["starttls.timeout"],
        ),
        (
            TlsObservation("127.0.0.2", 25, "protocol", "junk"),
            State.INVALID,
            ["starttls.smtp_error"],
        ),
        (
            TlsObservation("127.0.0.2", 25, "greeting", "554", greeting="no"),
            State.INVALID,
            ["starttls.smtp_error"],
        ),
        (
            TlsObservation("127.0.0.2", 25, greeting="hi", starttls_offered=False),
            State.INVALID,
            ["starttls.not_offered"],
        ),
        (
            TlsObservation(
                "127.0.0.2", 25, "handshake", "alert", greeting="hi", starttls_offered=True
            ),
            State.INVALID,
            ["starttls.handshake_failed"],
        ),
    ],
)
def test_conversation_outcomes(
    pki: Pki, seen: TlsObservation, state: State, codes: list[str]
) -> None:
    h = assess(pki, seen)
    assert h.state is state and [p.code for p in h.problems] == codes


def test_good_host_and_old_tls(pki: Pki) -> None:
    seen = TlsObservation(
        "127.0.0.2",
        25,
        greeting="hi",
        starttls_offered=True,
        tls_version="TLSv1.3",
        cipher="TLS_AES_256_GCM_SHA384",
        chain=tuple(pki.chain(HOST)),
    )
    h = assess(pki, seen)
    assert h.state is State.VALID and h.problems == [] and h.certificate is not None
    d = h.to_dict()
    assert d["tls_version"] == "TLSv1.3" and d["certificate"]["chain_valid"] and d["starttls"]
    old = assess(
        pki,
        TlsObservation(
            "127.0.0.2",
            25,
            greeting="hi",
            starttls_offered=True,
            tls_version="TLSv1",
            chain=tuple(pki.chain(HOST)),
        ),
    )
    assert old.state is State.VALID and [p.code for p in old.problems] == [
        "starttls.old_tls_version"
    ]


def test_expired_certificate_is_invalid(pki: Pki) -> None:
    chain = pki.chain(
        HOST, not_before=NOW - dt.timedelta(days=90), not_after=NOW - dt.timedelta(days=1)
    )
    h = assess(
        pki,
        TlsObservation(
            "127.0.0.2",
            25,
            greeting="hi",
            starttls_offered=True,
            tls_version="TLSv1.3",
            chain=tuple(chain),
        ),
    )
    assert h.state is State.INVALID and [p.code for p in h.problems] == ["starttls.cert_expired"]


def test_section_and_transport_posture(pki: Pki) -> None:
    good = assess(
        pki,
        TlsObservation(
            "127.0.0.2",
            25,
            greeting="hi",
            starttls_offered=True,
            tls_version="TLSv1.3",
            chain=tuple(pki.chain(HOST)),
        ),
    )
    down = assess(pki, TlsObservation("127.0.0.3", 25, "connect", "refused"))
    plain = assess(pki, TlsObservation("127.0.0.4", 25, greeting="hi", starttls_offered=False))
    assert starttls_section([]).state is State.MISSING
    assert starttls_section([down]).state is State.INDETERMINATE
    mixed = starttls_section([good, down])
    assert mixed.state is State.VALID and [p.code for p in mixed.problems] == [
        "starttls.connect_failed"
    ]
    assert starttls_section([good, plain]).state is State.INVALID

    def level(section: HostsSection) -> str:
        return str(transport_posture(None, section, None)["level"])

    assert level(mixed) == "opportunistic"
    assert level(starttls_section([plain])) == "plaintext"
    assert level(starttls_section([good, plain])) == "broken"
    assert level(starttls_section([down])) == "indeterminate"
    assert level(starttls_section([])) == "no_mx"
