"""The header block of a stored message: fields, unfolding, structured-field syntax. Sans-I/O.

The header block is split the way dkimpy's ``rfc822_parse`` splits it (so that the DKIM verifier
and the rest of the record see the same fields), but never raises: a message that cannot be read
as headers gets a ``MessageDefect`` with a stable code. Everything is bounded: the number of header
fields and the size of one field are capped, because archives contain hostile and broken mail.

What the fields say is read by the modules beside this one: ``addresses`` (RFC5322.From, the
envelope), ``received`` (the Received trace), ``auth_results`` (the receiver's own verdicts) and
``clock`` (dates, and the time DKIM ``t=`` / ``x=`` are judged at).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

#: header fields per message; real mail has well under 200 (Received loops stop at ~100 hops)
MAX_HEADERS = 1000
#: one header field, folded lines included; the largest real ones (References, ARC) are ~30 KB
MAX_HEADER_FIELD_BYTES = 64 * 1024
#: Received fields looked at for the envelope, and Authentication-Results fields parsed
MAX_TRACE_FIELDS = 100

Header = tuple[bytes, bytes]
"""A header field as dkimpy holds it: the name as written, and the raw value after the colon
(continuation lines included) with every line ending as CRLF."""

_FIELD_NAME = re.compile(rb"([\x21-\x7e]+?):")


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


def scan(text: str) -> Iterator[tuple[Literal["word", "comment", "special"], str]]:
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
    for kind, tok in scan(text):
        if kind == "comment":
            continue
        out.append(tok)
    joined = ""
    for tok in out:
        if joined and tok not in "<>;:,@[]" and joined[-1] not in "<>;:,@[]":
            joined += " "
        joined += tok
    return joined


_PROTECTED = re.compile(r'"(?:\\.|[^"\\])*"?|<[^<>]*>?')
_COMMENT = re.compile(r"\((?:\\.|[^()\\])*\)")


def _mask(m: re.Match[str]) -> str:
    return "x" * (m.end() - m.start())


def split_top_level(text: str, sep: str) -> list[str]:
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


#: where a value of the record was read: a header field, or the clock of the run
Source = Literal[
    "return-path",
    "authentication-results",
    "received-envelope-from",
    "received",
]
