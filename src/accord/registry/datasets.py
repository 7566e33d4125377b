"""Datasets held by bodies, with a schema of classified fields."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.errors import Conflict, InvalidInput, NotFound
from accord.framework import Framework
from accord.registry.bodies import get_body
from accord.registry.specs import DatasetSpec
from accord.storage.models import Dataset, DatasetField


def add_dataset(session: Session, framework: Framework, spec: DatasetSpec, now: datetime) -> Dataset:
    get_body(session, spec.body_id)
    problems = []
    seen: set[str] = set()
    for index, field in enumerate(spec.fields):
        if field.name in seen:
            problems.append(f"fields[{index}]: field '{field.name}' appears twice")
        seen.add(field.name)
        if field.type not in framework.field_types:
            problems.append(
                f"fields[{index}] '{field.name}': unknown type '{field.type}' "
                f"(one of {', '.join(framework.field_types)})"
            )
    if problems:
        raise InvalidInput(f"dataset '{spec.id}' is invalid", problems)
    if session.get(Dataset, spec.id) is not None:
        raise Conflict(f"dataset '{spec.id}' is already registered")
    dataset = Dataset(
        id=spec.id, body_id=spec.body_id, name=spec.name, description=spec.description, created_at=now
    )
    dataset.fields = [
        DatasetField(
            name=field.name,
            position=position,
            category=field.category,
            type=field.type,
            description=field.description,
        )
        for position, field in enumerate(spec.fields)
    ]
    session.add(dataset)
    session.flush()
    return dataset


def get_dataset(session: Session, dataset_id: str) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"no dataset '{dataset_id}' is registered")
    return dataset


def list_datasets(session: Session, body_id: str | None = None) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.id)
    if body_id:
        query = query.where(Dataset.body_id == body_id)
    return list(session.scalars(query))


def dataset_summary(dataset: Dataset) -> dict:
    return {
        "id": dataset.id,
        "body_id": dataset.body_id,
        "name": dataset.name,
        "description": dataset.description,
        "fields": [
            {"name": f.name, "category": f.category, "type": f.type, "description": f.description}
            for f in dataset.fields
        ],
    }


def dataset_names(session: Session, dataset_ids: list[str]) -> dict[str, str]:
    """{dataset id: its name} for the ids given that are registered."""
    return {d.id: d.name for d in session.scalars(select(Dataset).where(Dataset.id.in_(dataset_ids)))}
