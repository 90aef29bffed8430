"""A seeded, deterministic synthetic internet for the benchmarks.

Writes, under ``--out`` (default bench/work):

- ``zones/*.zone`` and ``zones.txt`` (origin and file per line): what NSD serves. Client
  domains live in a few TLD zones (``com``, ``org``, ``net`` and the two-label public suffix
  ``co.uk``: real ICANN suffixes, so the Public Suffix List gives the organisational domains
  we mean; the names exist only in our loopback NSD). Providers are zones of their own: shared
  SPF records nested 2-4 deep, MX hosts, DKIM keys behind CNAMEs, DMARC report receivers.
- ``domains.txt``: the input list (client domains, subdomains that inherit their org's DMARC,
  NXDOMAIN names, a few lines that are not domains at all, some IDNs in Unicode).
- ``truth.jsonl``: one line per input line, what a correct audit says (see ``Truth``).
- ``queries.txt``: the queries ``bulkauth domains`` would send for these domains, one
  ``name TYPE`` a line, each (name, type) once: dnsperf's input and the clients' workload.
- ``keys/seed-N/*.pem``: a small pool of DKIM private keys (RSA 1024/2048/4096, Ed25519),
  generated once per seed and reused (RSA-4096 takes seconds), for signed-message benchmarks;
  ``keys.json`` maps selectors of each domain to the key names in truth.jsonl.
- ``meta.json``: the parameters and counts.

Everything streams: one domain is generated, written and forgotten before the next, so a
million domains cost the same memory as ten. ``--nx-lines`` writes ``domains-big.txt``, the
input list padded with NXDOMAIN names to that many lines (the memory benchmark).

Deliberate faults, by design and with the expected verdicts: SPF over 10 lookups, over 2 void
lookups, two SPF records, syntax errors, include of a missing domain, include loops, redirect to
nothing, +all; DMARC of every policy, rua/ruf to external receivers with and without the
RFC 7489 7.1 authorisation record, no p=, bad p=, pct=150, rua without mailto:, two records;
DKIM keys that are revoked, in testing, malformed, RSA-1024; MX null, missing, pointing at a
CNAME, at an address literal, at a name that does not exist; apex TXT sets too large for 512
octets (EDNS) and for 1232 (TCP).

    python -m bench.synth --domains 10000 --seed 1 --out bench/work
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: bumped whenever the generated data changes meaning: bench/run.py regenerates on a mismatch
GENERATOR_VERSION = 4

# --- the shape of the synthetic internet -----------------------------------------------------

#: (TLD zone origin, share of client domains). co.uk is a two-label public suffix.
TLDS: tuple[tuple[str, float], ...] = (("com", 0.5), ("co.uk", 0.2), ("org", 0.15), ("net", 0.15))
NS_HOST = "ns1.bench-dns.net"
#: negative TTL (SOA minimum) of the TLD zones and providers
NEG_TTL = 900

# Shared provider SPF records: name -> record. The cost in lookups is computed, not declared.
PROVIDER_SPF: dict[str, str] = {
    # "Google-like": one include fanning out to three netblock records (2 levels, 4 lookups)
    "_spf.mailprov-a.net": "v=spf1 include:_netblocks.mailprov-a.net include:_netblocks2.mailprov-a.net "
    "include:_netblocks3.mailprov-a.net ~all",
    "_netblocks.mailprov-a.net": "v=spf1 ip4:198.51.100.0/25 ip4:198.51.100.128/26 ip4:203.0.113.0/26 "
    "ip4:192.0.2.0/27 ip4:192.0.2.32/28 ip4:192.0.2.48/29 ~all",
    "_netblocks2.mailprov-a.net": "v=spf1 ip6:2001:db8:4860::/48 ip6:2001:db8:f8b0::/48 "
    "ip6:2001:db8:1000::/36 ~all",
    "_netblocks3.mailprov-a.net": "v=spf1 ip4:203.0.113.64/27 ip4:203.0.113.96/28 ip4:198.18.0.0/24 ~all",
    # "Microsoft-like": 2 lookups
    "spf.protection.mailprov-b.com": "v=spf1 ip4:198.18.10.0/24 ip4:198.18.11.0/24 "
    "ip6:2001:db8:a000::/40 include:spfd.protection.mailprov-b.com -all",
    "spfd.protection.mailprov-b.com": "v=spf1 ip4:198.18.12.0/24 ip6:2001:db8:a100::/40 -all",
    # "SendGrid-like": 1 lookup
    "_spf.sendprov-c.net": "v=spf1 ip4:198.18.20.0/24 ip4:198.18.21.0/25 ip4:198.18.22.0/26 -all",
    # "Mailchimp-like": 3 lookups, 2 levels
    "servers.mktprov-d.com": "v=spf1 include:spf1.mktprov-d.com include:spf2.mktprov-d.com ?all",
    "spf1.mktprov-d.com": "v=spf1 ip4:198.18.30.0/24 ip4:198.18.31.0/24 ?all",
    "spf2.mktprov-d.com": "v=spf1 ip4:198.18.32.0/24 ip6:2001:db8:b000::/48 ?all",
    # "Salesforce-like": 4 levels deep, with an exists: macro at the bottom (5 lookups)
    "_spf.crmprov-e.com": "v=spf1 include:_spf1.crmprov-e.com ~all",
    "_spf1.crmprov-e.com": "v=spf1 ip4:198.18.40.0/24 include:_spf2.crmprov-e.com ~all",
    "_spf2.crmprov-e.com": "v=spf1 ip4:198.18.41.0/24 include:_spf3.crmprov-e.com ~all",
    "_spf3.crmprov-e.com": "v=spf1 ip4:198.18.42.0/24 exists:%{i}._ip.crmprov-e.com ~all",
    # hosting provider used through redirect= and an a/mx style record
    "_spf.hostprov-f.net": "v=spf1 a:relay.hostprov-f.net mx:hostprov-f.net ip4:198.18.50.0/24 -all",
}
PROVIDER_INCLUDES = {
    "A": "_spf.mailprov-a.net",
    "B": "spf.protection.mailprov-b.com",
    "C": "_spf.sendprov-c.net",
    "D": "servers.mktprov-d.com",
    "E": "_spf.crmprov-e.com",
}
#: provider zones and their fixed records (beyond PROVIDER_SPF); per-client records are streamed
PROVIDER_ZONES: dict[str, list[str]] = {
    "mailprov-a.net": [
        "@ MX 10 mx.mailprov-a.net.",
        "mx A 127.0.2.1",
        *(
            f"{h} A 127.0.2.{i + 2}"
            for i, h in enumerate(("aspmx", "alt1.aspmx", "alt2.aspmx", "alt3.aspmx", "alt4.aspmx"))
        ),
        *(
            f"{h} AAAA ::ffff:127.0.2.{i + 2}"
            for i, h in enumerate(("aspmx", "alt1.aspmx", "alt2.aspmx", "alt3.aspmx", "alt4.aspmx"))
        ),
    ],
    "mailprov-b.com": [
        "@ MX 10 mx.mailprov-b.com.",
        "mx A 127.0.3.1",
        "*.mail.protection A 127.0.3.2",
        "*.mail.protection A 127.0.3.3",
    ],
    "sendprov-c.net": ["@ MX 10 mx.sendprov-c.net.", "mx A 127.0.4.1"],
    "mktprov-d.com": [
        "@ MX 10 mx.mktprov-d.com.",
        "mx A 127.0.5.1",
    ],
    "crmprov-e.com": ["@ MX 10 mx.crmprov-e.com.", "mx A 127.0.6.1"],
    "hostprov-f.net": [
        "@ MX 10 mail.hostprov-f.net.",
        "@ A 127.0.7.1",
        "mail A 127.0.7.2",
        "relay A 127.0.7.3",
    ],
    # DMARC report receivers: x authorises every domain with a wildcard; y only the domains it
    # has a record for (streamed); z authorises nobody
    "dmarc-reports-x.net": [
        "@ MX 10 mx.dmarc-reports-x.net.",
        "mx A 127.0.8.1",
        '*._report._dmarc TXT "v=DMARC1"',
    ],
    "rua-y.com": ["@ MX 10 mx.rua-y.com.", "mx A 127.0.8.2"],
    "nonauth-z.org": ["@ MX 10 mx.nonauth-z.org.", "mx A 127.0.8.3"],
}

WORDS = [
    "acme",
    "blue",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "granite",
    "harbor",
    "iris",
    "juniper",
    "kestrel",
    "lumen",
    "maple",
    "nimbus",
    "orchid",
    "pioneer",
    "quartz",
    "river",
    "summit",
    "tundra",
    "umber",
    "vertex",
    "willow",
    "xenon",
    "yarrow",
    "zephyr",
    "amber",
    "birch",
    "cobalt",
    "dune",
    "echo",
    "falcon",
    "glacier",
    "hazel",
    "indigo",
    "jasper",
    "koala",
    "lagoon",
    "meadow",
    "nova",
    "onyx",
    "pebble",
    "quill",
    "raven",
    "sierra",
    "timber",
    "upland",
    "violet",
    "walnut",
]
IDN_WORDS = ("bücher", "café", "straße", "münchen", "ñandú", "日本", "пример")
DKIM_OWN_SELECTORS = ("default", "dkim", "mail", "s1024", "key1")
VERIFICATIONS = (
    ("google-site-verification=", 43),
    ("MS=ms", 8),
    ("facebook-domain-verification=", 30),
    ("apple-domain-verification=", 16),
    ("atlassian-domain-verification=", 64),
    ("docusign=", 36),
    ("adobe-idp-site-verification=", 64),
    ("globalsign-domain-verification=", 40),
    ("stripe-verification=", 64),
    ("have-i-been-pwned-verification=", 32),
)
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

# The key pool: name -> algorithm. A handful, reused by every domain.
KEY_POOL = {
    "rsa1024-1": ("rsa", 1024),
    "rsa1024-2": ("rsa", 1024),
    "rsa2048-1": ("rsa", 2048),
    "rsa2048-2": ("rsa", 2048),
    "rsa2048-3": ("rsa", 2048),
    "rsa4096-1": ("rsa", 4096),
    "ed25519-1": ("ed25519", 0),
    "ed25519-2": ("ed25519", 0),
}


# --- keys --------------------------------------------------------------------------------------


def load_key_pool(keydir: Path) -> dict[str, str]:
    """name -> base64 public key for the DKIM p= tag; generates missing keys once."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    keydir.mkdir(parents=True, exist_ok=True)
    pubs: dict[str, str] = {}
    for name, (alg, bits) in KEY_POOL.items():
        path = keydir / f"{name}.pem"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        else:
            key = (
                rsa.generate_private_key(public_exponent=65537, key_size=bits)
                if alg == "rsa"
                else ed25519.Ed25519PrivateKey.generate()
            )
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            tmp.replace(path)
        pub = key.public_key()
        if alg == "rsa":
            der = pub.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        else:
            der = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        pubs[name] = base64.b64encode(der).decode()
    return pubs


