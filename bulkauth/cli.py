"""The command line: parse options into a RunConfig and run the pipeline on uvloop. Thin.

The options every command shares are declared once (``_run_config``), and so is what a
command's failure means for the exit status (``_command``): 0 done, 2 a bad command line or
input file (one line on stderr), 1 a run that broke down, 128 + N stopped by signal N.
"""

from __future__ import annotations

import functools
import inspect
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio
import typer

from bulkauth import __version__
from bulkauth.dns.resolver import ResolverConfig
from bulkauth.pipeline.config import RunConfig
from bulkauth.pipeline.errors import BadInput, OutputFailed, WorkerLost
from bulkauth.pipeline.signals import tune_gc

T = TypeVar("T")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Verify email authentication (SPF, DKIM, DMARC) in bulk. Results are NDJSON on stdout.",
    pretty_exceptions_enable=False,
)

Nameserver = Annotated[
    list[str] | None,
    typer.Option(
        "--nameserver",
        "-n",
        help="DNS server HOST[:PORT] to ask (repeatable); default: the system resolvers.",
    ),
]
Zones = Annotated[
    str | None,
    typer.Option(
        "--zones",
        help="Answer from RFC 1035 zone files (a file or a directory) instead of live DNS.",
    ),
]
ZonesGlob = Annotated[
    str | None,
    typer.Option(
        "--zones-glob",
        help="Only files of a --zones directory matching this pattern (e.g. '*.zone'); "
        "default: every file.",
    ),
]
Backend = Annotated[
    str,
    typer.Option(
        "--backend",
        help="Live DNS client: udp (our asyncio client; what auto means) or aiodns (c-ares).",
    ),
]
Concurrency = Annotated[
    int, typer.Option("--concurrency", min=1, help="DNS queries in flight at once.")
]
Qps = Annotated[float, typer.Option("--qps", min=0, help="Queries per second limit (0 = none).")]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout", min=0.01, help="Seconds a DNS query's last try waits for its answer."
    ),
]
MinTimeout = Annotated[
    float,
    typer.Option(
        "--min-timeout",
        min=0,
        help="Earlier tries wait the measured round-trip timeout (RFC 6298), at least this "
        "many seconds; 0: every try waits --timeout.",
    ),
]
Retries = Annotated[int, typer.Option("--retries", min=0, help="Retries of a failed DNS query.")]
RetryBudget = Annotated[
    int,
    typer.Option(
        "--retry-budget",
        min=0,
        help="Retries the whole run may spend; after that, one try per query.",
    ),
]
Output = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Write NDJSON here instead of stdout; a name ending in .parquet writes Parquet "
        "(the run's table, as `bulkauth export` has it) when the run ends.",
    ),
]
Resume = Annotated[
    bool, typer.Option("--resume", help="Continue an interrupted run into --output.")
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Worker processes (default: one per core for inputs of 2,000+ items).",
    ),
]
Store = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Also write the records to this DuckDB results store (created if missing): "
        "from --output FILE once the checks are done, or as they go to stdout; "
        "`bulkauth schema tables` shows its tables.",
    ),
]
Psl = Annotated[
    str | None,
    typer.Option(
        "--psl",
        help="The Public Suffix List file to find organisational domains with (default: the "
        "list packaged with bulkauth; a --replay-dns run: the one the snapshot holds).",
    ),
]
RecordDns = Annotated[
    str | None,
    typer.Option(
        "--record-dns",
        help="Write every DNS answer the run gets (failures included) to this compressed "
        "snapshot, for --replay-dns.",
    ),
]
ReplayDns = Annotated[
    str | None,
    typer.Option(
        "--replay-dns",
        help="Answer DNS only from this snapshot of --record-dns (no query is sent); a "
        "question it lacks is indeterminate (dns.not_recorded).",
    ),
]
Cluster = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Run on a Dask cluster: tcp://HOST:8786 (a `dask scheduler`) or local:N (N worker "
        "processes here). Needs -o FILE and Dask (bulkauth's 'cluster' extra).",
    ),
]
ShardSize = Annotated[
    int,
    typer.Option(
        "--shard-size",
        min=1,
        help="With --cluster: lines (domains, spf) or messages of the input in each shard.",
    ),
]
ShowProgress = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Progress bar on stderr (default: when stderr is a terminal).",
    ),
]


