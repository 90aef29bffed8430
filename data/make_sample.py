"""Writes the sample world in data/: domains.txt and one zone file per zone in data/zones/.

The names live under `.example` (RFC 2606: reserved, never delegated on the internet), so the
demo can never reach a real domain. Run `python data/make_sample.py` to regenerate.
"""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOA = "@ 3600 IN SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 300\n@ 3600 IN NS ns1.example.\n"

# an RSA-2048 and an Ed25519 public key, generated once for the sample (private halves not kept)
RSA2048 = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAhKto8wH9YL7P2QCraqV9+5Y4/NGHwSMvuxlcKIiNwPuW"
    "3m5JCn/0cO7BKm85pN5WoKqoPTgAaUyssf8WZQBwQKT+nsjVFtn14bZEr/hhK2M5LRpAbfIiapBB0ddYZOs5Kbc5"
    "8+XPCGip9HkdVbRvJQAC0WV1DQihGlaKZ6XVKlE/6pkmPLVgD9PQGbnowqWD+KJ+qSqVs5jOaeu5r4d4JOXoKX8O"
    "nyVJEedrgnTZpCsSoJVzON9j6eVGw90wVAZGJ5pmhffxJX8gHkL4t5oMtahz9uWSII5aIIkSCBajmaXy4BdkKx4f"
    "UBtuTfzr4xzlsKFnVjvGa9yYwucP3oQbhwIDAQAB"
)
ED25519 = "Lp1ejFxJakzSh3aidBcOeFgA6CNMMyEvNPLyLzu4r60="


def txt(value: str) -> str:
    """A TXT rdata: split into 255-octet character-strings, quoted."""
    parts = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts)


def mx_hosts(*hosts: tuple[int, str]) -> str:
    return "".join(f"@ IN MX {p} {h}\n" for p, h in hosts)


def basic_mx() -> str:
    return (
        mx_hosts((10, "mx1"), (20, "mx2"))
        + "mx1 IN A 192.0.2.10\nmx2 IN A 192.0.2.11\nmx2 IN AAAA 2001:db8::11\n"
    )


GOOD_DMARC = "v=DMARC1; p=reject; rua=mailto:dmarc@{d}; adkim=s; aspf=s"

# domain -> zone body (relative names), written after the SOA/NS header
ZONES: dict[str, str] = {}
LIST: list[str] = ["# bulkauth sample world: a mix of good, broken and missing records", ""]


def add(domain: str, body: str, comment: str) -> None:
    ZONES[domain] = body
    LIST.append(f"{domain:32} # {comment}")


# shared providers (not in the list: they are what clients include)
ZONES["mailcloud.example"] = (
    f"_spf IN TXT {txt('v=spf1 include:_netblocks.mailcloud.example include:_netblocks2.mailcloud.example ~all')}\n"
    f"_netblocks IN TXT {txt('v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.0/25 ip6:2001:db8:100::/48 ~all')}\n"
    f"_netblocks2 IN TXT {txt('v=spf1 ip4:203.0.113.128/25 ~all')}\n"
    f"big IN TXT {txt('v=spf1 include:_spf.mailcloud.example include:_spf.bulkmail.example include:_spf2.bulkmail.example ~all')}\n"
    + basic_mx()
)
ZONES["bulkmail.example"] = (
    f"_spf IN TXT {txt('v=spf1 a:out1.bulkmail.example a:out2.bulkmail.example mx ~all')}\n"
    f"_spf2 IN TXT {txt('v=spf1 include:_spf3.bulkmail.example exists:%{i}._ip.bulkmail.example ~all')}\n"
    f"_spf3 IN TXT {txt('v=spf1 a:out3.bulkmail.example a:out4.bulkmail.example ~all')}\n"
    "out1 IN A 198.51.100.201\nout2 IN A 198.51.100.202\nout3 IN A 198.51.100.203\nout4 IN A 198.51.100.204\n"
    + basic_mx()
)
ZONES["reports.example"] = f"*._report._dmarc IN TXT {txt('v=DMARC1')}\n" + basic_mx()
ZONES["partner-reports.example"] = (
    f"good2.example._report._dmarc IN TXT {txt('v=DMARC1')}\n" + basic_mx()
)
ZONES["keyhost.example"] = f"sel1._domainkey IN TXT {txt('v=DKIM1; k=rsa; p=' + RSA2048)}\n"

