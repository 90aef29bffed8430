"""SPF parser, macro language and check_host() evaluator (RFC 7208), driven from dicts."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from bulkauth.core.common.model import MX, Answer, Query, Rcode, RType
from bulkauth.core.common.step import Step, answers_from, run_sync
from bulkauth.core.spf.evaluate import (
    IncludeMemo,
    SpfResult,
    Verdict,
    check_host,
    check_mailfrom,
    mailfrom_identity,
    query_name,
)
from bulkauth.core.spf.macro import (
    DOMAIN_LETTERS,
    EXP_LETTERS,
    MacroError,
    MacroValues,
    expand,
    parse_macro_string,
)
from bulkauth.core.spf.record import SpfSyntaxError, is_spf_record, parse_record

# -- helpers ------------------------------------------------------------------------------------


def txt(*records: str | tuple[str, ...]) -> Answer:
    out = []
    for r in records:
        strings = (r,) if isinstance(r, str) else r
        out.append(tuple(s.encode() for s in strings))
    return Answer(Rcode.NOERROR, tuple(out))


def addrs(*a: str) -> Answer:
    return Answer(Rcode.NOERROR, a)


NODATA = Answer(Rcode.NOERROR)
TIMEOUT = Answer(Rcode.TIMEOUT)
T, A, AAAA, MXT, PTR = RType.TXT, RType.A, RType.AAAA, RType.MX, RType.PTR


class Recorder:
    """An answer function over a dict that keeps every batch of questions it was asked."""

    def __init__(self, table: dict[tuple[str, RType], Answer]) -> None:
        self.answer = answers_from(table)
        self.batches: list[tuple[Query, ...]] = []

    def run(self, step: Step[SpfResult]) -> SpfResult:
        try:
            batch = step.send(None)  # type: ignore[arg-type]
            while True:
                self.batches.append(batch)
                batch = step.send(tuple(self.answer(q) for q in batch))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    @property
    def queries(self) -> list[Query]:
        return [q for b in self.batches for q in b]


def check(
    table: dict[tuple[str, RType], Answer],
    ip: str = "192.0.2.10",
    domain: str = "example.com",
    sender: str = "user@example.com",
    helo: str = "mail.example.com",
    **kw: object,
) -> SpfResult:
    return run_sync(check_host(ip, domain, sender, helo, **kw), answers_from(table))  # type: ignore[arg-type]


# -- record selection and parsing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "is_spf"),
    [
        ("v=spf1", True),
        ("v=spf1 -all", True),
        ("V=SpF1 ~all", True),
        ("v=spf10", False),
        ("v=spf1-all", False),
        ("v=spf1\t-all", False),
        (" v=spf1 -all", False),
        ("spf1 -all", False),
        ("v=spf2.0/pra -all", False),
    ],
)
def test_version_selection(text: str, is_spf: bool) -> None:
    assert is_spf_record(text) is is_spf


def test_parse_all_terms() -> None:
    rec = parse_record(
        "v=spf1 +all -include:_spf.example.net ~a ?a:mail.example.com/24//64 mx/26 "
        "mx:mx.example.com//48 ptr ptr:example.org ip4:192.0.2.0/24 ip6:2001:db8::/32 "
        "exists:%{i}.bl.example.com redirect=_spf.example.com exp=exp.%{d} x-vendor=%{h}"
    )
    kinds = [(m.qualifier, m.kind) for m in rec.mechanisms]
    assert kinds == [
        ("+", "all"),
        ("-", "include"),
        ("~", "a"),
        ("?", "a"),
        ("+", "mx"),
        ("+", "mx"),
        ("+", "ptr"),
        ("+", "ptr"),
        ("+", "ip4"),
        ("+", "ip6"),
        ("+", "exists"),
    ]
    a = rec.mechanisms[3]
    assert (a.cidr4, a.cidr6) == (24, 64)
    assert a.domain is not None and a.domain.literal == "mail.example.com"
    assert (rec.mechanisms[2].cidr4, rec.mechanisms[2].cidr6) == (32, 128)
    assert (rec.mechanisms[4].cidr4, rec.mechanisms[4].cidr6) == (26, 128)
    assert (rec.mechanisms[5].cidr4, rec.mechanisms[5].cidr6) == (32, 48)
    ip4 = rec.mechanisms[8]
    assert (ip4.network, ip4.prefix) == (int(ipaddress.IPv4Address("192.0.2.0")), 24)
    assert rec.redirect is not None and rec.redirect.value.literal == "_spf.example.com"
    assert rec.exp is not None and rec.exp.value.letters == {"d"}
    assert [m.name for m in rec.unknown_modifiers] == ["x-vendor"]
    # include a a mx mx ptr ptr exists = 8 (the redirect is unreachable next to "all")
    assert rec.lookup_terms == 8


def test_names_are_case_insensitive() -> None:
    rec = parse_record("v=spf1 IP4:192.0.2.1 Include:example.net REDIRECT=example.org")
    assert [m.kind for m in rec.mechanisms] == ["ip4", "include"]
    assert rec.redirect is not None


def test_ip4_network_is_masked() -> None:
    m = parse_record("v=spf1 ip4:192.0.2.77/24").mechanisms[0]
    assert m.network == int(ipaddress.IPv4Address("192.0.2.0"))


def test_parse_is_cached_by_text() -> None:
    text = "v=spf1 ip4:198.51.100.0/24 include:cached.example.com -all"
    assert parse_record(text) is parse_record(text)


@pytest.mark.parametrize(
    ("record", "code", "term"),
    [
        ("v=spf1 moo", "spf.syntax.unknown_mechanism", "moo"),
        ("v=spf1 redirect:example.com", "spf.syntax.unknown_mechanism", "redirect:example.com"),
        ("v=spf1 =all", "spf.syntax.unknown_mechanism", "=all"),
        ("v=spf1 1up=foo", "spf.syntax.unknown_mechanism", "1up=foo"),
        ("v=spf1 -all.", "spf.syntax.unexpected_argument", "-all."),
        ("v=spf1 all/8", "spf.syntax.unexpected_argument", "all/8"),
        ("v=spf1 ptr/0", "spf.syntax.unexpected_argument", "ptr/0"),
        ("v=spf1 include", "spf.syntax.missing_domain", "include"),
        ("v=spf1 include:", "spf.syntax.missing_domain", "include:"),
        ("v=spf1 exists", "spf.syntax.missing_domain", "exists"),
        ("v=spf1 exp=", "spf.syntax.missing_domain", "exp="),
        ("v=spf1 a:", "spf.syntax.missing_domain", "a:"),
        ("v=spf1 a/33", "spf.syntax.bad_cidr", "a/33"),
        ("v=spf1 a//129", "spf.syntax.bad_cidr", "a//129"),
        ("v=spf1 mx/24/64", "spf.syntax.bad_cidr", "mx/24/64"),
        ("v=spf1 ip4:192.0.2.0/032", "spf.syntax.bad_cidr", "ip4:192.0.2.0/032"),
        ("v=spf1 ip4:192.0.2.0//24", "spf.syntax.bad_cidr", "ip4:192.0.2.0//24"),
        ("v=spf1 ip4:192.0.2", "spf.syntax.bad_ip4", "ip4:192.0.2"),
        ("v=spf1 ip4:192.0.2.1:25", "spf.syntax.bad_ip4", "ip4:192.0.2.1:25"),
        ("v=spf1 ip4:192.0.02.1", "spf.syntax.bad_ip4", "ip4:192.0.02.1"),
        ("v=spf1 ip4", "spf.syntax.missing_address", "ip4"),
        ("v=spf1 ip6::CAFE::BABE", "spf.syntax.bad_ip6", "ip6::CAFE::BABE"),
        ("v=spf1 ip6:fe80::1%eth0", "spf.syntax.bad_ip6", "ip6:fe80::1%eth0"),
        ("v=spf1 ip6:2001:db8::/129", "spf.syntax.bad_cidr", "ip6:2001:db8::/129"),
        ("v=spf1 a:museum", "spf.syntax.bad_domain", "a:museum"),
        ("v=spf1 a:192.0.2.1", "spf.syntax.bad_domain", "a:192.0.2.1"),
        ("v=spf1 a:example.123", "spf.syntax.bad_domain", "a:example.123"),
        ("v=spf1 mx:example.-com", "spf.syntax.bad_domain", "mx:example.-com"),
        ("v=spf1 include:example.com/24", "spf.syntax.bad_domain", "include:example.com/24"),
        ("v=spf1 redirect=-all", "spf.syntax.bad_domain", "redirect=-all"),
        ("v=spf1 exists:%{d}com", "spf.syntax.bad_domain", "exists:%{d}com"),
        ("v=spf1 exists:%(ir).bl.example", "spf.syntax.bad_macro", "exists:%(ir).bl.example"),
        ("v=spf1 exists:foo%.example.com", "spf.syntax.bad_macro", "exists:foo%.example.com"),
        ("v=spf1 a:%{a}.example.com", "spf.syntax.bad_macro", "a:%{a}.example.com"),
        ("v=spf1 a:%{d0}.example.com", "spf.syntax.bad_macro", "a:%{d0}.example.com"),
        ("v=spf1 a:%{d.example.com", "spf.syntax.bad_macro", "a:%{d.example.com"),
        ("v=spf1 exp=%{r}.example.com", "spf.syntax.exp_only_macro", "exp=%{r}.example.com"),
        ("v=spf1 a:%{c}.example.com", "spf.syntax.exp_only_macro", "a:%{c}.example.com"),
        ("v=spf1 foo=%abc", "spf.syntax.bad_macro", "foo=%abc"),
        ("v=spf1 redirect=a.example redirect=b.example", "spf.syntax.duplicate_modifier",
         "redirect=b.example"),
        ("v=spf1 exp=a.example EXP=b.example", "spf.syntax.duplicate_modifier", "EXP=b.example"),
        ("v=spf1 a:ctrl.example.com\rptr", "spf.syntax.bad_character", "a:ctrl.example.com\rptr"),
        ("v=spf1 ip4:192.0.2.5\n", "spf.syntax.bad_character", "ip4:192.0.2.5\n"),
        ("v=spf1 a:foo.example.com\0", "spf.syntax.bad_character", "a:foo.example.com\0"),
        ("v=spf1 a:ümlaut.example", "spf.syntax.non_ascii", "a:ümlaut.example"),
        ("v=spf10 -all", "spf.syntax.version", ""),
    ],
)  # fmt: skip
def test_syntax_errors(record: str, code: str, term: str) -> None:
    with pytest.raises(SpfSyntaxError) as info:
        parse_record(record)
    assert info.value.code == code
    assert info.value.term == term
    assert info.value.message


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1",
        "v=spf1 ",
        "v=spf1  a   -all ",
        "v=spf1 a:foo:bar/baz.example.com",
        "v=spf1 a:foo.example.xn--zckzah",
        "v=spf1 a:example.com. -all",
        "v=spf1 moo.cow-far_out=man:dog/cat -all",
        "v=spf1 default=+",
        "v=spf1 a:%{H} -all",
        "v=spf1 exists:%{l2r+-}.user.%{d2}",
        "v=spf1 a:macro%%percent%_%_space%-url-space.example.com",
        "v=spf1 ip6:::1.1.1.1/0 ip6:2001:DB8::/32",
        "v=spf1 x=",
        "v=spf1 exists:%{d9999999999999999999999}",
    ],
)
def test_valid_records(record: str) -> None:
    parse_record(record)


# -- macros -------------------------------------------------------------------------------------

RFC_VALUES = MacroValues(
    s="strong-bad@email.example.com",
    l="strong-bad",
    o="email.example.com",
    i="192.0.2.3",
    v="in-addr",
    h="mail.example.org",
    c="192.0.2.3",
    r="receiver.example",
    t="1700000000",
    p="mx.example.org",
)


@pytest.mark.parametrize(
    ("macro", "expansion"),
    [  # RFC 7208 section 7.4
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
        ("%{p}", "mx.example.org"),
        ("%{h}", "mail.example.org"),
        ("%%%_%-", "% %20"),
        ("%{D2}", "example.com"),
        ("%{S}", "strong-bad%40email.example.com"),
        ("%{L1R-}", "strong"),
        ("%{d01}", "com"),
        ("%{d999}", "email.example.com"),
    ],
)
def test_rfc_macro_examples(macro: str, expansion: str) -> None:
    ms = parse_macro_string(macro, letters=DOMAIN_LETTERS)
    assert expand(ms, RFC_VALUES, "email.example.com") == expansion


def test_macro_ipv6_dotted_nibbles() -> None:
    steps: list[str] = []

    def answer(q: Query) -> Answer:
        steps.append(q.name)
        if q.rtype is T and q.name == "example.com":
            return txt("v=spf1 exists:%{ir}.%{v}._spf.%{d2} -all")
        return Answer(Rcode.NXDOMAIN)

    run_sync(check_host("2001:db8::cb01", "example.com", "a@example.com", ""), answer)
    assert steps[1] == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    )


def test_exp_letters_and_url_escaping() -> None:
    ms = parse_macro_string("%{c} %{r} %{t} %{L}", letters=EXP_LETTERS, explain=True)
    values = _values(l="~jack&jill=up-a_b3.c")
    assert expand(ms, values, "d.example") == (
        "192.0.2.3 receiver.example 1700000000 ~jack%26jill%3Dup-a_b3.c"
    )
    with pytest.raises(MacroError):
        parse_macro_string("%{c}", letters=DOMAIN_LETTERS)


def _values(**kw: str) -> MacroValues:
    base = {f: getattr(RFC_VALUES, f) for f in ("s", "l", "o", "i", "v", "h", "c", "r", "t", "p")}
    base.update(kw)
    return MacroValues(**base)


def test_explain_string_allows_spaces_but_domain_spec_does_not() -> None:
    parse_macro_string("a b", letters=EXP_LETTERS, explain=True)
    with pytest.raises(MacroError):
        parse_macro_string("a b", letters=DOMAIN_LETTERS)


# -- names --------------------------------------------------------------------------------------


def test_query_name_truncates_left_and_rejects_bad_labels() -> None:
    long = ".".join(["abcdefghi"] * 30) + ".example.com"
    name = query_name(long)
    assert name is not None and len(name) <= 253 and name.endswith(".example.com")
    assert query_name("Example.COM.") == "example.com"
    assert query_name("a..example.com") is None
    assert query_name("x" * 64 + ".example.com") is None
    assert query_name("") is None


def test_mailfrom_identity() -> None:
    assert mailfrom_identity("", "helo.example") == ("helo.example", "postmaster@helo.example")
    assert mailfrom_identity("<>", "helo.example") == ("helo.example", "postmaster@helo.example")
    assert mailfrom_identity("@example.net", "h") == ("example.net", "postmaster@example.net")
    assert mailfrom_identity("<a@b.example>", "h") == ("b.example", "a@b.example")


# -- evaluation ---------------------------------------------------------------------------------


def test_pass_fail_softfail_neutral() -> None:
    rec = "v=spf1 ip4:192.0.2.0/24 ~ip4:198.51.100.0/24 ?ip4:203.0.113.0/24 -all"
    table = {("example.com", T): txt(rec)}
    assert check(table, ip="192.0.2.99").result is Verdict.PASS
    assert check(table, ip="198.51.100.1").result is Verdict.SOFTFAIL
    assert check(table, ip="203.0.113.1").result is Verdict.NEUTRAL
    r = check(table, ip="10.0.0.1")
    assert r.result is Verdict.FAIL and r.mechanism == "-all" and r.explanation == ""
    assert check({("example.com", T): txt("v=spf1 ip4:10.0.0.0/8")}).result is Verdict.NEUTRAL


def test_none_temperror_and_bad_domains() -> None:
    assert check({}).result is Verdict.NONE
    assert check({("example.com", T): txt("hello", "v=spf10 -all")}).result is Verdict.NONE
    r = check({("example.com", T): TIMEOUT})
    assert r.result is Verdict.TEMPERROR
    assert r.dns_failure is not None and r.dns_failure.rcode == "TIMEOUT"
    assert r.problem is not None and r.problem.code == "spf.dns_error"
    rec = Recorder({})
    for bad in ("localhost", "a..example.com", "x" * 64 + ".example.com", "[192.0.2.1]", "1.2.3.4"):
        res = rec.run(check_host("192.0.2.1", bad, "a@" + bad, ""))
        assert res.result is Verdict.NONE
    assert rec.queries == []  # 4.3: malformed domains are not even looked up


def test_multiple_records_permerror() -> None:
    r = check({("example.com", T): txt("v=spf1 -all", "V=SPF1 +all", "other")})
    assert r.result is Verdict.PERMERROR
    assert r.problem is not None and r.problem.code == "spf.multiple_records"


def test_syntax_error_carries_term_and_code() -> None:
    r = check({("example.com", T): txt("v=spf1 ip4:192.0.2.10 a/33 -all")})
    assert r.result is Verdict.PERMERROR  # even though ip4 would have matched first (4.6)
    assert r.syntax is not None and r.syntax.code == "spf.syntax.bad_cidr"
    assert r.syntax.term == "a/33" and r.syntax_domain == "example.com"
    assert r.to_dict()["syntax"]["term"] == "a/33"


def test_strings_are_joined_without_spaces() -> None:
    table = {("example.com", T): txt(("v=spf1 ip4:", "192.0.2.10 -all"))}
    assert check(table).result is Verdict.PASS


def test_include_semantics() -> None:
    base = {
        ("pass.example", T): txt("v=spf1 +all"),
        ("fail.example", T): txt("v=spf1 -all"),
        ("soft.example", T): txt("v=spf1 ~all"),
        ("neutral.example", T): txt("v=spf1 ?all"),
        ("perm.example", T): txt("v=spf1 bogus"),
        ("temp.example", T): TIMEOUT,
        ("notspf.example", T): txt("just text"),
    }

    def run(target: str) -> SpfResult:
        return check({**base, ("example.com", T): txt(f"v=spf1 include:{target} -all")})

    assert run("pass.example").result is Verdict.PASS
    for t in ("fail.example", "soft.example", "neutral.example"):
        assert run(t).result is Verdict.FAIL  # no match, falls through to -all
    assert run("perm.example").result is Verdict.PERMERROR
    r = run("temp.example")
    assert r.result is Verdict.TEMPERROR and r.dns_failure is not None
    assert r.dns_failure.name == "temp.example"
    for missing in ("notspf.example", "nxdomain.example"):
        r = run(missing)
        assert r.result is Verdict.PERMERROR
        assert r.problem is not None and r.problem.code == "spf.include_no_spf"


def test_redirect_and_exp() -> None:
    table = {
        ("example.com", T): txt("v=spf1 ip4:10.0.0.1 redirect=_spf.example.net exp=e1.example.com"),
        ("_spf.example.net", T): txt("v=spf1 -all exp=why.%{d}"),
        ("why._spf.example.net", T): txt("%{i} is not one of %{d}'s hosts; see %{o}"),
        ("e1.example.com", T): txt("never used"),
    }
    r = check(table)
    assert r.result is Verdict.FAIL
    assert r.explanation == "192.0.2.10 is not one of _spf.example.net's hosts; see example.com"
    r = check({("example.com", T): txt("v=spf1 redirect=nothing.example")})
    assert r.result is Verdict.PERMERROR
    assert r.problem is not None and r.problem.code == "spf.redirect_missing"
    # "all" wins over redirect, wherever it sits
    assert check({("example.com", T): txt("v=spf1 redirect=x.example ~all")}).result is (
        Verdict.SOFTFAIL
    )


@pytest.mark.parametrize(
    "exp_answer",
    [TIMEOUT, NODATA, Answer(Rcode.NXDOMAIN), txt("one", "two"), txt("bad %{x} macro"), txt("é")],
)
def test_explanation_failures_are_empty(exp_answer: Answer) -> None:
    table = {
        ("example.com", T): txt("v=spf1 -all exp=exp.example.com"),
        ("exp.example.com", T): exp_answer,
    }
    r = check(table)
    assert r.result is Verdict.FAIL and r.explanation == ""


def test_exp_letters_receiver_and_time() -> None:
    table = {
        ("example.com", T): txt("v=spf1 -all exp=exp.example.com"),
        ("exp.example.com", T): txt("%{c} at %{t} by %{r} for %{s}"),
    }
    r = check(table, ip="::ffff:192.0.2.10", receiver="mx.receiver.example", now=1234.9)
    assert r.explanation == "192.0.2.10 at 1234 by mx.receiver.example for user@example.com"


def test_lookup_limit() -> None:
    ten = {("example.com", T): txt("v=spf1 " + " ".join(["a"] * 9) + " include:x.example -all")}
    ten[("x.example", T)] = txt("v=spf1 ip4:192.0.2.10")
    ten[("example.com", A)] = addrs("203.0.113.1")
    r = check(ten)
    assert r.result is Verdict.PASS and r.lookups == 10
    eleven = dict(ten)
    eleven[("example.com", T)] = txt("v=spf1 " + " ".join(["a"] * 10) + " include:x.example -all")
    r = check(eleven)
    assert r.result is Verdict.PERMERROR and r.lookups == 11
    assert r.problem is not None and r.problem.code == "spf.too_many_lookups"
    # terms after a match are not evaluated, so they do not count
    fine = {("example.com", T): txt("v=spf1 ip4:192.0.2.10 " + " ".join(["a"] * 20))}
    assert check(fine).result is Verdict.PASS


def test_void_lookup_limit() -> None:
    two = {("example.com", T): txt("v=spf1 a:nx1.example a:nx2.example ?all")}
    r = check(two)
    assert r.result is Verdict.NEUTRAL and r.void_lookups == 2
    three = {("example.com", T): txt("v=spf1 a:nx1.example mx:nx2.example exists:nx3.example ?all")}
    r = check(three)
    assert r.result is Verdict.PERMERROR
    assert r.problem is not None and r.problem.code == "spf.too_many_void_lookups"


def test_a_and_mx_with_dual_cidr() -> None:
    table = {
        ("example.com", T): txt("v=spf1 a/24//64 -all"),
        ("example.com", A): addrs("192.0.2.200"),
        ("example.com", AAAA): addrs("2001:db8:1:2::1"),
    }
    assert check(table, ip="192.0.2.10").result is Verdict.PASS
    assert check(table, ip="192.0.3.10").result is Verdict.FAIL
    assert check(table, ip="2001:db8:1:2:ffff::1").result is Verdict.PASS
    assert check(table, ip="2001:db8:1:3::1").result is Verdict.FAIL
    mx = {
        ("example.com", T): txt("v=spf1 mx:example.net/30 -all"),
        ("example.net", MXT): Answer(
            Rcode.NOERROR, (MX(20, "b.example.net"), MX(10, "a.example.net"))
        ),
        ("a.example.net", A): addrs("198.51.100.1"),
        ("b.example.net", A): addrs("192.0.2.9"),
    }
    rec = Recorder(mx)
    assert (
        rec.run(check_host("192.0.2.10", "example.com", "u@example.com", "h")).result
        is Verdict.PASS
    )
    # both exchanges are resolved in one batch
    assert {q.name for q in rec.batches[2]} == {"a.example.net", "b.example.net"}


def test_mx_limits_and_failures() -> None:
    many = {
        ("example.com", T): txt("v=spf1 mx -all"),
        ("example.com", MXT): Answer(
            Rcode.NOERROR, tuple(MX(i, f"mx{i}.example.com") for i in range(11))
        ),
    }
    r = check(many)
    assert r.result is Verdict.PERMERROR and r.problem is not None
    assert r.problem.code == "spf.too_many_mx"
    null_mx = {
        ("example.com", T): txt("v=spf1 mx ?all"),
        ("example.com", MXT): Answer(Rcode.NOERROR, (MX(0, ""),)),
    }
    assert check(null_mx).result is Verdict.NEUTRAL
    failing = {
        ("example.com", T): txt("v=spf1 mx -all"),
        ("example.com", MXT): Answer(Rcode.NOERROR, (MX(0, "mx.example.com"),)),
        ("mx.example.com", A): TIMEOUT,
    }
    assert check(failing).result is Verdict.TEMPERROR


def test_ipv4_mapped_client_is_ipv4() -> None:
    table = {
        ("example.com", T): txt("v=spf1 a ip6:::ffff:0:0/96 -all"),
        ("example.com", A): addrs("192.0.2.10"),
    }
    rec = Recorder(table)
    r = rec.run(check_host("::ffff:192.0.2.10", "example.com", "u@example.com", "h"))
    assert r.result is Verdict.PASS
    assert Query("example.com", A) in rec.queries
    assert all(q.rtype is not AAAA for q in rec.queries)
    rec2 = Recorder({("example.com", T): txt("v=spf1 ip6:::ffff:0:0/96 -all")})
    assert rec2.run(check_host("::ffff:192.0.2.10", "example.com", "u@x.example", "h")).result is (
        Verdict.FAIL
    )


def test_exists_asks_for_a_even_for_ipv6() -> None:
    table = {
        ("example.com", T): txt("v=spf1 exists:%{l}.ok.example.com -all"),
        ("user.ok.example.com", A): addrs("127.0.0.2"),
    }
    rec = Recorder(table)
    r = rec.run(check_host("2001:db8::1", "example.com", "user@example.com", "h"))
    assert r.result is Verdict.PASS
    assert rec.queries[-1] == Query("user.ok.example.com", A)


def test_ptr_validation_and_limit() -> None:
    ip = "192.0.2.10"
    rev = "10.2.0.192.in-addr.arpa"
    table = {
        ("example.com", T): txt("v=spf1 ptr -all"),
        (rev, PTR): Answer(Rcode.NOERROR, ("mail.example.com", "fake.example.com")),
        ("mail.example.com", A): addrs("192.0.2.10"),
        ("fake.example.com", A): addrs("198.51.100.1"),
    }
    assert check(table, ip=ip).result is Verdict.PASS
    unconfirmed = {**table, ("mail.example.com", A): addrs("198.51.100.2")}
    assert check(unconfirmed, ip=ip).result is Verdict.FAIL
    # only the first 10 PTR names are looked at
    names = (*(f"h{i}.other.example" for i in range(10)), "mail.example.com")
    limited = {**table, (rev, PTR): Answer(Rcode.NOERROR, names)}
    limited.update({(n, A): addrs(ip) for n in names})
    assert check(limited, ip=ip).result is Verdict.FAIL
    # a failed PTR lookup is no match, not temperror (5.5)
    assert check({**table, (rev, PTR): TIMEOUT}, ip=ip).result is Verdict.FAIL


def test_p_macro() -> None:
    ip = "192.0.2.10"
    table = {
        ("example.com", T): txt("v=spf1 -all exp=exp.example.com"),
        ("exp.example.com", T): txt("connect from %{p}"),
        ("10.2.0.192.in-addr.arpa", PTR): Answer(
            Rcode.NOERROR, ("other.example.net", "mx.example.com")
        ),
        ("other.example.net", A): addrs(ip),
        ("mx.example.com", A): addrs(ip),
    }
    assert check(table, ip=ip).explanation == "connect from mx.example.com"
    table[("mx.example.com", A)] = NODATA
    assert check(table, ip=ip).explanation == "connect from other.example.net"
    table[("other.example.net", A)] = NODATA
    assert check(table, ip=ip).explanation == "connect from unknown"


def test_loops_are_permerror() -> None:
    table = {
        ("example.com", T): txt("v=spf1 include:a.example -all"),
        ("a.example", T): txt("v=spf1 include:b.example"),
        ("b.example", T): txt("v=spf1 redirect=example.com"),
    }
    r = check(table)
    assert r.result is Verdict.PERMERROR and r.problem is not None
    assert r.problem.code == "spf.loop"


def test_invalid_target_names_do_not_match() -> None:
    table = {("example.com", T): txt("v=spf1 a:%{l}.example.com -all")}
    rec = Recorder(table)
    sender = "x" * 70 + "@example.com"
    assert rec.run(check_host("192.0.2.1", "example.com", sender, "h")).result is Verdict.FAIL
    assert len(rec.queries) == 1


def test_trace_and_to_dict() -> None:
    table = {
        ("example.com", T): txt("v=spf1 include:_spf.example.net -all"),
        ("_spf.example.net", T): txt("v=spf1 ip4:192.0.2.0/24"),
    }
    r = check(table, trace=True)
    assert r.result is Verdict.PASS and r.mechanism == "include:_spf.example.net"
    assert r.trace is not None
    assert r.trace[0] == "example.com: v=spf1 include:_spf.example.net -all"
    assert any("_spf.example.net: v=spf1 ip4:192.0.2.0/24" in t for t in r.trace)
    assert r.trace[-1] == "result: pass"
    d = r.to_dict()
    assert d["result"] == "pass" and d["lookups"] == 1 and d["problem"] is None
    assert d["trace"] == r.trace
    # without a trace (the bulk default) the verdict is the same and the record has no trace
    quiet = check(table)
    assert quiet.trace is None and "trace" not in quiet.to_dict()
    assert (quiet.result, quiet.mechanism, quiet.lookups) == (r.result, r.mechanism, r.lookups)


def test_check_mailfrom_uses_helo_for_null_sender() -> None:
    table = {
        ("helo.example.com", T): txt("v=spf1 -all exp=e.example.com"),
        ("e.example.com", T): txt("%{l}"),
    }
    r = run_sync(check_mailfrom("192.0.2.1", "", "helo.example.com"), answers_from(table))
    assert r.result is Verdict.FAIL and r.explanation == "postmaster"


def test_bad_ip_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        run_sync(check_host("not-an-ip", "example.com", "a@example.com"), answers_from({}))


# -- properties ---------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "a", "mx", "ptr", "all", "include:", "exists:", "ip4:", "ip6:", "redirect=", "exp=",
        "x=", "+", "-", "~", "?", ":", "/", "//", "%{", "}", "%%", "%_", "%-", "%", "d", "i",
        "l2r-", "ir", "1", "24", "128", "192.0.2.1", "::1", ".", "example.com", "e.x", " ",
        "=", "\t", "é", "\x00",
    ]
)  # fmt: skip
_RECORDS = st.one_of(
    st.text(max_size=80),
    st.lists(_PIECES, max_size=25).map(lambda p: "v=spf1 " + "".join(p)),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(
        lambda t: "v=spf1 " + t
    ),
)


@settings(max_examples=400, deadline=None)
@given(_RECORDS)
def test_parser_only_raises_its_own_error(text: str) -> None:
    try:
        rec = parse_record(text)
    except SpfSyntaxError as exc:
        assert exc.code.startswith("spf.syntax.")
        assert str(exc)
    else:
        assert rec.text == text


def _random_zone(record: str, other: str, rcodes: list[Rcode]) -> Callable[[Query], Answer]:
    def answer(q: Query) -> Answer:
        h = sum(map(ord, q.name)) + int(q.rtype)
        rcode = rcodes[h % len(rcodes)] if rcodes else Rcode.NOERROR
        if rcode is not Rcode.NOERROR:
            return Answer(rcode)
        if q.rtype is T:
            return txt(record if q.name == "example.com" else other)
        if q.rtype is A:
            return addrs("192.0.2.1")
        if q.rtype is AAAA:
            return addrs("2001:db8::1")
        if q.rtype is MXT:
            return Answer(Rcode.NOERROR, (MX(10, "mx.example.com"),))
        if q.rtype is PTR:
            return Answer(Rcode.NOERROR, ("mx.example.com",))
        return NODATA

    return answer


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _RECORDS,
    _RECORDS,
    st.lists(st.sampled_from([Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.SERVFAIL]), max_size=3),
    st.sampled_from(["192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"]),
    st.text(max_size=20),
)
def test_evaluator_always_returns_a_result(
    record: str, other: str, rcodes: list[Rcode], ip: str, local: str
) -> None:
    step = check_host(ip, "example.com", f"{local}@example.com", "helo.example", now=0)
    r = run_sync(step, _random_zone(record, other, rcodes))
    assert isinstance(r.result, Verdict)
    assert r.lookups <= 11 and r.void_lookups <= 3
    if r.result in (Verdict.PERMERROR, Verdict.TEMPERROR):
        assert r.problem is not None
    r.to_dict()


# -- the include memo ---------------------------------------------------------------------------


def lived(table: dict[tuple[str, RType], Answer]) -> dict[tuple[str, RType], Answer]:
    """The table with TTLs, as a resolver returns answers (the memo keeps nothing of TTL 0)."""
    return {k: dataclasses.replace(v, ttl=300) for k, v in table.items()}


PROVIDER = {
    ("_spf.prov.example", T): txt("v=spf1 include:_nb.prov.example ~all"),
    ("_nb.prov.example", T): txt("v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 ~all"),
    ("a.example", T): txt("v=spf1 include:_spf.prov.example -all"),
    ("b.example", T): txt("v=spf1 mx include:_spf.prov.example -all"),
}


def memo_run(rec: Recorder, memo: IncludeMemo, ip: str, domain: str, sender: str = "") -> SpfResult:
    return rec.run(check_host(ip, domain, sender or f"u@{domain}", "h", memo=memo))


def test_memo_reuses_an_include_verdict_and_saves_its_queries() -> None:
    rec = Recorder(lived(PROVIDER))
    memo = IncludeMemo()
    first = memo_run(rec, memo, "192.0.2.7", "a.example")
    asked = len(rec.queries)
    second = memo_run(rec, memo, "192.0.2.7", "b.example")
    plain = Recorder(lived(PROVIDER)).run(check_host("192.0.2.7", "b.example", "u@b.example", "h"))
    assert first.result is second.result is Verdict.PASS
    assert (second.result, second.mechanism, second.lookups) == (
        plain.result,
        plain.mechanism,
        plain.lookups,
    )
    later = [q.name for q in rec.queries[asked:]]
    assert "_spf.prov.example" not in later and "_nb.prov.example" not in later
    assert memo.hits == 1
    # another address is another verdict: evaluated, not reused
    other = memo_run(rec, memo, "203.0.113.9", "b.example")
    assert other.result is Verdict.FAIL and memo.hits == 1


def test_memo_keeps_the_lookup_limit() -> None:
    table = {
        **PROVIDER,
        # 9 lookups, then an include worth 2 more: the 11th is over the limit
        ("c.example", T): txt(
            "v=spf1 "
            + " ".join(f"a:h{i}.c.example" for i in range(9))
            + " include:_spf.prov.example -all"
        ),
        **{(f"h{i}.c.example", A): addrs("203.0.113.1") for i in range(9)},
    }
    rec = Recorder(lived(table))
    memo = IncludeMemo()
    assert memo_run(rec, memo, "192.0.2.7", "a.example").result is Verdict.PASS
    limited = memo_run(rec, memo, "192.0.2.7", "c.example")
    assert limited.result is Verdict.PERMERROR and limited.problem is not None
    assert limited.problem.code == "spf.too_many_lookups"
    assert memo.hits == 0


def test_memo_keeps_the_void_lookup_limit() -> None:
    table = {
        ("_spf.prov.example", T): txt(
            "v=spf1 a:nx1.prov.example a:nx2.prov.example ip4:192.0.2.0/24 -all"
        ),
        ("a.example", T): txt("v=spf1 include:_spf.prov.example -all"),
        ("d.example", T): txt("v=spf1 a:nx0.d.example include:_spf.prov.example -all"),
    }
    rec = Recorder(lived(table))
    memo = IncludeMemo()
    ok = memo_run(rec, memo, "192.0.2.7", "a.example")
    assert ok.result is Verdict.PASS and ok.void_lookups == 2
    voided = memo_run(rec, memo, "192.0.2.7", "d.example")
    assert voided.result is Verdict.PERMERROR and voided.problem is not None
    assert voided.problem.code == "spf.too_many_void_lookups"


def test_memo_skips_subtrees_that_expand_macros() -> None:
    table = {
        ("_spf.prov.example", T): txt("v=spf1 exists:%{l}.allow.prov.example -all"),
        ("alice.allow.prov.example", A): addrs("127.0.0.2"),
        ("a.example", T): txt("v=spf1 include:_spf.prov.example -all"),
    }
    rec = Recorder(lived(table))
    memo = IncludeMemo()
    assert memo_run(rec, memo, "192.0.2.7", "a.example", "alice@a.example").result is Verdict.PASS
    assert memo_run(rec, memo, "192.0.2.7", "a.example", "bob@a.example").result is Verdict.FAIL
    assert memo.hits == 0


def test_memo_entries_live_no_longer_than_their_answers() -> None:
    now = [1000.0]
    memo = IncludeMemo(clock=lambda: now[0])
    rec = Recorder(lived(PROVIDER))
    memo_run(rec, memo, "192.0.2.7", "a.example")
    now[0] += 299
    memo_run(rec, memo, "192.0.2.7", "b.example")
    assert memo.hits == 1
    now[0] += 2  # past the 300 s TTL of the provider's answers
    asked = len(rec.queries)
    memo_run(rec, memo, "192.0.2.7", "a.example")
    assert memo.hits == 1 and "_nb.prov.example" in [q.name for q in rec.queries[asked:]]


def test_memo_is_bounded() -> None:
    memo = IncludeMemo(max_entries=2)
    rec = Recorder(lived(PROVIDER))
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        memo_run(rec, memo, ip, "a.example")
    assert len(memo) == 2


_IPS = ["192.0.2.1", "198.51.100.9", "2001:db8::5"]


@st.composite
def spf_worlds(draw: st.DrawFn) -> dict[tuple[str, RType], Answer]:
    """Small random SPF worlds: include chains, shared providers and the odd loop, redirects,
    void lookups, the lookup limit, macros, missing records: nothing the include memo may
    change. Includes point mostly down the list (shared subtrees, as providers are), so that
    verdicts are remembered and reused often."""
    names = [f"d{i}.example" for i in range(6)]
    table: dict[tuple[str, RType], Answer] = {}
    for i, name in enumerate(names):
        kind = draw(st.sampled_from(["record"] * 4 + ["none", "nxdomain"]))
        if kind == "nxdomain":
            continue
        if kind == "none":
            table[(name, T)] = txt("not spf")
            continue
        below = names[i + 1 :] or names
        include = st.one_of(
            st.sampled_from(below), st.sampled_from(below), st.sampled_from(names)
        ).map(lambda n: f"include:{n}")
        term = st.one_of(
            include,
            include,
            st.sampled_from(
                ["ip4:192.0.2.0/25", "ip4:198.51.100.9", "ip6:2001:db8::/64", "mx", "a"]
            ),
            st.sampled_from(["a:nx1.example", "a:nx2.example", "a:host.example"]),
            st.sampled_from(["exists:%{i}.allow.example", "exists:%{l}.allow.example", "ptr"]),
        )
        terms = draw(st.lists(term, max_size=4))
        tail = draw(st.sampled_from(["-all", "~all", "?all", "", "redirect"]))
        if tail == "redirect":
            tail = f"redirect={draw(st.sampled_from(below))}"
        table[(name, T)] = txt(" ".join(["v=spf1", *terms, tail]).strip())
        table[(name, MXT)] = Answer(Rcode.NOERROR, (MX(10, "host.example"),))
        table[(name, A)] = addrs("198.51.100.9")
    table[("host.example", A)] = addrs("192.0.2.77")
    table[("host.example", AAAA)] = addrs("2001:db8::5")
    table[("1.2.0.192.allow.example", A)] = addrs("127.0.0.2")
    table[("alice.allow.example", A)] = addrs("127.0.0.2")
    return lived(table)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spf_worlds(),
    st.lists(
        st.tuples(
            st.sampled_from(_IPS),
            st.sampled_from([f"d{i}.example" for i in range(6)]),
            st.sampled_from(["alice", "bob"]),
        ),
        min_size=4,
        max_size=16,
    ),
)
def test_include_memo_never_changes_an_outcome(
    world: dict[tuple[str, RType], Answer], checks: list[tuple[str, str, str]]
) -> None:
    memo = IncludeMemo()
    answer = answers_from(world)
    for ip, domain, local in checks:
        sender = f"{local}@{domain}"
        want = run_sync(check_host(ip, domain, sender, "h"), answer)
        got = run_sync(check_host(ip, domain, sender, "h", memo=memo), answer)
        keys = ("result", "mechanism", "lookups", "void_lookups", "explanation")
        assert [getattr(got, k) for k in keys] == [getattr(want, k) for k in keys]
        assert (got.problem and got.problem.code) == (want.problem and want.problem.code)
    target(float(memo.hits))  # steer the search toward worlds where the memo is used
