"""User-authored inputs (API bodies, CLI files), validated for shape only.

Whether an input makes sense against the framework and the registry (a body
allowed on a gateway, a field that exists) is checked in validation.py, so the
same rules apply whichever face the input came through.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"),
    Field(description="Lower-case letters, digits and hyphens, 3-64 characters."),
]
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BodySpec(StrictModel):
    id: Slug
    name: ShortText
    body_type: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,64}$")]


class FieldSpec(StrictModel):
    name: FieldName
    category: Literal["direct_identifier", "quasi_identifier", "attribute", "special_category"]
    type: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,32}$")] = "string"
    description: str = ""


class DatasetSpec(StrictModel):
    id: Slug
    body_id: Slug
    name: ShortText
    description: str = ""
    fields: Annotated[list[FieldSpec], Field(min_length=1, max_length=500)]


class DisclosedData(StrictModel):
    dataset: Slug
    fields: Annotated[list[FieldName], Field(min_length=1, max_length=500)]


class Limits(StrictModel):
    max_records_per_request: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    max_requests_per_day: Annotated[int, Field(ge=1, le=100_000_000)] | None = None


class PilotSpec(StrictModel):
    business_case: Text
    success_measures: Annotated[list[ShortText], Field(min_length=1, max_length=50)]


class AgreementSpec(StrictModel):
    """A draft agreement, carrying the fields the public DEA register publishes."""

    id: Slug | None = Field(None, description="Optional; generated when omitted.")
    name: ShortText
    gateway: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,64}$")]
    objective: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,64}$")] | None = None
    purpose: Text
    benefits: Text
    disclosers: Annotated[list[Slug], Field(min_length=1, max_length=50)]
    recipients: Annotated[list[Slug], Field(min_length=1, max_length=50)]
    processors: Annotated[list[ShortText], Field(max_length=50)] = []
    data: Annotated[list[DisclosedData], Field(min_length=1, max_length=100)]
    sharing_method: Text
    retention: Annotated[str, StringConstraints(pattern=r"^P[0-9YMWDTHS.]+$")] = Field(
        description="ISO 8601 duration, e.g. P1Y"
    )
    start_date: date
    end_date: date
    review_date: date | None = None
    contact: ShortText
    areas: Annotated[list[ShortText], Field(min_length=1, max_length=4)]
    notes: str = ""
    on_excess_fields: Literal["minimise", "deny"] = "minimise"
    limits: Limits = Limits()
    pilot: PilotSpec | None = None
    consultation_weeks: Annotated[int, Field(ge=1, le=52)] | None = None
    embargo: Annotated[str, StringConstraints(pattern=r"^P[0-9YMWDTHS.]+$")] | None = Field(
        None, description="ISO 8601 duration for which accesses are hidden from the citizen (fraud only)"
    )
