"""Runs beyond one machine: a run's input cut into shards, each shard run by the same pipeline
on a Dask worker, which writes its own part of the output; the driver keeps a manifest and
assembles the parts in input order (``--cluster ADDRESS``).

Dask is an optional extra (``pip install 'bulkauth[cluster]'``): nothing here is imported by a
run without ``--cluster``.
"""

from __future__ import annotations

from bulkauth.pipeline.errors import BadInput

INSTALL_HINT = "pip install 'bulkauth[cluster]'"


def require_dask() -> None:
    """Refuse --cluster on one line (exit 2) when the extra is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise BadInput(f"--cluster needs Dask: {INSTALL_HINT}") from None
