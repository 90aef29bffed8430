"""A seeded mailbox of realistic signed messages, with the DNS zones that verify them.

Writes, under ``--out``:

- ``mail.mbox``: ``--messages`` messages (sizes log-normal around 8 KB, a few hundred KB; 1-3
  DKIM signatures from the author domain, its mail provider and a mailing list; a Received chain
  written by ``mx.receiver.example`` and that receiver's Authentication-Results);
- ``zones/``: one RFC 1035 zone per domain (DKIM keys, SPF, DMARC) for ``--zones`` or a server;
- ``truth.jsonl``: per message, the expected result of each signature and of the ARC chain.

``rotate_zones`` writes the rotation world of issue 13 from those zones: the same DNS some
time later, each DKIM key record kept, replaced by another key, or removed (seeded).

Messages through the mailing list carry an ARC chain: the list seals instance 1 (a fifth of
them written ``ARC-Message-Signature:i=1;``, with no space after the colon, as some senders
do), and a third go on through a forwarder that seals instance 2. Chain faults, drawn from
their own seeded generator so that the rest of the mailbox is the same with or without them:
an ARC-Authentication-Results rewritten after sealing (the seal no longer verifies), a
forwarder sealing ``cv=fail``, and a forwarder's key rotated away.

Deliberate faults, each with its expected verdict: bodies changed after signing (body hash
mismatch), signed headers changed (signature mismatch), keys rotated away (the selector is no
longer published: key not found), and a few messages without signatures.

Signing uses dkimpy (its canonicalisation and header layout) with the RSA step done by OpenSSL:
dkimpy's pure-Python private-key operation takes ~13 ms per RSA-2048 signature.

    python -m bench.mailgen --messages 5000 --seed 1 --out bench/work/mail
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import shutil
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from bench.arcseal import Form, Signer, seal

RECEIVER = "mx.receiver.example"
ESPS = ("mailcloud.example", "sendfast.example", "bulkpost.example")
LISTS = ("lists.community.example",)
FORWARDERS = ("forward.example",)
SELECTOR = "s2024"
ROTATED = "s2019"  # signed with, never published (a key rotated away)
_WORDS = [
    "invoice",
    "meeting",
    "report",
    "quarterly",
    "update",
    "project",
    "budget",
    "review",
    "schedule",
    "customer",
    "order",
    "shipment",
    "delivery",
    "account",
    "password",
    "reset",
    "security",
    "notice",
    "newsletter",
    "offer",
    "discount",
    "team",
    "agenda",
    "minutes",
    "draft",
    "final",
    "approved",
    "pending",
    "payment",
    "receipt",
    "ticket",
    "support",
    "release",
    "notes",
]


@dataclass
class KeyPair:
    private: rsa.RSAPrivateKey
    pem: bytes
    txt: str


def make_key(bits: int = 2048) -> KeyPair:
    k = rsa.generate_private_key(65537, bits)
    pem = k.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    spki = k.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(k, pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode())


@contextmanager
def openssl_signing(keys: list[KeyPair]) -> Iterator[None]:
    """Let dkimpy sign with OpenSSL (same bytes, a hundred times faster) and at the message's
    time (dkimpy stamps t= from ``time.time()``)."""
    by_modulus = {k.private.private_numbers().public_numbers.n: k.private for k in keys}
    original = dkim.RSASSA_PKCS1_v1_5_sign

    def sign(h: Any, pk: dict[str, int]) -> bytes:
        key = by_modulus[pk["modulus"]]
        algo = hashes.SHA256() if h.hasher.name == "sha256" else hashes.SHA1()
        return key.sign(h.digest(), padding.PKCS1v15(), utils.Prehashed(algo))

    dkim.RSASSA_PKCS1_v1_5_sign = sign
    real_time = dkim.time
    dkim.time = _CLOCK
    try:
        yield
    finally:
        dkim.RSASSA_PKCS1_v1_5_sign = original
        dkim.time = real_time


def provider_of(domain: str) -> str:
    """The mail provider an author domain sends through (stable across runs)."""
    return ESPS[zlib.crc32(domain.encode()) % len(ESPS)]


class _Clock:
    """Stands in for the time module inside dkimpy while signing: t= is the message's time."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now