# --- zone text helpers -------------------------------------------------------------------------


def txt(value: str) -> str:
    """A TXT rdata in master-file syntax, split into <=255-octet strings."""
    data = value.encode()
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join(
        '"' + c.decode().replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks
    )


def soa(origin: str) -> str:
    return (
        f"$ORIGIN {origin.rstrip('.')}.\n$TTL 3600\n"
        f"@ 3600 SOA {NS_HOST}. hostmaster.bench-dns.net. 1 7200 900 1209600 {NEG_TTL}\n"
        f"@ 3600 NS {NS_HOST}.\n"
    )


def rel(name: str, origin: str) -> str:
    """``name`` relative to ``origin`` for the zone file (names are always inside it)."""
    if name == origin:
        return "@"
    assert name.endswith("." + origin), (name, origin)
    return name[: -len(origin) - 1]


# --- truth ---------------------------------------------------------------------------------------


@dataclass
class SpfTruth:
    state: str = "missing"  # valid | invalid | missing
    lookups: int = 0
    void_lookups: int = 0
    faults: list[str] = field(default_factory=list)  # generator vocabulary (see FAULT_CODES)
    all: str | None = None


#: generator fault -> the bulkauth problem code expected for it
FAULT_CODES = {
    "spf.too_many_lookups": "spf.too_many_lookups",
    "spf.too_many_void_lookups": "spf.too_many_void_lookups",
    "spf.multiple_records": "spf.multiple_records",
    "spf.syntax": "spf.syntax",  # a spf.syntax.* code
    "spf.include_missing": "spf.include_missing",
    "spf.loop": "spf.loop",
    "spf.redirect_missing": "spf.redirect_missing",
    "spf.plus_all": "spf.plus_all",
    "spf.ptr": "spf.ptr",
    "dmarc.no_policy": "dmarc.no_policy",
    "dmarc.invalid_policy": "dmarc.invalid_policy",
    "dmarc.invalid_pct": "dmarc.invalid_pct",
    "dmarc.invalid_uri": "dmarc.invalid_uri",
    "dmarc.multiple_records": "dmarc.multiple_records",
    "dmarc.syntax": "dmarc.syntax",
    "dmarc.report_unauthorized": "dmarc.report_unauthorized",
    "dmarc.p_none": "dmarc.p_none",
    "dkim.revoked": "dkim.revoked",
    "dkim.testing": "dkim.testing",
    "dkim.key_malformed": "dkim.key_malformed",
    "dkim.weak_key": "dkim.weak_key",
}

