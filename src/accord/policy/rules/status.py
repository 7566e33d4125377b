"""Status and dates: only an active agreement, on a day within its term, permits access."""

from __future__ import annotations

from datetime import date

from accord.policy.model import AgreementTerms


def reasons(terms: AgreementTerms, today: date) -> list[str]:
    if terms.status != "active":
        return [f"agreement '{terms.id}' is {terms.status}, not active"]
    if today < terms.start_date:
        return [f"agreement '{terms.id}' starts on {terms.start_date.isoformat()}"]
    if today > terms.end_date:
        return [f"agreement '{terms.id}' ended on {terms.end_date.isoformat()}"]
    return []
