"""`domains --dnssec` and DANE against a validating resolver: zones signed with ldns-signzone,
served by NSD, validated by Unbound with the test trust anchor (tests/dnsseckit.py), MX
hosts on loopback SMTP servers with STARTTLS (tests/probekit.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bulkauth.schema import SCHEMAS
from tests.cli.test_domains_cli import bulkauth, records
from tests.dnsseckit import validating_resolver
from tests.probekit import Pki, Servers, free_port, loopback_address


def body(mx_address: str, port: int, tlsa: str) -> str:
    return "\n".join(
        [
            '@ TXT "v=spf1 mx -all"',
            '_dmarc TXT "v=DMARC1; p=reject"',
            "@ MX 10 mx",
            f"mx A {mx_address}",
            f"_{port}._tcp.mx TLSA 3 1 1 {tlsa}",
            '_mta-sts TXT "v=STSv1; id=1"',
        ]
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("dnssec")
    pki = Pki.create(folder)
    leaf = pki.ca.issue_cert("mx.signed.test", "mx.plain.test")
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    tlsa = hashlib.sha256(spki).hexdigest()
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    with Servers() as servers:
        mx = loopback_address()
        port = free_port(mx)
        servers.smtp(mx, port, ctx)
        with validating_resolver(
            folder / "dns",
            signed={"signed.test": body(mx, port, tlsa)},
            unsigned={"plain.test": body(mx, port, tlsa)},
        ) as resolver:
            listing = folder / "domains.txt"
            listing.write_text("signed.test\nplain.test\nnothere.signed.test\n")
            alone = bulkauth("domains", str(listing), "-n", resolver, "--dnssec", "--no-progress")
            proc = bulkauth(
                "domains",
                str(listing),
                "-n",
                resolver,
                "--dnssec",
                "--probe",
                "starttls,dane",
                "--smtp-port",
                str(port),
                "--ca-file",
                str(pki.ca_file),
                "--sections",
                "spf,dmarc,dkim,mx,mta_sts",
                "--no-progress",
            )
    got = {r["input"]: r for r in records(proc.stdout)}
    got["alone"] = records(alone.stdout)[0]
    yield got


def test_records_match_the_schema(run: dict[str, dict[str, Any]]) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMAS["domains"])
    assert len(run) == 4
    for rec in run.values():
        assert not list(validator.iter_errors(rec)), rec["input"]


def test_dnssec_status_per_section(run: dict[str, dict[str, Any]]) -> None:
    signed, plain = run["signed.test"], run["plain.test"]
    for section in ("spf", "dmarc", "mx", "mta_sts"):
        assert signed[section]["dnssec"] == "secure", section
        assert plain[section]["dnssec"] == "insecure", section
    # a validated denial of existence is secure too
    assert run["nothere.signed.test"]["spf"]["dnssec"] == "secure"
    assert signed["spf"]["state"] == "valid"


def test_dnssec_without_probes(run: dict[str, dict[str, Any]]) -> None:
    alone = run["alone"]
    assert alone["domain"] == "signed.test" and alone["spf"]["dnssec"] == "secure"
    assert "starttls" not in alone and "transport" not in alone["posture"]


def test_dane_with_validated_tlsa(run: dict[str, dict[str, Any]]) -> None:
    signed, plain = run["signed.test"], run["plain.test"]
    host = signed["dane"]["hosts"][0]
    assert signed["dane"]["state"] == "valid" and host["dnssec"] == "secure" and host["matched"]
    assert signed["posture"]["transport"]["level"] == "dane"
    # the same TLSA record, unsigned: matched, but senders must ignore it
    p = plain["dane"]
    assert p["state"] == "invalid" and p["hosts"][0]["dnssec"] == "insecure"
    assert [x["code"] for x in p["problems"]] == ["dane.not_dnssec_validated"]
    assert plain["starttls"]["state"] == "valid"