_SPF_ERRORS = {
    "spf.too_many_lookups",
    "spf.too_many_void_lookups",
    "spf.multiple_records",
    "spf.syntax",
    "spf.include_missing",
    "spf.loop",
    "spf.redirect_missing",
}


class SpfWorld:
    """The SPF records of one client domain plus the providers', walked statically as
    bulkauth's audit does: every mechanism counted (RFC 7208 4.6.4), includes followed."""

    def __init__(
        self, local: dict[str, list[str]], hosts_with_a: set[str], hosts_with_mx: set[str]
    ):
        self.local = local
        self.a = hosts_with_a
        self.mx = hosts_with_mx

    def records(self, name: str) -> list[str] | None:
        """SPF records at name, None when the name does not exist."""
        if name in self.local:
            return [r for r in self.local[name] if r.lower().startswith("v=spf1")]
        if name in PROVIDER_SPF:
            return [PROVIDER_SPF[name]]
        return None

    def walk(self, name: str, stack: tuple[str, ...] = ()) -> tuple[int, int, set[str]]:
        recs = self.records(name)
        faults: set[str] = set()
        if not recs:
            return 0, 0, {"missing"}
        if len(recs) > 1:
            return 0, 0, {"spf.multiple_records"}
        lookups = voids = 0
        terms = recs[0].split()[1:]
        has_all = any(t.lstrip("+-~?") == "all" for t in terms)
        for term in terms:
            mech = term.lstrip("+-~?")
            key, _, arg = mech.partition(":")
            key = key.split("/")[0]
            if "=" in mech:
                k, _, v = mech.partition("=")
                if k == "redirect" and not has_all:
                    lookups += 1
                    if v in stack or v == name:
                        faults.add("spf.loop")
                        continue
                    sub = self.walk(v, (*stack, name))
                    if "missing" in sub[2]:
                        faults.add("spf.redirect_missing")
                    lookups += sub[0]
                    voids += sub[1]
                    faults |= sub[2] - {"missing"}
                continue
            # %{d} is the domain being checked: known without a message; other macros are not
            arg = arg.replace("%{d}", name)
            if key == "include":
                lookups += 1
                if arg in stack or arg == name:
                    faults.add("spf.loop")
                    continue
                sub = self.walk(arg, (*stack, name))
                if "missing" in sub[2]:
                    faults.add("spf.include_missing")
                lookups += sub[0]
                voids += sub[1]
                faults |= sub[2] - {"missing"}
            elif key in ("a", "mx", "ptr", "exists"):
                lookups += 1
                target = arg.split("/")[0] if arg else name
                if "%" in target:
                    continue
                if (
                    (key == "a" and target not in self.a)
                    or (key == "mx" and target not in self.mx)
                    or (key == "exists" and target not in self.a)
                ):
                    voids += 1
        return lookups, voids, faults


# --- the generator -------------------------------------------------------------------------------


class Writer:
    """Open zone files and output streams; records go straight to disk."""

    def __init__(self, out: Path) -> None:
        self.out = out
        (out / "zones").mkdir(parents=True, exist_ok=True)
        self.zones: dict[str, IO[str]] = {}
        # the root: names outside every zone get NXDOMAIN, as from a recursive resolver,
        # instead of REFUSED
        self._open(".")
        for origin, _ in TLDS:
            self._open(origin)
        for origin in PROVIDER_ZONES:
            self._open(origin)
        self.queries: IO[str] = open(out / "queries.txt", "w")  # noqa: SIM115
        self.domains: IO[str] = open(out / "domains.txt", "w", encoding="utf-8")  # noqa: SIM115
        self.truth: IO[str] = open(out / "truth.jsonl", "w", encoding="utf-8")  # noqa: SIM115
        self.keys: IO[str] = open(out / "keys.json", "w")  # noqa: SIM115
        self.keys.write("{\n")
        self._first_key = True
        self.n_records = 0

    def _open(self, origin: str) -> None:
        f = open(self.out / "zones" / self.zone_file(origin), "w")  # noqa: SIM115
        f.write(soa(origin))
        self.zones[origin] = f

    @staticmethod
    def zone_file(origin: str) -> str:
        return "root.zone" if origin == "." else f"{origin}.zone"

    def rr(self, origin: str, name: str, ttl: int, rtype: str, rdata: str) -> None:
        self.zones[origin].write(f"{rel(name, origin)} {ttl} {rtype} {rdata}\n")
        self.n_records += 1

    def key_map(self, domain: str, selectors: dict[str, str]) -> None:
        if not selectors:
            return
        sep = "" if self._first_key else ",\n"
        self._first_key = False
        self.keys.write(f"{sep}{json.dumps(domain)}: {json.dumps(selectors)}")

    def close(self) -> list[tuple[str, str]]:
        for f in self.zones.values():
            f.close()
        self.queries.close()
        self.domains.close()
        self.truth.close()
        self.keys.write("\n}\n")
        self.keys.close()
        listing = [(origin, self.zone_file(origin)) for origin in self.zones]
        (self.out / "zones.txt").write_text("".join(f"{o} {p}\n" for o, p in listing))
        return listing


