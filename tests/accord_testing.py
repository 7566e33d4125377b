"""Helpers every test directory shares (imported as ``accord_testing``; fixtures live in tests/conftest.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from accord.policy import AccessRequest, Decision
from accord.services.access import Recorded, ask, record


def decide_and_record(session: Session, request: AccessRequest, *, now: datetime, request_id: str = "req-test",
                      client_id: str | None = None) -> tuple[Decision, Recorded]:
    """Ask the decision point and record its answer, in the caller's transaction (the governed path's two calls)."""
    recorded = record(session, ask(session, request, now=now), request_id=request_id, client_id=client_id)
    return recorded.decision, recorded