def _run_config(
    nameserver: Nameserver = None,
    zones: Zones = None,
    zones_glob: ZonesGlob = None,
    backend: Backend = "auto",
    concurrency: Concurrency = 500,
    qps: Qps = 0.0,
    timeout: Timeout = 3.0,
    min_timeout: MinTimeout = 0.3,
    retries: Retries = 2,
    retry_budget: RetryBudget = 100_000,
    output: Output = None,
    resume: Resume = False,
    progress: ShowProgress = None,
    workers: Workers = None,
    store: Store = None,
    psl: Psl = None,
    record_dns: RecordDns = None,
    replay_dns: ReplayDns = None,
) -> RunConfig:
    """The options every command shares, in the order its help lists them, as one RunConfig."""
    from bulkauth.dns.backend import check_nameserver

    for ns in nameserver or []:
        try:
            check_nameserver(ns)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--nameserver") from None
    if resume and not output:
        raise typer.BadParameter(
            "--resume needs --output FILE (the file to continue)", param_hint="--resume"
        )
    if zones and nameserver:
        raise typer.BadParameter(
            "give either --zones or --nameserver, not both", param_hint="--zones"
        )
    if backend not in ("auto", "aiodns", "udp"):
        raise typer.BadParameter("choose auto, aiodns or udp", param_hint="--backend")
    if replay_dns and (zones or nameserver or record_dns):
        raise typer.BadParameter(
            "a replay answers only from its snapshot: give no --zones, --nameserver or "
            "--record-dns with it",
            param_hint="--replay-dns",
        )
    parquet = None
    if output is not None and output.lower().endswith(".parquet"):
        from bulkauth.store.parquet import spool_of

        parquet, output = output, spool_of(output)
    return RunConfig(
        nameservers=list(nameserver or []),
        zones=zones,
        zones_glob=zones_glob,
        backend=backend,
        resolver=ResolverConfig(
            timeout=timeout,
            min_timeout=min_timeout,
            retries=retries,
            concurrency=concurrency,
            qps=qps,
            retry_budget=retry_budget,
        ),
        output=output,
        resume=resume,
        progress=progress,
        workers=workers,
        store=store,
        parquet=parquet,
        psl=psl,
        record_dns=record_dns,
        replay_dns=replay_dns,
    )


_SHARED = tuple(inspect.signature(_run_config, eval_str=True).parameters.values())


def _command(
    *, resume: bool = True, workers: bool = True
) -> Callable[[Callable[..., int | None]], Callable[..., None]]:
    """A command that runs on the shared options: they take the place of its keyword-only
    ``config: RunConfig`` parameter (in its --help too), without --resume or --workers when the
    command has none of its own. The command returns the signal that stopped its run, if any;
    what went wrong is turned into the exit status here, for every command alike."""
    # keyword-only, as typer passes them all: then a parameter with a default may come first
    kw = inspect.Parameter.KEYWORD_ONLY
    left_out = {"resume"} if not resume else set()
    left_out |= {"workers"} if not workers else set()
    shared = [p.replace(kind=kw) for p in _SHARED if p.name not in left_out]
    names = [p.name for p in shared]

    def decorate(fn: Callable[..., int | None]) -> Callable[..., None]:
        params: list[inspect.Parameter] = []
        for p in inspect.signature(fn, eval_str=True).parameters.values():
            params.extend(shared if p.name == "config" else [p.replace(kind=kw)])

        @functools.wraps(fn)
        def command(**kwargs: Any) -> None:
            config = _run_config(**{name: kwargs.pop(name) for name in names})
            from bulkauth.pipeline.inputs import load_inputs

            try:
                # before any query: a bad --psl or --replay-dns file is exit 2 with no output
                load_inputs(config, fn.__name__, kwargs)
                stopped_by = fn(config=config, **kwargs)
            except BadInput as exc:
                raise _fail(str(exc)) from None
            except (WorkerLost, OutputFailed) as exc:
                raise _fail(str(exc), code=1) from None
            except Exception as exc:
                if _is_store_error(exc):  # the store failed mid-run (disk full, ...)
                    raise _fail(str(exc), code=1) from None
                raise
            if stopped_by is not None:
                raise typer.Exit(128 + stopped_by)

        sig = inspect.Signature(params, return_annotation=None)
        command.__signature__ = sig  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate


def _is_store_error(exc: BaseException) -> bool:
    """A StoreError, checked without importing the store (and DuckDB) when no --store was
    given: then it cannot be one."""
    writer = sys.modules.get("bulkauth.store.writer")
    return writer is not None and isinstance(exc, writer.StoreError)


def _nameservers_asked(config: RunConfig) -> list[str] | None:
    """For the run's row: the servers -n names, else the system's (what the live backends
    ask), so the row says where the answers came from; None when zone files or a DNS snapshot
    (its options say which) answered."""
    if config.zones or config.replay_dns:
        return None
    if config.nameservers:
        return list(config.nameservers)
    from bulkauth.dns.backends.udp import system_nameservers

    return system_nameservers()


def _open_store(config: RunConfig, command: str, **options: Any) -> Any:
    """The store's sink for --store and -o FILE.parquet (None without them), opened now: before
    the run sends any DNS query, a locked, foreign or unwritable store is refused on one line
    (exit 2). ``options``: the command's own, kept in the run's row besides the shared ones."""
    if config.store is None and config.parquet is None:
        return None
    import shutil

    from bulkauth.pipeline.inputs import run_options
    from bulkauth.store.parquet import ParquetSink, private_store
    from bulkauth.store.sink import StoreSink
    from bulkauth.store.writer import StoreError

    shared = run_options(config)
    # kept absolute: --resume finds the run again by its output file
    shared["output"] = config.output and str(Path(config.output).resolve())
    private = None
    try:
        if config.store is None:
            assert config.parquet is not None
            # no --store: the Parquet file is written from a store of the run's own
            private = private_store(config.parquet)
        sink = StoreSink(
            str(private or config.store),
            command,
            argv=["bulkauth", *sys.argv[1:]],
            options={**shared, **options},
            nameservers=_nameservers_asked(config),
            zones=config.zones,
            resume=config.resume,
        )
    except StoreError as exc:
        if private is not None:
            shutil.rmtree(private.parent, ignore_errors=True)
        raise BadInput(str(exc)) from None
    return sink if config.parquet is None else ParquetSink(config.parquet, sink, private)


def _run(main: Callable[[], Awaitable[T]]) -> T:
    return anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})


def _check_inputs(paths: list[str]) -> None:
    """Refuse missing inputs before the run starts, rather than after part of it."""
    for p in paths:
        if p == "-":
            continue
        # not is_file(): a pipe (`<(grep ...)`, /dev/stdin) is a fine input too
        if Path(p).is_dir():
            raise BadInput(f"{p}: is a folder (give domain list files, or '-' for stdin)")
        if not Path(p).exists():
            raise BadInput(f"{p}: no such file (give domain lists, or '-' for stdin)")


def _sections(spec: str | None) -> tuple[str, ...]:
    """--sections a,b,c: known section names, in record order; () for all of them."""
    from bulkauth.core.domain import SECTIONS

    if spec is None:
        return ()
    asked = {s.strip().lower().replace("-", "_") for s in spec.split(",") if s.strip()}
    unknown = sorted(asked - set(SECTIONS))
    if unknown or not asked:
        raise typer.BadParameter(
            f"unknown section(s) {', '.join(unknown) or '(none given)'}: choose from "
            + ", ".join(SECTIONS),
            param_hint="--sections",
        )
    return tuple(s for s in SECTIONS if s in asked)


