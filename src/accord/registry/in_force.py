"""Whether an agreement is in force on a day: the one rule, used by the decision point and the registry.

An agreement is in force when it is active and the day lies within its term,
start and end dates included. The reason it is not names the first thing that
fails, in the order a reader checks: its status, then its dates.
"""

from __future__ import annotations

from datetime import date

LIVE_STATUSES = ("active", "suspended")


def effective_status(status: str, end_date: date, today: date) -> str:
    """The stored status, except that a live agreement past its end date is expired."""
    if status in LIVE_STATUSES and today > end_date:
        return "expired"
    return status


def not_in_force(agreement_id: str, status: str, start_date: date, end_date: date, today: date) -> str | None:
    """Why the agreement is not in force today (None: it is): its status, then its dates."""
    if status != "active":
        return f"agreement '{agreement_id}' is {status}, not active"
    if today < start_date:
        return f"agreement '{agreement_id}' starts on {start_date.isoformat()}"
    if today > end_date:
        return f"agreement '{agreement_id}' ended on {end_date.isoformat()}"
    return None

