"""The probes' sample world (`make demo`): domains whose MX hosts and MTA-STS policy servers
run on loopback, probed with `bulkauth domains --probe mta-sts,starttls,dane`.

Usage: python data/probe_sample.py OUTDIR   -> OUTDIR/{domains.txt,zones/,ca.pem,probes.ndjson}

Nothing leaves 127.0.0.0/8: the zones point every MX and policy host at loopback addresses
where this script starts the servers (a test CA from trustme, SMTP with STARTTLS from
aiosmtpd), and are read with --zones, so not even DNS goes out. The certificates and TLSA
records are made afresh on each run, which is why the zones are written here and not kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import ssl
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from tests.probekit import NOW, Pki, Policy, Servers, free_port, self_signed_context  # noqa: E402

SOA = "@ 3600 IN SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 300\n@ 3600 IN NS ns1.example.\n"
BASE = '@ IN TXT "v=spf1 mx -all"\n_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:d@{d}"\n'
POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx.{d}\r\nmax_age: 604800\r\n"

#: domain -> what it shows (the comment of domains.txt)
DOMAINS = {
    "dane.probe.example": "DANE: TLSA 3 1 1 matches the MX certificate; MTA-STS enforce",
    "sts.probe.example": "MTA-STS enforce, policy served, STARTTLS with a valid certificate",
    "opportunistic.probe.example": "STARTTLS works, no MTA-STS: senders may fall back to clear text",
    "expired.probe.example": "the MX certificate expired two days ago",
    "selfsigned.probe.example": "the MX presents a self-signed certificate",
    "plaintext.probe.example": "the MX does not offer STARTTLS",
    "stsmismatch.probe.example": "MTA-STS enforce, but the policy's mx does not match the MX",
    "stshtml.probe.example": "the policy URL serves an HTML page",
    "tlsamismatch.probe.example": "a TLSA record that matches nothing the MX presents",
    "down.probe.example": "the MX does not answer: indeterminate, not a failure",
}


def spki_sha256(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    return hashlib.sha256(
        cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()


def main(out: Path) -> int:
    (out / "zones").mkdir(parents=True, exist_ok=True)
    pki = Pki.create(out)
    (out / "ca.pem").write_bytes(pki.ca_file.read_bytes())
    address = {d: f"127.0.54.{i + 2}" for i, d in enumerate(DOMAINS)}
    web = "127.0.54.200"
    port = free_port(address[next(iter(DOMAINS))])
    https_port = free_port(web)
    with Servers() as servers:
        keys: dict[str, str] = {}
        for d in DOMAINS:
            name = f"mx.{d}"
            kind = d.split(".")[0]
            if kind == "down":
                continue
            if kind == "plaintext":
                servers.smtp(address[d], port, None, name)
                continue
            if kind == "selfsigned":
                servers.smtp(address[d], port, self_signed_context(name, out)[0], name)
                continue
            window = {}
            if kind == "expired":
                window = {
                    "not_before": NOW - dt.timedelta(days=90),
                    "not_after": NOW - dt.timedelta(days=2),
                }
            leaf = pki.ca.issue_cert(name, **window)  # type: ignore[arg-type]
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            leaf.configure_cert(ctx)
            servers.smtp(address[d], port, ctx, name)
            keys[d] = spki_sha256(leaf.cert_chain_pems[0].bytes())
        sts = [d for d in DOMAINS if d.split(".")[0] in ("dane", "sts", "stsmismatch", "stshtml")]
        servers.https(web, https_port, pki.context(*(f"mta-sts.{d}" for d in sts)))
        for d in sts:
            body = POLICY.format(d=d if "mismatch" not in d else "elsewhere.example").encode()
            html = d.startswith("stshtml")
            servers.policies[f"mta-sts.{d}"] = Policy(
                b"<html>hello</html>" if html else body,
                content_type="text/html" if html else "text/plain",
            )
        for d in DOMAINS:
            text = SOA + BASE.format(d=d) + f"@ IN MX 10 mx\nmx IN A {address[d]}\n"
            if d in sts:
                text += f'_mta-sts IN TXT "v=STSv1; id=20261205"\nmta-sts IN A {web}\n'
            if d.startswith("dane"):
                text += f"_{port}._tcp.mx IN TLSA 3 1 1 {keys[d]}\n"
            if d.startswith("tlsamismatch"):
                text += f"_{port}._tcp.mx IN TLSA 3 1 1 {'ab' * 32}\n"
            (out / "zones" / f"{d}.zone").write_text(text)
        # the organisational domain (BIMI and DMARC fall back to it): present, with no records
        (out / "zones" / "probe.example.zone").write_text(SOA)
        width = max(map(len, DOMAINS)) + 2
        (out / "domains.txt").write_text(
            "# the probes' sample world (data/probe_sample.py)\n"
            + "".join(f"{d:{width}}# {why}\n" for d, why in DOMAINS.items())
        )
        result = subprocess.run(
            [
                sys.executable, "-m", "bulkauth", "domains", str(out / "domains.txt"),
                "--zones", str(out / "zones"), "--probe", "mta-sts,starttls,dane",
                "--smtp-port", str(port), "--https-port", str(https_port),
                "--ca-file", str(out / "ca.pem"), "--probe-timeout", "2",
                "--no-progress", "-o", str(out / "probes.ndjson"),
            ],
            cwd=ROOT,
        )  # fmt: skip
    if result.returncode:
        return result.returncode
    for line in (out / "probes.ndjson").read_text().splitlines():
        r = json.loads(line)
        states = " ".join(
            f"{s}={(r.get(s) or {}).get('state', '-'):13}"
            for s in ("mta_sts_policy", "starttls", "dane")
        )
        print(f"{r['domain']:30} {r['posture']['transport']['level']:14} {states}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    raise SystemExit(main(Path(sys.argv[1])))
