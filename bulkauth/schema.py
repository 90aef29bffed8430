"""JSON Schemas of the records, printed by `bulkauth schema` and checked against real runs in tests.

Hand-written on purpose: the schema is the contract with warehouse loaders, so it changes
only by an edit someone reviews, never as a side effect of a refactor.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

STRING: JSON = {"type": "string"}
INT: JSON = {"type": "integer"}
BOOL: JSON = {"type": "boolean"}


def nullable(s: JSON) -> JSON:
    return {"anyOf": [s, {"type": "null"}]}


def obj(required: dict[str, JSON], optional: dict[str, JSON] | None = None, extra: bool = False) -> JSON:
    props = {**required, **(optional or {})}
    return {
        "type": "object",
        "properties": props,
        "required": sorted(required),
        "additionalProperties": extra,
    }


def array(items: JSON) -> JSON:
    return {"type": "array", "items": items}


STATE: JSON = {
    "enum": ["valid", "invalid", "missing", "indeterminate"],
    "description": "valid: present, no errors; invalid: present with errors; missing: "
    "authoritatively absent (NXDOMAIN/NODATA); indeterminate: DNS failed after retries",
}
PROBLEM: JSON = obj(
    {
        "code": {"type": "string", "pattern": r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"},
        "severity": {"enum": ["error", "warning", "info"]},
        "message": STRING,
    }
)
PROBLEMS = array(PROBLEM)
DNS_FAILURE: JSON = nullable(
    obj({"name": STRING, "type": STRING, "rcode": STRING}, {"detail": STRING})
)
ERROR: JSON = obj({"code": STRING, "message": STRING})


def section(required: dict[str, JSON], optional: dict[str, JSON] | None = None) -> JSON:
    """Every section: a state, problems, and the DNS failure that made it indeterminate."""
    return obj(
        {"state": STATE, "problems": PROBLEMS, **required},
        {"dns_failure": DNS_FAILURE, **(optional or {})},
    )


MX_SECTION = section(
    {
        "hosts": array(
            obj(
                {
                    "preference": INT,
                    "host": STRING,
                    "addresses": array(STRING),
                    "resolves": nullable(BOOL),
                    "cname": nullable(STRING),
                }
            )
        ),
        "null_mx": BOOL,
    }
)

POLICY: JSON = nullable({"enum": ["none", "quarantine", "reject"]})

DMARC_SECTION = section(
    {
        "domain": nullable({"type": "string", "description": "the domain whose record applies"}),
        "org_domain": nullable(STRING),
        "record": nullable(STRING),
        "inherited": {"type": "boolean", "description": "the record is the organisational domain's"},
        "method": {"enum": ["psl", "tree"], "description": "how the organisational record was found"},
        "policy": POLICY,
        "subdomain_policy": POLICY,
        "pct": nullable(INT),
        "tags": {"type": "object", "additionalProperties": STRING},
        "rua": array(STRING),
        "ruf": array(STRING),
        "report_destinations": array(
            obj(
                {
                    "uri": STRING,
                    "tag": {"enum": ["rua", "ruf"]},
                    "domain": nullable(STRING),
                    "external": BOOL,
                    "authorized": nullable(BOOL),
                    "accepts_mail": nullable(BOOL),
                }
            )
        ),
    }
)

SECTIONS: dict[str, JSON] = {
    "dmarc": DMARC_SECTION,
    "mx": MX_SECTION,
}

_BASE: dict[str, JSON] = {
    "schema": {"const": "bulkauth.domain/1"},
    "source": {"type": "string", "description": "input file, or <stdin>"},
    "line": {"type": "integer", "minimum": 1, "description": "line number in the source"},
    "input": {"type": "string", "description": "the item as written (trimmed)"},
}

DOMAIN_OK: JSON = obj(
    {
        **_BASE,
        "status": {"const": "ok"},
        "domain": {"type": "string", "description": "the A-label domain checked"},
        "exists": nullable(BOOL),
        **{name: s for name, s in SECTIONS.items()},
    }
)
DOMAIN_NOT_OK: JSON = obj(
    {**_BASE, "status": {"enum": ["invalid_input", "error"]}, "error": ERROR},
)

DOMAIN: JSON = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "bulkauth.domain/1",
    "title": "bulkauth domain audit record",
    "description": "One line of `bulkauth domains` output: one per input line, in input order.",
    "oneOf": [DOMAIN_OK, DOMAIN_NOT_OK],
}

SCHEMAS: dict[str, JSON] = {"domains": DOMAIN}