_CLOCK = _Clock()


def txt_rdata(value: str) -> str:
    """A TXT value as 255-octet character-strings."""
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


@dataclass
class World:
    authors: list[str]
    keys: dict[str, KeyPair] = field(default_factory=dict)  # domain -> published key
    rotated: dict[str, KeyPair] = field(default_factory=dict)  # domain -> unpublished key
    nets: dict[str, str] = field(default_factory=dict)  # domain -> /24 its mail comes from

    def write_zones(self, zdir: Path) -> None:
        zdir.mkdir(parents=True, exist_ok=True)
        for d in [*self.authors, *ESPS, *LISTS, *FORWARDERS]:
            lines = [
                "$TTL 3600",
                f"$ORIGIN {d}.",
                "@ IN SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 300",
                "@ IN NS ns1.example.",
                f"{SELECTOR}._domainkey IN TXT {txt_rdata(self.keys[d].txt)}",
            ]
            if d in self.authors:
                esp = provider_of(d)
                lines.append(f'@ IN TXT "v=spf1 ip4:{self.nets[d]}/24 include:_spf.{esp} -all"')
                policy = ("reject", "quarantine", "none")[len(d) % 3]
                lines.append(f'_dmarc IN TXT "v=DMARC1; p={policy}; rua=mailto:dmarc@{d}"')
            else:
                lines.append(f'_spf IN TXT "v=spf1 ip4:{self.nets[d]}/24 -all"')
                lines.append(f'@ IN TXT "v=spf1 ip4:{self.nets[d]}/24 -all"')
            (zdir / f"{d}.zone").write_text("\n".join(lines) + "\n")


def make_world(rng: random.Random, n_authors: int, bits: int = 2048, pool: int = 6) -> World:
    keypool = [make_key(bits) for _ in range(pool)]
    authors = [f"{rng.choice(_WORDS)}{i}.example" for i in range(n_authors)]
    w = World(authors)
    for i, d in enumerate([*authors, *ESPS, *LISTS, *FORWARDERS]):
        w.keys[d] = keypool[i % pool]
        w.rotated[d] = keypool[(i + 1) % pool]
        w.nets[d] = f"198.51.{i % 250}.0" if i % 2 else f"203.0.{i % 250}.0"
    return w


def _body(rng: random.Random, size: int) -> bytes:
    lines = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 14))).capitalize() + "."
        lines.append(line)
        total += len(line) + 1
        if rng.random() < 0.15:
            lines.append("")
    return ("\n".join(lines) + "\n").encode()


def _size(rng: random.Random) -> int:
    return int(min(max(rng.lognormvariate(9.0, 0.9), 600), 600_000))  # median ~8 KB


def arc_chain(
    arc_rng: random.Random, w: World, msg: bytes, when: float
) -> tuple[bytes, dict[str, Any]]:
    """The ARC sets of a message the list delivered: the list's (instance 1), then perhaps a
    forwarder's (instance 2); a few chains broken on purpose. Returns the message and the
    chain's expected verdict and reason."""
    lst, fwd = LISTS[0], FORWARDERS[0]
    no_space = arc_rng.random() < 0.2
    form = Form(no_space=("ARC-Message-Signature", "ARC-Seal") if no_space else ())
    crlf = msg.replace(b"\n", b"\r\n")
    crlf = seal(crlf, Signer(lst, SELECTOR, w.keys[lst].private), "none", form=form, t=int(when))
    truth: dict[str, Any] = {"expect": "pass", "code": None, "instances": 1, "no_space": no_space}
    fault = arc_rng.random()
    if arc_rng.random() < 0.35:
        truth["instances"] = 2
        if fault < 0.05:
            cv, truth["expect"], truth["code"] = "fail", "fail", "arc.chain_terminated"
        else:
            cv = "pass"
        selector, key = SELECTOR, w.keys[fwd]
        if 0.05 <= fault < 0.10:
            # the forwarder signs with a key it no longer publishes
            selector, key = ROTATED, w.rotated[fwd]
            truth["expect"], truth["code"] = "fail", "arc.key_not_found"
        crlf = seal(crlf, Signer(fwd, selector, key.private), cv, t=int(when) + 5)
    if 0.10 <= fault < 0.15:
        # a hop rewrites the list's ARC-Authentication-Results after sealing: only seals sign it
        crlf = crlf.replace(
            b"i=1; relay.lists.community.example; arc=none", b"i=1; relay; arc=none"
        )
        truth["expect"], truth["code"] = "fail", "arc.as_signature"
    return crlf.replace(b"\r\n", b"\n"), truth