add(
    "good1.example",
    f"@ IN TXT {txt('v=spf1 include:_spf.mailcloud.example -all')}\n"
    f"_dmarc IN TXT {txt(GOOD_DMARC.format(d='good1.example'))}\n"
    f"selector1._domainkey IN TXT {txt('v=DKIM1; k=rsa; p=' + RSA2048)}\n"
    "sub IN A 192.0.2.50\nsub IN MX 10 mx1.good1.example.\n" + basic_mx(),
    "all good: SPF -all via a provider, DMARC reject, MX",
)
LIST.append(f"{'sub.good1.example':32} # subdomain: inherits good1.example's DMARC")
add(
    "good2.example",
    f"@ IN TXT {txt('v=spf1 ip4:192.0.2.0/28 mx -all')}\n"
    f"@ IN TXT {txt('google-site-verification=abcdefghijklmnopqrstuvwxyz0123456789')}\n"
    f"_dmarc IN TXT {txt('v=DMARC1; p=quarantine; rua=mailto:agg@reports.example,mailto:dmarc@partner-reports.example; ruf=mailto:forensic@good2.example; fo=1')}\n"
    + basic_mx(),
    "good: external report destinations that authorise",
)
add(
    "bücher.example".encode("idna").decode(),
    f"@ IN TXT {txt('v=spf1 mx -all')}\n_dmarc IN TXT {txt('v=DMARC1; p=reject; rua=mailto:d@reports.example')}\n"
    + basic_mx(),
    "IDN (listed below in its U-label form)",
)
LIST[-1] = "bücher.example                   # IDN: converted to xn--bcher-kva.example"
add(
    "monitor.example",
    f"@ IN TXT {txt('v=spf1 ip4:192.0.2.0/24 -all')}\n_dmarc IN TXT {txt('v=DMARC1; p=none; rua=mailto:d@monitor.example')}\n"
    + basic_mx(),
    "DMARC p=none: monitoring only (warning)",
)
add(
    "softfail.example",
    f"@ IN TXT {txt('v=spf1 mx ~all')}\n_dmarc IN TXT {txt('v=DMARC1; p=quarantine; pct=50; rua=mailto:d@softfail.example')}\n"
    + basic_mx(),
    "SPF ~all; DMARC pct=50 (warning)",
)
add(
    "plusall.example",
    f"@ IN TXT {txt('v=spf1 +all')}\n_dmarc IN TXT {txt('v=DMARC1; p=reject')}\n" + basic_mx(),
    "SPF +all: anyone may send (warning); DMARC without rua",
)
add(
    "neutral.example",
    f"@ IN TXT {txt('v=spf1 mx ?all')}\n_dmarc IN TXT {txt('v=DMARC1; p=reject; sp=none; rua=mailto:d@neutral.example')}\n"
    + basic_mx(),
    "SPF ?all; DMARC sp weaker than p",
)
add("noall.example", f"@ IN TXT {txt('v=spf1 mx')}\n" + basic_mx(), "SPF without 'all'; no DMARC")
add(
    "nospf.example",
    f"_dmarc IN TXT {txt('v=DMARC1; p=reject; rua=mailto:d@nospf.example')}\n" + basic_mx(),
    "no SPF record",
)
add("nodmarc.example", f"@ IN TXT {txt('v=spf1 mx -all')}\n" + basic_mx(), "no DMARC record")
add(
    "twospf.example",
    f"@ IN TXT {txt('v=spf1 mx -all')}\n@ IN TXT {txt('v=spf1 ip4:192.0.2.1 -all')}\n" + basic_mx(),
    "two SPF records: permerror",
)
add(
    "spfsyntax.example",
    f"@ IN TXT {txt('v=spf1 ip4:300.1.1.1 -all')}\n_dmarc IN TXT {txt('v=DMARC1; p=reject; rua=mailto:d@spfsyntax.example')}\n"
    + basic_mx(),
    "SPF syntax error (bad address)",
)
add(
    "spftypo.example",
    f"@ IN TXT {txt('v=spf1 inclde:_spf.mailcloud.example -all')}\n" + basic_mx(),
    "SPF syntax error (unknown mechanism)",
)
add(
    "toomany.example",
    f"@ IN TXT {txt('v=spf1 mx a include:big.mailcloud.example include:_spf.bulkmail.example -all')}\n"
    + basic_mx(),
    "more than 10 DNS lookups: permerror",
)
add(
    "void.example",
    f"@ IN TXT {txt('v=spf1 a:gone1.void.example a:gone2.void.example a:gone3.void.example -all')}\n"
    + basic_mx(),
    "three void lookups: permerror",
)
add(
    "includemissing.example",
    f"@ IN TXT {txt('v=spf1 include:nonexistent.example -all')}\n" + basic_mx(),
    "include of a domain that does not exist",
)
add(
    "includenospf.example",
    f"@ IN TXT {txt('v=spf1 include:nodmarc-only.example -all')}\n" + basic_mx(),
    "include of a domain without SPF",
)
ZONES["nodmarc-only.example"] = basic_mx()
add(
    "loop.example",
    f"@ IN TXT {txt('v=spf1 include:loop2.example -all')}\n" + basic_mx(),
    "include loop",
)
ZONES["loop2.example"] = f"@ IN TXT {txt('v=spf1 include:loop.example -all')}\n"
add(
    "redirect.example",
    f"@ IN TXT {txt('v=spf1 redirect=_spf.mailcloud.example')}\n_dmarc IN TXT {txt('v=DMARC1; p=reject; rua=mailto:d@redirect.example')}\n"
    + basic_mx(),
    "SPF redirect to a provider",
)
add(
    "redirectall.example",
    f"@ IN TXT {txt('v=spf1 mx redirect=_spf.mailcloud.example -all')}\n" + basic_mx(),
    "redirect together with all: the redirect is ignored (warning)",
)
add(
    "ptr.example",
    f"@ IN TXT {txt('v=spf1 ptr -all')}\n" + basic_mx(),
    "SPF ptr mechanism (deprecated)",
)
add(
    "broad.example",
    f"@ IN TXT {txt('v=spf1 ip4:10.0.0.0/8 -all')}\n" + basic_mx(),
    "SPF authorises 16 million addresses",
)
add(
    "macros.example",
    f"@ IN TXT {txt('v=spf1 exists:%{i}._spf.%{d} ip6:2001:db8::/32 -all exp=explain.%{d}')}\n"
    f"explain IN TXT {txt('%{i} is not allowed to send mail for %{d}')}\n"
    "192.0.2.99._spf IN A 127.0.0.2\n" + basic_mx(),
    "SPF macros, exists, exp=",
)
add(
    "spf99.example",
    f"@ IN TXT {txt('v=spf1 mx -all')}\n@ IN TYPE99 \\# 12 0b763d73706631206d78202d\n" + basic_mx(),
    "deprecated SPF RR type still published",
)
add(
    "unknownmod.example",
    f"@ IN TXT {txt('v=spf1 mx -all foo=bar')}\n" + basic_mx(),
    "SPF unknown modifier (ignored, warning)",
)
bigtxt = "".join(
    f"@ IN TXT {txt('verification-token-' + str(i) + '=' + 'x' * 60)}\n" for i in range(20)
)
add(
    "bigtxt.example",
    f"@ IN TXT {txt('v=spf1 include:_spf.mailcloud.example -all')}\n"
    + bigtxt
    + f"_dmarc IN TXT {txt('v=DMARC1; p=reject; rua=mailto:d@bigtxt.example')}\n"
    + basic_mx(),
    "large TXT set: needs EDNS or TCP",
)
add(
    "dmarcbad.example",
    f"@ IN TXT {txt('v=spf1 mx -all')}\n_dmarc IN TXT {txt('v=DMARC1; p=maybe; rua=mailto:d@dmarcbad.example')}\n"
    + basic_mx(),
    "DMARC p=maybe: invalid policy",
)
add(
    "dmarcpct.example",
    f"@ IN TXT {txt('v=spf1 mx -all')}\n_dmarc IN TXT {txt('v=DMARC1; p=reject; pct=150; rua=mailto:d@dmarcpct.example')}\n"
    + basic_mx(),
    "DMARC pct=150",
)
add(
    "dmarcrua.example",
    f"@ IN TXT {txt('v=spf1 mx -all')}\n_dmarc IN TXT {txt('v=DMARC1; p=reject; rua=dmarc@dmarcrua.example')}\n"
    + basic_mx(),
    "DMARC rua without mailto:",
)
add(
    "dmarcorder.example",
    f"@ IN TXT {txt('v=spf1 mx -all')}\n_dmarc IN TXT {txt('p=reject; v=DMARC1')}\n" + basic_mx(),
    "DMARC record with v= not first (not a DMARC record)",
)
add(
    "twodmarc.example",
    f"@ IN TXT {txt('v=spf1 mx -all')}\n_dmarc IN TXT {txt('v=DMARC1; p=reject')}\n_dmarc IN TXT {txt('v=DMARC1; p=none')}\n"
    + basic_mx(),
    "two DMARC records",
)
add(
    "extunauth.example",
    f"@ IN TXT {txt('v=spf1 mx -all')}\n_dmarc IN TXT {txt('v=DMARC1; p=reject; rua=mailto:dmarc@partner-reports.example')}\n"
    + basic_mx(),
    "DMARC reports to a domain that has not authorised them",
)
add(
    "nullmx.example",
    f"@ IN MX 0 .\n@ IN TXT {txt('v=spf1 -all')}\n_dmarc IN TXT {txt('v=DMARC1; p=reject')}\n",
    "parked: null MX, SPF -all, DMARC reject",
)
add(
    "nomx.example",
    f"@ IN A 192.0.2.77\n@ IN TXT {txt('v=spf1 a -all')}\n",
    "no MX (mail goes to the A record)",
)
add(
    "mxip.example",
    f"@ IN MX 10 192.0.2.1.\n@ IN TXT {txt('v=spf1 -all')}\n",
    "MX is an address literal",
)
add(
    "mxcname.example",
    f"@ IN MX 10 mail\nmail IN CNAME mx1.mailcloud.example.\n@ IN TXT {txt('v=spf1 -all')}\n",
    "MX host is a CNAME",
)
add(
    "mxdangling.example",
    f"@ IN MX 10 mx.nowhere.example.\n@ IN TXT {txt('v=spf1 -all')}\n",
    "MX host does not resolve",
)
add(
    "nullmxmixed.example",
    "@ IN MX 0 .\n@ IN MX 10 mx1\nmx1 IN A 192.0.2.5\n",
    "null MX mixed with a real MX",
)
add(
    "cnamedkim.example",
    f"@ IN TXT {txt('v=spf1 include:_spf.mailcloud.example -all')}\n"
    f"_dmarc IN TXT {txt('v=DMARC1; p=reject; rua=mailto:d@reports.example')}\n"
    "s1._domainkey IN CNAME sel1._domainkey.keyhost.example.\n" + basic_mx(),
    "DKIM key behind a CNAME to a provider",
)
add(
    "ed25519.example",
    f"@ IN TXT {txt('v=spf1 mx -all')}\n"
    f"_dmarc IN TXT {txt('v=DMARC1; p=reject; rua=mailto:d@reports.example')}\n"
    f"default._domainkey IN TXT {txt('v=DKIM1; k=ed25519; p=' + ED25519)}\n" + basic_mx(),
    "Ed25519 DKIM key",
)
add("empty.example", "", "exists, but publishes nothing")
LIST.append(f"{'nxdomain.example':32} # does not exist (NXDOMAIN)")
LIST.append(f"{'www.nxdomain.example':32} # does not exist either")
LIST += [
    "",
    "# what people paste into lists: each line still gets its record",
    "http://good1.example/              # a URL",
    "postmaster@good1.example           # an e-mail address",
    "192.0.2.1                          # an IP address",
    "-bad-.example                      # a label that starts with a hyphen",
    "a..b.example                       # an empty label",
    "x" * 64 + ".example",
    "localhost                          # a single label",
    "GOOD1.EXAMPLE.                     # upper case and a trailing dot: fine",
]


def main() -> None:
    zones = HERE / "zones"
    if zones.exists():
        shutil.rmtree(zones)
    zones.mkdir()
    (zones / "example.zone").write_text("$TTL 3600\n" + SOA + "ns1 IN A 127.0.0.1\n")
    for domain, body in ZONES.items():
        (zones / f"{domain}.zone").write_text(f"$TTL 3600\n$ORIGIN {domain}.\n" + SOA + body)
    (HERE / "domains.txt").write_text("\n".join(LIST) + "\n")


if __name__ == "__main__":
    main()