def provider_zone_of(name: str) -> str:
    for origin in PROVIDER_ZONES:
        if name == origin or name.endswith("." + origin):
            return origin
    raise KeyError(name)


def write_providers(w: Writer, pub: dict[str, str]) -> None:
    for origin, lines in PROVIDER_ZONES.items():
        for line in lines:
            owner, rest = line.split(" ", 1)
            w.zones[origin].write(f"{owner} 3600 {rest}\n")
    for name, record in PROVIDER_SPF.items():
        w.rr(provider_zone_of(name), name, 3600, "TXT", txt(record))
    # every customer of D signs with one shared key
    w.rr(
        "mktprov-d.com",
        "dkim.mktprov-d.com",
        3600,
        "TXT",
        txt(f"v=DKIM1; k=rsa; p={pub['rsa2048-3']}"),
    )
    # the exists: macro target answers for one documentation address only
    w.rr("crmprov-e.com", "192.0.2.1._ip.crmprov-e.com", 3600, "A", "127.0.0.2")


def rand_token(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(ALNUM) for _ in range(n))


def pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    x = rng.random() * sum(w for _, w in weighted)
    for value, weight in weighted:
        x -= weight
        if x <= 0:
            return value
    return weighted[-1][0]


SPF_KINDS: list[tuple[str, float]] = [
    ("none", 0.12),
    ("simple_mx", 0.10),
    ("ip_only", 0.08),
    ("providers", 0.36),
    ("redirect", 0.04),
    ("own_include", 0.03),
    ("macro", 0.03),
    ("ptr", 0.02),
    ("long", 0.03),
    ("parked", 0.04),
    ("too_many_lookups", 0.03),
    ("too_many_void", 0.015),
    ("two_records", 0.015),
    ("syntax", 0.02),
    ("include_missing", 0.01),
    ("include_loop", 0.008),
    ("redirect_missing", 0.007),
    ("plus_all", 0.01),
]
DMARC_KINDS: list[tuple[str, float]] = [
    ("none", 0.28),
    ("p_none_self", 0.18),
    ("p_none_ext_auth", 0.07),
    ("quarantine", 0.12),
    ("reject", 0.15),
    ("reject_ext_y", 0.06),
    ("unauthorized_z", 0.03),
    ("cname", 0.02),
    ("no_policy", 0.015),
    ("bad_policy", 0.01),
    ("bad_pct", 0.01),
    ("no_mailto", 0.01),
    ("two_records", 0.01),
    ("bad_version", 0.01),
]
MX_KINDS: list[tuple[str, float]] = [
    ("own", 0.36),
    ("prov_a", 0.25),
    ("prov_b", 0.15),
    ("none", 0.14),
    ("nx_host", 0.03),
    ("cname_host", 0.02),
    ("literal", 0.01),
    ("one_host", 0.04),
]
DKIM_KEY_KINDS: list[tuple[str, float]] = [
    ("rsa2048", 0.62),
    ("rsa1024", 0.14),
    ("rsa4096", 0.05),
    ("ed25519", 0.05),
    ("revoked", 0.04),
    ("testing", 0.05),
    ("malformed", 0.05),
]


@dataclass
class Domain:
    """Everything generated for one client domain, before it is written."""

    name: str  # A-label
    origin: str  # TLD zone
    line: str  # the input line (Unicode for IDNs)
    records: dict[str, list[tuple[str, str, int]]] = field(
        default_factory=dict
    )  # name -> [(type, rdata, ttl)]
    queries: list[tuple[str, str]] = field(default_factory=list)
    truth: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, rtype: str, rdata: str, ttl: int = 3600) -> None:
        self.records.setdefault(name, []).append((rtype, rdata, ttl))


