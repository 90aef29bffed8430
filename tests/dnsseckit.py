"""DNSSEC on loopback for tests: zones signed with ldns-keygen/ldns-signzone (Debian
ldnsutils), served by NSD, and Unbound validating them with the test trust anchors.

Unbound is fenced in to loopback: every name outside the test zones is refused locally, it
sends only from 127.0.0.1, and no root hints or trust-anchor updates are configured, so it has
nothing on the internet to ask.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from bench.nsd import Nsd
from tests.probekit import free_port, loopback_address

TOOLS = ("nsd", "unbound", "ldns-keygen", "ldns-signzone")


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]


def need_tools() -> None:
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian: nsd unbound ldnsutils; make system-deps)")


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def sign(folder: Path, origin: str, text: str) -> tuple[Path, str]:
    """The signed zone file, and its KSK as a DNSKEY trust anchor line."""

    def keygen(*flags: str) -> str:
        out = subprocess.run(
            [_tool("ldns-keygen"), "-a", "ECDSAP256SHA256", *flags, origin],
            cwd=folder,
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    ksk = keygen("-k")
    zsk = keygen()
    zone = folder / f"{origin}.zone"
    zone.write_text(text)
    subprocess.run(
        [_tool("ldns-signzone"), "-f", str(zone) + ".signed", str(zone), ksk, zsk],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    anchor = (folder / f"{ksk}.key").read_text().split(";")[0].strip()
    return Path(str(zone) + ".signed"), anchor


def zone_text(origin: str, body: str) -> str:
    return (
        f"$ORIGIN {origin}.\n$TTL 300\n"
        f"@ SOA ns1.{origin}. hostmaster.{origin}. 1 3600 600 86400 300\n"
        f"@ NS ns1.{origin}.\nns1 A 127.0.0.1\n{body}\n"
    )


def _answers(address: str, port: int) -> bool:
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x06\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        try:
            s.sendto(q, (address, port))
            return s.recv(4096)[:2] == b"\x12\x34"
        except OSError:
            return False


@contextmanager
def validating_resolver(
    folder: Path, signed: dict[str, str], unsigned: dict[str, str]
) -> Iterator[str]:
    """Serve ``{origin: body}`` zones (the first signed) and yield Unbound's ``HOST:PORT``."""
    need_tools()
    zones_dir = folder / "zones"
    zones_dir.mkdir(parents=True, exist_ok=True)
    listing, anchors = [], []
    for origin, body in signed.items():
        path, anchor = sign(zones_dir, origin, zone_text(origin, body))
        listing.append(f"{origin} {path.name}")
        anchors.append(anchor)
    for origin, body in unsigned.items():
        path = zones_dir / f"{origin}.zone"
        path.write_text(zone_text(origin, body))
        listing.append(f"{origin} {path.name}")
    (folder / "zones.txt").write_text("\n".join(listing) + "\n")
    nsd_address = loopback_address()
    nsd = Nsd(folder, nsd_address, free_port(nsd_address))
    address = loopback_address()
    port = free_port(address)
    (folder / "anchors.key").write_text("\n".join(anchors) + "\n")
    lines = [
        "server:",
        f"    interface: {address}@{port}",
        "    outgoing-interface: 127.0.0.1",
        "    do-ip6: no",
        '    username: ""',
        '    chroot: ""',
        f'    directory: "{folder}"',
        f'    pidfile: "{folder / "unbound.pid"}"',
        '    logfile: ""',
        "    use-syslog: no",
        "    do-daemonize: no",
        "    access-control: 127.0.0.0/8 allow",
        "    do-not-query-localhost: no",
        "    qname-minimisation: no",
        '    module-config: "validator iterator"',
        f'    trust-anchor-file: "{folder / "anchors.key"}"',
        # nothing outside the test zones is resolved: no query can leave loopback
        '    local-zone: "." refuse',
        *(f'    local-zone: "{o}." transparent' for o in [*signed, *unsigned]),
    ]
    for o in [*signed, *unsigned]:
        lines += ["stub-zone:", f'    name: "{o}."', f"    stub-addr: {nsd_address}@{nsd.port}"]
    conf = folder / "unbound.conf"
    conf.write_text("\n".join(lines) + "\n")
    with ExitStack() as stack:
        nsd.start(timeout=30)
        stack.callback(nsd.stop)
        log = stack.enter_context((folder / "unbound.log").open("wb"))
        proc = subprocess.Popen(
            [_tool("unbound"), "-d", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
        )

        def stop() -> None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

        stack.callback(stop)
        deadline = time.monotonic() + 20
        while not _answers(address, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                err = (folder / "unbound.log").read_text(errors="replace")
                raise RuntimeError(f"unbound did not start: {err[-2000:]}")
            time.sleep(0.1)
        yield f"{address}:{port}"