def _probe_options(
    config: RunConfig,
    spec: str | None,
    smtp_port: int,
    rate: float,
    timeout: float,
    dnssec: bool,
    ca_file: str | None,
    https_port: int,
) -> Any:
    """--probe a,b and --dnssec as the run's ProbeOptions; None when neither is asked."""
    from bulkauth.net.prober import PROBES, ProbeOptions

    asked = tuple(p for p in PROBES if spec and p in {s.strip().lower() for s in spec.split(",")})
    unknown = {s.strip().lower() for s in (spec or "").split(",") if s.strip()} - set(PROBES)
    if spec is not None and (unknown or not asked):
        raise typer.BadParameter(f"choose from {', '.join(PROBES)}", param_hint="--probe")
    if not asked and not dnssec:
        return None
    if dnssec and (config.zones or config.replay_dns or config.backend == "aiodns"):
        raise BadInput(
            "--dnssec reads the AD bit of live answers: not with --zones, "
            "--replay-dns or --backend aiodns"
        )
    if "dane" in asked and config.backend == "aiodns":
        raise BadInput(
            "--probe dane asks for TLSA records, which c-ares cannot: not with --backend aiodns"
        )
    needed = {"mx"} | ({"mta_sts"} if "mta-sts" in asked else set())
    if asked and config.sections and not needed <= set(config.sections):
        raise BadInput(
            f"--probe {','.join(asked)} needs --sections to include {', '.join(sorted(needed))}"
        )
    if ca_file is not None and not Path(ca_file).is_file():
        raise BadInput(f"--ca-file {ca_file}: no such file")
    return ProbeOptions(
        probes=asked,
        smtp_port=smtp_port,
        https_port=https_port,
        rate=rate,
        connect_timeout=timeout,
        read_timeout=timeout,
        ca_file=ca_file,
        dnssec=dnssec,
    )


def _selectors(spec: str | None) -> list[str]:
    """--selectors a,b,c or @FILE; checked once here so bad ones are not reported per domain."""
    from bulkauth.core.dkim.probe import selectors_to_try

    if not spec:
        return []
    if spec.startswith("@"):
        try:
            text = Path(spec[1:]).read_text(errors="replace")
        except OSError as exc:
            raise BadInput(f"--selectors {spec}: {exc.strerror}") from None
        names = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    else:
        names = spec.split(",")
    tried, problems = selectors_to_try(n for n in names if n)
    for p in problems:
        typer.echo(f"bulkauth: --selectors: {p.message}", err=True)
    return tried[len(selectors_to_try()[0]) :]


