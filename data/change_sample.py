"""Writes a changed copy of the sample world: "the next night", for `bulkauth diff` and the
report's "what changed" (`make demo`, tests/report).

Usage: python data/change_sample.py OUTDIR   -> OUTDIR/domains.txt and OUTDIR/zones/

Each change is one kind of difference the diff reports: a DKIM key rotated, one added, one
gone; a DMARC policy tightened and one broken; an SPF record fixed, one moved to a provider
(its include tree changes), one newly published, one given a term that can never match; an
MX moved; a domain dropped from the list and one added.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: an RSA-2048 public key other than make_sample's (private half not kept): good1's new key
ROTATED = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr/9FT1LrlhWwqbq41/DLWQaNcdoKmUurr776+6BZmQt7"
    "0gfVbHdaWd9KrUeBIwYH3SxjrNcuxyhMMDim6cRnaMNSQVmEF2ZU7rC/wxY5jBJuXMgU5YH2BCnbxiSbMkuv3LiT"
    "G08KrDsYyke/WGUW4CqSOkdboxHfPIbEdWrpbjUEgQ9F+oJA/VPa4oz+u3s3dZ27dKLJ9zZwevP2RxGwmFGZ/SUc"
    "eexXsTLfbb34p0B6jgNzMk3ovWQDnYYsHVIKfDf003IBPnFGjkCTyUDwsPC6l0LYh24Z3g89nbGwC+t15zTJa6ZC"
    "5dCrBUe5PmCRwRuhsD6yrlLJShENXy6CkQIDAQAB"
)
SOA = "@ 3600 IN SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 300\n@ 3600 IN NS ns1.example.\n"

#: zone -> (old text, new text): each a change the diff must name
EDITS: dict[str, list[tuple[str, str]]] = {
    # DKIM: the provider CNAME removed, the key disappears (and the posture loses DKIM)
    "cnamedkim.example": [("s1._domainkey IN CNAME sel1._domainkey.keyhost.example.\n", "")],
    # DMARC: monitoring -> enforced
    "monitor.example": [("p=none;", "p=reject;")],
    # DMARC: a typo breaks the record (quarantine -> quarantin): enforced -> broken
    "good2.example": [("p=quarantine;", "p=quarantin;")],
    # SPF: +all fixed
    "plusall.example": [('"v=spf1 +all"', '"v=spf1 ip4:192.0.2.0/24 -all"')],
    # SPF: moved to a provider: record text and include tree change
    "softfail.example": [('"v=spf1 mx ~all"', '"v=spf1 mx include:_spf.mailcloud.example ~all"')],
    # SPF: published where there was none
    "nospf.example": [("_dmarc IN TXT", '@ IN TXT "v=spf1 mx -all"\n_dmarc IN TXT')],
    # SPF: a widely copied example term pasted in: host bits set, and a multicast range
    "unknownmod.example": [
        ('"v=spf1 mx -all foo=bar"', '"v=spf1 mx ip4:234.5.6.78/24 -all foo=bar"')
    ],
    # MX: moved to its own host
    "mxcname.example": [
        (
            "@ IN MX 10 mail\nmail IN CNAME mx1.mailcloud.example.\n",
            "@ IN MX 10 mx1\nmx1 IN A 192.0.2.60\n",
        )
    ],
}
#: removed from the list; added to it (with its zone)
DROPPED = "empty.example"
NEW_DOMAIN = "newcomer.example"
NEW_ZONE = (
    '@ IN TXT "v=spf1 include:_spf.mailcloud.example -all"\n'
    '_dmarc IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@newcomer.example"\n'
    "@ IN MX 10 mx1\nmx1 IN A 192.0.2.70\n"
)


def txt(value: str) -> str:
    """A TXT rdata split into 255-octet character-strings (as make_sample.py writes them)."""
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


def rotate_good1(zones: Path) -> None:
    """DKIM: good1's selector1 key rotated (same selector, new key), selector2 published."""
    path = zones / "good1.example.zone"
    lines = path.read_text().splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.startswith("selector1._domainkey")]
    if len(at) != 1:
        raise SystemExit(f"{path}: no selector1 key line: data/ changed, update rotate_good1")
    lines[at[0]] = (
        f"selector1._domainkey IN TXT {txt('v=DKIM1; k=rsa; p=' + ROTATED)}\n"
        f"selector2._domainkey IN TXT {txt('v=DKIM1; k=rsa; p=' + ROTATED)}\n"
    )
    path.write_text("".join(lines))


def change_world(out: Path) -> tuple[Path, Path]:
    """Write the changed world under `out`; return (domain list, zones folder)."""
    zones = out / "zones"
    if zones.exists():
        shutil.rmtree(zones)
    shutil.copytree(HERE / "zones", zones)
    for domain, edits in EDITS.items():
        path = zones / f"{domain}.zone"
        text = path.read_text()
        for old, new in edits:
            if old not in text:
                raise SystemExit(f"{path}: {old!r} not found: data/ changed, update EDITS")
            text = text.replace(old, new, 1)
        path.write_text(text)
    rotate_good1(zones)
    (zones / f"{NEW_DOMAIN}.zone").write_text(f"$ORIGIN {NEW_DOMAIN}.\n" + SOA + NEW_ZONE)
    listing = out / "domains.txt"
    kept = [
        line
        for line in (HERE / "domains.txt").read_text().splitlines()
        if line.split("#", 1)[0].strip() != DROPPED
    ]
    listing.write_text("\n".join([*kept, f"{NEW_DOMAIN:32} # added the next night", ""]))
    return listing, zones


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python data/change_sample.py OUTDIR")
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    listing, zones = change_world(out)
    print(f"changed sample world: {listing} and {zones}/")


if __name__ == "__main__":
    main()
