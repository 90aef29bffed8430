"""Progress on stderr (never stdout: it carries the NDJSON) and the end-of-run summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bulkauth.core.common.model import Counters

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

#: what the progress counts of a record: its status and each section's state
Brief = tuple[str, tuple[tuple[str, str], ...]]


def brief(rec: dict[str, Any], field: str = "state") -> Brief:
    """The status and each section's ``field`` (domain sections have a state, message sections
    a result)."""
    sections = tuple(
        (k, _state(v, field)) for k, v in rec.items() if isinstance(v, dict) and field in v
    )
    return str(rec.get("status")), sections


def _state(section: dict[str, Any], field: str) -> str:
    state = str(section.get(field))
    # a DKIM pass made only with keys from a key history is counted apart from live ones
    return f"{state} (history)" if section.get("pass_source") == "history" else state


class RunProgress:
    """Counts records by status and section state; draws a bar when asked or on a terminal."""

    def __init__(
        self,
        total: int | None,
        enabled: bool | None,
        sections: tuple[str, ...],
        field: str = "state",
    ) -> None:
        self.sections = sections
        self.field = field
        self.by_status: Counter[str] = Counter()
        self.by_state: dict[str, Counter[str]] = {s: Counter() for s in sections}
        self.started = time.monotonic()
        show = enabled if enabled is not None else sys.stderr.isatty()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._console: Console | None = None
        if show:
            # rich only with a bar: importing it costs ~40 ms of every run's start-up
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._console = Console(stderr=True)
            self._bar = Progress(
                TextColumn("[bold]checking"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self._console,
                transient=False,
                refresh_per_second=4,
            )
            self._task = self._bar.add_task("", total=total, rate="")
            self._bar.start()

    def record(self, rec: dict[str, Any]) -> None:
        self.record_brief(brief(rec, self.field))

    def record_brief(self, b: Brief) -> None:
        status, states = b
        self.by_status[status] += 1
        by_state = self.by_state
        for section, state in states:
            counter = by_state.get(section)
            if counter is not None:
                counter[state] += 1
        if self._bar is not None and self._task is not None:
            done = sum(self.by_status.values())
            rate = done / max(time.monotonic() - self.started, 1e-9)
            self._bar.update(self._task, completed=done, rate=f"{rate:,.0f}/s")

    def add_counts(
        self, by_status: dict[str, int], by_state: dict[str, dict[str, int]], note: str = ""
    ) -> None:
        """Counts made elsewhere (a shard of a cluster run), and a note beside the rate."""
        self.by_status.update(by_status)
        for section, counts in by_state.items():
            counter = self.by_state.get(section)
            if counter is not None:
                counter.update(counts)
        if self._bar is not None and self._task is not None:
            done = sum(self.by_status.values())
            rate = done / max(time.monotonic() - self.started, 1e-9)
            self._bar.update(self._task, completed=done, rate=f"{rate:,.0f}/s {note}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()

    def say(self, text: str) -> None:
        """A line on stderr about a stage after the bar (only where the bar is shown)."""
        if self._console is not None:
            self._console.print(text, highlight=False)

    def summary(
        self,
        counters: Counters,
        backend: str,
        skipped: int = 0,
        stopped: str | None = None,
        zones: Any = None,
        notes: Sequence[str] = (),
    ) -> None:
        """The run's summary on stderr; ``zones``: the ZoneSet of --zones, whose origins it names
        (a wrong origin would otherwise only show as REFUSED answers); ``notes``: lines about
        the run's other inputs and outputs (the PSL, a DNS snapshot)."""
        elapsed = time.monotonic() - self.started
        done = sum(self.by_status.values())
        lines = [
            f"{done:,} records in {elapsed:.1f}s ({done / max(elapsed, 1e-9):,.0f}/s)"
            + (f", {skipped:,} skipped (already in output)" if skipped else ""),
            "status: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_status.items())),
        ]
        for s in self.sections:
            if self.by_state[s]:
                lines.append(
                    f"{s}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_state[s].items()))
                )
        lookups = counters.queries + counters.cache_hits + counters.joined
        hit = (counters.cache_hits + counters.joined) / lookups if lookups else 0.0
        lines.append(
            f"dns ({backend}): {counters.queries:,} queries sent, {counters.cache_hits:,} cache hits, "
            f"{counters.joined:,} joined in flight ({hit:.0%} answered without a query), "
            f"{counters.retries:,} retries, {counters.timeouts:,} timeouts, {counters.failures:,} failed"
        )
        if zones is not None:
            lines.append(f"zones: {zones.describe()}")
        lines.extend(notes)
        if stopped:
            lines.append(
                f"stopped by {stopped}: rerun with --resume -o FILE to continue where it stopped"
            )
        if self._console is not None:
            for line in lines:
                self._console.print(line, highlight=False, soft_wrap=True, markup=False)
        else:
            sys.stderr.write("".join(line + "\n" for line in lines))
            sys.stderr.flush()
