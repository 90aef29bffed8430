"""Probe throughput (issue 16): `bulkauth domains --probe mta-sts,starttls,dane` over 2,000
domains whose mail goes to 50 shared MX hosts, every server on loopback.

    python -m bench.probes                   # 2,000 domains, 50 MX hosts (make bench)
    python -m bench.probes --domains 500     # a quicker look

This process runs the servers (tests/probekit.py: 50 aiosmtpd servers with STARTTLS on
127.0.55.x, one HTTPS server answering each domain's MTA-STS policy with its own certificate
by SNI), and counts the connections they accept; bulkauth runs in a child process over zone
files (--zones), so DNS is not what is measured. Nothing is aimed outside 127.0.0.0/8.

Figures, in one run on the same machine:
- the DNS-only audit of the same domains (the peer: what probing adds);
- --probe starttls,dane (one STARTTLS probe per MX host for the run) and all three probes
  (each domain's policy fetched over its own HTTPS connection), --probe-rate 0;
- the same with the default --probe-rate 50 (connections per second);
- a sequential smtplib loop doing STARTTLS for each domain, as a per-domain script would
  (over --peer-domains domains, all by default). The ratio compares like with like: the
  seconds probing added to the DNS-only run against the loop's seconds for as many domains.

On loopback a handshake costs well under a millisecond; on the internet each costs round
trips, which is what one probe per shared MX host saves.

Results: a table on stdout and bench/results/<date>-probes.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import smtplib
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bench.run import HERE, ROOT, bulkauth_cli, log, machine_info
from tests.probekit import Pki, Policy, Servers, free_port

ZONE = "probebench.example"


def spki_sha256(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def world(work: Path, servers: Servers, pki: Pki, domains: int, hosts: int) -> dict[str, Any]:
    """Start the servers; write the zone and the domain list."""
    mx_addr = [f"127.0.55.{i + 2}" for i in range(hosts)]
    port = free_port(mx_addr[0])
    lines = [
        "@ 3600 IN SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 300",
        "@ 3600 IN NS ns1.example.",
    ]
    for i, address in enumerate(mx_addr):
        leaf = pki.ca.issue_cert(f"mx{i}.{ZONE}")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(ctx)
        servers.smtp(address, port, ctx, f"mx{i}.{ZONE}")
        lines += [
            f"mx{i} IN A {address}",
            f"_{port}._tcp.mx{i} IN TLSA 3 1 1 {spki_sha256(leaf.cert_chain_pems[0].bytes())}",
        ]
    web = "127.0.55.250"
    https_port = free_port(web)
    # one certificate per policy host, chosen by SNI, as a hosting provider serves them
    contexts: dict[str, ssl.SSLContext] = {}
    for n in range(domains):
        name = f"mta-sts.d{n}.{ZONE}"
        contexts[name] = pki.context(name)
        servers.policies[name] = Policy(
            f"version: STSv1\r\nmode: enforce\r\nmx: mx{n % hosts}.{ZONE}\r\nmax_age: 604800\r\n".encode()
        )
    default = pki.context(f"www.{ZONE}")

    def pick(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        if name in contexts:
            sock.context = contexts[name]

    default.sni_callback = pick
    servers.https(web, https_port, default)
    for n in range(domains):
        d = f"d{n}"
        lines += [
            f'{d} IN TXT "v=spf1 mx -all"',
            f'_dmarc.{d} IN TXT "v=DMARC1; p=reject"',
            f"{d} IN MX 10 mx{n % hosts}",
            f'_mta-sts.{d} IN TXT "v=STSv1; id=1"',
            f"mta-sts.{d} IN A {web}",
        ]
    (work / "zones").mkdir(parents=True, exist_ok=True)
    (work / "zones" / f"{ZONE}.zone").write_text("\n".join(lines) + "\n")
    listing = work / "domains.txt"
    listing.write_text("".join(f"d{n}.{ZONE}\n" for n in range(domains)))
    return {"port": port, "https_port": https_port, "mx": mx_addr, "listing": listing}


def timed_run(cli: list[str], args: list[str], servers: Servers, out: Path) -> dict[str, Any]:
    before_smtp = sum(servers.accepted.values())
    before_https = len(servers.requests)
    t = time.perf_counter()
    subprocess.run([*cli, *args, "--no-progress", "-o", str(out)], check=True, cwd=ROOT,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    seconds = time.perf_counter() - t
    records = [json.loads(line) for line in out.read_text().splitlines()]
    levels: dict[str, int] = {}
    for r in records:
        level = ((r.get("posture") or {}).get("transport") or {}).get("level", "-")
        levels[level] = levels.get(level, 0) + 1
    return {
        "seconds": round(seconds, 2),
        "domains_per_s": round(len(records) / seconds, 1),
        "smtp_connections": sum(servers.accepted.values()) - before_smtp,
        "https_connections": len(servers.requests) - before_https,
        "transport_levels": levels,
    }


def smtplib_peer(w: dict[str, Any], domains: int, hosts: int, ca_file: Path) -> dict[str, Any]:
    """STARTTLS for each domain in turn, no cache: what a per-domain script does."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    t = time.perf_counter()
    for n in range(domains):
        i = n % hosts
        with smtplib.SMTP(w["mx"][i], w["port"], timeout=10) as s:
            s.ehlo("bench.invalid")
            s._host = f"mx{i}.{ZONE}"  # type: ignore[attr-defined]  # the name checked
            s.starttls(context=ctx)
    seconds = time.perf_counter() - t
    return {
        "domains": domains,
        "seconds": round(seconds, 2),
        "domains_per_s": round(domains / seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--domains", type=int, default=2000)
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--peer-domains", type=int, default=0, help="0: all the domains")
    p.add_argument("--work", type=Path, default=HERE / "work" / "probes")
    a = p.parse_args(argv)
    cli = bulkauth_cli()
    if cli is None:
        raise SystemExit("bulkauth is not runnable here")
    a.work.mkdir(parents=True, exist_ok=True)
    pki = Pki.create(a.work)
    with Servers() as servers:
        log(f"starting {a.hosts} SMTP servers and the HTTPS server; {a.domains:,} domains")
        w = world(a.work, servers, pki, a.domains, a.hosts)
        base = ["domains", str(w["listing"]), "--zones", str(a.work / "zones")]
        probe = [*base, "--smtp-port", str(w["port"]), "--https-port", str(w["https_port"]),
                 "--ca-file", str(pki.ca_file)]  # fmt: skip
        runs: dict[str, dict[str, Any]] = {}
        log("DNS only (the peer)")
        runs["dns_only"] = timed_run(cli, base, servers, a.work / "dns.ndjson")
        log("--probe starttls,dane --probe-rate 0")
        runs["starttls_dane"] = timed_run(
            cli,
            [*probe, "--probe", "starttls,dane", "--probe-rate", "0"],
            servers,
            a.work / "tls.ndjson",
        )
        log("--probe mta-sts,starttls,dane --probe-rate 0")
        runs["all_probes"] = timed_run(
            cli,
            [*probe, "--probe", "mta-sts,starttls,dane", "--probe-rate", "0"],
            servers,
            a.work / "all.ndjson",
        )
        log("--probe mta-sts,starttls,dane at the default --probe-rate 50")
        runs["all_probes_rate_50"] = timed_run(
            cli, [*probe, "--probe", "mta-sts,starttls,dane"], servers, a.work / "rate.ndjson"
        )
        log(f"a sequential smtplib STARTTLS loop over {a.peer_domains or a.domains} domains")
        peer = smtplib_peer(w, min(a.peer_domains or a.domains, a.domains), a.hosts, pki.ca_file)
    added = runs["starttls_dane"]["seconds"] - runs["dns_only"]["seconds"]
    loop_seconds = peer["seconds"] * a.domains / peer["domains"]
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "domains": a.domains,
        "mx_hosts": a.hosts,
        "runs": runs,
        "smtplib_loop": peer,
        "starttls_dane_added_seconds": round(added, 2),
        "smtplib_loop_seconds_all_domains": round(loop_seconds, 2),
        "ratio_smtplib_loop_vs_added": round(loop_seconds / max(added, 0.01), 1),
    }
    print(f"{'run':24} {'domains/s':>10} {'seconds':>8} {'smtp conn':>10} {'https conn':>10}")
    for name, r in runs.items():
        print(f"{name:24} {r['domains_per_s']:>10} {r['seconds']:>8} {r['smtp_connections']:>10} "
              f"{r['https_connections']:>10}")  # fmt: skip
    print(f"{'smtplib loop (peer)':24} {peer['domains_per_s']:>10} {peer['seconds']:>8} {peer['domains']:>10}")  # fmt: skip
    print(
        f"STARTTLS+DANE added {added:.2f} s to the DNS-only run; the smtplib loop takes "
        f"{loop_seconds:.2f} s for {a.domains} domains ({result['ratio_smtplib_loop_vs_added']}x)"
    )
    out = HERE / "results" / f"{dt.date.today().isoformat()}-probes.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
