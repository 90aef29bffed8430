"""dnsdist in front of the bench's NSD, delaying (and optionally dropping) answers as the
internet does: the latency scenario of ``python -m bench.run --only latency``.

A real component rather than a proxy of our own: dnsdist's ``DelayAction`` holds each UDP
response for a set number of milliseconds (the query goes to NSD at once), ``DropAction``
loses a share of them. dnsdist has no random delay, so the jitter is a chain of
``ProbaRule``s: rules are applied in order and the last delay set wins, so rule *k* of *n*
firing with probability 1/k makes each of the *n* delays equally likely (1/k * k/n).

dnsdist listens on ``127.0.0.21:53`` (port 53: checkdmarc asks nothing else) with several
UDP listeners (``reusePort``: one thread each) and several sockets to NSD, so that it is
not the bottleneck; ``bench.run`` measures its ceiling with dnsperf at the same delay.
Security polling (a query to powerdns.com) is off: nothing leaves loopback.

    python -m bench.dnsdist run bench/work/quick --delay 20 --jitter 5 --drop 0.01
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.nsd import ADDRESS as NSD_ADDRESS
from bench.nsd import PORT, _answers

ADDRESS = "127.0.0.21"


def ensure_dnsdist() -> str:
    """The dnsdist binary; installed from Debian when missing and we may."""
    exe = shutil.which("dnsdist") or "/usr/bin/dnsdist"
    if Path(exe).exists():
        return exe
    if os.geteuid() != 0:
        raise SystemExit("missing dnsdist: install it (apt-get install -y dnsdist)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "dnsdist"],
        check=True,
        env=env,
    )
    # the package's own service (if the machine runs services) is not ours to keep
    subprocess.run(
        "systemctl disable --now dnsdist || service dnsdist stop",
        shell=True,
        capture_output=True,
        check=False,
    )
    return shutil.which("dnsdist") or "/usr/bin/dnsdist"


def delays(delay_ms: int, jitter_ms: int, steps: int = 5) -> list[int]:
    """``steps`` evenly spaced delays over delay +- jitter (their mean is the delay)."""
    if jitter_ms <= 0 or steps < 2:
        return [delay_ms]
    lo = delay_ms - jitter_ms
    return [max(0, round(lo + 2 * jitter_ms * i / (steps - 1))) for i in range(steps)]


def config(
    delay_ms: int,
    jitter_ms: int,
    drop: float,
    backend: str,
    address: str,
    port: int,
    listeners: int,
    backend_sockets: int,
) -> str:
    lines = [
        'setSecurityPollSuffix("")',  # no query to secpoll.powerdns.com
        f'setLocal("{address}:{port}", {{reusePort=true}})',
        *(f'addLocal("{address}:{port}", {{reusePort=true}})' for _ in range(listeners - 1)),
        'setACL({"127.0.0.0/8"})',
        # every query goes to NSD: no packet cache, which would answer repeats at once
        f'newServer({{address="{backend}", sockets={backend_sockets}, maxCheckFailures=1000000}})',
        "setMaxUDPOutstanding(65535)",
        # deep socket buffers: a burst of replies released by the delay must not overflow
        # them (the default 208 KiB lost 0.25% of answers at 15,000 q/s)
        "setUDPSocketBufferSizes(4194304, 4194304)",
        "setRingBuffersSize(1000, 1)",  # the query log is not read: keep it small
    ]
    if drop > 0:
        lines.append(f"addAction(ProbaRule({drop}), DropAction())")
    for k, ms in enumerate(delays(delay_ms, jitter_ms), start=1):
        rule = "AllRule()" if k == 1 else f"ProbaRule({1 / k:.6f})"
        lines.append(f"addAction({rule}, DelayAction({ms}))")
    return "\n".join(lines) + "\n"


class Dnsdist:
    """A running dnsdist (context manager), our child, configured per scenario."""

    def __init__(
        self,
        workdir: Path,
        delay_ms: int = 20,
        jitter_ms: int = 5,
        drop: float = 0.0,
        backend: str = f"{NSD_ADDRESS}:{PORT}",
        address: str = ADDRESS,
        port: int = PORT,
        listeners: int = 2,
        backend_sockets: int = 4,
    ) -> None:
        self.dir = workdir.resolve() / "dnsdist"
        self.address, self.port = address, port
        self.text = config(
            delay_ms, jitter_ms, drop, backend, address, port, listeners, backend_sockets
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def nameserver(self) -> str:
        return self.address if self.port == 53 else f"{self.address}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        exe = ensure_dnsdist()
        if _answers(self.address, self.port):
            raise SystemExit(f"{self.address}:{self.port} is already answering: another server?")
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "dnsdist.conf"
        conf.write_text(self.text)
        check = subprocess.run([exe, "--check-config", "-C", str(conf)], capture_output=True)
        if check.returncode:
            raise SystemExit(f"dnsdist --check-config: {check.stdout!r} {check.stderr!r}")
        log = open(self.dir / "dnsdist.log", "wb")  # noqa: SIM115 - the child holds it
        self.proc = subprocess.Popen(
            [exe, "--supervised", "--disable-syslog", "-C", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.dir / "dnsdist.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"dnsdist exited with {self.proc.returncode}:\n{tail}")
            if _answers(self.address, self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"dnsdist did not answer within {timeout:g}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cpu_seconds(self) -> float:
        """CPU (user + system) the running dnsdist has used so far."""
        if self.proc is None:
            return 0.0
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> Dnsdist:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("action", choices=["run", "config"])
    p.add_argument("workdir", type=Path, nargs="?", default=Path("bench/work/quick"))
    p.add_argument("--delay", type=int, default=20)
    p.add_argument("--jitter", type=int, default=5)
    p.add_argument("--drop", type=float, default=0.0)
    a = p.parse_args(argv)
    d = Dnsdist(a.workdir, a.delay, a.jitter, a.drop)
    if a.action == "config":
        print(d.text, end="")
        return 0
    with d:
        print(f"dnsdist answering on {d.address}:{d.port} (pid {d.proc.pid if d.proc else '?'})")
        try:
            while d.proc is not None and d.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