def message(
    rng: random.Random, w: World, i: int, when: float, arc_rng: random.Random | None = None
) -> tuple[bytes, dict[str, Any]]:
    """One message with its signatures, Received chain and receiver's Authentication-Results."""
    author = rng.choice(w.authors)
    esp = provider_of(author)
    date = datetime.fromtimestamp(when, UTC)
    msgid = f"<{i}.{rng.getrandbits(40):x}@{author}>"
    head = (
        f"From: {rng.choice(_WORDS).title()} <news@{author}>\n"
        f"To: user{i % 97}@receiver.example\n"
        f"Subject: {' '.join(rng.choice(_WORDS) for _ in range(5))}\n"
        f"Date: {format_datetime(date)}\n"
        f"Message-ID: {msgid}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
    ).encode()
    msg = head + b"\n" + _body(rng, _size(rng))
    truth: dict[str, Any] = {"index": i + 1, "from": author, "signatures": []}
    kind = rng.random()
    signers: list[str] = [] if kind < 0.04 else [author]
    if signers and rng.random() < 0.6:
        signers.append(esp)
    if signers and rng.random() < 0.15:
        signers.append(LISTS[0])
    rotate = signers and rng.random() < 0.05
    _CLOCK.now = when
    sigs: list[bytes] = []
    for n, d in enumerate(signers):
        key = w.rotated[d] if (rotate and n == 0) else w.keys[d]
        sel = ROTATED if (rotate and n == 0) else SELECTOR
        sig = dkim.sign(
            msg,
            sel.encode(),
            d.encode(),
            key.pem,
            canonicalize=(b"relaxed", b"relaxed") if n % 2 == 0 else (b"relaxed", b"simple"),
            include_headers=[
                b"from",
                b"to",
                b"subject",
                b"date",
                b"message-id",
                b"mime-version",
                b"content-type",
            ],
        )
        sig = sig.replace(b"\r\n", b"\n")
        sigs.insert(0, sig)
        truth["signatures"].insert(
            0, {"d": d, "s": sel, "expect": "key_not_found" if sel == ROTATED else "pass"}
        )
        msg = sig + msg
    fault = rng.random()
    if sigs and fault < 0.05:
        msg = msg + b"A footer added by a mailing list.\n"
        for s in truth["signatures"]:
            s["expect"] = "body_hash_mismatch" if s["expect"] == "pass" else s["expect"]
    elif sigs and fault < 0.08:
        msg = msg.replace(b"\nSubject: ", b"\nSubject: [EXTERNAL] ", 1)
        for s in truth["signatures"]:
            s["expect"] = "signature_mismatch" if s["expect"] == "pass" else s["expect"]
    truth["arc"] = {"expect": "none", "code": None, "instances": 0, "no_space": False}
    if arc_rng is not None and LISTS[0] in signers:
        msg, truth["arc"] = arc_chain(arc_rng, w, msg, when)
    net = w.nets[esp].rsplit(".", 1)[0]
    ip = f"{net}.{rng.randint(2, 250)}"
    recv = format_datetime(datetime.fromtimestamp(when + rng.randint(1, 30), UTC))
    ar = "; ".join(
        [
            f"{RECEIVER}",
            *(f"dkim=pass header.d={s['d']} header.s={s['s']}" for s in truth["signatures"]),
            f"spf=pass smtp.mailfrom=bounce@{esp}",
            "dmarc=pass header.from=" + author,
        ]
    )
    trace = (
        f"Return-Path: <bounce@{esp}>\n"
        f"Received: from out.{esp} (out.{esp} [{ip}]) by {RECEIVER} (Postfix) with ESMTPS id "
        f"{rng.getrandbits(32):X}; {recv}\n"
        f"Authentication-Results: {ar}\n"
    ).encode()
    return trace + msg, truth