def _discovery(value: str) -> Literal["psl", "tree"]:
    """--dmarc-discovery psl|tree."""
    if value not in ("psl", "tree"):
        raise typer.BadParameter("choose psl or tree", param_hint="--dmarc-discovery")
    return "tree" if value == "tree" else "psl"


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Exit 2 for what the user can fix in the command; 1 for a run that broke down."""
    typer.echo(f"bulkauth: {message}", err=True)
    return typer.Exit(code)


@app.command()
@_command()
def domains(
    files: Annotated[
        list[str] | None, typer.Argument(help="Domain lists, one per line; '-' or none = stdin.")
    ] = None,
    *,
    config: RunConfig,
    selectors: Annotated[
        str | None,
        typer.Option(
            "--selectors",
            help="DKIM selectors to probe besides the built-in list: a,b,c or @FILE (one per line).",
        ),
    ] = None,
    dmarc_discovery: Annotated[
        str,
        typer.Option(
            "--dmarc-discovery",
            help="Find the organisational DMARC record by 'psl' (RFC 7489) or 'tree' (RFC 9989).",
        ),
    ] = "psl",
    sections: Annotated[
        str | None,
        typer.Option(
            "--sections",
            help="Audit only these sections, e.g. spf,dmarc,mx (default: all of spf, dmarc, "
            "dkim, mx, mta_sts, tls_rpt, bimi). The others are null, and so is the posture "
            "unless spf, dmarc, dkim and mx are all audited.",
        ),
    ] = None,
    probe: Annotated[
        str | None,
        typer.Option(
            "--probe",
            help="Open connections too (off by default): mta-sts (fetch the policy over HTTPS), "
            "starttls (each MX host), dane (TLSA records matched against the MX certificate).",
        ),
    ] = None,
    smtp_port: Annotated[
        int, typer.Option("--smtp-port", help="Port of the STARTTLS probe.", min=1, max=65535)
    ] = 25,
    probe_rate: Annotated[
        float,
        typer.Option("--probe-rate", help="New probe connections per second (0: no limit).", min=0),
    ] = 50.0,
    probe_timeout: Annotated[
        float,
        typer.Option(
            "--probe-timeout", help="Seconds for a probe to connect, and for each read.", min=0.01
        ),
    ] = 10.0,
    dnssec: Annotated[
        bool,
        typer.Option(
            "--dnssec",
            help="Report each section's DNSSEC status (the AD bit; -n must be a validating resolver).",
        ),
    ] = False,
    ca_file: Annotated[
        str | None,
        typer.Option("--ca-file", help="PEM roots the probes trust (default: certifi's bundle)."),
    ] = None,
    https_port: Annotated[int, typer.Option("--https-port", hidden=True, min=1, max=65535)] = 443,
    cluster: Cluster = None,
    shard_size: ShardSize = 1_000,
) -> int | None:
    """Audit each domain's SPF, DMARC, DKIM, MX, MTA-STS, TLS-RPT and BIMI records.

    One bulkauth.domain/1 NDJSON line per input line, in input order.
    """
    from bulkauth.pipeline.domains import run_domains

    _check_inputs(files or [])
    config.dmarc_discovery = _discovery(dmarc_discovery)
    config.selectors = _selectors(selectors)
    config.sections = _sections(sections)
    config.probe = _probe_options(
        config, probe, smtp_port, probe_rate, probe_timeout, dnssec, ca_file, https_port
    )
    if cluster is not None:
        from bulkauth.cluster.run import check_cluster_options, run_cluster

        check_cluster_options(cluster, config)
        extra = _open_store(config, "domains")
        return run_cluster("domains", files or ["-"], config, cluster, shard_size, extra).stopped_by
    extra = _open_store(config, "domains")
    return run_domains(files or ["-"], config, extra).stopped_by


@app.command()
@_command(resume=False)
def spf(
    ip: Annotated[str | None, typer.Argument(help="The client IP address.")] = None,
    mailfrom: Annotated[
        str | None, typer.Argument(help="The MAIL FROM address (or <> for the null sender).")
    ] = None,
    helo: Annotated[str, typer.Option("--helo", help="The HELO/EHLO name.")] = "",
    input_file: Annotated[
        str | None,
        typer.Option(
            "--input", help="Check a file of 'IP SENDER [HELO]' lines ('-' = stdin): NDJSON out."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result record as JSON.")
    ] = False,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace",
            help="With --input: keep each check's trace of terms in its record (~3x the output).",
        ),
    ] = False,
    cluster: Cluster = None,
    shard_size: ShardSize = 1_000,
    *,
    config: RunConfig,
) -> int | None:
    """One RFC 7208 check_host: the result, the explanation and the trace of terms evaluated."""
    import orjson

    from bulkauth.pipeline.spfcheck import BadCheck, parse_check_line, run_spf_file, run_spf_one

    config.spf_trace = trace
    if input_file is not None:
        _check_inputs([input_file])
        if cluster is not None:
            from bulkauth.cluster.run import check_cluster_options, run_cluster

            check_cluster_options(cluster, config)
            extra = _open_store(config, "spf", input=input_file)
            own = {"input": input_file}
            return run_cluster(
                "spf", [input_file], config, cluster, shard_size, extra, options=own
            ).stopped_by
        extra = _open_store(config, "spf", input=input_file)
        return run_spf_file([input_file], config, extra).stopped_by
    if cluster is not None:
        raise BadInput("--cluster runs a file of checks: give --input FILE")
    if config.store is not None or config.parquet is not None:
        raise BadInput(
            "--store and -o FILE.parquet need --input FILE (a single check is not stored)"
        )
    if ip is None or mailfrom is None:
        raise BadInput("give IP and MAILFROM, or --input FILE")
    try:
        ip, sender, helo = parse_check_line(f"{ip} {mailfrom or '<>'} {helo}".strip())
    except BadCheck as exc:
        raise BadInput(str(exc)) from None
    record, result = _run(lambda: run_spf_one(ip, sender, helo, config))
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(record) + b"\n")
        return None
    typer.echo(f"{result.result.value}" + (f" ({result.mechanism})" if result.mechanism else ""))
    if result.explanation:
        typer.echo(f"explanation: {result.explanation}")
    if result.problem:
        typer.echo(f"{result.problem.code}: {result.problem.message}")
    typer.echo(f"lookups: {result.lookups}, void lookups: {result.void_lookups}")
    for step in result.trace or ():
        typer.echo(f"  {step}")
    return None


def _as_of(value: str) -> Literal["received", "now"] | float:
    """--as-of received|now|ISO-8601 (a time without a zone is UTC)."""
    from datetime import UTC, datetime

    v = value.strip().lower()
    if v == "received":
        return "received"
    if v == "now":
        return "now"
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            "give received, now, or an ISO-8601 time such as 2024-05-01T12:00:00Z",
            param_hint="--as-of",
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


@app.command()
@_command(workers=False)
def messages(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="mbox files (also .gz/.bz2/.xz), Maildirs, folders of .eml, single .eml; '-' or none = stdin."
        ),
    ] = None,
    *,
    config: RunConfig,
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of",
            help="Clock for DKIM t=/x=: 'received' (the receiving hop's Received date, else Date), 'now', "
            "or an ISO-8601 time.",
        ),
    ] = "received",
    trusted_receiver: Annotated[
        str | None,
        typer.Option(
            "--trusted-receiver",
            help="The receiving system's host: its Received field gives the SMTP client and HELO, its "
            "Authentication-Results the verdicts compared. A leading '.' matches subdomains.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            help="Worker processes (default: one per core; 0 or 1: check in this process).",
        ),
    ] = None,
    dmarc_discovery: Annotated[
        str,
        typer.Option(
            "--dmarc-discovery",
            help="Find the organisational DMARC record by 'psl' (RFC 7489) or 'tree' (RFC 9989).",
        ),
    ] = "psl",
    crypto: Annotated[
        str, typer.Option("--crypto", hidden=True, help="RSA implementation: openssl or python.")
    ] = "openssl",
    arc_verifier: Annotated[
        str,
        typer.Option(
            "--arc-verifier",
            help="Who validates ARC chains: 'bulkauth' (RFC 8617, rsa-sha256 and ed25519-sha256) "
            "or 'dkimpy' (dkimpy's ARC.verify, the reference to compare with).",
        ),
    ] = "bulkauth",
    key_history: Annotated[
        str | None,
        typer.Option(
            "--key-history",
            help="A results store whose DKIM key history (`bulkauth keys`) is tried when a "
            "signature's key is gone from DNS or changed: such passes say key_source 'history'.",
        ),
    ] = None,
    dmarc_with_history: Annotated[
        bool,
        typer.Option(
            "--dmarc-with-history",
            help="Let DMARC count DKIM passes made with keys from the history (default: only "
            "today's keys count).",
        ),
    ] = False,
    cluster: Cluster = None,
    shard_size: ShardSize = 1_000,
) -> int | None:
    """Verify DKIM, SPF, DMARC and ARC of every archived message: one bulkauth.message/1 NDJSON line each."""
    from bulkauth.core.message.check import CheckOptions
    from bulkauth.pipeline.messages import MessageOptions, run_messages

    for p in paths or []:
        if p != "-" and not Path(p).exists():
            raise BadInput(
                f"{p}: no such file or folder (give mbox files, Maildirs, .eml files or folders)"
            )
    if crypto not in ("openssl", "python"):
        raise typer.BadParameter("choose openssl or python", param_hint="--crypto")
    if arc_verifier not in ("bulkauth", "dkimpy"):
        raise typer.BadParameter("choose bulkauth or dkimpy", param_hint="--arc-verifier")
    if dmarc_with_history and key_history is None:
        raise BadInput("--dmarc-with-history needs --key-history STORE")
    config.dmarc_discovery = _discovery(dmarc_discovery)
    # messages' own --workers: 0 or 1 check in this process, and the default is one per core
    config.workers = workers
    # read before the store opens for writing: --key-history may name the --store itself
    history = _key_history(key_history) if key_history else None
    check = CheckOptions(
        as_of=_as_of(as_of),
        trusted_receiver=trusted_receiver.strip() if trusted_receiver else None,
        crypto="python" if crypto == "python" else "openssl",
        arc_verifier="dkimpy" if arc_verifier == "dkimpy" else "bulkauth",
        key_history=history,
        dmarc_with_history=dmarc_with_history,
    )
    own = {
        "as_of": as_of,
        "trusted_receiver": trusted_receiver,
        "crypto": crypto,
        "arc_verifier": arc_verifier,
        "key_history": key_history and str(Path(key_history).resolve()),
        "dmarc_with_history": dmarc_with_history,
    }
    if cluster is not None:
        from bulkauth.cluster.run import check_cluster_options, run_cluster

        check_cluster_options(cluster, config)
        extra = _open_store(config, "messages", **own)
        check.dmarc_discovery = config.dmarc_discovery
        return run_cluster(
            "messages",
            paths or ["-"],
            config,
            cluster,
            shard_size,
            extra,
            MessageOptions(check=check),
            own,
        ).stopped_by
    extra = _open_store(config, "messages", **own)
    return run_messages(paths or ["-"], config, MessageOptions(check=check), extra).stopped_by


def _key_history(path: str) -> Any:
    from bulkauth.store.keys import load_history
    from bulkauth.store.writer import StoreError

    try:
        return load_history(path)
    except StoreError as exc:
        raise BadInput(f"--key-history: {exc}") from None


@app.command()
def schema(
    kind: Annotated[
        str,
        typer.Argument(
            help="Which record: domains, spf, messages, diff or dns-snapshot (a --record-dns "
            "line); or 'tables' for the store's DDL."
        ),
    ],
) -> None:
    """Print the JSON Schema of a record type, or the results store's tables (DDL)."""
    import orjson

    from bulkauth.schema import SCHEMAS

    if kind == "tables":
        from bulkauth.store.commands import tables_ddl

        sys.stdout.write(tables_ddl().rstrip("\n") + "\n")
        return
    if kind not in SCHEMAS:
        raise _fail(f"no schema named {kind!r}; choose one of: {', '.join(SCHEMAS)}, tables")
    sys.stdout.buffer.write(orjson.dumps(SCHEMAS[kind], option=orjson.OPT_INDENT_2) + b"\n")


