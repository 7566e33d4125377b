"""Status and dates: only an agreement in force (active, and today within its term) permits access."""

from __future__ import annotations

from datetime import date

from accord.policy.model import AgreementTerms
from accord.registry.in_force import not_in_force


def reasons(terms: AgreementTerms, today: date) -> list[str]:
    why = not_in_force(terms.id, terms.status, terms.start_date, terms.end_date, today)
    return [why] if why else []
