"""What a stored message says about itself: header parsing for archive verification, sans-I/O.

The header block is split the way dkimpy's ``rfc822_parse`` splits it (so that the DKIM verifier
and the rest of the record see the same fields), but never raises: a message that cannot be read
as headers gets a ``MessageDefect`` with a stable code. Everything is bounded: the number of header
fields and the size of one field are capped, because archives contain hostile and broken mail.

From the fields this module extracts the inputs of the other checks and records where each came
from: the RFC5322.From domains (DMARC), the envelope (MAIL FROM from ``Return-Path``, the client
IP and HELO from the ``Received`` field the receiving system wrote), the clock for DKIM ``t=`` /
``x=``, and the receiver's own ``Authentication-Results`` verdicts.
"""

from __future__ import annotations

import calendar
import email.utils
import functools
import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from bulkauth.core.common.model import Problem
from bulkauth.core.common.psl import to_ascii

#: header fields per message; real mail has well under 200 (Received loops stop at ~100 hops)
MAX_HEADERS = 1000
#: one header field, folded lines included; the largest real ones (References, ARC) are ~30 KB
MAX_HEADER_FIELD_BYTES = 64 * 1024
#: Received fields looked at for the envelope, and Authentication-Results fields parsed
MAX_TRACE_FIELDS = 100
#: plausible dates: anything outside is a broken clock or junk, not a delivery time
_MIN_TIME = 0.0
_MAX_TIME = 4102444800.0  # 2100-01-01

Header = tuple[bytes, bytes]
"""A header field as dkimpy holds it: the name as written, and the raw value after the colon
(continuation lines included) with every line ending as CRLF."""

_FIELD_NAME = re.compile(rb"([\x21-\x7e]+?):")
_LINE_BREAK = re.compile(rb"\r?\n")


class MessageDefect(Exception):
    """The bytes cannot be read as a message; ``code`` is the record's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class HeaderBlock:
    """The header fields of a message and where its body starts.

    ``malformed`` is set when a line in the header block is neither a field nor a continuation:
    parsing stops there (the rest counts as body for everything but DKIM, which refuses the
    message, as dkimpy does).
    """

    headers: list[Header]
    body_offset: int
    malformed: str | None = None
    _index: dict[bytes, list[bytes]] | None = None
    _decoded: dict[bytes, list[str]] = field(default_factory=dict)

    def get_all(self, name: str) -> list[str]:
        """Every value of a field, unfolded and decoded, top to bottom."""
        if self._index is None:
            index: dict[bytes, list[bytes]] = {}
            for n, v in self.headers:
                index.setdefault(n.lower(), []).append(v)
            self._index = index
            self._decoded = {}
        key = name.lower().encode("ascii")
        got = self._decoded.get(key)
        if got is None:
            got = self._decoded[key] = [decode_value(v) for v in self._index.get(key, ())]
        return list(got)

    def first(self, name: str) -> str | None:
        values = self.get_all(name)
        return values[0] if values else None


def split_lines(data: bytes) -> list[bytes]:
    """``re.split(rb"\\r?\\n", data)`` with bytes methods (a regex split costs ~30x more)."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    return data.split(b"\n")


def unfold(data: bytes) -> bytes:
    """``re.sub(rb"\\r?\\n", b"", data)`` with bytes methods."""
    return data.replace(b"\r\n", b"").replace(b"\n", b"")


def decode_value(raw: bytes) -> str:
    """A header value unfolded and decoded (UTF-8 per RFC 6532, else Latin-1), trimmed."""
    text = unfold(raw)
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError:
        s = text.decode("latin-1")
    return s.strip()