class Generator:
    def __init__(self, seed: int, pubkeys: dict[str, str]) -> None:
        self.rng = random.Random(seed)
        self.pub = pubkeys
        self.extra: list[tuple[str, str, str, str]] = []  # provider-zone records for this domain

    def name_for(self, i: int) -> tuple[str, str, str]:
        rng = self.rng
        tld = pick(rng, [(t, w) for t, w in TLDS])
        if rng.random() < 0.01:
            import idna

            label = f"{rng.choice(IDN_WORDS)}{i}"
            a = idna.encode(label, uts46=True).decode()
            return f"{a}.{tld}", f"{label}.{tld}", tld
        sep = "-" if rng.random() < 0.2 else ""
        label = f"{rng.choice(WORDS)}{sep}{rng.choice(WORDS)}{i}"
        return f"{label}.{tld}", f"{label}.{tld}", tld

    def domain(self, i: int) -> Domain:
        rng = self.rng
        name, line, origin = self.name_for(i)
        if rng.random() < 0.2:
            line = line.upper() if rng.random() < 0.5 else line + "."
        d = Domain(name, origin, line)
        self.extra = []
        mx_kind = pick(rng, MX_KINDS)
        spf_kind = pick(rng, SPF_KINDS)
        if spf_kind == "parked":
            mx_kind = "null" if rng.random() < 0.7 else "none"
        dmarc_kind = pick(rng, DMARC_KINDS)
        if spf_kind == "parked" and rng.random() < 0.6:
            dmarc_kind = "reject"
        a_hosts: set[str] = set()
        mx_hosts: set[str] = set()
        # apex address: most domains have a web site
        if rng.random() < 0.8:
            d.add(name, "A", f"127.1.{rng.randrange(256)}.{rng.randrange(1, 255)}")
            a_hosts.add(name)
            if rng.random() < 0.3:
                d.add(name, "AAAA", f"::ffff:127.1.{rng.randrange(256)}.{rng.randrange(1, 255)}")
        mx_truth = self.mx(d, mx_kind, a_hosts, mx_hosts)
        spf_truth = self.spf(d, spf_kind, a_hosts, mx_hosts)
        dmarc_truth = self.dmarc(d, dmarc_kind)
        dkim_truth = self.dkim(d, mx_kind, spf_kind)
        self.apex_txt(d)
        d.truth = {
            "spf": spf_truth,
            "dmarc": dmarc_truth,
            "mx": mx_truth,
            "dkim": dkim_truth,
        }
        return d

    # -- MX
    def mx(self, d: Domain, kind: str, a_hosts: set[str], mx_hosts: set[str]) -> dict[str, Any]:
        rng = self.rng
        name = d.name
        hosts: list[str] = []
        state = "valid"
        faults: list[str] = []
        null = False
        if kind == "own":
            for pref, h in ((10, "mx1"), (20, "mx2")):
                host = f"{h}.{name}"
                d.add(name, "MX", f"{pref} {host}.")
                d.add(host, "A", f"127.0.1.{rng.randrange(1, 255)}")
                a_hosts.add(host)
                hosts.append(host)
        elif kind == "one_host":
            host = f"mail.{name}"
            d.add(name, "MX", f"10 {host}.")
            d.add(host, "A", f"127.0.1.{rng.randrange(1, 255)}")
            a_hosts.add(host)
            hosts.append(host)
        elif kind == "prov_a":
            for pref, h in (
                (1, "aspmx"),
                (5, "alt1.aspmx"),
                (5, "alt2.aspmx"),
                (10, "alt3.aspmx"),
                (10, "alt4.aspmx"),
            ):
                d.add(name, "MX", f"{pref} {h}.mailprov-a.net.")
                hosts.append(f"{h}.mailprov-a.net")
        elif kind == "prov_b":
            host = f"{name.replace('.', '-')}.mail.protection.mailprov-b.com"
            d.add(name, "MX", f"0 {host}.")
            hosts.append(host)
        elif kind == "null":
            d.add(name, "MX", "0 .")
            null = True
        elif kind == "none":
            state = "missing"
        elif kind == "nx_host":
            host = f"mx-gone.{name}"
            d.add(name, "MX", f"10 {host}.")
            hosts.append(host)
            faults.append("mx.host_unresolvable")
            state = "invalid"
        elif kind == "cname_host":
            host = f"mx.{name}"
            d.add(name, "MX", f"10 {host}.")
            d.add(host, "CNAME", "aspmx.mailprov-a.net.")
            hosts.append(host)
            faults.append("mx.cname")
        elif kind == "literal":
            d.add(name, "MX", "10 127.0.1.9.")
            hosts.append("127.0.1.9")
            faults.append("mx.address_literal")
            state = "invalid"
        if hosts or null:
            mx_hosts.add(name)
        return {"state": state, "null_mx": null, "hosts": hosts, "faults": faults, "kind": kind}

    # -- SPF
    def spf(self, d: Domain, kind: str, a_hosts: set[str], mx_hosts: set[str]) -> dict[str, Any]:
        rng = self.rng
        name = d.name
        allq = pick(rng, [("-all", 0.5), ("~all", 0.42), ("?all", 0.08)])
        recs: list[str] = []
        own_ip = f"ip4:198.51.100.{rng.randrange(0, 240, 16)}/28"
        warn: list[str] = []
        if kind == "none":
            pass
        elif kind == "simple_mx":
            mech = "mx" if name in mx_hosts else ""
            a = "a " if name in a_hosts and rng.random() < 0.5 else ""
            recs.append(f"v=spf1 {a}{mech} {own_ip} {allq}".replace("  ", " "))
        elif kind == "ip_only":
            recs.append(f"v=spf1 {own_ip} ip6:2001:db8:{rng.randrange(1, 0xFFFF):x}::/48 {allq}")
        elif kind in ("providers", "too_many_lookups"):
            if kind == "providers":
                combos = [
                    ["A"],
                    ["B"],
                    ["C"],
                    ["A", "C"],
                    ["B", "C"],
                    ["A", "D"],
                    ["E"],
                    ["B", "D"],
                    ["A", "B"],
                    ["C", "D"],
                    ["D"],
                    ["E", "C"],
                    ["A", "C", "D"][:2],
                ]
            else:
                combos = [["A", "B", "D", "E"], ["A", "B", "C", "D", "E"], ["A", "E", "D"]]
            chosen = rng.choice(combos)
            incs = " ".join(f"include:{PROVIDER_INCLUDES[p]}" for p in chosen)
            mech = "mx " if name in mx_hosts and rng.random() < 0.4 else ""
            recs.append(f"v=spf1 {mech}{incs} {allq}")
        elif kind == "redirect":
            recs.append("v=spf1 redirect=_spf.hostprov-f.net")
        elif kind == "own_include":
            sub = f"_spf.{name}"
            d.add(
                sub, "TXT", txt(f"v=spf1 {own_ip} ip4:203.0.113.{rng.randrange(0, 240, 8)}/29 -all")
            )
            recs.append(f"v=spf1 include:{sub} {allq}")
        elif kind == "macro":
            if rng.random() < 0.5:
                recs.append(f"v=spf1 exists:%{{i}}._spf.{name} {allq}")
            else:
                # %{d} expands to the domain: resolvable without a sender address
                self.extra.append(
                    (
                        "hostprov-f.net",
                        f"{name}._spf.hostprov-f.net",
                        "TXT",
                        txt(f"v=spf1 {own_ip} -all"),
                    )
                )
                recs.append(f"v=spf1 include:%{{d}}._spf.hostprov-f.net {allq}")
        elif kind == "ptr":
            recs.append(f"v=spf1 ptr {own_ip} {allq}")
            warn.append("spf.ptr")
        elif kind == "long":
            ips = " ".join(
                f"ip4:198.51.{rng.randrange(256)}.{rng.randrange(256)}"
                for _ in range(rng.randint(20, 40))
            )
            recs.append(f"v=spf1 {ips} include:{PROVIDER_INCLUDES['C']} {allq}")
        elif kind == "parked":
            recs.append("v=spf1 -all")
            allq = "-all"
        elif kind == "too_many_void":
            recs.append(f"v=spf1 a:gone1.{name} a:gone2.{name} a:gone3.{name} {own_ip} {allq}")
        elif kind == "two_records":
            recs.append(f"v=spf1 {own_ip} {allq}")
            recs.append(f"v=spf1 include:{PROVIDER_INCLUDES['C']} {allq}")
        elif kind == "syntax":
            recs.append(
                rng.choice(
                    [
                        f"v=spf1 ip4:300.1.2.3 {allq}",
                        f"v=spf1 ipv4:198.51.100.1 {allq}",
                        f"v=spf1 include {allq}",
                        f"v=spf1 ip4:198.51.100.0/33 {allq}",
                        f"v=spf1 {own_ip} ~al",
                    ]
                )
            )
        elif kind == "include_missing":
            recs.append(f"v=spf1 include:_spf.gone-provider{rng.randrange(10**6)}.com {allq}")
        elif kind == "include_loop":
            sub = f"_spf.{name}"
            d.add(sub, "TXT", txt(f"v=spf1 include:{name} {allq}"))
            recs.append(f"v=spf1 include:{sub} {allq}")
        elif kind == "redirect_missing":
            recs.append(f"v=spf1 redirect=_spf.nowhere{rng.randrange(10**6)}.net")
        elif kind == "plus_all":
            recs.append(f"v=spf1 {own_ip} +all")
            allq = "+all"
            warn.append("spf.plus_all")
        for r in recs:
            d.add(name, "TXT", txt(r))
        if kind == "none":
            return {
                "state": "missing",
                "lookups": 0,
                "void_lookups": 0,
                "faults": [],
                "all": None,
                "kind": kind,
            }
        local = {n: [_unquote(rd) for t, rd, _ in rr if t == "TXT"] for n, rr in d.records.items()}
        for _origin, n, t, rd in self.extra:
            if t == "TXT":
                local.setdefault(n, []).append(_unquote(rd))
        world = SpfWorld(local, a_hosts, mx_hosts)
        faults: set[str] = set()
        lookups = voids = 0
        if kind == "two_records":
            faults.add("spf.multiple_records")
        elif kind == "syntax":
            faults.add("spf.syntax")
        else:
            lookups, voids, found = world.walk(name)
            faults |= found - {"missing"}
        if lookups > 10:
            faults.add("spf.too_many_lookups")
        if voids > 2:
            faults.add("spf.too_many_void_lookups")
        errors = sorted(f for f in faults if f in _SPF_ERRORS)
        state = "invalid" if errors else "valid"
        return {
            "state": state,
            "lookups": lookups,
            "void_lookups": voids,
            "faults": sorted(faults | set(warn)),
            "all": allq if kind not in ("redirect", "redirect_missing") else None,
            "kind": kind,
        }

    # -- DMARC
    def dmarc(self, d: Domain, kind: str) -> dict[str, Any]:
        rng = self.rng
        name = d.name
        owner = f"_dmarc.{name}"
        faults: list[str] = []
        policy: str | None = None
        sp: str | None = None
        rec: str | None = None
        state = "valid"
        ruf = f"; ruf=mailto:forensic@{name}" if rng.random() < 0.1 else ""
        fo = "; fo=1" if ruf else ""
        if kind == "none":
            state = "missing"
        elif kind == "p_none_self":
            policy = "none"
            rec = f"v=DMARC1; p=none; rua=mailto:dmarc@{name}{ruf}{fo}"
            faults.append("dmarc.p_none")
        elif kind == "p_none_ext_auth":
            policy = "none"
            rec = f"v=DMARC1; p=none; rua=mailto:agg+{rand_token(rng, 6)}@dmarc-reports-x.net"
            faults.append("dmarc.p_none")
        elif kind == "quarantine":
            policy = "quarantine"
            pct = rng.choice(["", "; pct=100", "; pct=50", "; pct=10"])
            sp = rng.choice([None, "none", "reject"])
            sp_tag = f"; sp={sp}" if sp else ""
            rec = f"v=DMARC1; p=quarantine{sp_tag}{pct}; rua=mailto:dmarc@{name}; adkim=r; aspf=r"
        elif kind == "reject":
            policy = "reject"
            sp = rng.choice([None, None, "quarantine"])
            sp_tag = f"; sp={sp}" if sp else ""
            rec = f"v=DMARC1; p=reject{sp_tag}; rua=mailto:dmarc@{name}{ruf}{fo}; adkim=s; aspf=s"
        elif kind == "reject_ext_y":
            policy = "reject"
            rec = f"v=DMARC1; p=reject; rua=mailto:{rand_token(rng, 8).lower()}@rua-y.com"
            if rng.random() < 0.5:
                self.extra.append(
                    ("rua-y.com", f"{name}._report._dmarc.rua-y.com", "TXT", txt("v=DMARC1"))
                )
            else:
                faults.append("dmarc.report_unauthorized")
        elif kind == "unauthorized_z":
            policy = "quarantine"
            rec = "v=DMARC1; p=quarantine; rua=mailto:reports@nonauth-z.org; ruf=mailto:ruf@nonauth-z.org"
            faults.append("dmarc.report_unauthorized")
        elif kind == "cname":
            policy = "reject"
            target = f"{name}.dmarc-reports-x.net"
            d.add(owner, "CNAME", f"{target}.")
            self.extra.append(
                (
                    "dmarc-reports-x.net",
                    target,
                    "TXT",
                    txt("v=DMARC1; p=reject; rua=mailto:agg@dmarc-reports-x.net"),
                )
            )
        elif kind == "no_policy":
            rec = f"v=DMARC1; rua=mailto:dmarc@{name}"
            faults.append("dmarc.no_policy")
            state = "invalid"
        elif kind == "bad_policy":
            rec = f"v=DMARC1; p=maybe; rua=mailto:dmarc@{name}"
            faults.append("dmarc.invalid_policy")
            state = "invalid"
        elif kind == "bad_pct":
            policy = "quarantine"
            rec = f"v=DMARC1; p=quarantine; pct=150; rua=mailto:dmarc@{name}"
            faults.append("dmarc.invalid_pct")
            state = "invalid"
        elif kind == "no_mailto":
            policy = "reject"
            rec = f"v=DMARC1; p=reject; rua=dmarc@{name}"
            faults.append("dmarc.invalid_uri")
            state = "invalid"
        elif kind == "two_records":
            policy = None
            d.add(owner, "TXT", txt("v=DMARC1; p=none"))
            rec = "v=DMARC1; p=reject"
            faults.append("dmarc.multiple_records")
            state = "invalid"
        elif kind == "bad_version":
            rec = "v=DMARC2; p=reject"
            faults.append("dmarc.syntax")
            state = "invalid"
        if rec is not None:
            d.add(owner, "TXT", txt(rec))
        return {
            "state": state,
            "policy": policy,
            "sp": sp,
            "faults": faults,
            "kind": kind,
            "org_domain": name,
            "inherited": False,
        }

    # -- DKIM
    def dkim(self, d: Domain, mx_kind: str, spf_kind: str) -> dict[str, Any]:
        rng = self.rng
        name = d.name
        selectors: dict[str, dict[str, Any]] = {}
        if spf_kind == "parked" or rng.random() < 0.3:
            return {"selectors": selectors}
        plan: list[tuple[str, str]] = []  # (selector, where: own|prov_b|prov_c|prov_d)
        if mx_kind == "prov_a":
            plan.append(("google", "own"))
        if mx_kind == "prov_b":
            plan += [("selector1", "prov_b"), ("selector2", "prov_b")]
        if rng.random() < 0.25:
            plan.append(("s1", "prov_c"))
        if rng.random() < 0.15:
            plan.append(("k1", "prov_d"))
        if not plan or rng.random() < 0.3:
            plan.append((rng.choice(DKIM_OWN_SELECTORS), "own"))
        dashes = name.replace(".", "-")
        for sel, where in plan:
            kind = pick(rng, DKIM_KEY_KINDS)
            record, keyname, faults = self.dkim_record(kind)
            if where == "own":
                d.add(f"{sel}._domainkey.{name}", "TXT", txt(record))
                cname = None
            elif where == "prov_b":
                cname = f"{sel}-{dashes}._domainkey.{dashes[:20].strip('-')}.onmsft.mailprov-b.com"
                d.add(f"{sel}._domainkey.{name}", "CNAME", f"{cname}.")
                self.extra.append(("mailprov-b.com", cname, "TXT", txt(record)))
            elif where == "prov_c":
                cname = f"{sel}.domainkey.{dashes[:60]}.wl.sendprov-c.net"
                d.add(f"{sel}._domainkey.{name}", "CNAME", f"{cname}.")
                self.extra.append(("sendprov-c.net", cname, "TXT", txt(record)))
            else:
                # every customer of D shares one key
                cname = "dkim.mktprov-d.com"
                d.add(f"{sel}._domainkey.{name}", "CNAME", f"{cname}.")
                record, keyname, faults = self.dkim_record("rsa2048", "rsa2048-3")
            selectors[sel] = {
                "key": keyname,
                "kind": kind if where != "prov_d" else "rsa2048",
                "cname": cname,
                "faults": faults,
            }
        return {"selectors": selectors}

    def dkim_record(
        self, kind: str, keyname: str | None = None
    ) -> tuple[str, str | None, list[str]]:
        rng = self.rng
        if kind in ("rsa2048", "rsa1024", "rsa4096", "testing"):
            bits = {"rsa1024": "1024", "rsa4096": "4096"}.get(kind, "2048")
            keyname = keyname or rng.choice([k for k in KEY_POOL if k.startswith(f"rsa{bits}")])
            t = "t=y; " if kind == "testing" else ""
            faults = (
                ["dkim.weak_key"]
                if kind == "rsa1024"
                else ["dkim.testing"]
                if kind == "testing"
                else []
            )
            return f"v=DKIM1; {t}k=rsa; p={self.pub[keyname]}", keyname, faults
        if kind == "ed25519":
            keyname = rng.choice(["ed25519-1", "ed25519-2"])
            return f"v=DKIM1; k=ed25519; p={self.pub[keyname]}", keyname, []
        if kind == "revoked":
            return "v=DKIM1; k=rsa; p=", None, ["dkim.revoked"]
        good = self.pub["rsa2048-1"]
        bad = rng.choice(
            [
                f"v=DKIM1; k=rsa; p={good[:120]}",  # truncated key
                f"v=DKIM1; k=rsa; p={good[:60]}!!{good[62:]}",  # not base64
                f"v=DKIM1; k=dsa; p={good}",  # unknown key type
                f"v=DKIM2; k=rsa; p={good}",  # wrong version
            ]
        )
        return bad, None, ["dkim.key_malformed"]

    # -- the rest of the apex TXT set: verification tokens, some of them many
    def apex_txt(self, d: Domain) -> None:
        rng = self.rng
        r = rng.random()
        count = (
            0
            if r < 0.45
            else rng.randint(1, 2)
            if r < 0.75
            else rng.randint(3, 5)
            if r < 0.88
            else rng.randint(6, 10)
            if r < 0.96
            else rng.randint(15, 30)
        )
        for _ in range(count):
            prefix, size = rng.choice(VERIFICATIONS)
            d.add(d.name, "TXT", txt(prefix + rand_token(rng, size)))


