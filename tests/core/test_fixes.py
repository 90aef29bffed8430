"""Every kind of fix, checked the way a user would: publish it in the zone of the finding,
audit again, and the problem is gone.

The findings come from the sample world (data/zones) plus a few zones for what it lacks (a
short, a 1024-bit and a revoked DKIM key, ip4: terms that can never match, private ranges in a
public domain's record, a parked domain without DMARC). Zones are edited with dnspython, the
audits are the real command over `--zones` (the zone files backend answers as an
authoritative server would).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bulkauth.core.fixes import NEW_KEY
from tests.paths import ROOT


def _spki(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _short_key() -> str:
    """A 768-bit RSA public key (cryptography will not generate one, but will encode it)."""
    n = secrets.randbits(768) | (1 << 767) | 1
    return _spki(rsa.RSAPublicNumbers(65537, n).public_key())


def _new_key(bits: int = 2048) -> str:
    return _spki(rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key())


def _txt(value: str) -> str:
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


def _zone(origin: str, body: str) -> str:
    return (
        f"$TTL 300\n$ORIGIN {origin}.\n"
        "@ IN SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 300\n"
        "@ IN NS ns1.example.\n" + body
    )


MX = "@ IN MX 10 mx1\nmx1 IN A 192.0.2.10\n"


def extra_zones() -> dict[str, str]:
    return {
        "shortkey.example": _zone(
            "shortkey.example",
            '@ IN TXT "v=spf1 mx -all"\n' + MX + f"mail._domainkey IN TXT "
            f"{_txt('v=DKIM1; k=rsa; p=' + _short_key())}\n",
        ),
        "weakkey.example": _zone(
            "weakkey.example",
            '@ IN TXT "v=spf1 mx -all"\n' + MX + f"mail._domainkey IN TXT "
            f"{_txt('v=DKIM1; k=rsa; p=' + _new_key(1024))}\n",
        ),
        "revoked.example": _zone(
            "revoked.example",
            '@ IN TXT "v=spf1 mx -all"\n' + MX + 'mail._domainkey IN TXT "v=DKIM1; k=rsa; p="\n',
        ),
        "hostbits.example": _zone(
            "hostbits.example",
            '@ IN TXT "v=spf1 ip4:198.51.100.78/24 ip4:234.5.6.78/24 ip4:127.0.0.1 -all"\n' + MX,
        ),
        # a name under a real TLD, served only from this zone file: private ranges are wrong
        # in a public domain's record (in a .example one they may be meant)
        "private-ranges.net": _zone(
            "private-ranges.net",
            '@ IN TXT "v=spf1 ip4:10.1.2.0/24 ip4:192.168.1.1 ip6:fd00::/64 mx -all"\n'
            "@ IN MX 10 mx1\nmx1 IN A 198.51.100.25\n",
        ),
        "parkednodmarc.example": _zone(
            "parkednodmarc.example", '@ IN MX 0 .\n@ IN TXT "v=spf1 -all"\n'
        ),
    }


#: (domain, problem code): one finding of each kind of fix
CASES = [
    ("nodmarc.example", "dmarc.no_record"),
    ("dmarcbad.example", "dmarc.invalid_policy"),
    ("dmarcpct.example", "dmarc.invalid_pct"),
    ("dmarcrua.example", "dmarc.invalid_uri"),
    ("dmarcorder.example", "dmarc.v_not_first"),
    ("twodmarc.example", "dmarc.multiple_records"),
    ("monitor.example", "dmarc.p_none"),
    ("extunauth.example", "dmarc.report_unauthorized"),
    ("parkednodmarc.example", "dmarc.no_record"),
    ("toomany.example", "spf.too_many_lookups"),
    ("toomany.example", "spf.too_many_void_lookups"),
    ("void.example", "spf.too_many_void_lookups"),
    ("plusall.example", "spf.plus_all"),
    ("neutral.example", "spf.neutral_all"),
    ("hostbits.example", "spf.ip_host_bits"),
    ("hostbits.example", "spf.ip_not_public"),
    ("private-ranges.net", "spf.ip_not_public"),
    ("shortkey.example", "dkim.key_too_small"),
    ("weakkey.example", "dkim.key_weak"),
    ("revoked.example", "dkim.key_revoked"),
    ("empty.example", "mx.none"),
    ("good1.example", "mta_sts.no_record"),
    ("good1.example", "tls_rpt.no_record"),
]
SECTIONS = ("spf", "dmarc", "dkim", "mx", "mta_sts", "tls_rpt", "bimi")


def audit(zones: Path, domains: list[str], *extra: str) -> dict[str, dict[str, Any]]:
    listing = zones.parent / f"list-{secrets.token_hex(4)}.txt"
    listing.write_text("\n".join(domains) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bulkauth", "domains", str(listing), "--zones", str(zones),
         "--no-progress", *extra],
        capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    return {r["domain"]: r for r in map(orjson.loads, proc.stdout.splitlines())}


def problems(record: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [
        p for s in SECTIONS for p in (record.get(s) or {}).get("problems", ()) if p["code"] == code
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    base = tmp_path_factory.mktemp("fixes")
    zones = base / "zones"
    shutil.copytree(ROOT / "data" / "zones", zones)
    for origin, text in extra_zones().items():
        (zones / f"{origin}.zone").write_text(text)
    return zones, audit(zones, sorted({d for d, _ in CASES}))


def apply_fix(zones: Path, fix: dict[str, Any]) -> list[str]:
    """Publish the fix in the zone files; returns the DKIM selectors it names (to probe)."""
    selectors = []
    for change in fix["records"]:
        name = dns.name.from_text(change["name"])
        path, origin = _zone_file(zones, name)
        zone = dns.zone.from_file(str(path), origin=origin, relativize=False, check_origin=False)
        rtype = dns.rdatatype.from_text(change["type"])
        if change["replaces"] is not None:
            rds = zone.find_rdataset(name, rtype)
            (old,) = [r for r in rds if _text(r) == change["replaces"]]
            rds.remove(old)  # type: ignore[no-untyped-call]
            if not rds:
                zone.delete_rdataset(name, rtype)
        value = change["value"]
        if value is not None:
            if NEW_KEY in value:
                value = value.replace(NEW_KEY, _new_key())
                selectors.append(change["name"].split("._domainkey.")[0])
            text = _txt(value) if rtype == dns.rdatatype.TXT else value
            rd = dns.rdata.from_text(dns.rdataclass.IN, rtype, text, origin=dns.name.root)
            zone.find_rdataset(name, rtype, create=True).add(rd, 300)
        zone.to_file(str(path), relativize=False)
    return selectors


def _zone_file(zones: Path, name: dns.name.Name) -> tuple[Path, dns.name.Name]:
    n = name
    while n != dns.name.root:
        path = zones / f"{n.to_text(omit_final_dot=True)}.zone"
        if path.exists():
            return path, n
        n = n.parent()
    raise AssertionError(f"no zone holds {name}")


def _text(rd: Any) -> str:
    if hasattr(rd, "strings"):
        return b"".join(rd.strings).decode()
    return str(rd.to_text())


@pytest.mark.parametrize(("domain", "code"), CASES, ids=[f"{d}:{c}" for d, c in CASES])
def test_the_fix_mends_the_finding(
    world: tuple[Path, dict[str, dict[str, Any]]], tmp_path: Path, domain: str, code: str
) -> None:
    zones, before = world
    found = problems(before[domain], code)
    assert found, f"{domain}: no {code} to fix"
    fix = found[0].get("fix")
    assert fix is not None, f"{domain}: {code} has no fix"
    assert fix["why"].endswith(".") and fix["records"]
    mine = tmp_path / "zones"
    shutil.copytree(zones, mine)
    selectors = apply_fix(mine, fix)
    extra = ["--selectors", ",".join(selectors)] if selectors else []
    after = audit(mine, [domain], *extra)[domain]
    assert problems(after, code) == [], f"{domain}: {code} still there after {fix}"
    if selectors:  # the new key is found, and is a good one
        (key,) = [k for k in after["dkim"]["keys"] if k["selector"] == selectors[0]]
        assert key["key_bits"] == 2048 and key["problems"] == []
    if code.startswith("dmarc.") and code != "dmarc.report_unauthorized":
        assert after["dmarc"]["state"] == "valid"
    if code.startswith("spf."):
        assert after["spf"]["state"] == "valid" and after["spf"]["lookups"] <= 10


def test_flattening_warns_that_addresses_go_stale(
    world: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    (p,) = problems(world[1]["toomany.example"], "spf.too_many_lookups")
    assert "go stale" in p["fix"]["note"]
    assert re.search(r"It then takes \d+ of the 10 lookups", p["fix"]["why"])


def test_parked_domains_go_straight_to_reject(
    world: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    record = world[1]["parkednodmarc.example"]
    assert "posture.parked_without_dmarc_reject" in record["posture"]["warnings"]
    (p,) = problems(record, "dmarc.no_record")
    assert p["fix"]["records"][0]["value"] == "v=DMARC1; p=reject"
    (park,) = problems(world[1]["empty.example"], "mx.none")
    assert [r["type"] for r in park["fix"]["records"]] == ["MX", "TXT", "TXT"]


def test_no_fix_where_there_is_nothing_to_publish(
    world: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    """An include of a provider's record with a void lookup is the provider's to fix."""
    toomany = world[1]["toomany.example"]
    provider = [
        p for p in problems(toomany, "spf.void_lookup") if p["message"].startswith("_spf.bulk")
    ]
    assert provider and all("fix" not in p for p in provider)
