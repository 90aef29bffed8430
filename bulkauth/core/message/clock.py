"""The message's time: date-time fields, and the clock DKIM ``t=`` / ``x=`` are judged at (--as-of)."""

from __future__ import annotations

import calendar
import email.utils
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from bulkauth.core.message.headers import HeaderBlock

if TYPE_CHECKING:  # received.py reads its dates with this module
    from bulkauth.core.message.received import Received

#: plausible dates: anything outside is a broken clock or junk, not a delivery time
_MIN_TIME = 0.0
_MAX_TIME = 4102444800.0  # 2100-01-01


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


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


AsOfMode = Literal["received", "now"] | float


@dataclass(slots=True)
class AsOf:
    """The verification time and where it came from (``source``):

    - ``given``: --as-of TIME;
    - ``received:<host>``: the Received field the --trusted-receiver host wrote;
    - ``received:top``: the receiving hop found without --trusted-receiver (the topmost
      Received field with a from clause);
    - ``date``: the sender-written Date field;
    - ``now``: the clock of the run (--as-of now, or a message with no usable date at all).
    """

    time: float
    source: str

    @property
    def trusted(self) -> bool:
        """Whether a DKIM ``t=`` later than this time may fail a signature. A receiver's clock
        (a Received field), one the user gave, or the run's own is trusted; a Date field is
        written by the sender and may be years off, so against it a future ``t=`` is only
        reported (RFC 6376 3.5 lets verifiers ignore future timestamps)."""
        return self.source != "date"

    def to_dict(self) -> dict[str, object]:
        return {"time": iso(self.time), "source": self.source}


def as_of_time(
    mode: AsOfMode,
    hop: Received | None,
    block: HeaderBlock,
    now: float,
    trusted_receiver: str | None = None,
) -> AsOf:
    """The time DKIM ``t=``/``x=`` are judged at: a given time, now, or the delivery time (the
    receiving hop's Received date, else the Date field, else now). ``hop`` is the receiving
    hop: the one ``trusted_receiver`` wrote when that is given."""
    if isinstance(mode, float | int) and not isinstance(mode, bool):
        return AsOf(float(mode), "given")
    if mode == "now":
        return AsOf(now, "now")
    if hop is not None and hop.time is not None:
        host = (hop.by or "").lower().rstrip(".") if trusted_receiver else ""
        return AsOf(hop.time, f"received:{host or 'top'}")
    date = parse_date(block.first("Date"))
    if date is not None:
        return AsOf(date, "date")
    return AsOf(now, "now")
