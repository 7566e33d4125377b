"""The citizen's "who used my data": a person's audit entries, in words a citizen understands.

A person is found under every subject key their verified identity resolves to
(``services.subjects.identity_keys``): their National Insurance number's, and their
name and date of birth's, so a check made by a body that holds no NINO shows too.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import select

from accord.audit.log import entries_about
from accord.runtime import Hub
from accord.services.subjects import identity_keys
from accord.storage.models import Agreement, Body, CitizenSession, DatasetField

DEMO_CITIZENS = Path(__file__).resolve().parent.parent / "demo" / "citizens.yaml"


@dataclass(frozen=True)
class DemoCitizen:
    """A synthetic person the development identity provider signs in, with what a real one would verify."""

    name: str
    nino: str
    first_name: str | None = None
    surname: str | None = None
    date_of_birth: str | None = None

    def keys(self, hub: Hub) -> tuple[str, ...]:
        return identity_keys(hub, nino=self.nino, first_name=self.first_name, surname=self.surname,
                             dob=self.date_of_birth)


CITIZENS_FILE = "citizens.json"  # written by `accord demo` from the synthetic population


def demo_citizens(data_dir: Path | None = None) -> list[DemoCitizen]:
    """People the development identity provider can sign in as (all synthetic).

    The demo writes DATA_DIR/citizens.json with people from its synthetic
    population; without it, the three bundled example people are offered.
    """
    chosen = data_dir / CITIZENS_FILE if data_dir else None
    if chosen is not None and chosen.is_file():
        return [DemoCitizen(**item) for item in json.loads(chosen.read_text(encoding="utf-8"))]
    return [DemoCitizen(**item) for item in yaml.safe_load(DEMO_CITIZENS.read_text(encoding="utf-8"))]


def write_demo_citizens(data_dir: Path, people: list[DemoCitizen]) -> None:
    """The people the development identity provider offers (``accord demo`` writes its chosen ones)."""
    path = data_dir / CITIZENS_FILE
    temp = path.with_suffix(".json.tmp")
    temp.write_text(json.dumps([asdict(p) for p in people], indent=2), encoding="utf-8")
    os.replace(temp, path)


def add_demo_citizen(data_dir: Path, person: DemoCitizen) -> None:
    """Offer one more person at development sign-in (a demo step found someone its request named)."""
    people = demo_citizens(data_dir)
    if all(p.nino != person.nino for p in people):
        write_demo_citizens(data_dir, [*people, person])


def accesses(hub: Hub, person_keys: str | tuple[str, ...], now: datetime) -> list[dict]:
    """Every logged use of this person's data (under any key their identity resolves to), newest first;
    embargoed ones stay hidden until due."""
    with hub.transaction() as session:
        entries = entries_about(session, person_keys, now=now)
        bodies = dict(session.execute(select(Body.id, Body.name)).all())
        agreements = dict(session.execute(select(Agreement.id, Agreement.name)).all())
        labels = {
            (dataset_id, name): description
            for dataset_id, name, description in session.execute(
                select(DatasetField.dataset_id, DatasetField.name, DatasetField.description)
            )
            if description
        }
    framework = hub.framework
    shown = []
    for entry in entries:
        purpose = entry.get("purpose") or ""
        gateway_name, _, objective = purpose.partition(":")
        gateway = framework.gateway(gateway_name)
        purpose_title = gateway.title if gateway else purpose
        if gateway and objective in gateway.objectives:
            purpose_title = f"{gateway.title}: {gateway.objectives[objective].title}"
        shown.append(
            {
                "when": entry["occurred_at"],
                "body_id": entry.get("body_id"),
                "body": bodies.get(entry.get("body_id"), entry.get("body_id")),
                "actor": entry.get("actor"),
                "purpose": purpose,
                "purpose_title": purpose_title,
                "agreement_id": entry.get("agreement_id"),
                "agreement": agreements.get(entry.get("agreement_id"), entry.get("agreement_id")),
                "dataset_id": entry.get("dataset_id"),
                "fields": entry.get("fields", []),
                "field_labels": [
                    labels.get((entry.get("dataset_id"), f), f.replace("_", " ")) for f in entry.get("fields", [])
                ],
                "outcome": entry.get("outcome"),
                "shared": entry.get("outcome") == "allow",
                "leaf_index": entry.get("leaf_index"),
                "kind": entry.get("kind"),
                "action": entry.get("action"),
            }
        )
    return shown


# ------------------------------------------------------------------ sign-in sessions


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(hub: Hub, person_key: str, now: datetime) -> str:
    """A new sign-in: its id for the cookie; only a hash of it is kept, with the person's main key."""
    session_id = secrets.token_urlsafe(32)
    with hub.transaction() as db:
        db.add(CitizenSession(id_hash=_session_hash(session_id), person_key=person_key, created_at=now,
                              expires_at=now + timedelta(minutes=hub.settings.citizen_session_minutes)))
    return session_id


def session_live(hub: Hub, session_id: str, person_key: str, now: datetime) -> bool:
    with hub.transaction() as db:
        row = db.get(CitizenSession, _session_hash(session_id))
        return row is not None and row.ended_at is None and row.expires_at > now and row.person_key == person_key


def end_session(hub: Hub, session_id: str, now: datetime) -> None:
    """Sign out: a copy of the cookie no longer signs anyone in."""
    with hub.transaction() as db:
        row = db.get(CitizenSession, _session_hash(session_id))
        if row is not None and row.ended_at is None:
            row.ended_at = now
