"""Loopback servers for the probe tests: SMTP (aiosmtpd, with and without STARTTLS, and ones
that hang, close or send garbage) and HTTPS serving MTA-STS policies, with certificates from a
test CA (trustme). Everything binds to 127.0.0.0/8 only.

One background thread runs an event loop holding every server, so a test (or the bench) can
start fifty SMTP servers without fifty threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.smtp import SMTP
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.UTC)


def loopback_address(rng: random.Random | None = None) -> str:
    """A random 127.x.y.z, so parallel test runs on one machine rarely meet."""
    r = rng or random.Random()
    return f"127.{r.randint(16, 250)}.{r.randint(0, 255)}.{r.randint(2, 250)}"


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


@dataclass
class Pki:
    """A test CA, and where its root is written (what --ca-file gets)."""

    ca: trustme.CA
    ca_file: Path

    @classmethod
    def create(cls, folder: Path) -> Pki:
        ca = trustme.CA()
        path = folder / "test-ca.pem"
        ca.cert_pem.write_to_path(str(path))
        return cls(ca, path)

    def context(
        self,
        *names: str,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*names, not_before=not_before, not_after=not_after).configure_cert(ctx)
        return ctx

    def chain(self, *names: str, **kw: Any) -> list[bytes]:
        """A leaf for ``names`` and the CA, as DER (what a server presents)."""
        leaf = self.ca.issue_cert(*names, **kw)
        pems = [p.bytes() for p in leaf.cert_chain_pems]
        return [
            x509.load_pem_x509_certificate(p).public_bytes(serialization.Encoding.DER) for p in pems
        ]


def self_signed(name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``name``: (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def self_signed_context(name: str, folder: Path) -> tuple[ssl.SSLContext, bytes]:
    cert_pem, key_pem = self_signed(name)
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx, x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)


class _Handler:
    """aiosmtpd handler: counts EHLOs by server, accepts nothing."""

    def __init__(self, counts: Counter[str], label: str) -> None:
        self.counts = counts
        self.label = label

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.counts[self.label] += 1
        session.host_name = hostname
        return responses


@dataclass
class Policy:
    """What the HTTPS server answers for one host: status, headers, body (and whether to
    stream the body without a Content-Length, as a server that never says its size)."""

    body: bytes = b""
    status: int = 200
    content_type: str | None = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    #: seconds to wait before answering (a slow or hanging server)
    delay: float = 0.0


class Servers:
    """The loopback servers of one test (a context manager): add them, then use their ports."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._servers: list[asyncio.base_events.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.ehlo: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.policies: dict[str, Policy] = {}
        self.requests: list[str] = []
        #: HTTPS requests being answered now, and the most at once
        self.https_now = 0
        self.https_most = 0

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def _listen(self, factory: Callable[[], asyncio.Protocol], address: str, port: int) -> int:
        async def start() -> asyncio.base_events.Server:
            return await self.loop.create_server(factory, address, port, reuse_address=True)

        server = self._run(start())
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    def _stream(
        self,
        handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]],
        address: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> int:
        async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.add(writer)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            try:
                await handle(reader, writer)
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
                pass
            finally:
                self._writers.discard(writer)
                self._tasks.discard(task)
                writer.close()

        async def start() -> asyncio.base_events.Server:
            return await asyncio.start_server(
                wrapped, address, port, ssl=ssl_context, reuse_address=True
            )

        server = self._run(start())
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    # ------------------------------------------------------------------------ SMTP

    def smtp(
        self, address: str, port: int, tls: ssl.SSLContext | None, name: str = "mx.test"
    ) -> int:
        """An aiosmtpd server; STARTTLS offered when ``tls`` is given."""
        label = f"{address}:{port}"

        def factory() -> asyncio.Protocol:
            self.accepted[label] += 1
            return SMTP(_Handler(self.ehlo, label), hostname=name, tls_context=tls, loop=self.loop)

        return self._listen(factory, address, port)

    def hanging(self, address: str, port: int) -> int:
        """Accepts, then says nothing."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1 << 16)
            await asyncio.sleep(3600)

        return self._stream(handle, address, port)

    def garbage(self, address: str, port: int) -> int:
        """Greets with bytes that are not SMTP."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"\x16\x03\x01\x00\xff garbage \xff\xfe\r\nHTTP/1.1 400 Bad\r\n")
            await writer.drain()
            await reader.read(1 << 16)

        return self._stream(handle, address, port)

    # ------------------------------------------------------------------------ HTTPS

    def https(self, address: str, port: int, tls: ssl.SSLContext) -> int:
        """HTTPS serving ``self.policies[host]`` (by the Host header) at any path."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])
            }
            host = headers.get("host", "").split(":")[0]
            self.requests.append(f"{host} {lines[0]}")
            p = self.policies.get(host, Policy(b"not found", 404))
            self.https_now += 1
            self.https_most = max(self.https_most, self.https_now)
            try:
                await asyncio.sleep(p.delay)
            finally:
                self.https_now -= 1
            out = [f"HTTP/1.1 {p.status} X", "Connection: close"]
            if p.content_type:
                out.append(f"Content-Type: {p.content_type}")
            if not p.stream:
                out.append(f"Content-Length: {len(p.body)}")
            out += [f"{k}: {v}" for k, v in p.headers.items()]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode())
            for i in range(0, len(p.body), 1 << 16):
                writer.write(p.body[i : i + (1 << 16)])
                await writer.drain()
            await writer.drain()

        return self._stream(handle, address, port, tls)

    def close(self) -> None:
        async def stop() -> None:
            for s in self._servers:
                s.close()
            for w in list(self._writers):
                w.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.sleep(0)
            for s in self._servers:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(s.wait_closed(), 2)

        try:
            self._run(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            if not self.loop.is_running():
                self.loop.close()
