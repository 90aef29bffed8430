"""What changed between two runs, one item at a time: pure functions from record dicts to a
``bulkauth.diff/1`` record (or None when nothing a person would act on changed).

Pairing the items of two runs (sorting, reading files or a store) is ``runs.py``'s job; here
two records of the same item are compared. Comparisons are of what the audit *found*, never
of bookkeeping (``line``, ``source``, the selectors tried), so re-running an unchanged world
gives no diff at all.

Direction: a change is ``worse`` when the posture verdict fell, a section went from valid to
missing or invalid (or missing to invalid), or an error or warning code appeared that the
domain did not have; ``better`` for the reverse;
``mixed`` when both happened (it counts as a regression: something got worse); ``neutral``
for changes that are neither (a record's text, a key rotated to one as strong, DNS failing
for a while: ``indeterminate`` says nothing about the configuration).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

SCHEMA = "bulkauth.diff/1"
SECTIONS = ("spf", "dmarc", "dkim", "mx", "mta_sts", "tls_rpt", "bimi")
Direction = Literal["worse", "better", "mixed", "neutral"]

#: posture verdicts from safest to most exposed; nonexistent and indeterminate are not ranked
POSTURE_RANK = {"enforced": 0, "parked": 0, "monitoring": 1, "unprotected": 2, "broken": 3}
#: section states from good to bad; indeterminate (DNS failed) is not ranked
STATE_RANK = {"valid": 0, "missing": 1, "invalid": 2}
#: message verdicts, good to bad, for each result a message record carries
RESULT_RANK = {
    "pass": 0,
    "none": 1,
    "neutral": 1,
    "policy": 1,
    "softfail": 2,
    "temperror": 2,
    "fail": 3,
    "permerror": 3,
}
DISPOSITION_RANK = {"none": 0, "quarantine": 1, "reject": 2}


def domain_key(record: dict[str, Any]) -> str:
    """What pairs a domain record with its counterpart: the A-label domain; for an input that
    is not a domain, the text as written (so it pairs with the same garbage next run)."""
    return str(record.get("domain") or record.get("input") or "")


def message_key(record: dict[str, Any]) -> str:
    """A message is the same message in two runs when its Message-ID is (an archive copied
    elsewhere keeps them); without one, its path and position within the source."""
    mid = record.get("message_id")
    if isinstance(mid, str) and mid.strip():
        return "id:" + mid.strip()
    return f"at:{record.get('path') or record.get('source')}#{record.get('index')}"


def _where(record: dict[str, Any]) -> dict[str, Any]:
    if record.get("schema") == "bulkauth.message/1":
        return {"path": record.get("path"), "index": record.get("index")}
    return {"source": record.get("source"), "line": record.get("line")}


def _kind(record: dict[str, Any]) -> str:
    return "message" if record.get("schema") == "bulkauth.message/1" else "domain"


def added(record: dict[str, Any]) -> dict[str, Any]:
    """The record of an item only the new run has."""
    kind = _kind(record)
    key = message_key(record) if kind == "message" else domain_key(record)
    return {
        "schema": SCHEMA,
        "kind": kind,
        "key": key,
        "change": "added",
        "direction": "neutral",
        "new": {**_where(record), **_verdicts(record)},
    }


def removed(record: dict[str, Any]) -> dict[str, Any]:
    """The record of an item only the old run has."""
    kind = _kind(record)
    key = message_key(record) if kind == "message" else domain_key(record)
    return {
        "schema": SCHEMA,
        "kind": kind,
        "key": key,
        "change": "removed",
        "direction": "neutral",
        "old": {**_where(record), **_verdicts(record)},
    }


def _verdicts(record: dict[str, Any]) -> dict[str, Any]:
    """The headline of an added/removed item, so the diff alone says what arrived or left."""
    if _kind(record) == "message":
        return {"status": record.get("status"), **_message_results(record)}
    posture = record.get("posture") or {}
    return {"status": record.get("status"), "posture": posture.get("verdict")}


# -- domains -------------------------------------------------------------------------------------


def diff_domain(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The changes between two records of one domain; None when none matter."""
    out: dict[str, Any] = {}
    worse = better = False
    if old.get("status") != new.get("status"):
        out["status"] = {"old": old.get("status"), "new": new.get("status")}
    was, now = _verdict(old), _verdict(new)
    if was != now:
        out["posture"] = {"old": was, "new": now}
        w, b = _ranked(POSTURE_RANK, was, now)
        worse, better = worse or w, better or b
    states = {}
    for s in SECTIONS:
        a, b_ = _state(old, s), _state(new, s)
        if a != b_:
            states[s] = {"old": a, "new": b_}
            w, b = _ranked(STATE_RANK, a, b_)
            worse, better = worse or w, better or b
    if states:
        out["sections"] = states
    appeared, resolved = _problem_changes(old, new)
    if appeared or resolved:
        out["problems"] = {"appeared": appeared, "resolved": resolved}
        # by code, not message: "19 lookups" becoming "21 lookups" is neither
        was_codes, now_codes = _weighty_codes(old), _weighty_codes(new)
        worse = worse or bool(now_codes - was_codes)
        better = better or bool(was_codes - now_codes)
    records = _record_changes(old, new)
    if records:
        out["records"] = records
    keys = _dkim_key_changes(old, new)
    if keys:
        out["dkim_keys"] = keys
    tree = _tree_changes(old, new)
    if tree:
        out["spf_tree"] = tree
    if not out:
        return None
    return {
        "schema": SCHEMA,
        "kind": "domain",
        "key": domain_key(new),
        "change": "changed",
        "direction": _direction(worse, better),
        "old": _where(old),
        "new": _where(new),
        **out,
    }