def _blank_line(raw: bytes) -> tuple[int, int] | None:
    """(end of the header block, start of the body): the first empty line, LF or CRLF."""
    if raw.startswith(b"\n"):
        return 0, 1
    if raw.startswith(b"\r\n"):
        return 0, 2
    lf = raw.find(b"\n\n")
    # a CRLF blank line that starts before the LF one comes first (end bound: it may straddle lf)
    crlf = raw.find(b"\n\r\n", 0, lf + 2 if lf != -1 else len(raw))
    if crlf != -1:
        return crlf, crlf + 3
    if lf != -1:
        return lf, lf + 2
    return None


_FIELD_START = re.compile(rb"^([\x21-\x7e]+?):", re.MULTILINE)
#: a line of a header block that is neither a field nor a continuation (or is an mbox From_)
_ODD_LINE = re.compile(rb"^(?![ \t]|[\x21-\x7e]+?:)", re.MULTILINE)


def _fields(head: bytes) -> list[Header]:
    """The fields of a header block made only of fields and continuations, found by regex.

    The same result as the line loop of ``parse_header_block`` (tests compare them), without a
    Python iteration per line.
    """
    starts = list(_FIELD_START.finditer(head))
    if len(starts) > MAX_HEADERS:
        raise MessageDefect("input.too_many_headers", f"more than {MAX_HEADERS} header fields")
    out: list[Header] = []
    last = len(starts) - 1
    for k, m in enumerate(starts):
        seg = head[m.end() : starts[k + 1].start() if k < last else len(head)]
        if b"\r" in seg:
            seg = seg.replace(b"\r\n", b"\n")
        value = seg.replace(b"\n", b"\r\n") if k < last else seg.replace(b"\n", b"\r\n") + b"\r\n"
        if len(value) + m.end() - m.start() > MAX_HEADER_FIELD_BYTES:
            name = m.group(1).decode("ascii", "replace")
            raise MessageDefect(
                "input.header_too_long",
                f"the {name} field is longer than {MAX_HEADER_FIELD_BYTES} bytes",
            )
        out.append((m.group(1), value))
    return out


def parse_header_block(raw: bytes) -> HeaderBlock:
    """Split the header block into fields, like dkimpy's ``rfc822_parse``, within the caps.

    Raises MessageDefect for input that is not a message at all (empty, or the first line is not
    a header field) and for a message over the caps (too many fields, a field too long).
    """
    if not raw.strip():
        raise MessageDefect("input.empty", "the message is empty")
    blank = _blank_line(raw)
    if blank is None:
        head, body_offset = raw, len(raw)
    else:
        head, body_offset = raw[: blank[0]], blank[1]
        if head.endswith(b"\r"):  # the CR of the CRLF that ends the last field
            head = head[:-1]
    if blank is not None and _FIELD_START.match(head) and _ODD_LINE.search(head) is None:
        return HeaderBlock(_fields(head), body_offset)
    lines = split_lines(head) if head else []
    if blank is None and lines and not lines[-1]:
        lines.pop()  # the final line break of a message without a body
    headers: list[list[bytes]] = []
    malformed: str | None = None
    size = 0
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not headers:
                raise MessageDefect(
                    "input.not_a_message", "the first line is a continuation, not a header field"
                )
            size += len(line) + 2
            if size > MAX_HEADER_FIELD_BYTES:
                raise MessageDefect(
                    "input.header_too_long",
                    f"the {headers[-1][0].decode('ascii', 'replace')} field is longer than "
                    f"{MAX_HEADER_FIELD_BYTES} bytes",
                )
            headers[-1][1] += line + b"\r\n"
            continue
        fm = _FIELD_NAME.match(line)
        if fm is None:
            if line.startswith(b"From "):  # an mbox separator left in place; dkimpy skips it too
                continue
            if not headers:
                raise MessageDefect(
                    "input.not_a_message",
                    "the first line is not a header field: not an RFC 5322 message",
                )
            malformed = f"line {len(headers) + 1} of the header block is not a header field"
            break
        if len(headers) >= MAX_HEADERS:
            raise MessageDefect("input.too_many_headers", f"more than {MAX_HEADERS} header fields")
        size = len(line) + 2
        if size > MAX_HEADER_FIELD_BYTES:
            raise MessageDefect(
                "input.header_too_long",
                f"a header field is longer than {MAX_HEADER_FIELD_BYTES} bytes",
            )
        headers.append([fm.group(1), line[fm.end() :] + b"\r\n"])
    if not headers:
        raise MessageDefect("input.not_a_message", "no header fields: not an RFC 5322 message")
    return HeaderBlock([(h[0], h[1]) for h in headers], body_offset, malformed)


