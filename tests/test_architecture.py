"""Dependency direction of DESIGN.md: core is sans-I/O; layers only import downwards."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "bulkauth"
IO_MODULES = {
    "anyio",
    "asyncio",
    "aiodns",
    "pycares",
    "orjson",
    "socket",
    "uvloop",
    "typer",
    "rich",
    "selectors",
}
LAYERS = ["core", "dns", "pipeline", "cli"]


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "bulkauth" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def test_core_does_no_io() -> None:
    for path in (PKG / "core").rglob("*.py"):
        bad = {m for m in imports_of(path) if m.split(".")[0] in IO_MODULES}
        assert not bad, f"{path.name} imports {bad}: core must stay sans-I/O"


def test_imports_only_point_down() -> None:
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).parts
        own = rel[0] if rel[0] in LAYERS else rel[0].removesuffix(".py")
        if own not in LAYERS:
            continue
        for module in imports_of(path):
            target = layer_of(module)
            if target is not None:
                assert LAYERS.index(target) <= LAYERS.index(own), f"{path} imports {module}"