def _direction(worse: bool, better: bool) -> Direction:
    if worse and better:
        return "mixed"
    return "worse" if worse else "better" if better else "neutral"


def _ranked(rank: dict[str, int], old: str | None, new: str | None) -> tuple[bool, bool]:
    """(got worse, got better) when both ends are ranked; neither otherwise."""
    if old is None or new is None or old not in rank or new not in rank:
        return False, False
    return rank[new] > rank[old], rank[new] < rank[old]


def _verdict(record: dict[str, Any]) -> str | None:
    posture = record.get("posture")
    return posture.get("verdict") if isinstance(posture, dict) else None


def _section(record: dict[str, Any], name: str) -> dict[str, Any]:
    s = record.get(name)
    return s if isinstance(s, dict) else {}


def _state(record: dict[str, Any], name: str) -> str | None:
    state = _section(record, name).get("state")
    return state if isinstance(state, str) else None


def problems_of(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every problem of a domain record, each tagged with its section."""
    for s in SECTIONS:
        for p in _section(record, s).get("problems") or ():
            if isinstance(p, dict):
                yield {"section": s, **p}


def _weighty_codes(record: dict[str, Any]) -> set[str]:
    """Codes that say something is wrong (errors and warnings; info only describes)."""
    return {p.get("code", "") for p in problems_of(record) if p.get("severity") != "info"}


def _problem_changes(
    old: dict[str, Any], new: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Problems by (section, code, message): a message names the term or selector at fault,
    so a second void lookup appearing is a change even though the code was there before."""

    def keyed(record: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {
            (p["section"], p.get("code", ""), p.get("message", "")): {
                "section": p["section"],
                "code": p.get("code"),
                "severity": p.get("severity"),
                "message": p.get("message"),
            }
            for p in problems_of(record)
        }

    a, b = keyed(old), keyed(new)
    return [b[k] for k in b if k not in a], [a[k] for k in a if k not in b]


def _mx_texts(record: dict[str, Any]) -> list[str]:
    hosts = _section(record, "mx").get("hosts") or ()
    return sorted(f"{h.get('preference')} {h.get('host') or '.'}" for h in hosts)


def _record_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    a, b = _section(old, "spf").get("records") or [], _section(new, "spf").get("records") or []
    if a != b:
        out["spf"] = {"old": a, "new": b}
    a1, b1 = _section(old, "dmarc").get("record"), _section(new, "dmarc").get("record")
    if a1 != b1:
        out["dmarc"] = {"old": a1, "new": b1}
    a2, b2 = _mx_texts(old), _mx_texts(new)
    if a2 != b2:
        out["mx"] = {"old": a2, "new": b2}
    return out


def _keys(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        str(k.get("selector")): {
            "selector": k.get("selector"),
            "key_sha256": k.get("key_sha256"),
            "key_type": k.get("key_type"),
            "key_bits": k.get("key_bits"),
            "revoked": bool(k.get("revoked")),
        }
        for k in _section(record, "dkim").get("keys") or ()
        if isinstance(k, dict)
    }


def _dkim_key_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Keys by selector: a selector that is new or gone appeared or disappeared; one whose key
    hash changed was rotated (also to or from revoked, whose hash is null)."""
    a, b = _keys(old), _keys(new)
    appeared = [b[s] for s in sorted(b.keys() - a.keys())]
    disappeared = [a[s] for s in sorted(a.keys() - b.keys())]
    rotated = [
        {"selector": s, "old": a[s], "new": b[s]}
        for s in sorted(a.keys() & b.keys())
        if (a[s]["key_sha256"], a[s]["revoked"]) != (b[s]["key_sha256"], b[s]["revoked"])
    ]
    out: dict[str, Any] = {}
    if appeared:
        out["appeared"] = appeared
    if disappeared:
        out["disappeared"] = disappeared
    if rotated:
        out["rotated"] = rotated
    return out


def tree_edges(tree: dict[str, Any] | None, parent: str = "") -> Iterator[str]:
    """The include/redirect tree as paths ("good1.example > include:_spf.provider.example"),
    so that moving an include under another one is seen as one gone and one new."""
    if not isinstance(tree, dict):
        return
    here = f"{parent} > " if parent else ""
    for child in tree.get("children") or ():
        path = here + str(child.get("via"))
        yield f"{path} [{child.get('status')}]"
        yield from tree_edges(child, path)


def _tree_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    a = set(tree_edges(_section(old, "spf").get("tree")))
    b = set(tree_edges(_section(new, "spf").get("tree")))
    out: dict[str, Any] = {}
    if b - a:
        out["appeared"] = sorted(b - a)
    if a - b:
        out["disappeared"] = sorted(a - b)
    la, lb = _section(old, "spf").get("lookups"), _section(new, "spf").get("lookups")
    if la != lb:
        out["lookups"] = {"old": la, "new": lb}
    return out


# -- messages ------------------------------------------------------------------------------------


def _message_results(record: dict[str, Any]) -> dict[str, Any]:
    dmarc = _section(record, "dmarc")
    return {
        "dkim": _section(record, "dkim").get("result"),
        "spf": _section(record, "spf").get("result"),
        "dmarc": dmarc.get("result"),
        "arc": _section(record, "arc").get("result"),
        "disposition": dmarc.get("disposition"),
    }


def _signatures(record: dict[str, Any]) -> dict[str, str]:
    """Each DKIM signature's result with its reason, by domain/selector."""
    out = {}
    for s in _section(record, "dkim").get("signatures") or ():
        if isinstance(s, dict):
            code = f" ({s['code']})" if s.get("code") else ""
            out[f"{s.get('d')}/{s.get('s')}"] = f"{s.get('result')}{code}"
    return out


def diff_message(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """Verdict changes of one message verified twice (a key rotated away, a DNS change)."""
    out: dict[str, Any] = {}
    worse = better = False
    if old.get("status") != new.get("status"):
        out["status"] = {"old": old.get("status"), "new": new.get("status")}
    a, b = _message_results(old), _message_results(new)
    results = {}
    for name in a:
        if a[name] != b[name]:
            results[name] = {"old": a[name], "new": b[name]}
            rank = DISPOSITION_RANK if name == "disposition" else RESULT_RANK
            w, bt = _ranked(rank, a[name], b[name])
            worse, better = worse or w, better or bt
    if results:
        out["results"] = results
    sa, sb = _signatures(old), _signatures(new)
    if sa != sb:
        # a signature failing now is worse even when another one still passes the message
        for name in sa.keys() & sb.keys():
            w, bt = _ranked(RESULT_RANK, sa[name].split()[0], sb[name].split()[0])
            worse, better = worse or w, better or bt
        out["signatures"] = {
            "old": [f"{k}: {v}" for k, v in sa.items()],
            "new": [f"{k}: {v}" for k, v in sb.items()],
        }
    if not out:
        return None
    return {
        "schema": SCHEMA,
        "kind": "message",
        "key": message_key(new),
        "change": "changed",
        "direction": _direction(worse, better),
        "old": _where(old),
        "new": _where(new),
        **out,
    }


def diff_pair(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """One item of two runs, either side possibly absent."""
    if new is None:
        return removed(old) if old is not None else None
    if old is None:
        return added(new)
    if _kind(new) == "message":
        return diff_message(old, new)
    return diff_domain(old, new)


class Summary:
    """Counts by kind of change, for the stderr summary and the report; bounded by the number
    of distinct codes and verdicts, not by the size of the runs."""

    def __init__(self) -> None:
        self.items = 0
        self.by_change: dict[str, int] = {}
        self.by_direction: dict[str, int] = {}
        self.posture: dict[str, int] = {}
        self.sections: dict[str, int] = {}
        self.appeared: dict[str, int] = {}
        self.resolved: dict[str, int] = {}
        self.records: dict[str, int] = {}
        self.keys: dict[str, int] = {}
        self.results: dict[str, int] = {}

    def add(self, diff: dict[str, Any]) -> None:
        self.items += 1
        _bump(self.by_change, diff["change"])
        if diff["change"] == "changed":
            _bump(self.by_direction, diff["direction"])
        if "posture" in diff:
            _bump(self.posture, f"{diff['posture']['old']} -> {diff['posture']['new']}")
        for s, t in diff.get("sections", {}).items():
            _bump(self.sections, f"{s}: {t['old']} -> {t['new']}")
        for p in diff.get("problems", {}).get("appeared", ()):
            _bump(self.appeared, p["code"])
        for p in diff.get("problems", {}).get("resolved", ()):
            _bump(self.resolved, p["code"])
        for r in diff.get("records", {}):
            _bump(self.records, r)
        for k, v in diff.get("dkim_keys", {}).items():
            self.keys[k] = self.keys.get(k, 0) + len(v)
        if diff.get("spf_tree", {}).keys() - {"lookups"}:
            _bump(self.records, "spf include tree")
        for name, t in diff.get("results", {}).items():
            _bump(self.results, f"{name}: {t['old']} -> {t['new']}")
        if "signatures" in diff:
            was = dict(s.split(": ", 1) for s in diff["signatures"]["old"])
            for sig in diff["signatures"]["new"]:
                name, now = sig.split(": ", 1)
                if name in was and was[name] != now:
                    _bump(self.results, f"dkim signature: {was[name]} -> {now}")

    @property
    def regressions(self) -> int:
        return self.by_direction.get("worse", 0) + self.by_direction.get("mixed", 0)

    def lines(self, noun: str = "domains") -> Iterable[str]:
        """The human summary, one fact a line, most frequent first."""
        parts = ", ".join(f"{n} {c}" for c, n in sorted(self.by_change.items())) or "no changes"
        yield f"{noun}: {parts}"
        if self.by_direction:
            yield "changed: " + ", ".join(
                f"{n} {d}" for d, n in sorted(self.by_direction.items(), key=lambda x: -x[1])
            )
        for title, counts in (
            ("posture", self.posture),
            ("section states", self.sections),
            ("problems appeared", self.appeared),
            ("problems resolved", self.resolved),
            ("records changed", self.records),
            ("DKIM keys", self.keys),
            ("results", self.results),
        ):
            if counts:
                top = sorted(counts.items(), key=lambda x: (-x[1], x[0]))
                yield (
                    f"{title}: "
                    + ", ".join(f"{k} {n}" for k, n in top[:12])
                    + (f", ... {len(top) - 12} more" if len(top) > 12 else "")
                )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1
