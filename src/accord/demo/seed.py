"""Load the example register (bodies, datasets, agreements, officers) into a hub."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy.orm import Session

from accord.errors import InvalidInput
from accord.framework import Framework
from accord.registry import agreements, bodies, confirmations, datasets, lifecycle, officers
from accord.registry.specs import AgreementSpec, BodySpec, DatasetSpec

HERE = Path(__file__).resolve().parent


def example_bodies() -> list[BodySpec]:
    raw = yaml.safe_load((HERE / "registry.yaml").read_text())
    return [BodySpec.model_validate(b) for b in raw["bodies"]]


def example_datasets() -> list[DatasetSpec]:
    raw = yaml.safe_load((HERE / "registry.yaml").read_text())
    return [DatasetSpec.model_validate(d) for d in raw["datasets"]]


def example_agreements() -> list[tuple[str, AgreementSpec]]:
    raw = yaml.safe_load((HERE / "agreements.yaml").read_text())
    return [(item["demo_status"], AgreementSpec.model_validate(item["spec"])) for item in raw]


def example_officers() -> list[dict]:
    """The demo's officers: ``{body, subject, name, roles}`` (synthetic people)."""
    return yaml.safe_load((HERE / "officers.yaml").read_text())


def seed_officers(session: Session, now: datetime) -> list[dict]:
    """Register the demo's officers at their bodies; the registered ones, as ``officer_summary`` gives them."""
    return [officers.officer_summary(officers.add_officer(session, o["body"], o["subject"], o["name"], o["roles"], now))
            for o in example_officers()]


@dataclass
class SeedResult:
    created: dict[str, str] = field(default_factory=dict)  # agreement id -> status
    refused: dict[str, list[str]] = field(default_factory=dict)  # agreement id -> reasons


def seed_registry(session: Session, framework: Framework, now: datetime) -> None:
    for spec in example_bodies():
        bodies.add_body(session, framework, spec, now)
    for spec in example_datasets():
        datasets.add_dataset(session, framework, spec, now)


def seed_agreements(session: Session, framework: Framework, now: datetime) -> SeedResult:
    """Take each example agreement to its demo status.

    Agreements shown as active went through a full public consultation that
    the demo places in the past (it opened ten weeks before ``now``). The hub
    operator drafts each one, so every party named in it confirms it before it
    goes to consultation.
    """
    result = SeedResult()
    consultation_opened = now - timedelta(weeks=10)
    for status, spec in example_agreements():
        if status == "refused":
            try:
                agreements.create_draft(session, framework, spec, "accord-hub", now)
            except InvalidInput as refused:
                result.refused[spec.id or spec.name] = refused.problems
                continue
            raise AssertionError(f"example agreement {spec.id} was expected to be refused")
        drafted = now - timedelta(weeks=11) if status == "active" else now
        agreement = agreements.create_draft(session, framework, spec, "accord-hub", drafted)
        if status in ("consultation", "active"):
            opened = consultation_opened if status == "active" else now
            for party in confirmations.still_to_confirm(agreement):
                confirmations.confirm(session, agreement, party, actor=f"{party} data protection officer",
                                      now=drafted)
            lifecycle.transition(session, framework, agreement, "consultation", actor="accord-hub", now=opened)
        if status == "active":
            lifecycle.transition(session, framework, agreement, "active", actor="accord-hub", now=now)
        result.created[agreement.id] = agreement.status
    return result