def _unquote(rdata: str) -> str:
    """Master-file TXT rdata back to its joined value (our own quoting only)."""
    out = []
    for part in rdata.split('" "'):
        out.append(part.strip('"').replace('\\"', '"').replace("\\\\", "\\"))
    return "".join(out)


# --- queries a domains audit sends ---------------------------------------------------------------


def audit_queries(d: Domain) -> Iterator[tuple[str, str]]:
    """Roughly what ``bulkauth domains`` asks for one domain (each name once)."""
    n = d.name
    yield n, "TXT"
    yield f"_dmarc.{n}", "TXT"
    yield n, "MX"
    yield f"_domainkey.{n}", "TXT"
    yield f"_mta-sts.{n}", "TXT"
    yield f"_smtp._tls.{n}", "TXT"
    yield f"default._bimi.{n}", "TXT"
    if any(k.endswith(f"._domainkey.{n}") for k in d.records):
        # keys exist: the selector probes run (a sample of the built-in list, all of ours)
        for sel in (
            "google",
            "selector1",
            "selector2",
            "s1",
            "s2",
            "k1",
            "k2",
            "default",
            "dkim",
            "mail",
            "key1",
            "s1024",
            "smtp",
            "mandrill",
            "fm1",
        ):
            yield f"{sel}._domainkey.{n}", "TXT"
    for rrs in d.records.values():
        for t, rdata, _ in rrs:
            if t == "MX" and rdata != "0 .":
                h = rdata.split()[1].rstrip(".")
                yield h, "A"
                yield h, "AAAA"
    yield f"_spf.{n}", "TXT"


