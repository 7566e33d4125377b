"""The minimal answer: households named by the council's own references, with the factor names met.

No indicator value, no other body's identifier or record id, no person's details
ever leave the service: ``Identification.public`` is its one redaction function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Household:
    """One household in the answer: the council's own references and the factor names met."""

    uprn: str | None
    account_refs: tuple[str, ...]
    factors: tuple[str, ...]

    def public(self) -> dict:
        reference: dict[str, Any] = {}
        if self.uprn is not None:
            reference["uprn"] = self.uprn
        if self.account_refs:
            reference["account_refs"] = list(self.account_refs)
        return {"reference": reference, "factors": list(self.factors)}


@dataclass(frozen=True)
class Identification:
    """What the council gets: allowed with households, or refused with the reasons (recorded either way)."""

    allowed: bool
    reasons: tuple[str, ...]
    body_id: str
    agreement_id: str | None
    request_id: str
    decision_ids: tuple[int, ...]
    min_factors: int
    factors_considered: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    households: tuple[Household, ...] = ()
    obligations: dict = field(default_factory=dict)

    def public(self) -> dict:
        """The minimal answer: references the council holds and factor names; nothing from other bodies."""
        return {
            "allowed": self.allowed,
            "reasons": list(self.reasons),
            "agreement_id": self.agreement_id,
            "request_id": self.request_id,
            "decision_ids": list(self.decision_ids),
            "area": self.body_id,
            "min_factors": self.min_factors,
            "factors_considered": list(self.factors_considered),
            "sources": list(self.sources),
            "count": len(self.households),
            "households": [household.public() for household in self.households],
            "obligations": self.obligations,
        }
