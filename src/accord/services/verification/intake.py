"""Intake: what a verification request is, and applicants' details validated and standardised.

Nothing here reads a body's records. An applicant's details are standardised
once, here, the way the cascade compares them (``accord.linkage.standardise``);
every problem is named by its field, and no value is ever repeated in an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from accord.errors import InvalidInput
from accord.linkage.standardise import (
    parse_date, standardise_address, standardise_name, standardise_nino, standardise_postcode,
)

# What an applicant may give, and must.
APPLICANT_FIELDS = ("first_name", "middle_name", "surname", "dob", "postcode", "address", "nino")
REQUIRED_FIELDS = ("first_name", "surname", "dob", "postcode")
MAX_BATCH = 10_000
FIELD_LABELS = {
    "first_name": "first name", "middle_name": "middle name", "surname": "surname", "dob": "date of birth",
    "postcode": "postcode", "address": "address", "nino": "National Insurance number",
}


@dataclass(frozen=True)
class CheckRequest:
    """A check of one applicant or a batch, under an agreement, as any face received it.

    ``applications`` are (reference, details) pairs; ``standardised`` says the
    details are already standard (a batch file is standardised column by column).
    """

    agreement_id: str
    applications: tuple[tuple[str | None, Mapping[str, Any]], ...]
    dataset_id: str | None = None
    standardised: bool = False
    single: bool = False  # one applicant: the answer is that applicant's result, not a list

    def payload(self) -> dict:
        """What an idempotency key stands for (built only when a key is sent)."""
        return {"agreement": self.agreement_id, "dataset": self.dataset_id, "single": self.single,
                "applications": [[reference, dict(details)] for reference, details in self.applications]}


@dataclass(frozen=True)
class Application:
    reference: str | None
    applicant: Mapping[str, Any]  # standardised


def present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def standardise_applicant(raw: Mapping[str, Any], where: str = "applicant", today: date | None = None) -> dict:
    """One applicant's details in standard form, or InvalidInput naming every field at fault.

    Required: first_name, surname, dob, postcode; optional: middle_name, address, nino.
    Dates are YYYY-MM-DD, DD/MM/YYYY (the UK order) or YYYYMMDD.
    """
    problems: list[str] = []
    for name in raw:
        if name not in APPLICANT_FIELDS:
            problems.append(f"{where}.{name}: not a field an applicant has (one of {', '.join(APPLICANT_FIELDS)})")
    out: dict[str, Any] = {}
    for name in APPLICANT_FIELDS:
        value = raw.get(name)
        if not present(value):
            if name in REQUIRED_FIELDS:
                problems.append(f"{where}.{name}: enter the applicant's {FIELD_LABELS[name]}")
            continue
        if not isinstance(value, (str, date)) or (isinstance(value, str) and len(value) > 200):
            problems.append(f"{where}.{name}: must be text of at most 200 characters")
            continue
        std, problem = _standard(name, value, where, today or date.today())
        if problem:
            problems.append(problem)
        elif std is not None:
            out[name] = std
    if problems:
        raise InvalidInput("the applicant's details are not valid", problems)
    return out


def _standard(name: str, value: Any, where: str, today: date) -> tuple[Any, str | None]:
    if name in ("first_name", "middle_name", "surname"):
        std = standardise_name(value)
        return std, None if std else f"{where}.{name}: the {FIELD_LABELS[name]} must contain letters"
    if name == "dob":
        std = parse_date(value)
        if std is None:
            return None, f"{where}.dob: not a date of birth in a known format (YYYY-MM-DD or DD/MM/YYYY)"
        return std, f"{where}.dob: the date of birth is in the future" if std > today else None
    if name == "postcode":
        std = standardise_postcode(value)
        return std, None if std else f"{where}.postcode: not a valid UK postcode (like SW1A 1AA)"
    if name == "nino":
        std = standardise_nino(value)
        return std, None if std else f"{where}.nino: not a valid National Insurance number (like AB123456C)"
    return standardise_address(value), None


def applications(request: CheckRequest) -> tuple[Application, ...]:
    """The request's applications, validated and standardised; references unique."""
    given: Sequence = request.applications
    if not given:
        raise InvalidInput("there are no applications to check")
    if len(given) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH:,} applications may be checked at once; got {len(given):,}")
    checked, seen = [], set()
    for position, (reference, raw) in enumerate(given):
        where = "applicant" if len(given) == 1 else f"applications[{position}]"
        if reference is not None:
            if reference in seen:
                raise InvalidInput("the applications are not valid", [f"{where}.reference: repeats an earlier reference"])
            seen.add(reference)
        checked.append(Application(reference, dict(raw) if request.standardised else standardise_applicant(raw, where)))
    return tuple(checked)
