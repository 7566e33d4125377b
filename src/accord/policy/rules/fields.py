"""Fields: minimise to what the agreement names, or deny if the agreement says so."""

from __future__ import annotations

from accord.policy.model import AccessRequest, AgreementTerms


def permitted(request: AccessRequest, terms: AgreementTerms) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """Returns (permitted fields, removed fields, reasons to deny)."""
    allowed = set(terms.fields)
    requested = list(dict.fromkeys(request.fields))  # de-duplicated, order kept
    keep = tuple(f for f in requested if f in allowed)
    removed = tuple(f for f in requested if f not in allowed)
    if removed and terms.on_excess_fields == "deny":
        return (), removed, [
            f"fields not in agreement '{terms.id}': {', '.join(removed)} (this agreement denies such requests)"
        ]
    if not keep:
        return (), removed, [f"none of the requested fields is disclosed under agreement '{terms.id}'"]
    return keep, removed, []
