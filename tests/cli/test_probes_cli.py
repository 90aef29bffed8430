"""`bulkauth domains --probe mta-sts,starttls,dane` end to end: a real process, a DNS server
on loopback, SMTP and HTTPS servers on 127.0.0.0/8 with a test CA (tests/probekit.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bulkauth.schema import SCHEMAS
from tests.cli.test_domains_cli import bulkauth, records
from tests.dnsserver import DnsServer
from tests.probekit import (
    NOW,
    Pki,
    Policy,
    Servers,
    free_port,
    loopback_address,
    self_signed_context,
)

ZONE = "probe.test"
GOOD_POLICY = (
    b"version: STSv1\r\nmode: enforce\r\nmx: mx-good.probe.test\r\nmx: *.shared.probe.test\r\n"
    b"max_age: 604800\r\n"
)
#: MX cases: name -> how its server is set up
MX_CASES = ("good", "expired", "selfsigned", "wrongname", "nostarttls", "hang", "closed", "garbage")


def spki_sha256(pem_chain: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem_chain)
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("probes")
    pki = Pki.create(folder)
    with Servers() as servers, DnsServer() as dns_server:
        mx_addr = {case: loopback_address() for case in MX_CASES}
        port = free_port(mx_addr["good"])
        good_leaf = pki.ca.issue_cert("mx-good.probe.test", "mx.shared.probe.test")
        good_ctx = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
        good_leaf.configure_cert(good_ctx)
        servers.smtp(mx_addr["good"], port, good_ctx)
        servers.smtp(
            mx_addr["expired"],
            port,
            pki.context(
                "mx-expired.probe.test",
                not_before=NOW - dt.timedelta(days=100),
                not_after=NOW - dt.timedelta(days=2),
            ),
        )
        servers.smtp(
            mx_addr["selfsigned"], port, self_signed_context("mx-selfsigned.probe.test", folder)[0]
        )
        servers.smtp(mx_addr["wrongname"], port, pki.context("somewhere-else.example"))
        servers.smtp(mx_addr["nostarttls"], port, None)
        servers.hanging(mx_addr["hang"], port)
        servers.garbage(mx_addr["garbage"], port)
        # "closed": nothing listens there

        web = loopback_address()
        https_port = free_port(web)
        sts_domains = [
            "good",
            "malformed",
            "big",
            "bigdeclared",
            "type",
            "redirect",
            "mismatch",
            "nohost",
        ]
        servers.https(web, https_port, pki.context(*(f"mta-sts.{d}.{ZONE}" for d in sts_domains)))
        p = servers.policies
        p[f"mta-sts.good.{ZONE}"] = Policy(GOOD_POLICY)
        p[f"mta-sts.malformed.{ZONE}"] = Policy(b"<html>it works</html>")
        p[f"mta-sts.big.{ZONE}"] = Policy(GOOD_POLICY + b"#" * 10_000_000, stream=True)
        p[f"mta-sts.bigdeclared.{ZONE}"] = Policy(GOOD_POLICY + b"#" * 10_000_000)
        p[f"mta-sts.type.{ZONE}"] = Policy(GOOD_POLICY, content_type="text/html")
        p[f"mta-sts.redirect.{ZONE}"] = Policy(
            b"", 301, headers={"Location": "https://elsewhere.example/policy"}
        )
        p[f"mta-sts.mismatch.{ZONE}"] = Policy(GOOD_POLICY.replace(b"mx-good", b"mx-other"))

        good_tlsa = spki_sha256(good_leaf.cert_chain_pems[0].bytes())
        lines = [f"mx-{c} A {mx_addr[c]}" for c in MX_CASES]
        lines += [f"mx.shared A {mx_addr['good']}"]
        lines += [f"{c} MX 10 mx-{c}" for c in MX_CASES]
        # the MTA-STS domains all deliver to the good MX, the policy cases differ
        for d in sts_domains:
            lines += [f"{d} MX 10 mx-good", f'_mta-sts.{d} TXT "v=STSv1; id=2026{d}"']
            if d != "nohost":
                lines.append(f"mta-sts.{d} A {web}")
        lines += ["nosts MX 10 mx-good"]
        # hosted mail: many domains, one MX
        lines += [f"hosted{i} MX 10 mx.shared" for i in range(6)]
        lines += [
            f"_{port}._tcp.mx-good TLSA 3 1 1 {good_tlsa}",
            "dane-nomatch MX 10 mx-nomatch",
            f"mx-nomatch A {mx_addr['good']}",
            f"_{port}._tcp.mx-nomatch TLSA 3 1 1 {'ab' * 32}",
            'nomx TXT "v=spf1 -all"',
        ]
        dns_server.add_zone_text(ZONE, "\n".join(lines))
        (folder / "zones").mkdir()
        (folder / "zones" / f"{ZONE}.zone").write_text(
            "@ 300 IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ 300 IN NS ns1\n"
            + "\n".join(lines)
            + "\n"
        )
        domains = (
            [f"{c}.{ZONE}" for c in MX_CASES]
            + [f"{d}.{ZONE}" for d in sts_domains]
            + [f"nosts.{ZONE}", f"dane-nomatch.{ZONE}", f"nomx.{ZONE}"]
            + [f"hosted{i}.{ZONE}" for i in range(6)]
        )
        listing = folder / "domains.txt"
        listing.write_text("\n".join(domains) + "\n")
        args = [
            "domains",
            str(listing),
            "-n",
            dns_server.nameserver,
            "--probe",
            "mta-sts,starttls,dane",
            "--smtp-port",
            str(port),
            "--https-port",
            str(https_port),
            "--ca-file",
            str(pki.ca_file),
            "--probe-timeout",
            "1",
            "--no-progress",
        ]
        proc = bulkauth(*args)
        out = {r["domain"].removesuffix(f".{ZONE}"): r for r in records(proc.stdout)}
        yield {
            "args": args,
            "folder": folder,
            "domains": domains,
            "lines": proc.stdout.splitlines(),
            "out": out,
            "servers": servers,
            "mx": mx_addr,
            "requests": list(servers.requests),
            "ehlo": dict(servers.ehlo),
            "accepted": dict(servers.accepted),
            "port": port,
            "stderr": proc.stderr.decode(),
        }


def codes(section: dict[str, Any]) -> list[str]:
    return [p["code"] for p in section["problems"]]


def test_every_record_matches_the_schema(world: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMAS["domains"])
    for rec in world["out"].values():
        errors = sorted(validator.iter_errors(rec), key=str)
        assert not errors, (rec["input"], errors[0].message if errors else "")
    assert "Traceback" not in world["stderr"]


@pytest.mark.parametrize(
    ("case", "state", "code"),
    [
        ("good", "valid", None),
        ("expired", "invalid", "starttls.cert_expired"),
        ("selfsigned", "invalid", "starttls.cert_self_signed"),
        ("wrongname", "invalid", "starttls.cert_name_mismatch"),
        ("nostarttls", "invalid", "starttls.not_offered"),
        ("hang", "indeterminate", "starttls.timeout"),
        ("closed", "indeterminate", "starttls.connect_failed"),
        ("garbage", "invalid", "starttls.smtp_error"),
    ],
)
def test_starttls_cases(world: dict[str, Any], case: str, state: str, code: str | None) -> None:
    rec = world["out"][case]
    s = rec["starttls"]
    assert s["state"] == state and codes(s) == ([code] if code else [])
    host = s["hosts"][0]
    assert host["host"] == f"mx-{case}.{ZONE}" and host["address"] == world["mx"][case]
    assert host["port"] == world["port"]


def test_good_host_details(world: dict[str, Any]) -> None:
    host = world["out"]["good"]["starttls"]["hosts"][0]
    assert host["starttls"] is True and host["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert host["cipher"]
    cert = host["certificate"]
    assert cert["chain_valid"] and cert["name_matches"] and cert["days_to_expiry"] > 300


def test_connect_failure_is_not_a_failure_of_the_domain(world: dict[str, Any]) -> None:
    rec = world["out"]["closed"]
    assert rec["posture"]["transport"]["level"] == "indeterminate"
    assert {p["severity"] for p in rec["starttls"]["problems"]} == {"info"}


@pytest.mark.parametrize(
    ("domain", "state", "code"),
    [
        ("good", "valid", None),
        ("malformed", "invalid", "mta_sts_policy.syntax"),
        ("big", "invalid", "mta_sts_policy.too_large"),
        ("bigdeclared", "invalid", "mta_sts_policy.too_large"),
        ("type", "invalid", "mta_sts_policy.content_type"),
        ("redirect", "invalid", "mta_sts_policy.redirect"),
        ("mismatch", "invalid", "mta_sts_policy.mx_not_matched"),
        ("nohost", "invalid", "mta_sts_policy.host_unresolvable"),
    ],
)
def test_mta_sts_policy_cases(
    world: dict[str, Any], domain: str, state: str, code: str | None
) -> None:
    s = world["out"][domain]["mta_sts_policy"]
    assert s["state"] == state
    assert (code in codes(s)) if code else codes(s) == []
    assert s["id"] == f"2026{domain}"


def test_good_policy_and_transport(world: dict[str, Any]) -> None:
    rec = world["out"]["good"]
    s = rec["mta_sts_policy"]
    assert s["fetched"] and s["policy"]["mode"] == "enforce" and s["http_status"] == 200
    assert rec["mta_sts"]["policy_fetched"] is True
    assert rec["posture"]["transport"]["level"] == "mta_sts"
    # no policy record: nothing fetched, and the request never went out
    assert world["out"]["nosts"]["mta_sts_policy"]["state"] == "missing"
    assert not any("nosts" in r for r in world["requests"])
    # the redirect was not followed
    assert not any("elsewhere" in r for r in world["requests"])


def test_dane(world: dict[str, Any]) -> None:
    good = world["out"]["good"]["dane"]
    assert good["state"] == "valid" and good["hosts"][0]["matched"] is True
    assert good["hosts"][0]["dnssec"] is None  # not asked: no --dnssec
    nomatch = world["out"]["dane-nomatch"]["dane"]
    assert nomatch["state"] == "invalid" and codes(nomatch) == ["dane.no_match"]
    assert world["out"]["dane-nomatch"]["posture"]["transport"]["level"] == "broken"
    assert world["out"]["expired"]["dane"]["state"] == "missing"
    assert world["out"]["nomx"]["starttls"]["state"] == "missing"


def test_shared_mx_is_probed_once(world: dict[str, Any]) -> None:
    good = f"{world['mx']['good']}:{world['port']}"
    # mx-good.probe.test, mx.shared.probe.test and mx-nomatch.probe.test share the address:
    # one connection each name, however many domains use them (6 hosted, 10 with mx-good)
    assert world["accepted"][good] == 3
    hosted = [world["out"][f"hosted{i}"]["starttls"] for i in range(6)]
    assert all(h["state"] == "valid" for h in hosted)


def test_ordered_and_resumable(world: dict[str, Any]) -> None:
    assert [r["domain"] for r in records(b"\n".join(world["lines"]))] == world["domains"]
    out = world["folder"] / "resumed.ndjson"
    lines = world["lines"]
    # a run stopped after 9 records, the 10th torn
    out.write_bytes(b"\n".join(lines[:9]) + b"\n" + lines[9][:40])
    bulkauth(*world["args"], "-o", str(out), "--resume")
    assert out.read_bytes().splitlines() == lines


def test_the_same_records_from_zone_files(world: dict[str, Any]) -> None:
    """TLSA records (and the rest) read from zone files with --zones: the same records as
    from the DNS server."""
    args = list(world["args"])
    at = args.index("-n")
    args[at : at + 2] = ["--zones", str(world["folder"] / "zones")]
    assert bulkauth(*args).stdout.splitlines() == world["lines"]


def test_probes_are_off_by_default(tmp_path: Path) -> None:
    listing = tmp_path / "d.txt"
    listing.write_text("good1.example\n")
    rec = records(
        bulkauth("domains", str(listing), "--zones", "data/zones", "--no-progress").stdout
    )[0]
    assert not {"mta_sts_policy", "starttls", "dane"} & set(rec)
    assert "transport" not in rec["posture"]


def test_probe_usage_errors(tmp_path: Path) -> None:
    listing = tmp_path / "d.txt"
    listing.write_text("good1.example\n")
    base = ("domains", str(listing), "--zones", "data/zones", "--no-progress")
    assert bulkauth(*base, "--probe", "smtp", check=False).returncode == 2
    assert bulkauth(*base, "--dnssec", check=False).returncode == 2
    assert bulkauth(*base, "--probe", "starttls", "--sections", "spf", check=False).returncode == 2
    live = ("domains", str(listing), "-n", "127.0.0.1:9", "--backend", "aiodns", "--no-progress")
    assert bulkauth(*live, "--probe", "dane", check=False).returncode == 2