StorePath = Annotated[str, typer.Option("--store", help="The DuckDB results store.")]


@app.command()
def load(
    files: Annotated[list[str], typer.Argument(help="NDJSON output of earlier runs (.gz too).")],
    *,
    store: StorePath,
) -> None:
    """Load NDJSON files of earlier runs into a results store, one run per file.

    Loading a file again gives the same run, not a second one. A bad line stops its file
    there: what came before is stored, the rest is reported (exit 1).
    """
    from bulkauth.store.commands import load_command

    code = load_command(files, store)
    if code:
        raise typer.Exit(code)


@app.command()
def export(
    *,
    store: StorePath,
    parquet: Annotated[
        str, typer.Option("--parquet", help="Write one Parquet dataset per table here.")
    ],
    run: Annotated[str | None, typer.Option("--run", help="Only this run id.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only runs of this day (YYYY-MM-DD) or later.")
    ] = None,
) -> None:
    """Export a results store as Parquet, Hive-partitioned by run date (run_date=YYYY-MM-DD/)."""
    from bulkauth.store.commands import export_command

    code = export_command(store, parquet, run=run, since=since)
    if code:
        raise typer.Exit(code)


OptionalStore = Annotated[
    str | None,
    typer.Option("--store", help="Read runs given by id from this DuckDB results store."),
]
TmpDir = Annotated[
    str | None,
    typer.Option("--tmpdir", help="Where to spill the sort of large runs (default: $TMPDIR)."),
]


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="The earlier run: NDJSON file (.gz too) or run id.")],
    new: Annotated[str, typer.Argument(help="The later run: NDJSON file (.gz too) or run id.")],
    *,
    store: OptionalStore = None,
    output: Output = None,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="'regressions': exit 1 when any item got worse."),
    ] = None,
    tmpdir: TmpDir = None,
) -> None:
    """What changed between two runs: a bulkauth.diff/1 NDJSON line per domain (or message)
    that changed, was added or removed; counts by kind of change on stderr."""
    from bulkauth.report.commands import diff_command

    code = diff_command(old, new, store=store, output=output, fail_on=fail_on, tmpdir=tmpdir)
    if code:
        raise typer.Exit(code)


