"""The store sits above pipeline (DESIGN.md 7): it imports schema and core, never pipeline or
cli; nothing below it imports the store."""

from __future__ import annotations

from tests.test_architecture import PKG, imports_of


def test_the_store_imports_neither_pipeline_nor_cli() -> None:
    for path in (PKG / "store").rglob("*.py"):
        bad = {m for m in imports_of(path) if m.startswith(("bulkauth.pipeline", "bulkauth.cli"))}
        assert not bad, f"{path.name} imports {bad}"


def test_nothing_below_the_store_imports_it() -> None:
    for layer in ("core", "dns", "pipeline"):
        for path in (PKG / layer).rglob("*.py"):
            bad = {m for m in imports_of(path) if m.startswith("bulkauth.store")}
            assert not bad, f"{path} imports {bad}"


def test_a_run_without_store_does_not_import_duckdb() -> None:
    """Start-up cost: the CLI imports the store (and DuckDB) only for --store and its commands."""
    import subprocess
    import sys

    from tests.paths import ROOT

    code = (
        "import sys\n"
        "from bulkauth.cli import main\n"
        "try:\n"
        "    main(['domains', 'data/domains.txt', '--zones', 'data/zones', '--no-progress',"
        " '-o', '/dev/null'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('duckdb' in sys.modules, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=120, check=False
    )
    assert proc.stderr.decode().strip().endswith("False"), proc.stderr.decode()