def generate(
    out: Path, messages: int, seed: int = 1, authors: int = 40, bits: int = 2048
) -> dict[str, Any]:
    rng = random.Random(seed)
    # the ARC chains draw from their own generator: the rest of the mailbox is as it was
    arc_rng = random.Random(seed * 1_000_003 + 17)
    t0 = time.monotonic()
    w = make_world(rng, authors, bits)
    out.mkdir(parents=True, exist_ok=True)
    w.write_zones(out / "zones")
    start = 1_700_000_000.0
    size = 0
    with (
        openssl_signing([*w.keys.values(), *w.rotated.values()]),
        open(out / "mail.mbox", "wb") as mbox,
        open(out / "truth.jsonl", "w") as truth_f,
    ):
        for i in range(messages):
            when = start + i * 37.0
            raw, truth = message(rng, w, i, when, arc_rng)
            stamp = datetime.fromtimestamp(when, UTC).strftime("%a %b %d %H:%M:%S %Y")
            body = b"\n".join(
                b">" + ln if ln.lstrip(b">").startswith(b"From ") else ln for ln in raw.split(b"\n")
            )
            mbox.write(f"From bounce@example {stamp}\n".encode() + body + b"\n")
            size += len(raw)
            truth_f.write(json.dumps(truth) + "\n")
    meta = {
        "messages": messages,
        "bytes": size,
        "seed": seed,
        "authors": authors,
        "seconds": time.monotonic() - t0,
    }
    (out / "meta.json").write_text(json.dumps(meta))
    return meta


_DKIM_TXT = re.compile(r"^(?P<owner>\S+\._domainkey)\s+IN\s+TXT\s+(?P<rdata>.+)$")


def rotate_zones(
    src: Path, dst: Path, seed: int = 1, kept: float = 1 / 3, removed: float = 1 / 3
) -> dict[str, str]:
    """Copy the zones in ``src`` to ``dst`` with their DKIM keys rotated: of the key records,
    sorted and shuffled by ``seed``, the first ``kept`` share stay, the last ``removed`` share
    are gone, and the rest publish another key of the zones (a value that owner never had).
    Every other line is copied as it is. Returns ``{"<owner> <zone file>": "kept" |
    "replaced" | "removed"}``."""
    files = sorted(src.glob("*.zone"))
    texts = {f.name: f.read_text().splitlines() for f in files}
    records = [
        (name, n, m["owner"], m["rdata"])
        for name, lines in texts.items()
        for n, line in enumerate(lines)
        if (m := _DKIM_TXT.match(line))
    ]
    values = sorted({r[3] for r in records})
    rng = random.Random(seed)
    order = list(range(len(records)))
    rng.shuffle(order)
    n_kept, n_removed = round(len(records) * kept), round(len(records) * removed)
    plan: dict[str, str] = {}
    for pos, i in enumerate(order):
        name, n, owner, rdata = records[i]
        if pos < n_kept:
            fate = "kept"
        elif pos >= len(records) - n_removed:
            fate = "removed"
            texts[name][n] = f"; {owner} removed by rotate_zones"
        else:
            fate = "replaced"
            texts[name][n] = f"{owner} IN TXT {rng.choice([v for v in values if v != rdata])}"
        plan[f"{owner} {name}"] = fate
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for name, lines in texts.items():
        (dst / name).write_text("\n".join(lines) + "\n")
    return dict(sorted(plan.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--authors", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path("bench/work/mail"))
    args = ap.parse_args()
    print(json.dumps(generate(args.out, args.messages, args.seed, args.authors)))


if __name__ == "__main__":
    main()
