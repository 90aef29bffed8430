"""Where the tests find the repository and the shared conformance suites."""

from __future__ import annotations

from pathlib import Path

#: the repository's root (holds bulkauth/, data/, bench/)
ROOT = Path(__file__).resolve().parents[1]
#: public conformance suites, beside the repository as ../shared/suites (absent on a user's clone)
SUITES = ROOT.parent / "shared" / "suites"
