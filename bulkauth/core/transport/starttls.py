"""STARTTLS on an MX host (RFC 3207), judged without I/O from what ``net`` observed.

``net`` connects, reads the greeting, sends EHLO, asks for STARTTLS and shakes hands without
verifying, and returns a :class:`TlsObservation`; here that becomes the host's state and codes.
A host that could not be reached is ``indeterminate`` with ``starttls.connect_failed``: port 25
is often blocked on the prober's side, which says nothing of the domain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.x509.verification import Store

from bulkauth.core.common.model import Problem, State, state_from
from bulkauth.core.transport.certs import CertCheck, check_chain

#: TLS versions a receiver should no longer offer (RFC 8996)
OLD_TLS = ("SSLv3", "TLSv1", "TLSv1.1")


@dataclass(frozen=True, slots=True)
class TlsObservation:
    """What one STARTTLS conversation showed. ``failure`` names the step that failed:
    connect, timeout, greeting (no 220), ehlo, protocol (not SMTP), handshake; None: a
    handshake was made, or STARTTLS was not offered (``starttls_offered`` False)."""

    address: str
    port: int
    failure: str | None = None
    detail: str = ""
    greeting: str | None = None
    starttls_offered: bool | None = None
    tls_version: str | None = None
    cipher: str | None = None
    #: the presented chain, leaf first, DER
    chain: tuple[bytes, ...] = ()


@dataclass(slots=True)
class StarttlsHost:
    host: str
    address: str | None
    port: int
    state: State
    starttls: bool | None = None
    tls_version: str | None = None
    cipher: str | None = None
    certificate: CertCheck | None = None
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "address": self.address,
            "port": self.port,
            "state": self.state.value,
            "starttls": self.starttls,
            "tls_version": self.tls_version,
            "cipher": self.cipher,
            "certificate": self.certificate.to_dict() if self.certificate else None,
            "problems": [p.to_dict() for p in self.problems],
        }


def assess_host(host: str, seen: TlsObservation, roots: Store, now: dt.datetime) -> StarttlsHost:
    out = StarttlsHost(host, seen.address, seen.port, State.VALID)
    if seen.failure in ("connect", "timeout"):
        # nothing, or silence: the path may be blocked or the server slow; not the domain's fault
        out.state = State.INDETERMINATE
        out.problems.append(
            Problem(
                "starttls.connect_failed" if seen.failure == "connect" else "starttls.timeout",
                "info",
                f"{host} ({seen.address} port {seen.port}): {seen.detail}"[:300],
            )
        )
        return out
    if seen.failure in ("greeting", "ehlo", "protocol"):
        out.state = State.INVALID
        out.problems.append(
            Problem(
                "starttls.smtp_error",
                "error",
                f"{host} does not speak SMTP as expected ({seen.failure}): {seen.detail}"[:300],
            )
        )
        return out
    out.starttls = seen.starttls_offered
    if not seen.starttls_offered:
        out.state = State.INVALID
        out.problems.append(
            Problem(
                "starttls.not_offered",
                "error",
                f"{host} does not offer STARTTLS: mail to it travels in clear text",
            )
        )
        return out
    if seen.failure == "handshake":
        out.state = State.INVALID
        out.problems.append(
            Problem(
                "starttls.handshake_failed", "error", f"TLS handshake failed: {seen.detail}"[:300]
            )
        )
        return out
    out.tls_version, out.cipher = seen.tls_version, seen.cipher
    if seen.tls_version in OLD_TLS:
        out.problems.append(
            Problem(
                "starttls.old_tls_version",
                "warning",
                f"{seen.tls_version} was negotiated; TLS 1.2 or later is expected (RFC 8996)",
            )
        )
    out.certificate = check_chain(seen.chain, host, roots, now, "starttls")
    out.problems += out.certificate.problems
    out.state = state_from(out.problems)
    return out


@dataclass(slots=True)
class HostsSection:
    """The shape the starttls and dane sections share: hosts, each with its own state."""

    state: State
    hosts: list[Any] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "hosts": [h.to_dict() for h in self.hosts],
            "problems": [p.to_dict() for p in self.problems],
        }


def starttls_section(hosts: Sequence[StarttlsHost]) -> HostsSection:
    """Invalid if any host is; indeterminate when no host could be judged; missing without
    hosts to probe (no MX, null MX). The section's problems are its hosts' codes, once each."""
    section = HostsSection(State.MISSING, list(hosts))
    if not hosts:
        return section
    states = {h.state for h in hosts}
    if State.INVALID in states:
        section.state = State.INVALID
    elif states == {State.INDETERMINATE}:
        section.state = State.INDETERMINATE
    else:
        section.state = State.VALID
    section.problems = _merged(p for h in hosts for p in h.problems)
    return section


def _merged(problems: Any) -> list[Problem]:
    seen: dict[str, Problem] = {}
    for p in problems:
        seen.setdefault(p.code, p)
    return list(seen.values())


def dane_section(hosts: Sequence[Any], without_tlsa: Sequence[str]) -> HostsSection:
    """``hosts``: DaneHost results of the MX hosts that publish TLSA records (or whose lookup
    failed); ``without_tlsa``: the MX hosts that publish none."""
    section = HostsSection(State.MISSING, list(hosts))
    if not hosts:
        return section
    section.problems = _merged(p for h in hosts for p in h.problems)
    if without_tlsa:
        section.problems.append(
            Problem(
                "dane.partial",
                "warning",
                f"MX {', '.join(without_tlsa[:5])} publish no TLSA records: mail to them is "
                "not protected by DANE",
            )
        )
    if any(p.severity == "error" for p in section.problems):
        section.state = State.INVALID
    elif all(h.matched is None for h in hosts):
        section.state = State.INDETERMINATE
    else:
        section.state = State.VALID
    return section
