""""Who used my data": a person's audit entries, in words a citizen understands."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from sqlalchemy import select

from accord.audit.log import entries_about
from accord.runtime import Hub
from accord.storage.models import Agreement, Body, DatasetField

DEMO_CITIZENS = Path(__file__).resolve().parent.parent / "demo" / "citizens.yaml"


@dataclass(frozen=True)
class DemoCitizen:
    name: str
    nino: str


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


def accesses(hub: Hub, person_key: str, now: datetime) -> list[dict]:
    """Every logged use of this person's data, newest first; embargoed ones stay hidden until due."""
    with hub.transaction() as session:
        entries = entries_about(session, person_key, now=now)
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
            }
        )
    return shown
