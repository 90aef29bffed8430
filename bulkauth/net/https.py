"""One HTTPS GET of an MTA-STS policy (RFC 8461 3.3) with httpx.

The certificate is verified (against the CA bundle given, certifi's by default) for the
policy host's name while the connection goes to the address our own resolver found: the
system resolver is never asked. Redirects are not followed, the body is read up to a bound,
and environment proxies are ignored. Foreign exceptions become a Fetch's ``error`` here.
"""

from __future__ import annotations

import ssl

import httpx

from bulkauth.core.transport.mta_sts_policy import MAX_POLICY_BYTES, Fetch


def _url(address: str, port: int, path: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}{path}"


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSL" in str(exc)


async def fetch_policy(
    url: str,
    host: str,
    address: str,
    port: int,
    path: str,
    context: ssl.SSLContext,
    connect_timeout: float,
    read_timeout: float,
) -> Fetch:
    """GET ``path`` from ``host`` at ``address``; never raises for network or HTTP faults."""
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    try:
        async with (
            httpx.AsyncClient(
                verify=context, timeout=timeout, follow_redirects=False, trust_env=False
            ) as client,
            client.stream(
                "GET",
                _url(address, port, path),
                headers={"Host": host if port == 443 else f"{host}:{port}", "Accept": "text/plain"},
                extensions={"sni_hostname": host},
            ) as response,
        ):
            if response.is_redirect:
                return Fetch(
                    url,
                    response.status_code,
                    response.headers.get("content-type"),
                    location=response.headers.get("location"),
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_POLICY_BYTES:
                return Fetch(
                    url,
                    response.status_code,
                    response.headers.get("content-type"),
                    error="too_large",
                    detail=f"Content-Length {declared}: over {MAX_POLICY_BYTES} bytes (RFC 8461 3.3)",
                )
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_POLICY_BYTES:
                    return Fetch(
                        url,
                        response.status_code,
                        response.headers.get("content-type"),
                        error="too_large",
                        detail=f"the policy is over {MAX_POLICY_BYTES} bytes (RFC 8461 3.3)",
                    )
            return Fetch(
                url, response.status_code, response.headers.get("content-type"), bytes(body)
            )
    except httpx.TimeoutException as exc:
        return Fetch(url, error="timeout", detail=f"timed out: {exc.__class__.__name__}")
    except httpx.ConnectError as exc:
        if _tls_failure(exc):
            return Fetch(url, error="tls", detail=f"TLS failed: {exc}")
        return Fetch(url, error="connect", detail=f"{exc}")
    except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
        if _tls_failure(exc):
            return Fetch(url, error="tls", detail=f"TLS failed: {exc}")
        return Fetch(url, error="protocol", detail=f"{exc.__class__.__name__}: {exc}")
