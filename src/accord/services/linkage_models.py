"""Linkage models kept with their agreement: trained once, then every later run only predicts.

An agreement's model is versioned: storing a newly trained model adds the
next version, and runs use the highest one. Whether a body may train or link
under the agreement is the decision point's to say (``services.access``); the
model itself holds field names and probabilities, no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from accord.clock import utcnow
from accord.errors import Conflict
from accord.linkage.probabilistic import LinkageModel
from accord.registry.agreements import get_agreement
from accord.runtime import Hub
from accord.storage.tables.linkage import LinkageModelRecord


@dataclass(frozen=True)
class StoredModel:
    agreement_id: str
    version: int
    trained_at: datetime
    model: LinkageModel


def _stored(record: LinkageModelRecord) -> StoredModel:
    model = LinkageModel.from_json(record.model, f"agreement {record.agreement_id}'s model v{record.version}")
    return StoredModel(record.agreement_id, record.version, record.trained_at, model)


def latest_model(hub: Hub, agreement_id: str) -> StoredModel | None:
    """The agreement's model in use (its highest version), or None if none has been trained."""
    with hub.transaction() as session:
        get_agreement(session, agreement_id)
        record = session.scalars(
            select(LinkageModelRecord)
            .where(LinkageModelRecord.agreement_id == agreement_id)
            .order_by(LinkageModelRecord.version.desc())
            .limit(1)
        ).first()
        return _stored(record) if record is not None else None


def latest_version(hub: Hub, agreement_id: str) -> int | None:
    """The agreement's highest model version (None: none trained): one indexed read."""
    with hub.transaction() as session:
        return session.scalar(select(func.max(LinkageModelRecord.version))
                              .where(LinkageModelRecord.agreement_id == agreement_id))


def model_text(hub: Hub, agreement_id: str, version: int) -> str | None:
    with hub.transaction() as session:
        return session.scalar(select(LinkageModelRecord.model).where(
            LinkageModelRecord.agreement_id == agreement_id, LinkageModelRecord.version == version))


def store_model(hub: Hub, agreement_id: str, model: LinkageModel, trained_by: str = "cli") -> StoredModel:
    """Keep a trained model as the agreement's next version (retrying once if another run got there first)."""
    for attempt in range(2):
        try:
            with hub.transaction() as session:
                get_agreement(session, agreement_id)
                current = session.scalar(
                    select(func.max(LinkageModelRecord.version)).where(LinkageModelRecord.agreement_id == agreement_id)
                )
                version = (current or 0) + 1
                trained_at = utcnow()
                session.add(LinkageModelRecord(
                    agreement_id=agreement_id, version=version, model=model.to_json(), fields=list(model.fields),
                    trained_at=trained_at, training=dict(model.training), trained_by=trained_by[:64],
                ))
            return StoredModel(agreement_id, version, trained_at, model)
        except IntegrityError:
            if attempt:
                raise Conflict(f"another run stored a model for agreement '{agreement_id}' at the same time; "
                               "run again to use it") from None
    raise AssertionError("unreachable")  # pragma: no cover
