"""Shared pieces for the registry tests: a seeded hub and valid specs to mutate.

Named ``registry_support`` (not ``conftest``) so it cannot shadow the shared
tests/conftest.py module for other directories.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from accord_testing import confirm_all

from accord.demo.seed import example_agreements, seed_registry
from accord.framework import load_framework
from accord.registry import agreements, lifecycle
from accord.registry.specs import AgreementSpec
from accord.storage.models import Base

# Same instant as tests/conftest.py NOW (see policy_support.py for why it is repeated).
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
SEEDED_AT = NOW - timedelta(days=800)

EXAMPLES = {spec.id: spec for _, spec in example_agreements()}


def spec(example: str, **changes: object) -> AgreementSpec:
    """A demo agreement as a fresh, re-validated spec, with some fields changed."""
    data = EXAMPLES[example].model_dump()
    data.update(changes)
    return AgreementSpec.model_validate(data)


def seed(hub) -> None:  # noqa: ANN001
    with hub.transaction() as session:
        seed_registry(session, hub.framework, SEEDED_AT)


FRAMEWORK = load_framework()


def memory_registry() -> Engine:
    """A private in-memory SQLite database holding the demo bodies and datasets.

    For the many tests that only read the registry, or whose writes are rolled
    back: seeded once per module instead of once per test. Tests that show
    behaviour on both backends use the shared ``hub`` fixture instead.
    """
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", lambda connection, _: connection.execute("PRAGMA foreign_keys=ON"))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        seed_registry(session, FRAMEWORK, SEEDED_AT)
        session.commit()
    return engine


def rolled_back(engine: Engine) -> Iterator[Session]:
    """A session whose every write is undone when the test ends."""
    with Session(engine) as session:
        try:
            yield session
        finally:
            session.rollback()


# A timeline for driving an agreement through every status (term 2026-01-01 .. 2027-12-31).
DRAFTED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LIVE = DRAFTED + timedelta(weeks=8)  # the default consultation closes exactly then
SUSPENDED = LIVE + timedelta(weeks=4)
AFTER_END = datetime(2028, 1, 1, 9, 0, tzinfo=UTC)

# How to reach each status from a fresh draft: (status, when, reason) steps.
PATHS: dict[str, list[tuple[str, datetime, str]]] = {
    "draft": [],
    "consultation": [("consultation", DRAFTED, "")],
    "active": [("consultation", DRAFTED, ""), ("active", LIVE, "")],
    "suspended": [("consultation", DRAFTED, ""), ("active", LIVE, ""), ("suspended", SUSPENDED, "complaint")],
    "revoked": [("consultation", DRAFTED, ""), ("active", LIVE, ""), ("revoked", SUSPENDED, "powers repealed")],
    "expired": [("consultation", DRAFTED, ""), ("active", LIVE, ""), ("expired", AFTER_END, "")],
}


def drafted(session, framework, agreement_spec: AgreementSpec | None = None, status: str = "draft"):  # noqa: ANN001, ANN201
    """Create the Supporting Families test agreement and take it to ``status``."""
    agreement_spec = agreement_spec or spec("supporting-families-northshire", id="sf-test")
    agreement = agreements.create_draft(session, framework, agreement_spec, "officer@northshire", DRAFTED)
    for to, when, reason in PATHS[status]:
        if to == "consultation":
            confirm_all(session, agreement, when)
        lifecycle.transition(session, framework, agreement, to, actor="officer@northshire", now=when, reason=reason)
    assert agreement.status == status
    return agreement
