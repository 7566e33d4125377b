"""Volume and frequency: records per request and allowed requests per day."""

from __future__ import annotations

from accord.policy.model import AccessRequest, AgreementTerms


def reasons(request: AccessRequest, terms: AgreementTerms, requests_today: int) -> list[str]:
    found = []
    # A request covers at least as many records as the people it names: the declared
    # count cannot be used to slip a larger request under the limit.
    records = max(request.records, len(set(request.subjects)))
    if records < 1:
        found.append("a request must cover at least one record")
    if terms.max_records_per_request is not None and records > terms.max_records_per_request:
        found.append(
            f"{records} records exceeds agreement '{terms.id}' limit of "
            f"{terms.max_records_per_request} per request"
        )
    if terms.max_requests_per_day is not None and requests_today >= terms.max_requests_per_day:
        found.append(f"agreement '{terms.id}' allows {terms.max_requests_per_day} requests a day; all are used")
    return found
