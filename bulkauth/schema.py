"""JSON Schemas of the records, printed by `bulkauth schema` and checked against real runs in tests.

Hand-written on purpose: the schema is the contract with warehouse loaders, so it changes
only by an edit someone reviews, never as a side effect of a refactor.
"""

from __future__ import annotations

from typing import Any

from bulkauth.core.domain import POSTURES
from bulkauth.core.transport.posture import TRANSPORTS

JSON = dict[str, Any]

STRING: JSON = {"type": "string"}
INT: JSON = {"type": "integer"}
BOOL: JSON = {"type": "boolean"}


def nullable(s: JSON) -> JSON:
    return {"anyOf": [s, {"type": "null"}]}


def obj(
    required: dict[str, JSON], optional: dict[str, JSON] | None = None, extra: bool = False
) -> JSON:
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
FIX: JSON = {
    **obj(
        {
            "records": array(
                obj(
                    {
                        "name": STRING,
                        "type": {"enum": ["TXT", "MX"]},
                        "value": {
                            **nullable(STRING),
                            "description": "the record to publish; null: remove `replaces`. "
                            "Text in <angle brackets> is for you to fill in (a new key)",
                        },
                        "replaces": {
                            **nullable(STRING),
                            "description": "the published record this one takes the place of",
                        },
                    }
                )
            ),
            "why": STRING,
        },
        {"note": STRING},
    ),
    "description": "the remedy: DNS changes that make the problem go away (bulkauth's tests "
    "apply each kind to a zone and audit again), why, and what to do next or beware of",
}
PROBLEM: JSON = obj(
    {
        "code": {"type": "string", "pattern": r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"},
        "severity": {"enum": ["error", "warning", "info"]},
        "message": STRING,
    },
    {"fix": FIX},
)
PROBLEMS = array(PROBLEM)
DNS_FAILURE: JSON = nullable(
    obj(
        {
            "name": STRING,
            "type": STRING,
            "rcode": {
                "type": "string",
                "description": "SERVFAIL, REFUSED, TIMEOUT, FORMERR, NOTIMP, BADNAME, ERROR; "
                "NOTRECORDED: --replay-dns and the recorded run never asked this question",
            },
        },
        {
            "detail": STRING,
            "code": {
                "const": "dns.not_recorded",
                "description": "only with rcode NOTRECORDED: a gap in the DNS snapshot "
                "replayed, not a DNS failure",
            },
        },
    )
)
ERROR: JSON = obj({"code": STRING, "message": STRING})


DNSSEC: JSON = {
    **nullable({"enum": ["secure", "insecure"]}),
    "description": "only with --dnssec: secure when the validating resolver set the AD bit on "
    "the section's answer, insecure when it answered without it; null when DNS failed",
}


def section(required: dict[str, JSON], optional: dict[str, JSON] | None = None) -> JSON:
    """Every section: a state, problems, and the DNS failure that made it indeterminate."""
    return obj(
        {"state": STATE, "problems": PROBLEMS, **required},
        {"dns_failure": DNS_FAILURE, "dnssec": DNSSEC, **(optional or {})},
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
        "inherited": {
            "type": "boolean",
            "description": "the record is the organisational domain's",
        },
        "method": {
            "enum": ["psl", "tree"],
            "description": "how the organisational record was found",
        },
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

SPF_NODE: JSON = obj(
    {
        "domain": STRING,
        "record": nullable(STRING),
        "status": {"type": "string", "description": "ok, or why the node has no usable record"},
        "lookups": INT,
        "void_lookups": INT,
        "problems": PROBLEMS,
        "children": array({"allOf": [{"$ref": "#/$defs/spf_node"}]}),
    },
    {"via": STRING, "truncated": BOOL},
)
SPF_SECTION = section(
    {
        "records": array(STRING),
        "lookups": {
            "type": "integer",
            "description": "DNS-querying terms a receiver would count (limit 10)",
        },
        "void_lookups": {"type": "integer", "description": "lookups that found nothing (limit 2)"},
        "all_qualifier": nullable({"enum": ["+", "-", "~", "?"]}),
        "ipv4_addresses": {
            "type": "integer",
            "description": "IPv4 addresses the record authorises",
        },
        "tree": nullable({"$ref": "#/$defs/spf_node"}),
    }
)

DKIM_KEY: JSON = obj(
    {
        "selector": STRING,
        "record": STRING,
        "cname": nullable(STRING),
        "version": nullable(STRING),
        "key_type": nullable(STRING),
        "key_bits": nullable(INT),
        "key_format": nullable(STRING),
        "key_sha256": nullable(STRING),
        "hash_algorithms": nullable(array(STRING)),
        "service_types": nullable(array(STRING)),
        "flags": array(STRING),
        "testing": BOOL,
        "strict": BOOL,
        "revoked": BOOL,
        "problems": PROBLEMS,
    }
)
DKIM_SECTION = section(
    {
        "selectors_tried": array(STRING),
        "keys": array(DKIM_KEY),
        "wildcard": nullable(DKIM_KEY),
        "skipped": nullable({"type": "string", "description": "why no selector was probed"}),
    }
)


def record_section(extra: dict[str, JSON]) -> JSON:
    return section({"name": STRING, "record": nullable(STRING), **extra})


MTA_STS_SECTION = record_section(
    {"id": nullable(STRING), "policy_fetched": BOOL, "policy_url": nullable(STRING)}
)
TLS_RPT_SECTION = record_section({"rua": array(STRING)})
BIMI_SECTION = record_section(
    {
        "selector": STRING,
        "logo": nullable(STRING),
        "authority": nullable(STRING),
        "declined": BOOL,
        "logo_fetched": BOOL,
    }
)

# the probe sections (domains --probe): present only when probed
PROBE_STATE: JSON = {
    "enum": ["valid", "invalid", "missing", "indeterminate"],
    "description": "valid: probed, no errors; invalid: errors a sender would act on; missing: "
    "nothing to probe (no _mta-sts record, no MX, no TLSA records); indeterminate: could not "
    "connect or resolve (port 25 is often blocked on the prober's side)",
}


def probe_section(required: dict[str, JSON]) -> JSON:
    return obj({"state": PROBE_STATE, "problems": PROBLEMS, **required})


MTA_STS_POLICY_SECTION: JSON = probe_section(
    {
        "url": STRING,
        "id": {**nullable(STRING), "description": "the id= of the _mta-sts record"},
        "fetched": {**BOOL, "description": "a policy was served (HTTP 200, text/plain, in bounds)"},
        "http_status": nullable(INT),
        "content_type": nullable(STRING),
        "policy": nullable(
            obj(
                {
                    "version": nullable(STRING),
                    "mode": nullable(STRING),
                    "max_age": nullable(INT),
                    "mx": array(STRING),
                }
            )
        ),
        "mx_not_matched": {
            **array(STRING),
            "description": "MX hosts that no mx pattern of the policy matches (RFC 8461 4.1)",
        },
    }
)
CERTIFICATE: JSON = nullable(
    obj(
        {
            "subject": nullable(STRING),
            "issuer": nullable(STRING),
            "names": {**array(STRING), "description": "DNS names of the subjectAltName"},
            "not_after": nullable(STRING),
            "days_to_expiry": nullable(INT),
            "chain_valid": {**BOOL, "description": "chains to a trusted root (WebPKI rules)"},
            "name_matches": {**BOOL, "description": "valid for the MX host name (RFC 6125)"},
        }
    )
)
STARTTLS_SECTION: JSON = probe_section(
    {
        "hosts": array(
            obj(
                {
                    "host": STRING,
                    "address": nullable(STRING),
                    "port": INT,
                    "state": PROBE_STATE,
                    "starttls": {**nullable(BOOL), "description": "offered in the EHLO reply"},
                    "tls_version": nullable(STRING),
                    "cipher": nullable(STRING),
                    "certificate": CERTIFICATE,
                    "problems": PROBLEMS,
                }
            )
        ),
    }
)
DANE_SECTION: JSON = probe_section(
    {
        "hosts": array(
            obj(
                {
                    "host": STRING,
                    "name": {**STRING, "description": "where the TLSA records are: _25._tcp.<mx>"},
                    "records": array(STRING),
                    "dnssec": DNSSEC,
                    "matched": {
                        **nullable(BOOL),
                        "description": "the presented certificate matches a usable TLSA record "
                        "(usage 2 or 3); null: no certificate was obtained",
                    },
                    "matched_record": nullable(STRING),
                    "problems": PROBLEMS,
                }
            )
        ),
    }
)
PROBE_SECTIONS: dict[str, JSON] = {
    "mta_sts_policy": MTA_STS_POLICY_SECTION,
    "starttls": STARTTLS_SECTION,
    "dane": DANE_SECTION,
}
TRANSPORT: JSON = obj(
    {
        "level": {
            "enum": list(TRANSPORTS),
            "description": "dane: every MX with TLSA records matched them, DNSSEC-validated; "
            "mta_sts: an enforced MTA-STS policy over working STARTTLS; opportunistic: STARTTLS "
            "with a valid certificate, nothing makes senders insist; plaintext: no MX offers "
            "STARTTLS; broken: DANE mismatch, an MTA-STS policy with errors, or bad STARTTLS "
            "certificates; no_mx: nothing to deliver to; indeterminate: no MX could be reached",
        },
        "reasons": array(STRING),
    }
)

POSTURE: JSON = obj(
    {
        "verdict": {
            "enum": list(POSTURES),
            "description": "enforced: DMARC quarantine/reject at 100% with a valid SPF record or DKIM key; "
            "monitoring: DMARC p=none or pct<100; unprotected: no DMARC record; broken: SPF or DMARC "
            "with errors, or an enforcing policy nothing can pass; parked: null MX, or no MX and "
            "SPF -all; nonexistent: NXDOMAIN; indeterminate: DNS failed for SPF, DMARC or MX",
        },
        "reasons": array(STRING),
        "warnings": {
            "type": "array",
            "items": STRING,
            "description": "codes of every warning in the record",
        },
    },
    {"transport": {**TRANSPORT, "description": "only with --probe: mail to the domain in transit"}},
)

SECTIONS: dict[str, JSON] = {
    "spf": SPF_SECTION,
    "dmarc": DMARC_SECTION,
    "dkim": DKIM_SECTION,
    "mx": MX_SECTION,
    "mta_sts": MTA_STS_SECTION,
    "tls_rpt": TLS_RPT_SECTION,
    "bimi": BIMI_SECTION,
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
        "exists": {
            **nullable(BOOL),
            "description": "false: NXDOMAIN; null: DNS could not say, or mx was not audited",
        },
        "posture": {
            **nullable(POSTURE),
            "description": "null when --sections left out spf, dmarc, dkim or mx",
        },
        **{
            name: {**nullable(s), "description": "null when --sections left it out"}
            for name, s in SECTIONS.items()
        },
    },
    {
        name: {**s, "description": "only with --probe (see docs of each code)"}
        for name, s in PROBE_SECTIONS.items()
    },
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
    "$defs": {"spf_node": SPF_NODE},
}

SPF_RESULT: JSON = obj(
    {
        "schema": {"const": "bulkauth.spf/1"},
        "ip": STRING,
        "sender": STRING,
        "helo": STRING,
        "result": {
            "enum": ["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"]
        },
        "domain": STRING,
        "explanation": STRING,
        "mechanism": nullable(STRING),
        "problem": nullable(PROBLEM),
        "lookups": INT,
        "void_lookups": INT,
    },
    {
        "trace": {
            **array(STRING),
            "description": "the terms evaluated, one line each: a single check, or --input with --trace",
        },
        "source": STRING,
        "line": INT,
        "input": STRING,
        "status": {"const": "ok"},
        "dns_failure": DNS_FAILURE,
        "syntax": obj({"code": STRING, "term": STRING, "domain": STRING, "message": STRING}),
    },
)
SPF: JSON = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "bulkauth.spf/1",
    "title": "bulkauth SPF check record",
    "oneOf": [
        SPF_RESULT,
        obj(
            {
                "schema": {"const": "bulkauth.spf/1"},
                "source": STRING,
                "line": INT,
                "input": STRING,
                "status": {"enum": ["invalid_input", "error"]},
                "error": ERROR,
            }
        ),
    ],
}

