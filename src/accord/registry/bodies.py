"""Public bodies and their types."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.errors import Conflict, InvalidInput, NotFound
from accord.framework import Framework
from accord.registry.specs import BodySpec
from accord.storage.models import Body


def add_body(session: Session, framework: Framework, spec: BodySpec, now: datetime) -> Body:
    if spec.body_type not in framework.body_types:
        known = ", ".join(sorted(framework.body_types))
        raise InvalidInput(f"unknown body type '{spec.body_type}'; known types: {known}")
    if session.get(Body, spec.id) is not None:
        raise Conflict(f"body '{spec.id}' is already registered")
    body = Body(id=spec.id, name=spec.name, body_type=spec.body_type, created_at=now)
    session.add(body)
    session.flush()
    return body


def get_body(session: Session, body_id: str) -> Body:
    body = session.get(Body, body_id)
    if body is None:
        raise NotFound(f"no body '{body_id}' is registered")
    return body


def list_bodies(session: Session, body_type: str | None = None) -> list[Body]:
    query = select(Body).order_by(Body.id)
    if body_type:
        query = query.where(Body.body_type == body_type)
    return list(session.scalars(query))


def body_summary(body: Body) -> dict:
    return {
        "id": body.id,
        "name": body.name,
        "body_type": body.body_type,
        "datasets": [dataset.id for dataset in body.datasets],
    }
