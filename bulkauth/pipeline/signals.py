"""SIGINT/SIGTERM for a run, and the collector's tuning: what a process sets up before it runs.

A signal that comes before the run's pool is running (while the input is counted, a resumed
output scanned, zone files loaded) is remembered and honoured when the pool starts, never a
KeyboardInterrupt traceback; a second one ends the process at once.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import threading
from collections.abc import Callable


def tune_gc() -> None:
    """Collect cyclic garbage less often: a run allocates a few objects per DNS question and
    keeps a large cache alive, so the default (a collection every 700 allocations) spent ~12%
    of the resolver's time in the collector (bench/README.md). Almost nothing we keep is
    cyclic; what is imported so far never will be garbage, so it is frozen out of the scans."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


_early: list[int] = []


def _main_thread() -> bool:
    """Signals are the main thread's: a run in another thread (a shard on a Dask worker,
    bulkauth.cluster) leaves them to the process that owns it, which stops the run its way."""
    return threading.current_thread() is threading.main_thread()


def catch_signals_early() -> None:
    """Called first thing by a run: until its Stop takes over (after counting the input,
    scanning a resumed output, loading zone files), SIGINT/SIGTERM are remembered, and the
    run then stops before it starts anything. A second one ends the process at once."""
    if not _main_thread():
        return

    def remember(signum: int, _frame: object) -> None:
        if _early:
            raise SystemExit(128 + _early[0])
        _early.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, remember)


def take_early_signals() -> list[int]:
    """The signals remembered since catch_signals_early(), handed to whoever takes over."""
    taken = list(_early)
    _early.clear()
    return taken


class Stop:
    """SIGINT/SIGTERM for one run: the first asks the run to stop taking items, the second to
    stop at once. Installed before start-up (loading zone files can take seconds), so a signal
    that comes early is kept and honoured, not a KeyboardInterrupt traceback."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.requested: asyncio.Future[None] | None = None
        #: what the running pool does at the first and the second signal
        self.on_first: Callable[[], None] | None = None
        self.on_second: Callable[[], None] | None = None
        self._installed: list[int] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        self.requested = loop.create_future()
        if not _main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            # a worker process ignores SIGINT (its parent decides when the run stops): keep it so
            if signal.getsignal(signum) != signal.SIG_IGN:
                loop.add_signal_handler(signum, self._received, signum)
                self._installed.append(signum)
        for early in take_early_signals():
            self._received(early)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
        self._installed.clear()

    def _received(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
            if self.requested is not None and not self.requested.done():
                self.requested.set_result(None)
            if self.on_first is not None:
                self.on_first()
        elif self.on_second is not None:
            self.on_second()
