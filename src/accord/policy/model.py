"""What a request asks, what the policy knows of an agreement, and what it decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from accord.framework import Purpose


@dataclass(frozen=True)
class AccessRequest:
    """One request to act on a dataset, named by the body and the person or system acting."""

    body_id: str
    officer: str
    action: str
    dataset_id: str
    purpose: Purpose
    fields: tuple[str, ...]
    records: int = 1
    agreement_id: str | None = None
    subjects: tuple[str, ...] = ()  # pseudonymous person keys the request is about, when known before matching

    @property
    def gateway(self) -> str:
        return self.purpose.gateway

    @property
    def objective(self) -> str | None:
        return self.purpose.objective


@dataclass(frozen=True)
class AgreementTerms:
    """A snapshot of one agreement as it bears on one dataset."""

    id: str
    gateway: str
    objective: str | None
    status: str
    start_date: date
    end_date: date
    fields: tuple[str, ...]
    on_excess_fields: str
    max_records_per_request: int | None
    max_requests_per_day: int | None
    retention: str
    dpv_purpose: str | None = None
    embargo: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[str, ...]
    action: str
    purpose: Purpose
    decided_at: datetime
    agreement_id: str | None = None
    permitted_fields: tuple[str, ...] = ()
    removed_fields: tuple[str, ...] = ()
    obligations: dict = field(default_factory=dict)
    daily_limit: int | None = None  # for the recorder to claim atomically when it records the access

    def as_dict(self) -> dict:
        return {
            "allowed": self.allowed,
            "decision": "allow" if self.allowed else "deny",
            "reasons": list(self.reasons),
            "action": self.action,
            "purpose": str(self.purpose),
            "agreement_id": self.agreement_id,
            "permitted_fields": list(self.permitted_fields),
            "removed_fields": list(self.removed_fields),
            "obligations": self.obligations,
            "decided_at": self.decided_at.isoformat(),
        }
