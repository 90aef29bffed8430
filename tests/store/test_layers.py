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
