"""A fast reader of RFC 1035 master files, for the forms zone files commonly use.

Why not only dnspython (a well-kept library, and still the fallback): ``dns.zone.from_file``
tokenizes a file one character at a time in Python; over the bench's synthetic internet (10 MB
of zone files) that took 11-25 s before a single question was answered (issue 17). This reader
splits whole lines with ``str.split`` (one regular expression for the lines with quotes or
parentheses), builds names and rdatas equal in text once per load (``Cache``), and builds the
very same ``dns.zone.Zone`` (nodes, rdatasets, rdata objects) that dnspython's loader builds,
so everything above it, and every answer, is unchanged. Measured in one run
(``python -m bench.run --full --only zones``, bench/README.md): 6.1x faster on the 14 files of
the synthetic internet, 11.1x on the same records as 10,013 one-domain files, same answers;
tests/dns/test_zone_reader.py compares the zones with dnspython's field for field.

What it reads: ``$ORIGIN``, ``$TTL``, ``@``, relative and absolute names, a blank owner (the
previous owner), an optional class ``IN`` and TTL in either order, quoted strings with
``\\X``/``\\DDD`` escapes and several strings a record, parentheses across lines, comments.
Rdata of the types the checks ask for (TXT, SPF, MX, CNAME, NS, PTR, A, AAAA, SOA) is built
directly; other types are handed to ``dns.rdata.from_text`` record by record.

What it does not: anything else (``$INCLUDE``, ``$GENERATE``, escapes outside quotes, non-ASCII
text, classes other than IN, DNSSEC signatures, a CNAME beside other data, an error of any
kind) raises :class:`Unsupported`, and the caller loads that file with dnspython instead. That
keeps dnspython the authority on the unusual: a broken file fails with dnspython's error
(file and line), never with a second opinion from this reader.

Eager, not lazy: every file is still read at start-up. Parsing a zone only when a question
first reaches it would start faster, but a broken file would then fail in the middle of an
overnight run (or never, if no question reaches it), and checking a zone before publishing it is
one of the uses of ``--zones``; at this reader's speed the whole synthetic internet loads in
2-3 s, so failing early costs little.
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterator
from typing import Any

import dns.exception
import dns.name
import dns.node
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.SPF
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.ttl
import dns.zone

IN = dns.rdataclass.IN
_T = dns.rdatatype.RdataType

# A line with a quote or a parenthesis is split by this expression, which draws the token
# boundaries where dnspython's tokenizer draws them (space, tab, quote, parenthesis,
# semicolon). The last branch catches what the others do not (a backslash outside quotes, an
# unterminated quote): such a line is Unsupported.
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|[()]|;.*|[^ \t"();\\]+|\S')
#: what str.split would take for a space (dnspython does not) and non-ASCII text
_ODD = re.compile(r"[^\t\n\x20-\x7e]")
_ESCAPE = re.compile(r"\\(?:(\d\d\d)|(\D))")
_NAMED = {
    _T.MX: dns.rdtypes.ANY.MX.MX,
    _T.CNAME: dns.rdtypes.ANY.CNAME.CNAME,
    _T.NS: dns.rdtypes.ANY.NS.NS,
    _T.PTR: dns.rdtypes.ANY.PTR.PTR,
}
#: types dnspython files under a "covers" type too (one rdataset per covered type): left to it
_COVERING = {_T.RRSIG, _T.SIG}
_MAX_U16 = 0xFFFF
_MAX_U32 = 0xFFFFFFFF
#: dotted quad as dnspython writes it back (no leading zeros): its canonical form is itself
_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)

# dnspython's rdata and name constructors validate and convert every argument through its
# immutability wrapper: ~6 us a TXT rdata, half of this reader's time. For the types it builds
# most, with arguments this reader has already checked as dnspython would, it fills the same
# slots directly (objects equal in every field; tests/dns/test_zone_reader.py compares them).
# Should a dnspython release change those slots, _DIRECT is False and the constructors are used.
_new = object.__new__
_set = object.__setattr__


def _slots(cls: type) -> set[str]:
    return {s for k in cls.__mro__ for s in getattr(k, "__slots__", ())}


_BASE = {"rdclass", "rdtype", "rdcomment"}
_DIRECT = (
    _slots(dns.rdtypes.ANY.TXT.TXT) == _BASE | {"strings"}
    and _slots(dns.rdtypes.ANY.SPF.SPF) == _BASE | {"strings"}
    and _slots(dns.rdtypes.ANY.MX.MX) == _BASE | {"preference", "exchange"}
    and all(_slots(_NAMED[t]) == _BASE | {"target"} for t in (_T.CNAME, _T.NS, _T.PTR))
    and _slots(dns.rdtypes.IN.A.A) == _BASE | {"address"}
    and _slots(dns.name.Name) == {"labels"}
)


def _rdata(cls: Any, rdtype: _T, field: str, value: Any, *more: tuple[str, Any]) -> Any:
    """``cls(IN, rdtype, value...)`` for arguments already in the form its __init__ makes."""
    if not _DIRECT:
        return cls(IN, rdtype, value, *(v for _, v in more))
    rd = _new(cls)
    _set(rd, "rdclass", IN)
    _set(rd, "rdtype", rdtype)
    _set(rd, "rdcomment", None)
    _set(rd, field, value)
    for f, v in more:
        _set(rd, f, v)
    return rd


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (if it was on, it is on again after)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class Unsupported(Exception):
    """Syntax this reader leaves to dnspython (or an error, which dnspython will report)."""


def _unescape(inner: str) -> bytes:
    """The bytes of a quoted string's inside, as dnspython's ``unescape_to_bytes`` gives them
    (``\\DDD`` is a byte value, ``\\X`` is X)."""
    if "\\" not in inner:
        return inner.encode()

    def one(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            value = int(m.group(1))
            if value > 255:
                raise Unsupported("escape above 255")
            return chr(value)
        return m.group(2)

    text = _ESCAPE.sub(one, inner)
    if _ESCAPE.sub("", inner).count("\\"):
        raise Unsupported("short \\DDD escape")  # dnspython raises a syntax error
    return text.encode("latin-1")


class _Same:
    """An rdata as a dict key, its hash computed once: dnspython hashes an rdata by encoding its
    wire form, anew at each dict insertion; equal when the rdatas are (dnspython's test)."""

    __slots__ = ("hash", "rd")

    def __init__(self, rd: Any) -> None:
        self.rd = rd
        self.hash = hash(rd)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and self.rd == other.rd


class Cache:
    """What the files of one load share: names and rdatas read from the same text under the
    same origin are the same objects, built (and, for rdatas, hashed) once. Across files
    matters as much as within one: 10,000 one-domain zones name the same few MX hosts and SPF
    includes. Rdatas and names are immutable, so sharing them is safe (dnspython itself shares
    an rdata between rdatasets when it copies one). Drop it when the load is done."""

    def __init__(self) -> None:
        #: (name text, origin text as written) -> (lower-case absolute text, Name as written)
        self.names: dict[tuple[str, str], tuple[str, dns.name.Name]] = {}
        #: (type, origin text, comment, *rdata tokens) -> (rdata, its equality key, {rdata: None});
        #: for TXT and SPF (type, comment, strings)
        self.rdatas: dict[tuple[Any, ...], tuple[Any, Any, dict[Any, None]]] = {}
        self.ttls: dict[str, int] = {}


class _Reader:
    """One file's state, as dnspython's ``zonefile.Reader`` keeps it (same TTL rules)."""

    def __init__(self, origin: dns.name.Name, cache: Cache) -> None:
        self.zone_origin = origin
        self.origin = origin
        self.origin_text = origin.to_text()  # as written: names read under it keep its case
        if "\\" in self.origin_text:
            raise Unsupported("escape in the origin")
        self.zone_key = self.origin_key = self.origin_text.lower()
        self.last_key, self.last_name = self.zone_key, origin
        self.last_ttl = 0
        self.last_ttl_known = False
        self.default_ttl = 0
        self.default_ttl_known = False
        self.default_ttl_from_soa = False
        # Names are keyed by their absolute text in lower case ("www.example.com."), which is
        # how dnspython compares them: hashing a dns.name.Name lowers every label each time,
        # and was this reader's largest cost. owner key -> type -> [ttl, {key: rdata}]; the
        # key is what makes two rdatas equal (strings for TXT, the lower-case target for MX
        # or CNAME: cheaper than hashing a wire form), and the dict keeps the file's order.
        self.nodes: dict[str, dict[_T, list[Any]]] = {}
        #: the Name of each node as its owner is first written, as in dnspython's dict of nodes
        self.owners: dict[str, dns.name.Name] = {}
        self.keys = cache.names
        self.rdatas = cache.rdatas
        self.ttls = cache.ttls

    def name(self, text: str) -> tuple[str, dns.name.Name]:
        """Name ``text`` read under the current origin: its absolute lower-case text (how
        dnspython compares names) and the dns.name.Name as written (its case shows in rdata
        text, an SOA's names for one)."""
        got = self.keys.get((text, self.origin_text))
        if got is not None:
            return got
        if text[0] == '"':
            raise Unsupported("quoted name")
        if text == "@":
            got = (self.origin_key, self.origin)
        elif text == ".":
            got = (".", dns.name.root)
        else:
            if "@" in text or "$" in text:
                raise Unsupported("@ or $ in a name")  # dnspython's text escapes them
            # lower-case text is the key: the labels hold no dot, no escape, no space
            if text[-1] == ".":
                k = text.lower()
                labels = [lb.encode() for lb in text[:-1].split(".")]
                labels.append(b"")
            else:
                k = text.lower() + ("." + self.origin_key if self.origin_key != "." else ".")
                labels = [lb.encode() for lb in text.split(".")]
                labels.extend(self.origin.labels)
            got = (k, _name(labels))
        self.keys[(text, self.origin_text)] = got
        return got

    def ttl(self, text: str) -> int:
        ttl = self.ttls.get(text)
        if ttl is None:
            ttl = self.ttls[text] = dns.ttl.from_text(text)  # BadTTL: Unsupported, by read()
        return ttl

    def implicit_ttl(self) -> int | None:
        # dnspython's Reader._implicit_ttl, rfc2308_ttl mode (its default)
        if self.last_ttl_known and (not self.default_ttl_known or self.default_ttl_from_soa):
            return self.last_ttl
        if self.default_ttl_known:
            return self.default_ttl
        return None

    def directive(self, tokens: list[str]) -> None:
        word = tokens[0].upper()
        if len(tokens) != 2 or tokens[1][0] == '"':
            raise Unsupported(word)
        if word == "$TTL":
            self.default_ttl = dns.ttl.from_text(tokens[1])
            self.default_ttl_known = True
            self.default_ttl_from_soa = False
        elif word == "$ORIGIN":
            self.origin_key, self.origin = self.name(tokens[1])
            self.origin_text = tokens[1] if tokens[1][-1] == "." else self.origin.to_text()
        else:
            raise Unsupported(word)  # $INCLUDE, $GENERATE, ...

    def subdomain(self, key: str) -> bool:
        z = self.zone_key
        return z == "." or key == z or key.endswith("." + z)

    def record(self, tokens: list[str], blank_owner: bool, comment: str | None) -> None:
        i = 0
        if not blank_owner:
            self.last_key, self.last_name = self.name(tokens[0])
            i = 1
        owner = self.last_key
        if not self.subdomain(owner):
            return  # dnspython skips records outside the zone
        ttl: int | None = None
        tok = tokens[i]
        if tok[0].isdigit():
            ttl = self.ttl(tok)
            self.last_ttl, self.last_ttl_known = ttl, True
            i += 1
            tok = tokens[i]
        if tok.upper() == "IN":
            i += 1
            tok = tokens[i]
        elif _is_class(tok):
            raise Unsupported("class other than IN")
        if ttl is None:
            if tok[0].isdigit():
                ttl = self.ttl(tok)
                self.last_ttl, self.last_ttl_known = ttl, True
                i += 1
                tok = tokens[i]
            else:
                ttl = self.implicit_ttl()
        rdtype = _rdtype(tok)
        toks = tokens[i + 1 :]
        if rdtype == _T.TXT or rdtype == _T.SPF:
            # keyed by the strings, which the rdata keeps anyway: keyed by its text, the cache
            # would hold a second copy of every TXT record until the load ends
            strings = tuple(_unescape(t[1:-1]) if t[0] == '"' else t.encode() for t in toks)
            cache_key: tuple[Any, ...] = (rdtype, comment, strings)
        else:
            cache_key = (rdtype, self.origin_text, comment, *toks)
        cached = self.rdatas.get(cache_key)
        if cached is None:
            rd, key = self.rdata(rdtype, toks)
            if comment is not None:
                _set(rd, "rdcomment", comment)  # as dnspython's rdata.from_text sets it
            # an rdataset's items are a dict of its rdatas: hashing an rdata encodes its wire
            # form, so each is hashed once, here, and copied by dict.update (which reuses the
            # stored hash) into every rdataset that holds it
            cached = self.rdatas[cache_key] = (rd, key, {rd: None})
        rd, key, one = cached
        if rdtype == _T.SOA:
            if owner != self.zone_key:
                raise Unsupported("SOA not at the apex")  # dnspython: "non-origin SOA"
            if not self.default_ttl_known:
                self.default_ttl = rd.minimum
                self.default_ttl_known = True
                self.default_ttl_from_soa = True
                if ttl is None:
                    ttl = self.implicit_ttl()
        if ttl is None:
            raise Unsupported("no TTL")
        types = self.nodes.get(owner)
        if types is None:
            types = self.nodes[owner] = {}
            self.owners[owner] = self.last_name
        entry = types.get(rdtype)
        if entry is None:
            types[rdtype] = [ttl, {key: one}]
            return
        # dnspython merges into the rdataset: the lowest TTL wins, an equal rdata is kept once
        # (the first), a singleton type (SOA, CNAME) keeps only the last
        if ttl < entry[0]:
            entry[0] = ttl
        if dns.rdatatype.is_singleton(rdtype):
            entry[1] = {key: one}
        else:
            entry[1].setdefault(key, one)

    def rdata(self, rdtype: _T, toks: list[str]) -> tuple[Any, Any]:
        """(rdata, what makes it equal to another of its type) for the rdata tokens."""
        if not toks:
            raise Unsupported("no rdata")
        if rdtype == _T.TXT or rdtype == _T.SPF:
            strings = tuple(_unescape(t[1:-1]) if t[0] == '"' else t.encode() for t in toks)
            for s in strings:
                if len(s) > 255:
                    raise Unsupported("string too long")
            cls = dns.rdtypes.ANY.TXT.TXT if rdtype == _T.TXT else dns.rdtypes.ANY.SPF.SPF
            return _rdata(cls, rdtype, "strings", strings), strings
        named = _NAMED.get(rdtype)
        if named is not None:
            if rdtype == _T.MX:
                if len(toks) != 2:
                    raise Unsupported("MX")
                pref, (k, n) = _uint(toks[0], _MAX_U16), self.name(toks[1])
                return _rdata(named, rdtype, "preference", pref, ("exchange", n)), (pref, k)
            if len(toks) != 1:
                raise Unsupported(rdtype.name)
            k, n = self.name(toks[0])
            return _rdata(named, rdtype, "target", n), k
        if rdtype == _T.A or rdtype == _T.AAAA:
            if len(toks) != 1 or toks[0][0] == '"':
                raise Unsupported(rdtype.name)
            if rdtype == _T.A and _IPV4.fullmatch(toks[0]):
                return _rdata(dns.rdtypes.IN.A.A, rdtype, "address", toks[0]), toks[0]
            cls2 = dns.rdtypes.IN.A.A if rdtype == _T.A else dns.rdtypes.IN.AAAA.AAAA
            rd: Any = cls2(IN, rdtype, toks[0])
            return rd, rd.address  # canonical text: equal addresses, equal text
        if rdtype == _T.SOA:
            if len(toks) != 7:
                raise Unsupported("SOA")
            rd = dns.rdtypes.ANY.SOA.SOA(  # type: ignore[no-untyped-call]
                IN,
                rdtype,
                self.name(toks[0])[1],
                self.name(toks[1])[1],
                _uint(toks[2], _MAX_U32),
                *(dns.ttl.from_text(t) for t in toks[3:7]),
            )
            return rd, _Same(rd)
        if rdtype in _COVERING:
            raise Unsupported(rdtype.name)
        rd = dns.rdata.from_text(IN, rdtype, " ".join(toks), self.origin, False, self.zone_origin)
        return rd, _Same(rd)


def _name(labels: list[bytes]) -> dns.name.Name:
    """``dns.name.Name(labels)``, with its checks (the caller gives bytes, no escapes)."""
    if not _DIRECT:
        return dns.name.Name(labels)
    total = 0
    for label in labels:
        n = len(label)
        if n > 63:
            raise Unsupported("label too long")
        total += n + 1
    if total > 255:
        raise Unsupported("name too long")
    if b"" in labels[:-1]:
        raise Unsupported("empty label")
    name = _new(dns.name.Name)
    _set(name, "labels", tuple(labels))
    return name


def _uint(text: str, top: int) -> int:
    if not (text.isascii() and text.isdigit()):
        raise Unsupported("not an integer")
    value = int(text)
    if value > top:
        raise Unsupported("integer out of range")
    return value


_RDTYPES: dict[str, _T] = {}


def _rdtype(text: str) -> _T:
    rdtype = _RDTYPES.get(text)
    if rdtype is None:
        if text[0] == '"':
            raise Unsupported("quoted type")
        rdtype = _RDTYPES[text] = dns.rdatatype.from_text(text)  # unknown: Unsupported
    return rdtype


_CLASSES: dict[str, bool] = {}


def _is_class(text: str) -> bool:
    known = _CLASSES.get(text)
    if known is None:
        try:
            dns.rdataclass.from_text(text)
            known = True
        except Exception:  # not a class (dnspython tries the token as a type next)
            known = text.upper().startswith("CLASS")
        _CLASSES[text] = known
    return known


def _logical_lines(text: str) -> Iterator[tuple[list[str], bool, str | None]]:
    """(tokens, blank_owner, comment) for each record or directive: parentheses joined, the
    comment that ends the record (after ``;`` on its last line, else None) apart: dnspython
    keeps it in the rdata (``rdcomment``); comments inside parentheses it drops."""
    pending: list[str] | None = None  # the tokens of a record still inside parentheses
    depth = 0
    blank = False
    for line in text.split("\n"):
        comment: str | None = None
        if '"' not in line and "\\" not in line:
            code, semicolon, rest = line.partition(";")
            if "(" not in code and ")" not in code:
                if pending is None:
                    tokens = code.split()
                    if tokens:
                        yield tokens, code[0] in " \t", rest if semicolon else None
                    continue
                pending.extend(code.split())
                continue
        parts = _TOKENS.findall(line)
        if pending is None:
            pending, blank = [], line[:1] in (" ", "\t")
            if line[:1] == "(":
                raise Unsupported("line starts with a parenthesis")
        for t in parts:
            c = t[0]
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth < 0:
                    raise Unsupported("unbalanced parentheses")
            elif c == ";":
                comment = t[1:]
                break
            elif c == "\\" or (c == '"' and (len(t) == 1 or t[-1] != '"')):
                raise Unsupported("escape outside quotes or unterminated quote")
            else:
                pending.append(t)
        if depth == 0:
            if pending:
                yield pending, blank, comment
            pending = None
    if pending is not None:
        raise Unsupported("unbalanced parentheses")


def read(text: str, origin: dns.name.Name, cache: Cache | None = None) -> dns.zone.Zone:
    """The zone of master file ``text`` (already decoded as UTF-8 with universal newlines, as
    dnspython reads it), with absolute names, as ``dns.zone.from_text(text, origin,
    relativize=False, check_origin=False)`` builds it. Raises Unsupported for anything it does
    not handle, errors included: load such a file with dnspython."""
    if _ODD.search(text):
        raise Unsupported("non-ASCII or control characters")
    r = _Reader(origin, cache or Cache())
    try:
        for tokens, blank, comment in _logical_lines(text):
            if tokens[0][0] == "$" and not blank:
                r.directive(tokens)
            else:
                r.record(tokens, blank, comment)
    except Unsupported:
        raise
    except (dns.exception.DNSException, ValueError, TypeError, IndexError) as exc:
        raise Unsupported(repr(exc)) from exc
    zone = dns.zone.Zone(origin, IN, relativize=False)
    nodes = zone.nodes
    for owner, types in r.nodes.items():
        if _T.CNAME in types and len(types) > 1:
            raise Unsupported("CNAME and other data")  # dnspython decides (error or DNSSEC)
        node = dns.node.Node()  # type: ignore[no-untyped-call]
        for rdtype, (ttl, rdatas) in types.items():
            rds = dns.rdataset.Rdataset(IN, rdtype)
            rds.ttl = ttl
            items: dict[Any, None] = {}
            for one in rdatas.values():
                items.update(one)
            rds.items = items
            node.rdatasets.append(rds)
        nodes[r.owners[owner]] = node
    return zone