# --- driver ----------------------------------------------------------------------------------------


def generate(
    out: Path, domains: int, seed: int, nx_lines: int = 0, quiet: bool = False
) -> dict[str, Any]:
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    pub = load_key_pool(out / "keys" / f"seed-{seed}")
    w = Writer(out)
    write_providers(w, pub)
    gen = Generator(seed, pub)
    rng = gen.rng
    seen_queries: set[tuple[str, str]] = set()
    for spf_name in PROVIDER_SPF:
        seen_queries.add((spf_name, "TXT"))
        w.queries.write(f"{spf_name} TXT\n")
    counts = {
        "client_domains": 0,
        "subdomains": 0,
        "nxdomain": 0,
        "invalid_input": 0,
        "idn": 0,
        "lines": 0,
    }
    junk = [
        "not a domain",
        "http://example.com/path",
        "user@example.com",
        "192.0.2.1",
        "-bad-.com",
        "a..b.com",
        "x" * 70 + ".com",
    ]

    def emit(line: str, truth: dict[str, Any]) -> None:
        w.domains.write(line + "\n")
        w.truth.write(json.dumps({"line": line, **truth}, ensure_ascii=False) + "\n")
        counts["lines"] += 1

    for i in range(domains):
        d = gen.domain(i)
        counts["client_domains"] += 1
        if d.line != d.name and not d.line.isascii():
            counts["idn"] += 1
        for owner, rrs in d.records.items():
            for rtype, rdata, ttl in rrs:
                w.rr(d.origin, owner, ttl, rtype, rdata)
        for origin, owner, rtype, rdata in gen.extra:
            w.rr(origin, owner, 3600, rtype, rdata)
        emit(d.line, {"domain": d.name, "status": "ok", "exists": True, **d.truth})
        keys = {s: v["key"] for s, v in d.truth["dkim"]["selectors"].items() if v["key"]}
        w.key_map(d.name, keys)
        for q in audit_queries(d):
            if q not in seen_queries:
                w.queries.write(f"{q[0]} {q[1]}\n")
                # only provider names repeat across domains: remember those alone (memory)
                if not q[0].endswith(d.name):
                    seen_queries.add(q)
        # subdomains in the input: they inherit the organisational domain's DMARC policy
        if rng.random() < 0.05:
            sub = f"{rng.choice(['mail', 'shop', 'news', 'app', 'eu'])}.{d.name}"
            dm = d.truth["dmarc"]
            inherited = dict(dm)
            inherited["inherited"] = True
            inherited["org_domain"] = d.name
            if dm["state"] == "valid":
                inherited["policy"] = dm.get("sp") or dm["policy"]
            elif dm.get("kind") == "bad_version":
                # RFC 7489 6.6.3: no DMARC record at the organisational domain (a v= other than
                # DMARC1 is discarded), so nothing applies to the subdomain
                inherited.update(state="missing", policy=None, faults=[])
            elif dm.get("kind") == "two_records":
                # two records: discovery ends with no policy (6.6.3), but the records are
                # there and broken, so the subdomain's DMARC is invalid, not missing: the fix
                # is at the organisational domain (a "missing" would advise publishing one here)
                inherited.update(state="invalid", policy=None)
            spf_state = "missing"
            if rng.random() < 0.5:
                w.rr(d.origin, sub, 3600, "TXT", txt("v=spf1 include:_spf.sendprov-c.net -all"))
                spf_state = "valid"
            w.rr(d.origin, sub, 3600, "A", "127.1.0.1")
            emit(
                sub,
                {
                    "domain": sub,
                    "status": "ok",
                    "exists": True,
                    "spf": {
                        "state": spf_state,
                        "lookups": 1 if spf_state == "valid" else 0,
                        "void_lookups": 0,
                        "faults": [],
                        "all": "-all" if spf_state == "valid" else None,
                    },
                    "dmarc": inherited,
                    "mx": {"state": "missing", "null_mx": False, "hosts": [], "faults": []},
                    "dkim": {"selectors": {}},
                },
            )
            counts["subdomains"] += 1
        if rng.random() < 0.03:
            nx = f"gone-{rng.randrange(10**9)}-{i}.{rng.choice([t for t, _ in TLDS])}"
            emit(nx, nx_truth(nx))
            counts["nxdomain"] += 1
        if rng.random() < 0.002:
            emit(rng.choice(junk), {"domain": None, "status": "invalid_input"})
            counts["invalid_input"] += 1
        if not quiet and i and i % 100_000 == 0:
            print(f"  {i:,} domains ...", file=sys.stderr)
    zones = w.close()
    if nx_lines:
        write_big_list(out, nx_lines, seed)
    meta = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "domains": domains,
        "counts": counts,
        "records": w.n_records,
        "zones": [o for o, _ in zones],
        "nx_lines": nx_lines,
        "seconds": round(time.monotonic() - started, 1),
        "keys": sorted(KEY_POOL),
        "nameserver_note": "serve with: python -m bench.nsd start " + str(out),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def nx_truth(name: str) -> dict[str, Any]:
    return {
        "domain": name,
        "status": "ok",
        "exists": False,
        "spf": {"state": "missing", "lookups": 0, "void_lookups": 0, "faults": [], "all": None},
        "dmarc": {"state": "missing", "policy": None, "faults": [], "inherited": False},
        "mx": {"state": "missing", "null_mx": False, "hosts": [], "faults": []},
        "dkim": {"selectors": {}},
    }


def write_big_list(out: Path, lines: int, seed: int) -> None:
    """domains.txt followed by NXDOMAIN names up to ``lines`` lines (the memory benchmark)."""
    rng = random.Random(seed + 1)
    tlds = [t for t, _ in TLDS]
    n = 0
    with open(out / "domains-big.txt", "w", encoding="utf-8") as f:
        with open(out / "domains.txt", encoding="utf-8") as src:
            for line in src:
                if n >= lines:
                    break
                f.write(line)
                n += 1
        while n < lines:
            f.write(f"nx{n}-{rng.randrange(10**6)}.{tlds[n % len(tlds)]}\n")
            n += 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--domains", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("bench/work"))
    p.add_argument(
        "--nx-lines", type=int, default=0, help="also write domains-big.txt with this many lines"
    )
    a = p.parse_args(argv)
    meta = generate(a.out, a.domains, a.seed, a.nx_lines)
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
