"""The agreement a Warm Home Discount job runs under: its source dataset and the condition it discloses.

The agreement says what qualifies: the yes/no attribute fields it discloses from
the discloser's dataset are the eligibility condition, and a claimant qualifies
when any of them is true. ``warm-home-discount-2026`` discloses only
``pension_credit_guarantee`` (the Warm Home Discount core group 1 condition).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from accord.errors import InvalidInput, NotFound
from accord.framework import Purpose
from accord.registry.agreements import disclosed_fields, find_visible
from accord.registry.datasets import get_dataset
from accord.services.access import AccessRequest

ACTION = "eligibility.check"


@dataclass(frozen=True)
class Terms:
    """What a job runs under: the agreement, the source dataset, and the fields that are the condition."""

    agreement_id: str
    purpose: Purpose
    dataset_id: str
    condition: tuple[str, ...]
    retention: str
    registered: tuple[str, ...]  # the dataset's registered fields, some of which matching reads


def terms_for(session: Session, agreement_id: str, body_id: str) -> Terms:
    """Read the agreement: which dataset holds the condition, and which of its fields it is.

    An agreement the body cannot see (another body's draft, or none) is not found;
    whether the body may use it is the decision point's to say, and recorded.
    """
    agreement = find_visible(session, agreement_id, body_id)
    if agreement is None:
        raise NotFound(f"no agreement '{agreement_id}' exists")
    conditions: dict[str, tuple[str, ...]] = {}
    registered: dict[str, tuple[str, ...]] = {}
    for dataset_id, names in disclosed_fields(agreement).items():
        dataset = get_dataset(session, dataset_id)
        types = {f.name: (f.category, f.type) for f in dataset.fields}
        flags = tuple(n for n in names if types.get(n) == ("attribute", "boolean"))
        if flags:
            conditions[dataset_id], registered[dataset_id] = flags, tuple(types)
    if len(conditions) != 1:
        raise InvalidInput(
            f"agreement '{agreement_id}' must disclose yes/no attribute fields (the eligibility condition) from "
            f"exactly one dataset to run eligibility checks; it does from {len(conditions)}"
        )
    (dataset_id, condition), = conditions.items()
    return Terms(agreement.id, Purpose(agreement.gateway, agreement.objective), dataset_id, condition,
                 agreement.retention, registered[dataset_id])


def access_request(terms: Terms, body_id: str, officer: str, records: int, fields: tuple[str, ...] = ()) -> AccessRequest:
    """The request a job makes: the condition, and the identifiers it matches on (``fields``)."""
    return AccessRequest(body_id=body_id, officer=officer, action=ACTION, dataset_id=terms.dataset_id,
                         purpose=terms.purpose, fields=tuple(dict.fromkeys((*terms.condition, *fields))),
                         records=records, agreement_id=terms.agreement_id)
