"""Run configuration: what the CLI parsed, as one value the pipeline runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bulkauth.dns.backend import Backend
from bulkauth.dns.resolver import ResolverConfig
from bulkauth.pipeline.errors import BadInput

if TYPE_CHECKING:
    from bulkauth.core.dmarc.discovery import Method


@dataclass(slots=True)
class RunConfig:
    nameservers: list[str] = field(default_factory=list)
    zones: str | None = None
    #: which files of a --zones directory are zone files (--zones-glob); None: every file
    zones_glob: str | None = None
    backend: str = "auto"
    resolver: ResolverConfig = field(default_factory=ResolverConfig)
    output: str | None = None
    resume: bool = False
    progress: bool | None = None  # None: only when stderr is a terminal
    #: worker processes; None: one per core for large inputs (bulkauth.pipeline.jobs)
    workers: int | None = None
    dmarc_discovery: Method = "psl"
    #: DKIM selectors to probe besides the built-in list
    selectors: list[str] = field(default_factory=list)
    #: domains: the sections to audit (--sections); empty: all of them
    sections: tuple[str, ...] = ()
    #: domains --probe/--dnssec: what to probe and how (a bulkauth.net.prober.ProbeOptions);
    #: None: no connection is opened
    probe: Any = None
    #: spf --input: keep each check's trace of terms in its record (--trace)
    spf_trace: bool = False
    #: --store PATH: the results store the CLI opens; the pipeline sees only its sink
    store: str | None = None
    #: -o FILE.parquet: the Parquet file the CLI's sink writes at the end; `output` is then
    #: its NDJSON spool (bulkauth.store.parquet)
    parquet: str | None = None
    #: the zone files of --zones, once loaded (a ZoneSet), shared by forked worker processes
    zone_set: Any = None
    #: --psl FILE: the Public Suffix List to use instead of the packaged one
    psl: str | None = None
    #: --record-dns FILE: write every DNS answer the run's backend gives to this snapshot
    record_dns: str | None = None
    #: --replay-dns FILE: answer only from this snapshot
    replay_dns: str | None = None
    #: the snapshot of --replay-dns, once loaded, shared by forked worker processes
    snapshot: Any = None
    #: --record-dns: the folder each process writes its part to, and the snapshot's header
    record_parts: str | None = None
    record_header: dict[str, Any] | None = None


def load_zones(config: RunConfig) -> Any:
    """The zone files of --zones (a ZoneSet); one that does not parse is the user's to fix."""
    from bulkauth.dns.backends.zonefile import ZoneLoadError, ZoneSet

    assert config.zones is not None
    try:
        return ZoneSet.load(config.zones, config.zones_glob)
    except ZoneLoadError as exc:
        raise BadInput(str(exc)) from None


def make_backend(config: RunConfig) -> Backend:
    """The backend the options ask for: a snapshot, zone files, or live DNS over our UDP client
    or aiodns; recording every answer into a part of the snapshot with --record-dns."""
    backend = _answering_backend(config)
    if config.record_parts is None:
        return backend
    from bulkauth.dns.backends.snapshot import RecordingBackend, new_part

    return RecordingBackend(backend, new_part(config.record_parts), answered_by(config))


def answered_by(config: RunConfig) -> str:
    """Where a run's answers come from, as a snapshot entry names it when the backend cannot
    say which of its servers answered."""
    if config.zones:
        return f"zones:{config.zones}"
    if config.nameservers:
        return ",".join(config.nameservers)
    from bulkauth.dns.backends.udp import system_nameservers

    return ",".join(system_nameservers())


def _answering_backend(config: RunConfig) -> Backend:
    if config.snapshot is not None:
        from bulkauth.dns.backends.snapshot import ReplayBackend

        return ReplayBackend(config.snapshot)
    if config.zones:
        from bulkauth.dns.backends.zonefile import ZoneBackend

        return ZoneBackend(config.zone_set or load_zones(config))
    if config.backend != "aiodns":
        # "auto": our UDP/TCP client gives the same answers as aiodns (bench: answer
        # equality) at 2-3x its rate, where c-ares tops out at ~5k queries/s (bench/README.md)
        from bulkauth.dns.backends.udp import UdpBackend

        # a socket per 500 queries in flight: replies released in a burst (a delaying
        # resolver, a busy loop) overflowed one socket's receive buffer (4 MiB, the kernel's
        # rmem_max here) at ~1,000 in flight and were lost (bench/README.md, latency)
        sockets = -(-config.resolver.concurrency // 500)
        return UdpBackend(config.nameservers, sockets_per_server=sockets)
    from bulkauth.dns.backends.aiodns import AiodnsBackend

    # c-ares re-sends within one attempt; those packets would bypass --qps, so with a
    # rate limit every packet must be one Resolver attempt
    tries = 1 if config.resolver.qps > 0 else None
    return AiodnsBackend(config.nameservers, timeout=config.resolver.timeout, tries=tries)
