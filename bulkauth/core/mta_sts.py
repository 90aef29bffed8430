"""MTA-STS (RFC 8461): the ``_mta-sts`` TXT record.

Only the DNS side is audited. The policy itself lives on HTTPS
(``https://mta-sts.<domain>/.well-known/mta-sts.txt``); core does no I/O, so records say
``"policy_fetched": false`` rather than pretend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bulkauth.core.common.model import Problem, State, state_from
from bulkauth.core.common.step import Step
from bulkauth.core.common.taglist import MTA_STS
from bulkauth.core.common.versioned_record import (
    MAX_RECORD_CHARS,
    RecordAudit,
    discover,
    is_extension,
    parse_fields,
)

# RFC 8461 3.1: sts-id = 1*32(ALPHA / DIGIT)
_STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


@dataclass(slots=True)
class MtaStsAudit(RecordAudit):
    policy_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._base(),
            "id": self.policy_id,
            # The policy is served over HTTPS, which core does not fetch.
            "policy_fetched": False,
            "policy_url": f"https://mta-sts.{self.name.removeprefix('_mta-sts.')}/.well-known/mta-sts.txt",
        }


def audit_mta_sts(domain: str) -> Step[MtaStsAudit]:
    name = f"_mta-sts.{domain}"
    found = yield from discover(
        name, "v=STSv1", "mta_sts", "senders must assume the domain has no MTA-STS (RFC 8461 3.1)"
    )
    if found.state is not None:
        return MtaStsAudit(found.state, name, found.record, found.problems, found.dns_failure)
    record = found.record or ""
    problems: list[Problem] = []
    audit = MtaStsAudit(State.VALID, name, record[:MAX_RECORD_CHARS], problems)
    fields = parse_fields(record, MTA_STS, "mta_sts", problems)
    if fields is not None:
        if fields.get("v") != "STSv1" or next(iter(fields)) != "v":
            problems.append(
                Problem("mta_sts.syntax", "error", "the record must start with v=STSv1;")
            )
        for key, value in fields.items():
            if key not in ("v", "id") and not is_extension(key, value):
                problems.append(
                    Problem("mta_sts.syntax", "error", f"invalid extension field {key[:32]!r}")
                )
        pid = fields.get("id")
        if pid is None:
            problems.append(Problem("mta_sts.bad_id", "error", "no id= field (RFC 8461 3.1)"))
        elif not _STS_ID.match(pid):
            problems.append(
                Problem(
                    "mta_sts.bad_id",
                    "error",
                    f"id={pid[:40]!r} must be 1 to 32 letters and digits (RFC 8461 3.1)",
                )
            )
        else:
            audit.policy_id = pid
    audit.state = state_from(problems)
    return audit
