"""Matching a person against the recorded deaths, reading only what the grant permits.

Candidates come from two places: the death events recorded at the hub (their
payloads cut to the granted fields) and GRO's deaths holding, when one is loaded
(``services.holdings.read``, the granted columns of the rows sharing the date of
birth, its day/month transposition, or the postcode or NINO when granted). Only the
cascade's grade "match" says deceased: "partial" (the same date of birth and surname
but another given name, say) says false, because a wrong "deceased" stops
someone's letters and payments. False therefore means "not recorded as deceased on
these details", never "alive".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from accord.errors import InvalidInput, NotFound
from accord.linkage.deterministic import MATCH, verify
from accord.linkage.standardise import standardise_record
from accord.services import holdings
from accord.services.access import Grant
from accord.storage.tables.events import RegistrationEvent

MAX_CANDIDATES = 500


@dataclass(frozen=True)
class Found:
    deceased: bool
    subject: str | None  # the subject key of the death record matched (None: no one)


def _days(dob: date | None) -> list[date]:
    if dob is None:
        return []
    return [dob] + ([dob.replace(month=dob.day, day=dob.month)] if dob.day <= 12 and dob.day != dob.month else [])


def _candidate(record: Mapping[str, Any], fields: Mapping[str, str], ident: str, subject: str | None) -> dict:
    raw = {std: record.get(column) for std, column in fields.items() if record.get(column) not in (None, "")}
    try:
        standard = standardise_record(raw)
    except InvalidInput:  # an unreadable date in a source row: compare without it
        raw.pop("dob", None)
        standard = standardise_record(raw)
    return {**standard, "id": ident, "subject": subject}


def _event_candidates(session: Session, grant: Grant, applicant: dict, fields: Mapping[str, str]) -> list[dict]:
    keys = [RegistrationEvent.match_dob == day for day in _days(applicant.get("dob"))]
    if applicant.get("postcode") and fields.get("postcode") in grant.readable:
        keys.append(RegistrationEvent.match_postcode == applicant["postcode"])
    if not keys:
        return []
    granted = {std: column for std, column in fields.items() if column in grant.readable}
    rows = session.scalars(select(RegistrationEvent).where(RegistrationEvent.kind == "death", or_(*keys))
                           .limit(MAX_CANDIDATES))
    return [_candidate(event.payload, granted, f"event:{event.id}", event.subject_key) for event in rows]


def _holding_candidates(grant: Grant, applicant: dict, fields: Mapping[str, str]) -> list[dict]:
    granted = {std: column for std, column in fields.items() if column in grant.readable}
    filters: list[holdings.Equals] = []
    if granted.get("dob") and applicant.get("dob"):
        filters.append(holdings.Equals(granted["dob"], tuple(_days(applicant["dob"])), as_="date"))
    for std in ("postcode", "nino"):
        if granted.get(std) and applicant.get(std):
            filters.append(holdings.Equals(granted[std], (applicant[std].replace(" ", ""),), as_="code"))
    if not filters:
        return []
    try:
        table = holdings.read(grant, [*granted.values(), holdings.SUBJECT], any_of=filters, limit=MAX_CANDIDATES)
    except NotFound:
        return []  # GRO has loaded no holding: the events recorded here are all there is
    return [_candidate(row, granted, f"holding:{index}", row.get(holdings.SUBJECT))
            for index, row in enumerate(table.to_pylist())]


def recorded_as_dead(session: Session, grant: Grant, applicant: dict, fields: Mapping[str, str]) -> Found:
    """True only when the cascade grades some death record a "match" for these details."""
    permitted = {std for std, column in fields.items() if column in grant.readable}
    applicant = {k: v for k, v in applicant.items() if k in permitted}
    candidates = _event_candidates(session, grant, applicant, fields) + _holding_candidates(grant, applicant, fields)
    verdict = verify(applicant, candidates)
    if verdict.grade != MATCH:
        return Found(False, None)
    subject = next((c["subject"] for c in candidates if c["id"] == verdict.candidate_id), None)
    return Found(True, subject)
