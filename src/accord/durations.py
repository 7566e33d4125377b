"""ISO 8601 durations (P1Y, P6M, PT12H), the one place they are turned into time spans.

Calendar durations (years, months) have no fixed length, so each is measured
from a start date: the moment it runs from where there is one (an embargo from
the access), otherwise a fixed anchor (to compare a retention period with a cap).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import isodate

ANCHOR = date(2000, 1, 1)


def to_timedelta(text: str, start: date | datetime = ANCHOR) -> timedelta:
    """The span ``text`` covers from ``start``; ValueError if it is not a usable ISO 8601 duration."""
    try:
        parsed = isodate.parse_duration(text)
        return parsed if isinstance(parsed, timedelta) else parsed.totimedelta(start=start)
    except (isodate.ISO8601Error, ValueError, OverflowError) as exc:
        raise ValueError(f"'{text}' is not a usable ISO 8601 duration") from exc
