"""Helpers for the linkage tests: standardised records built from raw values."""

from __future__ import annotations

from typing import Any

from accord.linkage.standardise import standardise_record


def record(id: str = "r1", **raw: Any) -> dict[str, Any]:
    """A standardised record from raw standard-field values, with an ``id``."""
    out = standardise_record(raw)
    out["id"] = id
    return out


def applicant(**overrides: Any) -> dict[str, Any]:
    """Margaret Thompson's application, with any field replaced (None removes it)."""
    raw = {"first_name": "Margaret", "surname": "Thompson", "dob": "1961-03-12", "postcode": "SW1A 1AA",
           "nino": "AB123456C"}
    raw.update(overrides)
    return record("app", **{k: v for k, v in raw.items() if v is not None})
