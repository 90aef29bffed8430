"""The zone-file backend answers as an authoritative server would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bulkauth.core.common.model import MX, Query, Rcode, RType
from bulkauth.dns.backends.zonefile import ZoneBackend, ZoneLoadError, ZoneSet
from tests.paths import ROOT

ZONE = """
$TTL 3600
@ 3600 IN SOA ns. h. 1 2 3 4 60
@ IN TXT "v=spf1 " "-all"
@ IN MX 10 MX.Example.com.
www 120 IN CNAME foo
foo 600 IN A 192.0.2.1
a.b.c IN A 192.0.2.2
*.w IN TXT "wild"
out IN CNAME x.other.example.
loop1 IN CNAME loop2
loop2 IN CNAME loop1
"""


@pytest.fixture(scope="module")
def zones() -> ZoneSet:
    return ZoneSet.from_text(ZONE, "example.com.")


def ans(zones: ZoneSet, name: str, rtype: RType):
    return zones.answer(Query(name, rtype))


def test_records_keep_txt_strings_and_lowercase_mx(zones: ZoneSet) -> None:
    assert ans(zones, "example.com", RType.TXT).records == ((b"v=spf1 ", b"-all"),)
    assert ans(zones, "example.com", RType.MX).records == (MX(10, "mx.example.com"),)


def test_cname_followed_in_zone_with_min_ttl(zones: ZoneSet) -> None:
    a = ans(zones, "www.example.com", RType.A)
    assert a.records == ("192.0.2.1",) and a.cnames == ("foo.example.com",) and a.ttl == 120


def test_cname_out_of_zone_is_left_for_the_client(zones: ZoneSet) -> None:
    a = ans(zones, "out.example.com", RType.A)
    assert a.rcode is Rcode.NOERROR and not a.records and a.cnames == ("x.other.example",)


def test_nxdomain_nodata_and_empty_non_terminal(zones: ZoneSet) -> None:
    nx = ans(zones, "nope.example.com", RType.A)
    assert nx.rcode is Rcode.NXDOMAIN and nx.ttl == 60  # SOA minimum (RFC 2308)
    assert ans(zones, "example.com", RType.A).rcode is Rcode.NOERROR
    ent = ans(zones, "b.c.example.com", RType.A)
    assert ent.rcode is Rcode.NOERROR and not ent.records  # RFC 8020: not NXDOMAIN


def test_wildcard_synthesis(zones: ZoneSet) -> None:
    assert ans(zones, "x.y.w.example.com", RType.TXT).records == ((b"wild",),)
    assert ans(zones, "w.example.com", RType.TXT).records == ()


def test_cname_loop_and_foreign_names_fail_cleanly(zones: ZoneSet) -> None:
    assert ans(zones, "loop1.example.com", RType.A).rcode is Rcode.SERVFAIL
    assert ans(zones, "example.org", RType.A).rcode is Rcode.REFUSED


def test_load_directory_and_bad_file(tmp_path: Path) -> None:
    (tmp_path / "a.example.zone").write_text("@ 60 IN SOA ns. h. 1 2 3 4 5\n@ 60 IN A 192.0.2.9\n")
    zs = ZoneSet.load(tmp_path)
    assert zs.answer(Query("a.example", RType.A)).records == ("192.0.2.9",)
    (tmp_path / "b.example.zone").write_text("@ 60 IN SOA ns. h. 1 2 3 4 5\n@ IN BOGUS x\n")
    with pytest.raises(ZoneLoadError, match=r"b\.example\.zone"):
        ZoneSet.load(tmp_path)


def test_sample_data_loads() -> None:
    data = ROOT / "data" / "zones"
    zs = ZoneSet.load(data)
    assert zs.answer(Query("nxdomain.example", RType.MX)).rcode is Rcode.NXDOMAIN


# ------------------------------------------------------------- which zone a file holds

SOA = "3600 IN SOA ns. h. 1 2 3 4 60"


def origins(path: Path, glob: str | None = None) -> list[str]:
    return [lz.origin for lz in ZoneSet.load(path, glob).loaded]


def write(d: Path, name: str, text: str) -> Path:
    (d / name).write_text(text)
    return d / name


def test_bind_style_file_names_take_the_origin_from_the_file(tmp_path: Path) -> None:
    write(tmp_path, "db.example.com", f'$ORIGIN example.com.\n@ {SOA}\n@ IN TXT "v=spf1 -all"\n')
    write(tmp_path, "db.example.org", f"example.org. {SOA}\nwww.example.org. IN A 192.0.2.1\n")
    zs = ZoneSet.load(tmp_path)
    assert [lz.origin for lz in zs.loaded] == ["example.com", "example.org"]
    assert ans(zs, "example.com", RType.TXT).records == ((b"v=spf1 -all",),)
    assert ans(zs, "www.example.org", RType.A).records == ("192.0.2.1",)


@pytest.mark.parametrize(
    "text",
    [f"$ORIGIN .\n@ {SOA}\ncom IN NS a.gtld.\n", f". {SOA}\ncom. IN NS a.gtld.\n"],
    ids=["origin-directive", "soa-owner"],
)
def test_a_root_zone(tmp_path: Path, text: str) -> None:
    zs = ZoneSet.load(write(tmp_path, "root.zone", text))
    assert [lz.origin for lz in zs.loaded] == ["."]
    # authoritative for everything now: an unknown name is NXDOMAIN, not REFUSED
    assert ans(zs, "127.0.1.9", RType.A).rcode is Rcode.NXDOMAIN
    assert ans(zs, "com", RType.NS).records == ("a.gtld",)


def test_a_file_named_unlike_its_zone(tmp_path: Path) -> None:
    f = write(tmp_path, "customer-42.txt", f"$TTL 300\n$ORIGIN example.net.\n@ {SOA}\n")
    assert origins(f) == ["example.net"]


@pytest.mark.parametrize(
    ("name", "text", "origin"),
    [
        # the SOA owner is the apex; $ORIGIN gives it when it is written relative
        ("a.example.zone", f"$ORIGIN b.example.\n@ {SOA}\n", "b.example"),
        ("a.example.zone", f"c.example. {SOA}\n", "c.example"),
        ("a.example.zone", f"; comment\n\n$ORIGIN example.\nd {SOA}\n", "d.example"),
        ("a.example.zone", f"$ORIGIN com.\ne.example.com. {SOA}\n", "e.example.com"),
        (
            "a.example.zone",
            "$ORIGIN f.example.\n@ 3600 IN SOA ns. h. (\n 1 2 3 4 60 )\n",
            "f.example",
        ),
        # no SOA first: the first $ORIGIN
        ("a.example.zone", "$ORIGIN g.example.\n@ 60 IN A 192.0.2.1\n", "g.example"),
        # neither, or only a relative SOA owner: the file name
        ("a.example.zone", f"@ {SOA}\n", "a.example"),
        ("h.example.db", "www 60 IN A 192.0.2.1\n", "h.example"),
        ("i.example", f"  60 IN A 192.0.2.1\n@ {SOA}\n", "i.example"),
    ],
)
def test_origin_precedence(tmp_path: Path, name: str, text: str, origin: str) -> None:
    assert origins(write(tmp_path, name, text)) == [origin]


def test_two_files_of_one_zone_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "example.com.zone", f"$ORIGIN example.com.\n@ {SOA}\n")
    write(tmp_path, "db.example.com", f"$ORIGIN example.com.\n@ {SOA}\n")
    with pytest.raises(ZoneLoadError, match=r"zone example\.com is also in .*db\.example\.com"):
        ZoneSet.load(tmp_path)


def test_a_readme_in_the_directory_is_refused_naming_zones_glob(tmp_path: Path) -> None:
    write(tmp_path, "example.com.zone", f"$ORIGIN example.com.\n@ {SOA}\n")
    write(tmp_path, "README", "These are the zones of example.com.\n")
    with pytest.raises(ZoneLoadError, match=r"README: .*--zones-glob PATTERN.*'\*\.zone'"):
        ZoneSet.load(tmp_path)
    assert origins(tmp_path, "*.zone") == ["example.com"]  # --zones-glob skips it
    with pytest.raises(ZoneLoadError, match=r"no zone files found matching '\*\.db'"):
        ZoneSet.load(tmp_path, "*.db")


def test_glob_matches_file_names_below_the_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "db.example.com", f"$ORIGIN example.com.\n@ {SOA}\n")
    write(tmp_path, "db.example.org", f"$ORIGIN example.org.\n@ {SOA}\n")
    write(tmp_path / "sub", "notes.txt", "not a zone\n")
    assert origins(tmp_path, "db.*") == ["example.org", "example.com"]


def test_the_zone_set_says_what_it_loaded(tmp_path: Path) -> None:
    for i in range(7):
        write(tmp_path, f"z{i}.example.zone", f"$ORIGIN z{i}.example.\n@ {SOA}\n")
    zs = ZoneSet.load(tmp_path)
    assert zs.loaded[0].file == str(tmp_path / "z0.example.zone")
    assert zs.describe() == (
        f"7 loaded from {tmp_path} (z0.example, z1.example, z2.example, z3.example, "
        "z4.example, ... and 2 more)"
    )
    assert ZoneSet.from_text(f"@ {SOA}\n", "x.example.").describe() == "1 loaded (x.example)"


@pytest.mark.anyio
async def test_the_backend_loads_a_path_with_a_glob(tmp_path: Path) -> None:
    write(tmp_path, "example.com.zone", f"$ORIGIN example.com.\n@ {SOA}\nwww IN A 192.0.2.1\n")
    write(tmp_path, "README", "not a zone\n")
    backend = ZoneBackend(tmp_path, glob="*.zone")
    assert (await backend.query(Query("www.example.com", RType.A))).records == ("192.0.2.1",)
    assert ZoneBackend(backend.zones).zones is backend.zones


def test_cli_answers_from_a_bind_style_file_and_names_the_zones(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    write(zones, "db.example.com", f'$ORIGIN example.com.\n@ {SOA}\n@ 60 IN TXT "v=spf1 -all"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "bulkauth", "domains", "-", "--zones", str(zones)]
    cmd += ["--sections", "spf", "--no-progress"]
    run = subprocess.run(cmd, input=b"example.com\n", capture_output=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    assert orjson.loads(run.stdout)["spf"]["state"] == "valid"  # not indeterminate (REFUSED)
    assert f"zones: 1 loaded from {zones} (example.com)" in run.stderr.decode()
    write(zones, "README", "The zones of example.com.\n")
    run = subprocess.run(cmd, input=b"example.com\n", capture_output=True, env=env, timeout=60)
    assert run.returncode == 2 and "--zones-glob PATTERN" in run.stderr.decode()