# --- bulkauth.message/1 -----------------------------------------------------------------------

RESULT_8601: JSON = {
    "enum": ["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy"]
}
CODE: JSON = nullable({"type": "string", "pattern": r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"})
TIME: JSON = nullable({"type": "string", "description": "ISO 8601, UTC"})
_INT_OR_NULL = nullable(INT)
_STR_OR_NULL = nullable(STRING)

RECEIVED: JSON = obj(
    {
        "index": {
            "type": "integer",
            "minimum": 0,
            "description": "among Received fields, 0 = topmost",
        },
        "helo": _STR_OR_NULL,
        "client_ip": _STR_OR_NULL,
        "rdns": _STR_OR_NULL,
        "by": _STR_OR_NULL,
        "protocol": _STR_OR_NULL,
        "time": TIME,
    }
)
ENVELOPE: JSON = obj(
    {
        "mail_from": {**_STR_OR_NULL, "description": "'' is the null reverse-path"},
        "mail_from_source": nullable(
            {"enum": ["return-path", "authentication-results", "received-envelope-from"]}
        ),
        "helo": _STR_OR_NULL,
        "client_ip": _STR_OR_NULL,
        "receiver": _STR_OR_NULL,
        "received": nullable(RECEIVED),
    }
)
DKIM_SIGNATURE: JSON = obj(
    {
        "index": {
            "type": "integer",
            "minimum": 0,
            "description": "among DKIM-Signature fields, 0 = topmost",
        },
        "result": {"enum": ["pass", "fail", "neutral", "policy", "temperror", "permerror"]},
        "code": CODE,
        "message": STRING,
        "d": _STR_OR_NULL,
        "s": _STR_OR_NULL,
        "a": _STR_OR_NULL,
        "c": _STR_OR_NULL,
        "i": _STR_OR_NULL,
        "t": _INT_OR_NULL,
        "x": _INT_OR_NULL,
        "l": _INT_OR_NULL,
        "h": array(STRING),
        "key": nullable(
            obj(
                {
                    "name": STRING,
                    "type": _STR_OR_NULL,
                    "bits": _INT_OR_NULL,
                    "hash": {
                        **_STR_OR_NULL,
                        "description": "sha256 (hex) of the decoded p= of the key used",
                    },
                    "record": {**_STR_OR_NULL, "description": "the key record verified with"},
                },
                {
                    # only for a key from the history (key_source "history")
                    "first_seen": {**TIME, "description": "the history's first sighting"},
                    "last_seen": {**TIME, "description": "the history's last sighting"},
                    "seen_in": {
                        **STRING,
                        "description": "where the sighting comes from: 'run ID' or 'import FILE'",
                    },
                },
            )
        ),
        "key_source": {
            "enum": ["dns", "history", None],
            "description": "where the key came from: today's DNS, or the key history "
            "(--key-history) when today's key failed for a key reason; null: no key record",
        },
        "b": {
            **_STR_OR_NULL,
            "description": "the first characters of b=, as Authentication-Results quote it",
        },
        "problems": {
            **PROBLEMS,
            "description": "warnings about a signature that was verified, e.g. "
            "dkim.signed_after_date: t= is later than the message's Date field, the only "
            "clock it had (RFC 6376 3.5 lets verifiers ignore future timestamps)",
        },
    }
)
ALIGNMENT: JSON = nullable(
    obj(
        {
            "mode": {"enum": ["r", "s"]},
            "aligned": BOOL,
            "domain": _STR_OR_NULL,
            "authenticated": array(STRING),
        }
    )
)
MESSAGE_DMARC: JSON = obj(
    {
        "result": {"enum": ["pass", "fail", "none", "temperror", "permerror"]},
        "code": CODE,
        "message": STRING,
        "from_domain": _STR_OR_NULL,
        "policy_domain": _STR_OR_NULL,
        "org_domain": _STR_OR_NULL,
        "record": _STR_OR_NULL,
        "policy": POLICY,
        "pct": _INT_OR_NULL,
        "testing": BOOL,
        "sampled": nullable(BOOL),
        "disposition": {"enum": ["none", "quarantine", "reject"]},
        "alignment": obj({"dkim": ALIGNMENT, "spf": ALIGNMENT}),
        "problems": PROBLEMS,
    }
)
MESSAGE_SPF: JSON = obj(
    {
        "result": RESULT_8601,
        "code": CODE,
        "message": STRING,
        "identity": nullable({"enum": ["mailfrom", "helo"]}),
        "domain": _STR_OR_NULL,
        "mail_from": _STR_OR_NULL,
        "helo": _STR_OR_NULL,
        "client_ip": _STR_OR_NULL,
        "sources": obj(
            {
                "mail_from": _STR_OR_NULL,
                "client_ip": _STR_OR_NULL,
                "helo": _STR_OR_NULL,
                "received_index": _INT_OR_NULL,
            }
        ),
        "mechanism": _STR_OR_NULL,
        "explanation": STRING,
        "lookups": INT,
        "dns_failure": DNS_FAILURE,
    }
)
ARC_SET: JSON = obj(
    {
        "instance": _INT_OR_NULL,
        "ams_domain": _STR_OR_NULL,
        "ams_valid": BOOL,
        "as_domain": _STR_OR_NULL,
        "as_valid": BOOL,
        "cv": _STR_OR_NULL,
    },
    # written by our validator (not by --arc-verifier dkimpy)
    {
        "ams_selector": _STR_OR_NULL,
        "ams_algorithm": _STR_OR_NULL,
        "ams_code": {
            **CODE,
            "description": "why the AMS does not validate (null: it does, or "
            "it was not checked because the chain's structure failed first)",
        },
        "as_selector": _STR_OR_NULL,
        "as_algorithm": _STR_OR_NULL,
        "as_code": {**CODE, "description": "why the ARC-Seal does not validate"},
    },
)
ARC_HEADER = {
    "anyOf": [
        {"enum": ["ARC-Authentication-Results", "ARC-Message-Signature", "ARC-Seal"]},
        {"type": "null"},
    ]
}
MESSAGE_ARC: JSON = obj(
    {
        "result": {"enum": ["pass", "fail", "none", "temperror", "permerror"]},
        "code": {
            **CODE,
            "description": "why not pass: arc.too_many_instances, arc.instance_invalid, "
            "arc.instance_gap, arc.instance_duplicate, arc.set_incomplete, arc.chain_terminated "
            "(a seal says cv=fail), arc.cv_invalid, arc.ams_syntax, arc.as_syntax, "
            "arc.unsupported_algorithm, arc.signed_in_future, arc.expired, arc.dns_error, "
            "arc.key_not_found, arc.key_revoked, arc.key_syntax, arc.key_service, "
            "arc.key_type_mismatch, arc.key_hash_not_allowed, arc.weak_key, arc.ams_body_hash, "
            "arc.ams_signature, arc.as_signature, arc.message_syntax, arc.verifier_error; "
            "with --arc-verifier dkimpy: arc.structure, arc.ams_invalid, arc.seal_invalid, "
            "arc.verifier_crash",
        },
        "message": STRING,
        "instances": {**INT, "description": "the highest instance found (N)"},
        "oldest_ams_domain": _STR_OR_NULL,
        "sets": array(ARC_SET),
        "failed_instance": {
            **_INT_OR_NULL,
            "description": "the instance whose header decided a fail/temperror/permerror",
        },
        "failed_header": {**ARC_HEADER, "description": "that header field"},
        "oldest_pass": {
            **_INT_OR_NULL,
            "description": "RFC 8617 5.2 step 5: the lowest instance from which every AMS still "
            "validates (0: all do); null when validation stopped before that step",
        },
        "verifier": {"enum": ["bulkauth", "dkimpy"]},
        "problems": {
            **PROBLEMS,
            "description": "warnings that leave the result as it is: arc.signed_after_date (a "
            "t= later than the message's Date, when that is the only clock)",
        },
    }
)
HISTORY: JSON = nullable(
    obj(
        {
            "authserv_id": _STR_OR_NULL,
            "index": INT,
            "dkim": array(
                obj(
                    {
                        "result": _STR_OR_NULL,
                        "d": _STR_OR_NULL,
                        "b": _STR_OR_NULL,
                        "selector": _STR_OR_NULL,
                    }
                )
            ),
            "spf": _STR_OR_NULL,
            "dmarc": _STR_OR_NULL,
            "arc": _STR_OR_NULL,
            "disagree": BOOL,
            "disagreements": array(
                obj(
                    {
                        "method": {"enum": ["dkim", "spf", "dmarc", "arc"]},
                        "ours": STRING,
                        "theirs": STRING,
                        "code": CODE,
                        "message": STRING,
                        "domain": _STR_OR_NULL,
                    }
                )
            ),
        }
    )
)
_MESSAGE_BASE: dict[str, JSON] = {
    "schema": {"const": "bulkauth.message/1"},
    "source": {"type": "string", "description": "the input as given: file, folder, or <stdin>"},
    "path": {"type": "string", "description": "the file holding the message"},
    "kind": {"enum": ["mbox", "maildir", "eml"]},
    "index": {"type": "integer", "minimum": 1, "description": "position within the source"},
    "offset": {**_INT_OR_NULL, "description": "mbox: byte offset of the From_ line (decompressed)"},
    "size": {"type": "integer", "minimum": 0},
}
MESSAGE_OK: JSON = obj(
    {
        **_MESSAGE_BASE,
        "status": {"const": "ok"},
        "message_id": _STR_OR_NULL,
        "date": TIME,
        "from": obj({"addresses": array(STRING), "domain": _STR_OR_NULL, "fields": INT}),
        "envelope": ENVELOPE,
        "as_of": obj(
            {
                "time": TIME,
                "source": {
                    "type": "string",
                    "pattern": "^(given|received:.+|date|now)$",
                    "description": "where the verification time came from: given (--as-of "
                    "TIME), received:<host> (the Received field the --trusted-receiver host "
                    "wrote), received:top (the receiving hop found without it), date (the "
                    "sender-written Date field), now (the run's clock). Only against a date "
                    "clock is a future DKIM t= a warning (dkim.signed_after_date) rather than "
                    "the error dkim.signed_in_future",
                },
            }
        ),
        "dkim": obj(
            {
                "result": {
                    "enum": ["pass", "fail", "neutral", "policy", "temperror", "permerror", "none"]
                },
                "pass_source": {
                    "enum": ["dns", "history", None],
                    "description": "dns: a signature passed with today's key; history: only "
                    "keys from the key history verified; null: no signature passed",
                },
                "history_passes": {**INT, "description": "signatures passed by history keys"},
                "signatures": array(DKIM_SIGNATURE),
            }
        ),
        "spf": MESSAGE_SPF,
        "dmarc": MESSAGE_DMARC,
        "arc": MESSAGE_ARC,
        "history": HISTORY,
        "problems": PROBLEMS,
    }
)
MESSAGE_NOT_OK: JSON = obj(
    {**_MESSAGE_BASE, "status": {"enum": ["invalid_input", "error"]}, "error": ERROR}
)
MESSAGE: JSON = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "bulkauth.message/1",
    "title": "bulkauth message verification record",
    "description": "One line of `bulkauth messages` output: one per message, in archive order.",
    "oneOf": [MESSAGE_OK, MESSAGE_NOT_OK],
}

_SNAPSHOT_HEADER: JSON = obj(
    {
        "format": {"const": "bulkauth.dns-snapshot/1"},
        "bulkauth": {"type": "string", "description": "the version that recorded it"},
        "created": {"type": "string", "description": "when the run started, ISO 8601 UTC"},
        "run": obj(
            {
                "command": {"enum": ["domains", "messages", "spf"]},
                "argv": array(STRING),
                "options": {"type": "object", "description": "every option of the run"},
            }
        ),
        "psl": obj(
            {
                "source": {"type": "string", "description": "packaged, or the --psl file"},
                "version": {**_STR_OR_NULL, "description": "the list's own VERSION line"},
                "sha256": STRING,
                "text": {"type": "string", "description": "the list itself, for the replay"},
            }
        ),
    }
)
_SNAPSHOT_ANSWER: JSON = obj(
    {
        "name": {"type": "string", "description": "the question's name, no trailing dot"},
        "type": {"type": "string", "description": "the question's type: A, TXT, MX, ..."},
        "rcode": {
            "type": "string",
            "description": "NOERROR, NXDOMAIN, SERVFAIL, REFUSED, FORMERR, NOTIMP, BADNAME, "
            "ERROR, or TIMEOUT (no answer before --timeout)",
        },
        "ttl": INT,
        "records": {
            "type": "array",
            "description": "A/AAAA/NS/PTR/CNAME: text; MX: [preference, exchange]; TXT/SPF: the "
            "record's strings, each text if UTF-8, else {hex}",
        },
        "size": {"type": "integer", "description": "bytes of the DNS message, 0 if unknown"},
        "at": {"type": "number", "description": "when the answer came, POSIX seconds"},
        "server": {
            "type": "string",
            "description": "the nameserver HOST:PORT that answered (the servers given, when "
            "the backend cannot say which), or zones:PATH",
        },
    },
    {"cnames": array(STRING), "detail": STRING},
)
SNAPSHOT: JSON = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "bulkauth.dns-snapshot/1",
    "title": "bulkauth DNS snapshot line",
    "description": "One line of a --record-dns snapshot (gzip of NDJSON): the header first, "
    "then one answer per line as it came off the wire (failures and timeouts included), "
    "then the end line with the count.",
    "oneOf": [_SNAPSHOT_HEADER, _SNAPSHOT_ANSWER, obj({"end": obj({"answers": INT})})],
}