@app.command()
def report(
    run: Annotated[str, typer.Argument(help="The run: NDJSON file (.gz too) or run id.")],
    *,
    output: Annotated[str, typer.Option("--output", "-o", help="The HTML file to write.")],
    previous: Annotated[
        str | None,
        typer.Option("--previous", help="An earlier run: the report shows what changed since."),
    ] = None,
    store: OptionalStore = None,
    title: Annotated[str | None, typer.Option("--title", help="The report's title.")] = None,
    tmpdir: TmpDir = None,
) -> None:
    """One self-contained HTML file (no network needed) for people: overview charts, what
    changed, every domain with its findings and the record to publish for each fix."""
    from bulkauth.report.commands import report_command

    code = report_command(
        run, previous=previous, store=store, output=output, title=title, tmpdir=tmpdir
    )
    if code:
        raise typer.Exit(code)


keys_app = typer.Typer(
    help="The DKIM key history a store keeps: each value a selector was seen with, and when.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


@keys_app.command("import")
def keys_import(
    file: Annotated[
        str,
        typer.Argument(
            help="A key archive: CSV with a header row, or NDJSON (.gz too), with the columns "
            "domain, selector, value, first_seen, last_seen."
        ),
    ],
    *,
    store: StorePath,
) -> None:
    """Import a public key archive into the store's key history.

    Bad rows are reported with their line numbers and skipped (exit 1); the good ones are
    loaded. Importing the same file again replaces what it gave before.
    """
    from bulkauth.store.commands import keys_import_command

    code = keys_import_command(file, store)
    if code:
        raise typer.Exit(code)


@keys_app.command("list")
def keys_list(
    domain: Annotated[str | None, typer.Argument(help="Only this domain's keys.")] = None,
    *,
    store: StorePath,
) -> None:
    """The key history as NDJSON (bulkauth.key_history/1), by domain, selector and time."""
    from bulkauth.store.commands import keys_list_command

    code = keys_list_command(store, domain)
    if code:
        raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bulkauth {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    pass


def main(argv: list[str] | None = None) -> Any:
    # a closed stdout (`| head`) ends the run quietly instead of with a traceback
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    tune_gc()
    return app(args=argv)