# --------------------------------------------------------------------------------------------
# Structured field syntax: comments and quoted strings (RFC 5322 3.2)


_TOKEN = re.compile(
    r'[ \t\r\n]+|(\()|([<>;:,@\[\]])|((?:[^ \t\r\n()<>;:,@\[\]"]+|"(?:\\.|[^"\\])*"?)+)'
)


def _comment_end(text: str, start: int) -> tuple[str, int]:
    """The text of the comment opened at ``start`` (nesting and quoted-pairs honoured) and the
    index after it; an unclosed comment runs to the end."""
    depth, j, n = 1, start + 1, len(text)
    buf: list[str] = []
    while j < n:
        ch = text[j]
        if ch == "\\" and j + 1 < n:
            buf.append(text[j + 1])
            j += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if not depth:
                return "".join(buf), j + 1
        buf.append(ch)
        j += 1
    return "".join(buf), n


def _scan(text: str) -> Iterator[tuple[Literal["word", "comment", "special"], str]]:
    """Tokens of a structured field: words, (comments) with nesting, and ``<>;:,@[]`` specials.

    Quoted strings stay inside words. Unbalanced input is tolerated: an unclosed comment or quote
    runs to the end of the field.
    """
    i, n = 0, len(text)
    while i < n:
        m = _TOKEN.match(text, i)
        if m is None:  # a stray ")" or a lone quote
            i += 1
            continue
        if m.group(1):
            comment, i = _comment_end(text, i)
            yield "comment", comment
            continue
        if m.group(2):
            yield "special", m.group(2)
        elif m.group(3):
            yield "word", m.group(3)
        i = m.end()


def strip_comments(text: str) -> str:
    """The field without comments, tokens joined by single spaces (specials kept tight)."""
    out: list[str] = []
    for kind, tok in _scan(text):
        if kind == "comment":
            continue
        out.append(tok)
    joined = ""
    for tok in out:
        if joined and tok not in "<>;:,@[]" and joined[-1] not in "<>;:,@[]":
            joined += " "
        joined += tok
    return joined


# --------------------------------------------------------------------------------------------
# Addresses: RFC5322.From and Return-Path


@dataclass(frozen=True, slots=True)
class Mailbox:
    address: str  # local@domain as written (comments removed)
    domain: str | None  # A-label, lower case; None when the domain part is unusable


_PROTECTED = re.compile(r'"(?:\\.|[^"\\])*"?|<[^<>]*>?')
_COMMENT = re.compile(r"\((?:\\.|[^()\\])*\)")