# -- bulkauth.diff/1 (`bulkauth diff`) -----------------------------------------------------------


def _transition(values: JSON) -> JSON:
    return obj({"old": values, "new": values})


_STR_NULL: JSON = nullable(STRING)
_DIFF_PROBLEM: JSON = obj(
    {"section": STRING, "code": STRING, "severity": STRING, "message": _STR_NULL}
)
_DIFF_KEY: JSON = obj(
    {
        "selector": STRING,
        "key_sha256": _STR_NULL,
        "key_type": _STR_NULL,
        "key_bits": nullable(INT),
        "revoked": BOOL,
    }
)
_DIFF_WHERE: JSON = obj(
    {},
    {
        "source": _STR_NULL,
        "line": nullable(INT),
        "path": _STR_NULL,
        "index": nullable(INT),
        "status": _STR_NULL,
        "posture": _STR_NULL,
        "dkim": _STR_NULL,
        "spf": _STR_NULL,
        "dmarc": _STR_NULL,
        "arc": _STR_NULL,
        "disposition": _STR_NULL,
    },
)
DIFF: JSON = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "bulkauth.diff/1",
    "title": "bulkauth diff record",
    "description": "One line of `bulkauth diff OLD NEW`: one per domain (or message) that "
    "changed, was added or was removed, sorted by key. Unchanged items have no line.",
    **obj(
        {
            "schema": {"const": "bulkauth.diff/1"},
            "kind": {"enum": ["domain", "message"]},
            "key": {
                "type": "string",
                "description": "domain: the A-label name (for an input that is not a domain, "
                "the text as written); message: 'id:' + Message-ID, else 'at:' + path#index",
            },
            "change": {"enum": ["changed", "added", "removed"]},
            "direction": {
                "enum": ["worse", "better", "mixed", "neutral"],
                "description": "worse: the posture fell, a section went from valid to missing "
                "or invalid, or an error/warning code appeared (a message: a result or "
                "disposition fell); better: the reverse; mixed: both (a regression too); "
                "neutral: neither, and every added or removed item",
            },
        },
        {
            "old": _DIFF_WHERE,
            "new": _DIFF_WHERE,
            "status": _transition(_STR_NULL),
            "posture": _transition(_STR_NULL),
            "sections": {"type": "object", "additionalProperties": _transition(_STR_NULL)},
            "problems": obj({"appeared": array(_DIFF_PROBLEM), "resolved": array(_DIFF_PROBLEM)}),
            "records": obj(
                {},
                {
                    "spf": _transition(array(STRING)),
                    "dmarc": _transition(_STR_NULL),
                    "mx": _transition(array(STRING)),
                },
            ),
            "dkim_keys": obj(
                {},
                {
                    "appeared": array(_DIFF_KEY),
                    "disappeared": array(_DIFF_KEY),
                    "rotated": array(obj({"selector": STRING, "old": _DIFF_KEY, "new": _DIFF_KEY})),
                },
            ),
            "spf_tree": obj(
                {},
                {
                    "appeared": array(STRING),
                    "disappeared": array(STRING),
                    "lookups": _transition(nullable(INT)),
                },
            ),
            "results": {"type": "object", "additionalProperties": _transition(_STR_NULL)},
            "signatures": _transition(array(STRING)),
        },
    ),
}

SCHEMAS: dict[str, JSON] = {
    "domains": DOMAIN,
    "spf": SPF,
    "messages": MESSAGE,
    "diff": DIFF,
    "dns-snapshot": SNAPSHOT,
}
