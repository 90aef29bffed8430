"""The SPF record to publish instead: one corrected record for everything wrong with the
domain's own record that a change to it can mend.

In order, each step only when needed:

1. terms that can never match go (``spf.ip_not_public``), host bits are cleared
   (``spf.ip_host_bits``), and ``+all`` / ``?all`` become ``~all``;
2. terms whose lookups find nothing go (a void ``a``/``mx``/``exists``, an include of a name
   without SPF): they cost a lookup, match nothing, and count towards the void limit of 2;
3. while the record takes more than 10 lookups (or more than 2 void ones), the include costing
   the most is replaced: by its addresses (ip4:/ip6:) when its whole tree is addresses only,
   else by its own terms (one lookup saved, and its nested includes become candidates).
   Only records whose terms all pass (no ``-``/``~``/``?`` term other than ``all``, no
   redirect, no macros) are inlined: anything else would change what the record matches.

The result is counted again as a receiver would; when it is still over a limit there is no
fix (the include tree must shrink at the provider). Flattened addresses go stale when the
provider changes them, which the fix's note says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bulkauth.core.common.model import Answer, DnsChange, Fix, Query, RType
from bulkauth.core.spf.evaluate import LOOKUP_LIMIT, VOID_LIMIT, query_name
from bulkauth.core.spf.record import SpfRecord, SpfSyntaxError, try_parse_record
from bulkauth.core.spf.terms import check_ip_term

#: inlining steps tried before giving up (a hostile tree cannot loop the fixer)
MAX_STEPS = 50


@dataclass(frozen=True, slots=True)
class Node:
    """What the fixer needs of an included domain: its record text and the lookups its tree
    takes (as the audit counted them)."""

    record: str | None
    status: str
    lookups: int
    void_lookups: int


@dataclass(slots=True)
class Term:
    text: str
    kind: str  # include, a, mx, exists, ptr, ip4, ip6, all, redirect, modifier
    target: str | None = None
    qualifier: str = "+"


class Fixer:
    """Mends one domain's SPF record; see the module docstring."""

    def __init__(
        self,
        domain: str,
        nodes: dict[str, Node],
        answer: Callable[[Query], Answer | None],
        public: bool,
    ) -> None:
        self.domain = domain
        self.nodes = nodes
        self.answer = answer
        self.public = public
        self.done: list[str] = []

    def fix(self, record: str) -> Fix | None:
        parsed = try_parse_record(record)
        if isinstance(parsed, SpfSyntaxError):
            return None
        terms = self._terms(parsed, self.domain)
        if terms is None:
            return None
        terms = self._mend_terms(terms)
        terms = self._drop_void(terms)
        lookups, voids = self._count(terms)
        flattened: list[str] = []
        steps = 0
        while (lookups > LOOKUP_LIMIT or voids > VOID_LIMIT) and steps < MAX_STEPS:
            steps += 1
            expanded = self._expand_costliest(terms, flattened)
            if expanded is None:
                return None
            terms = self._drop_void(_dedupe(expanded))
            lookups, voids = self._count(terms)
        if lookups > LOOKUP_LIMIT or voids > VOID_LIMIT:
            return None
        new = " ".join(["v=spf1", *(t.text for t in terms)])
        if new == record or not self.done:
            return None
        note = None
        if flattened:
            note = (
                f"the ip4:/ip6: terms copied from {', '.join(flattened)} go stale when the "
                "provider changes its addresses: audit again regularly, or ask the provider "
                "for an include with fewer lookups"
            )
        why = _sentence(self.done, lookups, voids)
        return Fix((DnsChange(self.domain, "TXT", new, record),), why, note)

    # -- terms -----------------------------------------------------------------------------------

    def _terms(self, rec: SpfRecord, domain: str) -> list[Term] | None:
        out: list[Term] = []
        for m in rec.mechanisms:
            target = None
            if m.kind in ("include", "a", "mx", "exists", "ptr"):
                if m.domain is None:
                    target = domain
                elif m.domain.literal is not None:
                    target = query_name(m.domain.literal)
                else:
                    target = None  # macros: left as written, never inlined
            out.append(Term(m.text, m.kind, target, m.qualifier))
        if rec.redirect is not None:
            out.append(Term(rec.redirect.text, "redirect", None))
        if rec.exp is not None:
            out.append(Term(rec.exp.text, "modifier"))
        out += [Term(mod.text, "modifier") for mod in rec.unknown_modifiers]
        return out

    def _mend_terms(self, terms: list[Term]) -> list[Term]:
        out: list[Term] = []
        for t in terms:
            if t.kind == "all" and t.qualifier in ("+", "?"):
                self.done.append(f"'{t.text}' becomes '~all' (list every sender, then use -all)")
                out.append(Term("~all", "all", qualifier="~"))
                continue
            if t.kind in ("ip4", "ip6"):
                parsed = try_parse_record("v=spf1 " + t.text)
                if not isinstance(parsed, SpfSyntaxError) and parsed.mechanisms:
                    findings = check_ip_term(parsed.mechanisms[0], self.public)
                    if any(f.corrected is None for f in findings):
                        self.done.append(f"'{t.text}' goes (it can never match)")
                        continue
                    if findings and findings[0].corrected:
                        self.done.append(f"'{t.text}' becomes '{findings[0].corrected}'")
                        out.append(Term(findings[0].corrected, t.kind, qualifier=t.qualifier))
                        continue
            out.append(t)
        return out

    def _is_void(self, t: Term) -> bool:
        if t.target is None:
            return False
        if t.kind == "include":
            node = self.nodes.get(t.target)
            return node is not None and node.status in ("missing", "no_spf")
        if t.kind not in ("a", "mx", "exists"):
            return False
        a = self.answer(Query(t.target, RType.MX if t.kind == "mx" else RType.A))
        return a is not None and a.ok and not a.records

    def _drop_void(self, terms: list[Term]) -> list[Term]:
        out = []
        for t in terms:
            if self._is_void(t):
                self.done.append(f"'{t.text}' goes (its lookup finds nothing)")
            else:
                out.append(t)
        return out

    def _cost(self, t: Term) -> tuple[int, int]:
        if t.kind in ("include", "redirect"):
            node = self.nodes.get(t.target or "") if t.target else None
            return (1 + node.lookups, node.void_lookups) if node else (1, 0)
        if t.kind in ("a", "mx", "exists", "ptr"):
            return 1, 1 if self._is_void(t) else 0
        return 0, 0

    def _count(self, terms: list[Term]) -> tuple[int, int]:
        lookups = voids = 0
        for t in terms:
            n, v = self._cost(t)
            lookups, voids = lookups + n, voids + v
        return lookups, voids

    # -- inlining --------------------------------------------------------------------------------

    def _expand_costliest(self, terms: list[Term], flattened: list[str]) -> list[Term] | None:
        candidates = sorted(
            (i for i, t in enumerate(terms) if t.kind == "include" and t.qualifier == "+"),
            key=lambda i: -self._cost(terms[i])[0],
        )
        for i in candidates:
            target = terms[i].target
            if target is None:
                continue
            addresses = self._addresses(target, set())
            if addresses is not None:
                self.done.append(f"'{terms[i].text}' becomes its {len(addresses)} address terms")
                flattened.append(target)
                return [*terms[:i], *(Term(a, a.split(":")[0]) for a in addresses), *terms[i + 1 :]]
            inner = self._inlinable(target)
            if inner is not None:
                self.done.append(f"'{terms[i].text}' becomes its own terms")
                return [*terms[:i], *inner, *terms[i + 1 :]]
        return None

    def _record_terms(self, domain: str) -> list[Term] | None:
        node = self.nodes.get(domain)
        if node is None or node.status != "ok" or node.record is None:
            return None
        parsed = try_parse_record(node.record)
        if isinstance(parsed, SpfSyntaxError) or parsed.redirect is not None:
            return None
        return self._terms(parsed, domain)

    def _inlinable(self, domain: str) -> list[Term] | None:
        """The included record's terms, written to mean the same in the including record."""
        terms = self._record_terms(domain)
        if terms is None:
            return None
        out = []
        for t in terms:
            if t.kind == "all":
                continue  # an include's all only decides that the include does not match
            if t.kind == "modifier" or t.qualifier != "+":
                return None
            if t.kind in ("include", "a", "mx", "exists", "ptr"):
                if t.target is None:
                    return None
                bare = t.kind == t.text.lstrip("+")
                name = t.text.lstrip("+")
                if bare or name.startswith(f"{t.kind}/"):
                    # a bare a/mx means the included domain: name it
                    name = f"{t.kind}:{domain}{name[len(t.kind) :]}"
                out.append(Term(name, t.kind, t.target))
            else:
                out.append(Term(t.text.lstrip("+"), t.kind))
        return out

    def _addresses(self, domain: str, seen: set[str]) -> list[str] | None:
        """ip4:/ip6: terms of a tree made only of addresses and includes; None otherwise."""
        if domain in seen:
            return None
        terms = self._inlinable(domain)
        if terms is None:
            return None
        out: list[str] = []
        for t in terms:
            if t.kind in ("ip4", "ip6"):
                out.append(t.text)
            elif t.kind == "include" and t.target is not None:
                inner = self._addresses(t.target, seen | {domain})
                if inner is None:
                    return None
                out += inner
            else:
                return None
        return list(dict.fromkeys(out))


def _dedupe(terms: list[Term]) -> list[Term]:
    """A term repeated later matches nothing new: only the first stays."""
    seen: set[str] = set()
    out = []
    for t in terms:
        key = t.text.lower().lstrip("+")
        if key in seen:
            continue
        seen.add(key)
        out.append(t)
    return out


def _sentence(done: list[str], lookups: int, voids: int) -> str:
    steps = list(dict.fromkeys(done))
    shown = "; ".join(steps[:6]) + (f"; and {len(steps) - 6} more" if len(steps) > 6 else "")
    counted = any("lookup" in s or "address terms" in s or "own terms" in s for s in steps)
    after = (
        f" It then takes {lookups} of the {LOOKUP_LIMIT} lookups receivers allow, "
        f"{voids} of them void."
        if counted
        else ""
    )
    return f"Publish the mended record: {shown}.{after}"
