"""Dependency direction of DESIGN.md: core is sans-I/O; layers only import downwards."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "bulkauth"
#: top-level modules core must not import: I/O, event loops, DNS clients, threads and processes
#: (core is driven step by step by whoever runs it; concurrency belongs to dns/ and pipeline/)
IO_MODULES = {
    "anyio",
    "asyncio",
    "aiodns",
    "pycares",
    "dns",  # dnspython (top-level `dns`; bulkauth.dns is a layer, checked below)
    "orjson",
    "socket",
    "uvloop",
    "typer",
    "rich",
    "selectors",
    "threading",
    "multiprocessing",
    "concurrent",
}
LAYERS = ["core", "dns", "net", "store", "report", "pipeline", "cluster", "cli"]


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


def forbidden_in_core(path: Path) -> set[str]:
    return {m for m in imports_of(path) if m.split(".")[0] in IO_MODULES}


def test_core_does_no_io() -> None:
    for path in (PKG / "core").rglob("*.py"):
        bad = forbidden_in_core(path)
        assert not bad, f"{path.name} imports {bad}: core must stay sans-I/O"


def test_the_rule_tells_dnspython_from_our_dns_layer(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import dns.resolver\nfrom dns import message\nimport threading\n"
        "from multiprocessing import Pool\nfrom bulkauth.dns import resolver\nimport dkim\n"
    )
    assert forbidden_in_core(source) == {"dns.resolver", "dns", "threading", "multiprocessing"}


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
