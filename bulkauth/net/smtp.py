"""One SMTP conversation up to the TLS handshake: greeting, EHLO, STARTTLS (RFC 3207).

The handshake does not verify the certificate: a bad one must still be seen to be described,
and core.transport.certs judges it. Every read has a deadline and a size bound, so a server
that hangs or floods costs one timeout, never the run.
"""

from __future__ import annotations

import _ssl
import asyncio
import contextlib
import ssl

from bulkauth.core.transport.starttls import TlsObservation

#: lines of one reply and octets of one line we read (RFC 5321 4.5.3.1.5: 512 a line)
MAX_REPLY_LINES = 64
MAX_LINE = 4096


class _Failed(Exception):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(detail)
        self.step = step
        self.detail = detail


def unverified_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _reply(reader: asyncio.StreamReader, wait: float, step: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    while len(lines) < MAX_REPLY_LINES:
        try:
            raw = await asyncio.wait_for(reader.readline(), wait)
        except TimeoutError:
            raise _Failed("timeout", f"no reply within {wait:g} s ({step})") from None
        except (ValueError, asyncio.LimitOverrunError):
            raise _Failed("protocol", f"a reply line over {MAX_LINE} octets ({step})") from None
        if not raw:
            raise _Failed(step, f"connection closed ({step})")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        code = line[:3]
        if not code.isdigit() or line[3:4] not in ("", " ", "-"):
            raise _Failed("protocol", f"not an SMTP reply: {line[:60]!r}")
        lines.append(line[4:])
        if line[3:4] != "-":
            return int(code), lines
    raise _Failed("protocol", f"a reply of more than {MAX_REPLY_LINES} lines ({step})")


async def probe_starttls(
    host: str,
    address: str,
    port: int,
    ehlo_name: str,
    connect_timeout: float,
    read_timeout: float,
    context: ssl.SSLContext,
) -> TlsObservation:
    """Talk to ``address`` (an IP address: names were resolved by our own resolver) as a
    sender would to MX ``host``, up to the handshake; never raises for network faults."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(address, port, limit=MAX_LINE), connect_timeout
        )
    except TimeoutError:
        return TlsObservation(
            address, port, "connect", f"no connection within {connect_timeout:g} s"
        )
    except OSError as exc:
        return TlsObservation(address, port, "connect", f"{exc.__class__.__name__}: {exc}")
    greeting: str | None = None
    try:
        code, lines = await _reply(reader, read_timeout, "greeting")
        greeting = lines[0][:200] if lines else ""
        if code != 220:
            raise _Failed("greeting", f"greeting {code} {greeting[:60]}")
        writer.write(f"EHLO {ehlo_name}\r\n".encode())
        code, lines = await _reply(reader, read_timeout, "ehlo")
        if code != 250:
            raise _Failed("ehlo", f"EHLO answered {code}")
        if not any(line.split(" ")[0].upper() == "STARTTLS" for line in lines[1:]):
            writer.write(b"QUIT\r\n")
            return TlsObservation(address, port, greeting=greeting, starttls_offered=False)
        writer.write(b"STARTTLS\r\n")
        code, lines = await _reply(reader, read_timeout, "starttls")
        if code != 220:
            raise _Failed("handshake", f"STARTTLS answered {code} {' '.join(lines)[:60]}")
        try:
            await asyncio.wait_for(writer.start_tls(context, server_hostname=host), read_timeout)
        except TimeoutError:
            raise _Failed("handshake", f"no handshake within {read_timeout:g} s") from None
        except (ssl.SSLError, OSError, ConnectionError) as exc:
            raise _Failed("handshake", f"{exc.__class__.__name__}: {exc}") from None
        tls = writer.get_extra_info("ssl_object")
        version: str | None = None
        cipher: str | None = None
        chain: tuple[bytes, ...] = ()
        if isinstance(tls, ssl.SSLObject):
            version = tls.version()
            cipher = (tls.cipher() or (None,))[0]
            chain = _chain(tls)
        with contextlib.suppress(OSError, ssl.SSLError):
            writer.write(b"QUIT\r\n")
        return TlsObservation(
            address,
            port,
            greeting=greeting,
            starttls_offered=True,
            tls_version=version,
            cipher=cipher,
            chain=chain,
        )
    except _Failed as exc:
        return TlsObservation(
            address, port, exc.step, exc.detail, greeting=greeting, starttls_offered=None
        )
    except (OSError, ConnectionError) as exc:
        return TlsObservation(
            address, port, "protocol", f"{exc.__class__.__name__}: {exc}", greeting=greeting
        )
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError, ConnectionError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


def _chain(tls: ssl.SSLObject) -> tuple[bytes, ...]:
    # Python 3.13 has SSLObject.get_unverified_chain(); 3.11 has it on the C object only
    inner = getattr(tls, "_sslobj", tls)
    getter = getattr(inner, "get_unverified_chain", None)
    if getter is not None:
        certs = getter() or []
        return tuple(c.public_bytes(_ssl.ENCODING_DER) for c in certs)
    leaf = tls.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()
