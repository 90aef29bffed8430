"""The verdict on a message's ARC chain: the record's ``arc`` section."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ArcVerifier = Literal["bulkauth", "dkimpy"]
NO_ARC = "the message carries no ARC sets"


@dataclass(slots=True)
class ArcResult:
    """Chain validation status (RFC 8617 4.4: none, pass, fail; temperror when a key could not
    be looked up; permerror when the verifier itself failed) with the reason for it."""

    result: str = "none"  # none, pass, fail, temperror, permerror
    code: str | None = None
    message: str = NO_ARC
    #: the highest instance found (N)
    instances: int = 0
    oldest_ams_domain: str | None = None
    sets: list[dict[str, Any]] = field(default_factory=list)
    #: the instance and the header field that decided a result other than pass and none
    failed_instance: int | None = None
    failed_header: str | None = None
    #: RFC 8617 5.2 step 5: the lowest instance from which every AMS up to N still validates
    #: (0: all of them do); None when the validation stopped before that step
    oldest_pass: int | None = None
    verifier: ArcVerifier = "bulkauth"
    #: warnings that do not change the result (arc.signed_after_date)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def done(
        self,
        result: str,
        code: str | None,
        message: str,
        instance: int | None = None,
        header: str | None = None,
    ) -> ArcResult:
        self.result, self.code, self.message = result, code, message
        self.failed_instance, self.failed_header = instance, header
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "code": self.code,
            "message": self.message,
            "instances": self.instances,
            "oldest_ams_domain": self.oldest_ams_domain,
            "sets": self.sets,
            "failed_instance": self.failed_instance,
            "failed_header": self.failed_header,
            "oldest_pass": self.oldest_pass,
            "verifier": self.verifier,
            "problems": self.problems,
        }
