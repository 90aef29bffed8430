"""Run NSD on a loopback address as the benchmark's authoritative server.

The whole synthetic internet is served by one NSD process on ``127.0.0.20:53`` (port 53 because
checkdmarc accepts only a nameserver IP; not 127.0.0.53, which systemd-resolved owns on many
hosts). Debian's NSD rate-limits responses by default (RRL), which caps one client at ~17k q/s
and drops the rest: the generated config turns that off.

Usage::

    python -m bench.nsd start bench/work     # zones from bench/work/zones.txt
    python -m bench.nsd stop bench/work
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ADDRESS = "127.0.0.20"
PORT = 53


def ensure_tools(tools: tuple[str, ...] = ("nsd", "dnsperf")) -> None:
    """Install NSD and dnsperf from Debian when missing (the bench runs on fresh machines)."""
    missing = [t for t in tools if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(
            f"missing {', '.join(missing)}: install them (apt-get install -y nsd dnsperf)"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    # NSD's Debian package tries to start a service; on a machine without systemd that fails
    # harmlessly, and the bench never uses the system instance anyway.
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nsd", "dnsperf"],
        check=True,
        env=env,
    )


def nsd_binary() -> str:
    return shutil.which("nsd") or "/usr/sbin/nsd"


def write_config(workdir: Path, zones: list[tuple[str, str]], address: str, port: int) -> Path:
    """nsd.conf for the zones ``(origin, file relative to workdir/zones)``."""
    run = workdir / "nsd"
    run.mkdir(parents=True, exist_ok=True)
    lines = [
        "server:",
        f"    ip-address: {address}@{port}",
        "    do-ip6: no",
        '    username: ""',
        '    chroot: ""',
        f'    zonesdir: "{workdir / "zones"}"',
        '    database: ""',
        f'    pidfile: "{run / "nsd.pid"}"',
        f'    zonelistfile: "{run / "zone.list"}"',
        f'    xfrdfile: "{run / "xfrd.state"}"',
        f'    xfrdir: "{run}"',
        f'    logfile: "{run / "nsd.log"}"',
        # one answering process: the client under test needs the other core of a 2-core box
        "    server-count: 1",
        "    tcp-count: 512",
        # deep socket buffers: bursts of thousands of queries (a client's flush, dnsdist's
        # delayed replies) overflowed the default 208 KiB and were lost (RcvbufErrors)
        "    receive-buffer-size: 4194304",
        "    send-buffer-size: 4194304",
        "    tcp-timeout: 30",
        "    rrl-ratelimit: 0",
        "    rrl-whitelist-ratelimit: 0",
        "    hide-version: yes",
        "    round-robin: no",
        # a recursive resolver answers without authority NS records: so do we
        "    minimal-responses: yes",
        "    verbosity: 1",
        "remote-control:",
        "    control-enable: no",
    ]
    for origin, path in zones:
        lines += ["zone:", f"    name: {origin}", f'    zonefile: "{path}"']
    conf = run / "nsd.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def read_zone_list(workdir: Path) -> list[tuple[str, str]]:
    out = []
    for line in (workdir / "zones.txt").read_text().splitlines():
        if line.strip():
            origin, path = line.split()
            out.append((origin, path))
    return out


def _answers(address: str, port: int) -> bool:
    """True when something answers a DNS query on address:port (any rcode)."""
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x06\x00\x01"  # ". SOA"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(q, (address, port))
            data = s.recv(4096)
        except OSError:
            return False
    return data[:2] == b"\x12\x34"


class Nsd:
    """A running NSD; use as a context manager or call start()/stop()."""

    def __init__(self, workdir: Path, address: str = ADDRESS, port: int = PORT) -> None:
        self.workdir = workdir.resolve()
        self.address = address
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pidfile(self) -> Path:
        return self.workdir / "nsd" / "nsd.pid"

    def start(self, timeout: float = 300.0) -> None:
        ensure_tools(("nsd",))
        self.stop_stale()
        if _answers(self.address, self.port):
            raise SystemExit(f"{self.address}:{self.port} is already answering: another server?")
        conf = write_config(self.workdir, read_zone_list(self.workdir), self.address, self.port)
        check = subprocess.run(
            [shutil.which("nsd-checkconf") or "/usr/sbin/nsd-checkconf", str(conf)],
            capture_output=True,
            text=True,
        )
        if check.returncode:
            raise SystemExit(f"nsd-checkconf: {check.stdout}{check.stderr}")
        # -d: stay in the foreground (as our child), so we own its lifetime and pid.
        self.proc = subprocess.Popen(
            [nsd_binary(), "-d", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # zones load before NSD answers; a million-name zone takes a while
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.workdir / "nsd" / "nsd.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise SystemExit(f"nsd exited with {self.proc.returncode}:\n{tail}")
            if _answers(self.address, self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"nsd did not answer within {timeout:g}s")

    def stop_stale(self) -> None:
        """Stop an NSD left running from an earlier bench in this workdir (by its pid file)."""
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return
        if b"nsd" in cmdline and str(self.workdir).encode() in cmdline:
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            self.stop_stale()
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> Nsd:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("action", choices=["start", "stop", "run"])
    p.add_argument("workdir", type=Path, nargs="?", default=Path("bench/work"))
    a = p.parse_args(argv)
    nsd = Nsd(a.workdir)
    if a.action == "stop":
        nsd.stop_stale()
        return 0
    nsd.start()
    print(f"nsd answering on {nsd.address}:{nsd.port} (pid {nsd.proc.pid if nsd.proc else '?'})")
    if a.action == "run":
        # foreground: serve until interrupted
        try:
            while nsd.proc is not None and nsd.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        nsd.stop()
    else:
        # "start": leave it running detached from us; "stop" finds it by the pid file
        nsd.proc = None
    return 0


if __name__ == "__main__":
    sys.exit(main())
