"""What the user can fix is said on one line and exits 2, the same for every command.

A bad zones directory, a missing input file and a bad option value, for `domains`,
`messages`, a single `spf` check and `spf --input`: never a traceback, never exit 1 (which
means the run broke down).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_domains_cli import bulkauth
from tests.msgkit import BASE_MSG

COMMANDS = ("domains", "messages", "spf", "spf --input")


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    """A good input per command, and a zones directory whose second file does not parse."""
    (tmp_path / "domains.txt").write_text("good1.example\n")
    (tmp_path / "checks.txt").write_text("192.0.2.1 user@good1.example\n")
    (tmp_path / "one.eml").write_bytes(BASE_MSG)
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "good1.example").write_text(
        '$ORIGIN good1.example.\n$TTL 300\n@ IN TXT "v=spf1 -all"\n'
    )
    (zones / "broken.example").write_text("this is { not a zone file\n")
    return {
        "domains": str(tmp_path / "domains.txt"),
        "messages": str(tmp_path / "one.eml"),
        "spf --input": str(tmp_path / "checks.txt"),
        "zones": str(zones),
    }


def command_line(command: str, source: str) -> list[str]:
    """The command run on ``source`` (a file; for a single spf check, nothing to read)."""
    if command == "spf":
        return ["spf", "192.0.2.1", "user@good1.example"]
    if command == "spf --input":
        return ["spf", "--input", source]
    return [command, source]


def assert_one_line(stderr: bytes, *words: str) -> None:
    err = stderr.decode()
    assert "Traceback" not in err
    assert err.startswith("bulkauth: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("command", COMMANDS)
def test_a_zone_file_that_does_not_parse(command: str, inputs: dict[str, str]) -> None:
    source = inputs.get(command, "")
    args = [*command_line(command, source), "--zones", inputs["zones"], "--no-progress"]
    proc = bulkauth(*args, check=False)
    assert proc.returncode == 2, proc.stderr.decode()
    assert_one_line(proc.stderr, "broken.example")
    assert proc.stdout == b""


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_input(command: str, inputs: dict[str, str], tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.txt")
    if command == "spf":  # a single check reads no input but the zones it is given
        args = [*command_line(command, ""), "--zones", missing]
    else:
        args = [*command_line(command, missing), "--zones", inputs["zones"]]
    proc = bulkauth(*args, "--no-progress", check=False)
    assert proc.returncode == 2, proc.stderr.decode()
    assert_one_line(proc.stderr, "nowhere.txt")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("option", "value"), [("--backend", "carrier-pigeon"), ("--concurrency", "0")]
)
def test_a_bad_option_value(command: str, option: str, value: str, inputs: dict[str, str]) -> None:
    args = [*command_line(command, inputs.get(command, "")), option, value, "--no-progress"]
    proc = bulkauth(*args, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err and option in err
    assert proc.stdout == b""


def test_an_output_that_cannot_be_written(inputs: dict[str, str], tmp_path: Path) -> None:
    out = str(tmp_path / "no-such-folder" / "out.ndjson")
    proc = bulkauth("messages", inputs["messages"], "--zones", "data/zones", "-o", out, check=False)
    assert proc.returncode == 2, proc.stderr.decode()
    assert_one_line(proc.stderr, "no-such-folder")