def _mask(m: re.Match[str]) -> str:
    return "x" * (m.end() - m.start())


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes, comments and angle brackets.

    The protected spans are masked (same length) with regexes, then the separators found in the
    mask cut the original text: no per-character Python loop on long header fields.
    """
    if '"' not in text and "(" not in text and "<" not in text:
        return text.split(sep)
    masked = text
    for _ in range(3):  # comments nest; three levels is plenty, deeper ones stay unsplit
        if "(" not in masked:
            break
        masked = _COMMENT.sub(_mask, masked)
    masked = _PROTECTED.sub(_mask, masked)
    parts: list[str] = []
    start = 0
    pos = masked.find(sep)
    while pos != -1:
        parts.append(text[start:pos])
        start = pos + 1
        pos = masked.find(sep, start)
    parts.append(text[start:])
    return parts


def mail_domain(address: str) -> str | None:
    """The A-label domain of ``local@domain`` (None for a domain literal or junk)."""
    _, at, dom = address.rpartition("@")
    if not at:
        return None
    dom = dom.strip().rstrip(".")
    if not dom or dom.startswith("[") or " " in dom:
        return None
    return to_ascii(dom)


def _addr_spec(mailbox: str) -> str | None:
    """The addr-spec of one mailbox: inside the last <...>, else the text without comments."""
    text = mailbox
    lt = text.rfind("<")
    if lt != -1:
        gt = text.find(">", lt)
        inner = text[lt + 1 : gt if gt != -1 else len(text)]
        inner = inner.rsplit(":", 1)[-1] if inner.startswith("@") else inner  # obs-route
        spec = strip_comments(inner).replace(" ", "")
    else:
        spec = strip_comments(text).replace(" ", "")
    return spec or None


def parse_mailbox_list(value: str) -> list[Mailbox]:
    """The mailboxes of a From-like field; groups (``name: a@b, c@d;``) are flattened."""
    out: list[Mailbox] = []
    for part in _split_top_level(value, ","):
        part = part.strip()
        if not part:
            continue
        # group syntax: "display-name:" prefix and ";" end, outside quotes and brackets
        colon = _split_top_level(part, ":")
        if len(colon) > 1 and "@" not in colon[0] and "<" not in colon[0]:
            part = ":".join(colon[1:])
        part = part.strip().rstrip(";").strip()
        if not part:
            continue
        spec = _addr_spec(part)
        if spec is None:
            continue
        out.append(Mailbox(spec, mail_domain(spec)))
    return out


@dataclass(slots=True)
class FromInfo:
    """The RFC5322.From field, as DMARC needs it (RFC 7489 6.6.1)."""

    fields: int
    mailboxes: list[Mailbox]
    #: the single author domain when there is exactly one usable one
    domain: str | None
    problem: Problem | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "addresses": [m.address for m in self.mailboxes],
            "domain": self.domain,
            "fields": self.fields,
        }


def author_domain(block: HeaderBlock) -> FromInfo:
    """The domain DMARC evaluates, or a problem saying why there is none."""
    values = block.get_all("From")
    if not values:
        return FromInfo(
            0, [], None, Problem("dmarc.no_from", "error", "the message has no From field")
        )
    boxes = [m for v in values for m in parse_mailbox_list(v)]
    if len(values) > 1:
        return FromInfo(
            len(values),
            boxes,
            None,
            Problem(
                "dmarc.multiple_from_fields",
                "error",
                f"the message has {len(values)} From fields; RFC 5322 allows one and DMARC "
                "receivers reject or ignore such mail (RFC 7489 6.6.1)",
            ),
        )
    if not boxes:
        return FromInfo(
            1, [], None, Problem("dmarc.from_syntax", "error", "the From field holds no address")
        )
    domains = {m.domain for m in boxes}
    if None in domains:
        bad = next(m.address for m in boxes if m.domain is None)
        return FromInfo(
            1,
            boxes,
            None,
            Problem(
                "dmarc.from_syntax", "error", f"no usable domain in the From address {bad[:80]!r}"
            ),
        )
    if len(domains) > 1:
        return FromInfo(
            1,
            boxes,
            None,
            Problem(
                "dmarc.multiple_from_domains",
                "error",
                f"the From field names {len(domains)} different domains; DMARC has no single "
                "author domain to evaluate (RFC 7489 6.6.1)",
            ),
        )
    return FromInfo(1, boxes, domains.pop())


def parse_path(value: str) -> str | None:
    """The address of a Return-Path (``<a@b>``, ``<>`` -> ``""``, or a bare address); None if junk."""
    text = value.strip()
    lt = text.find("<")
    if lt != -1:
        gt = text.find(">", lt)
        if gt == -1:
            return None
        inner = text[lt + 1 : gt]
        if inner.startswith("@"):  # obs-route "<@relay:user@host>"
            inner = inner.rsplit(":", 1)[-1]
        return strip_comments(inner).replace(" ", "")
    spec = strip_comments(text).replace(" ", "")
    return spec if "@" in spec else None


# --------------------------------------------------------------------------------------------
# Received (RFC 5321 4.4) and dates

_KEYWORDS = frozenset({"from", "by", "via", "with", "id", "for"})
_HELO_IN_COMMENT = re.compile(r"\bhelo(?:=|\s+)\s*([^\s)\]\[;,]+)", re.IGNORECASE)
_ENVELOPE_FROM = re.compile(r"envelope-from\s*[=:]?\s*<?([^\s<>();]*)>?", re.IGNORECASE)
_BRACKETED = re.compile(r"\[(?:ipv6:)?([0-9a-f:.]+)\]", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _ip(text: str) -> str | None:
    t = text.strip().strip("[]").rstrip(".")
    if t.lower().startswith("ipv6:"):
        t = t[5:]
    try:
        return str(ipaddress.ip_address(t))
    except ValueError:
        return None


#: addresses of hops inside an organisation (RFC 1918, RFC 6598 shared, loopback, link-local,
#: RFC 4193 ULA); not ``is_private``, which also covers the documentation ranges
_INTERNAL_NETS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "::1/128",
        "fe80::/10",
        "fc00::/7",
    )
)


@functools.lru_cache(maxsize=4096)
def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip.version == n.version and ip in n for n in _INTERNAL_NETS)


_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DATE = re.compile(
    r"\s*(?:[A-Za-z]{3},?\s*)?(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?:\s*([+-])(\d{2})(\d{2})|\s*(?:UT|GMT|Z))?\s*(?:\(.*\))?\s*\Z",
    re.IGNORECASE,
)


def parse_date(text: str | None) -> float | None:
    """A date-time field as a POSIX time (a zone-less date counts as UTC); None for junk.

    The RFC 5322 form every current MTA writes is read with one regex; anything else (obsolete
    two-digit years, zone names) goes through ``email.utils``.
    """
    if not text:
        return None
    m = _DATE.match(text[:200])
    t: float | None = None
    if m is not None and m.group(2).lower() in _MONTHS:
        day, _, year, hour, minute, sec, sign, zh, zm = m.groups()
        try:
            t = float(
                calendar.timegm(
                    (
                        int(year),
                        _MONTHS[m.group(2).lower()],
                        int(day),
                        int(hour),
                        int(minute),
                        int(sec or 0),
                    )
                )
            )
        except (ValueError, OverflowError):
            t = None
        if t is not None and not (
            1 <= int(day) <= 31 and int(hour) < 24 and int(minute) < 60 and int(sec or 0) <= 60
        ):
            t = None
        if t is not None and sign:
            offset = int(zh) * 3600 + int(zm) * 60
            t += -offset if sign == "+" else offset
    if t is None:
        try:
            parsed = email.utils.parsedate_tz(text[:200])
            if parsed is None:
                return None
            if parsed[9] is None:
                t = float(calendar.timegm(parsed[:6]))
            else:
                t = float(email.utils.mktime_tz(parsed))
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    return t if _MIN_TIME < t < _MAX_TIME else None


@dataclass(slots=True)
class Received:
    """One Received field, as far as it can be read."""

    index: int  # among Received fields, 0 = topmost
    has_from: bool = False
    helo: str | None = None
    client_ip: str | None = None
    rdns: str | None = None
    by: str | None = None
    protocol: str | None = None
    envelope_from: str | None = None
    time: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "helo": self.helo,
            "client_ip": self.client_ip,
            "rdns": self.rdns,
            "by": self.by,
            "protocol": self.protocol,
            "time": iso(self.time),
        }


_RECEIVED_COMMON = re.compile(
    r"\s*from\s+([^\s()\[\];]+)\s+\(([^()]*)\)\s+by\s+([^\s();]+)"
    r"(?:\s+\([^()]*\))?(?:\s+with\s+([^\s();]+))?",
    re.IGNORECASE,
)


def parse_received(value: str, index: int = 0) -> Received:
    """Read the from / by / with clauses and the date of one Received field, leniently.

    Knows the common shapes: ``from HELO (rdns [IP])`` (Postfix, Sendmail, Gmail),
    ``from [IP] (helo=HELO)`` (Exim), ``from unknown (HELO name) (IP)`` (qmail) and bare IPv6
    in parentheses (Exchange).
    """
    rec = Received(index)
    main, sep, date = value.rpartition(";")
    if not sep:
        main, date = value, ""
    rec.time = parse_date(date.strip())
    if "envelope-from" in value.lower():
        env = _ENVELOPE_FROM.search(value)
        if env:
            rec.envelope_from = env.group(1)
    fast = _RECEIVED_COMMON.match(main)
    if fast is not None:
        # the common shape "from HELO (rdns [IP]) by HOST [(...)] [with PROTO]", read in one go
        helo, comment, by, proto = fast.groups()
        ipm = _BRACKETED.search(comment)
        if ipm is not None and _ip(ipm.group(1)) is not None and "helo" not in comment.lower():
            rec.has_from = True
            rec.helo = helo.rstrip(".") if helo.lower() != "unknown" else None
            rec.client_ip = _ip(ipm.group(1))
            before = comment[: ipm.start()].split()
            if before and _ip(before[-1]) is None and "=" not in before[-1]:
                rec.rdns = before[-1].rstrip(".")
            rec.by = by.rstrip(".").lower()
            rec.protocol = proto
            return rec
    clauses: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for kind, tok in _scan(main):
        if kind == "word" and tok.lower() in _KEYWORDS and tok.lower() not in clauses:
            current = clauses.setdefault(tok.lower(), [])
            continue
        if current is not None:
            current.append((kind, tok))
    frm = clauses.get("from")
    if frm is not None:
        rec.has_from = True
        words = []
        literal: list[str] = []
        comments = []
        in_literal = False
        for fkind, ftok in frm:
            if fkind == "special" and ftok == "[":
                in_literal = True
            elif fkind == "special" and ftok == "]":
                in_literal = False
            elif in_literal:
                literal.append(ftok)
            elif fkind == "word":
                words.append(ftok)
            elif fkind == "comment":
                comments.append(ftok)
        text = " ".join(comments)
        helo_m = _HELO_IN_COMMENT.search(text)
        first = words[0] if words else None
        literal_ip = _ip("".join(literal)) if literal else None
        if helo_m:
            rec.helo = helo_m.group(1).rstrip(".")
        elif first is not None and first.lower() != "unknown":
            rec.helo = first.rstrip(".")
        elif literal and not first:
            rec.helo = "[" + "".join(literal) + "]"
        for bm in _BRACKETED.finditer(text):
            ip = _ip(bm.group(1))
            if ip:
                rec.client_ip = ip
                before = text[: bm.start()].split()
                if before and _ip(before[-1]) is None and "=" not in before[-1]:
                    rec.rdns = before[-1].rstrip(".")
                break
        if rec.client_ip is None:
            for word in re.split(r"[\s()]+", text):
                ip = _ip(word)
                if ip:
                    rec.client_ip = ip
                    break
        if rec.client_ip is None:
            rec.client_ip = literal_ip
    by = clauses.get("by")
    if by:
        # the host is the first run of words and colons (an IPv6 address is split at the colons)
        parts: list[str] = []
        for k, t in by:
            if k == "word" or (k == "special" and t == ":" and parts):
                parts.append(t)
            else:
                break
        if parts:
            rec.by = "".join(parts).rstrip(".").lower()
    with_ = clauses.get("with")
    if with_:
        rec.protocol = next((t for k, t in with_ if k == "word"), None)
    return rec


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def host_matches(host: str | None, pattern: str) -> bool:
    """``--trusted-receiver`` matching: the exact host, or any host under ``.suffix``/``*.suffix``."""
    if not host:
        return False
    h = host.lower().rstrip(".")
    p = pattern.lower().rstrip(".")
    if p.startswith("*."):
        p = p[1:]
    if p.startswith("."):
        return h.endswith(p)
    return h == p


# --------------------------------------------------------------------------------------------
# The envelope the receiving system saw


Source = Literal[
    "return-path",
    "authentication-results",
    "received-envelope-from",
    "received",
    "date",
    "now",
    "fixed",
]


@dataclass(slots=True)
class Envelope:
    """The SMTP envelope of the receiving system, and where each part was read."""

    mail_from: str | None = None  # "" is the null reverse-path
    mail_from_source: Source | None = None
    helo: str | None = None
    client_ip: str | None = None
    receiver: str | None = None
    received: Received | None = None
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "mail_from": self.mail_from,
            "mail_from_source": self.mail_from_source,
            "helo": self.helo,
            "client_ip": self.client_ip,
            "receiver": self.receiver,
            "received": self.received.to_dict() if self.received else None,
        }


def received_fields(block: HeaderBlock) -> list[Received]:
    values = block.get_all("Received")[:MAX_TRACE_FIELDS]
    return [parse_received(v, i) for i, v in enumerate(values)]


def receiving_hop(
    received: Sequence[Received], trusted: str | None
) -> tuple[Received | None, list[Problem]]:
    """The Received field the receiving system wrote.

    With ``trusted``: the topmost whose ``by`` host matches it. Without: the topmost, except that
    fields with no ``from`` clause at all (hops inside the receiving system that took the
    message from no network peer, such as Gmail's ``by 2002:... with SMTP id``) are passed over.
    """
    problems: list[Problem] = []
    if not received:
        problems.append(
            Problem("envelope.no_received", "info", "the message has no Received field")
        )
        return None, problems
    if trusted:
        for r in received:
            if host_matches(r.by, trusted):
                return r, problems
        problems.append(
            Problem(
                "envelope.no_trusted_received",
                "info",
                f"no Received field was written by {trusted} (--trusted-receiver)",
            )
        )
        return None, problems
    for r in received:
        if r.has_from:
            if r.index:
                problems.append(
                    Problem(
                        "envelope.skipped_local_hops",
                        "info",
                        f"the top {r.index} Received field(s) have no from clause; using "
                        f"Received #{r.index}",
                    )
                )
            return r, problems
    return received[0], problems


def envelope_of(
    block: HeaderBlock,
    received: Sequence[Received],
    trusted: str | None,
    results: Sequence[AuthResults] = (),
) -> Envelope:
    """MAIL FROM, HELO and client IP as the receiving system recorded them."""
    hop, problems = receiving_hop(received, trusted)
    env = Envelope(received=hop, problems=problems)
    if hop is not None:
        env.helo, env.client_ip, env.receiver = hop.helo, hop.client_ip, hop.by
    paths = block.get_all("Return-Path")
    if paths:
        # the delivering MTA adds Return-Path on top; older ones below are from earlier hops
        parsed = parse_path(paths[0])
        if parsed is not None:
            env.mail_from, env.mail_from_source = parsed, "return-path"
        else:
            env.problems.append(
                Problem(
                    "envelope.return_path_syntax", "info", "the Return-Path field holds no address"
                )
            )
    if env.mail_from is None:
        for ar in results:
            for r in ar.results:
                v = r.props.get("smtp.mailfrom")
                if r.method == "spf" and v is not None:
                    env.mail_from, env.mail_from_source = v.strip("<>"), "authentication-results"
                    break
            if env.mail_from is not None:
                break
    if env.mail_from is None and hop is not None and hop.envelope_from is not None:
        env.mail_from, env.mail_from_source = hop.envelope_from, "received-envelope-from"
    if env.client_ip is not None and _internal(env.client_ip):
        env.problems.append(
            Problem(
                "envelope.internal_client",
                "warning",
                f"the receiving hop's client {env.client_ip} is not a public address: "
                "probably a hop inside the receiving system; name the border MX with "
                "--trusted-receiver",
            )
        )
    return env


# --------------------------------------------------------------------------------------------
# Authentication-Results (RFC 8601)


@dataclass(slots=True)
class AuthResult:
    method: str
    result: str
    reason: str | None = None
    props: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class AuthResults:
    """One Authentication-Results field."""

    index: int
    authserv_id: str | None
    results: list[AuthResult]

    def of(self, method: str) -> list[AuthResult]:
        return [r for r in self.results if r.method == method]


_MAX_RESULTS = 64


def _unquote(tok: str) -> str:
    if len(tok) >= 2 and tok[0] == '"' and tok[-1] == '"':
        return re.sub(r"\\(.)", r"\1", tok[1:-1])
    return tok


def parse_auth_results(value: str, index: int = 0) -> AuthResults:
    """Parse one Authentication-Results value leniently.

    A field that starts with a result instead of an authserv-id (as Microsoft 365 writes them)
    is read with ``authserv_id`` None. Unknown properties are kept; malformed parts skipped.
    """
    text = strip_comments(value) if ("(" in value or '"' in value) else " ".join(value.split())
    parts = _split_top_level(text, ";")
    first = parts[0].strip() if parts else ""
    authserv: str | None
    if "=" in first and not first.startswith('"'):
        authserv, rest = None, parts
    else:
        authserv = _unquote(first.split(" ")[0]).lower() or None if first else None
        rest = parts[1:]
    results: list[AuthResult] = []
    for part in rest[:_MAX_RESULTS]:
        words = part.strip().split()
        if not words or words[0].lower() == "none":
            continue
        method, eq, result = words[0].partition("=")
        if not eq:
            continue
        method = method.split("/", 1)[0].lower()
        res = AuthResult(method, _unquote(result).lower())
        for w in words[1:]:
            k, e, v = w.partition("=")
            if not e:
                continue
            k = k.lower()
            if k == "reason":
                res.reason = _unquote(v)
            else:
                res.props.setdefault(k, _unquote(v))
        results.append(res)
    return AuthResults(index, authserv, results)


def auth_results_fields(block: HeaderBlock) -> list[AuthResults]:
    values = block.get_all("Authentication-Results")[:MAX_TRACE_FIELDS]
    return [parse_auth_results(v, i) for i, v in enumerate(values)]


def receiver_results(results: Sequence[AuthResults], trusted: str | None) -> AuthResults | None:
    """The receiving system's Authentication-Results: authserv-id matching ``trusted``, else the
    topmost field."""
    if trusted:
        for r in results:
            if host_matches(r.authserv_id, trusted):
                return r
        return None
    return results[0] if results else None


# --------------------------------------------------------------------------------------------
# The verification clock


AsOfMode = Literal["received", "now"] | float


@dataclass(slots=True)
class AsOf:
    time: float
    source: Source

    def to_dict(self) -> dict[str, object]:
        return {"time": iso(self.time), "source": self.source}


def as_of_time(mode: AsOfMode, hop: Received | None, block: HeaderBlock, now: float) -> AsOf:
    """The time DKIM ``t=``/``x=`` are judged at: a fixed time, now, or the delivery time (the
    receiving hop's Received date, else the Date field, else now)."""
    if isinstance(mode, float | int) and not isinstance(mode, bool):
        return AsOf(float(mode), "fixed")
    if mode == "now":
        return AsOf(now, "now")
    if hop is not None and hop.time is not None:
        return AsOf(hop.time, "received")
    date = parse_date(block.first("Date"))
    if date is not None:
        return AsOf(date, "date")
    return AsOf(now, "now")
