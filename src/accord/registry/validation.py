"""Whether an agreement is lawful and coherent under the framework and the registry.

Returns every problem found (not just the first), each naming the input at
fault, so a data-sharing officer can fix a draft in one pass.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from accord.durations import to_timedelta
from accord.framework import Framework
from accord.registry.specs import AgreementSpec
from accord.storage.models import Body, Dataset


def agreement_problems(session: Session, framework: Framework, spec: AgreementSpec) -> list[str]:
    problems: list[str] = []
    gateway = framework.gateway(spec.gateway)
    if gateway is None:
        known = ", ".join(framework.gateways)
        return [f"gateway: '{spec.gateway}' is not a gateway of {framework.id} (one of {known})"]

    problems += _objective_problems(spec, gateway)
    objective = spec.objective if spec.objective in gateway.objectives else None

    bodies: dict[str, Body] = {}
    for role, ids, allowed in (
        ("disclosers", spec.disclosers, gateway.allowed_disclosers(objective)),
        ("recipients", spec.recipients, gateway.allowed_recipients(objective)),
    ):
        if len(set(ids)) != len(ids):
            problems.append(f"{role}: a body is listed twice")
        for body_id in ids:
            body = session.get(Body, body_id)
            if body is None:
                problems.append(f"{role}: no body '{body_id}' is registered")
                continue
            bodies[body_id] = body
            if body.body_type not in allowed:
                where = f"gateway '{spec.gateway}'" + (f", objective '{objective}'" if objective else "")
                article = "an" if body.body_type[0] in "aeiou" else "a"
                problems.append(
                    f"{role}: '{body_id}' is {article} {body.body_type}, which may not be a "
                    f"{role[:-1]} under {where}"
                )
    for body_id in set(spec.disclosers) & set(spec.recipients):
        problems.append(f"'{body_id}' cannot be both a discloser and a recipient")

    seen_datasets: set[str] = set()
    for index, item in enumerate(spec.data):
        where = f"data[{index}]"
        if item.dataset in seen_datasets:
            problems.append(f"{where}: dataset '{item.dataset}' is listed twice")
        seen_datasets.add(item.dataset)
        dataset = session.get(Dataset, item.dataset)
        if dataset is None:
            problems.append(f"{where}: no dataset '{item.dataset}' is registered")
            continue
        if dataset.body_id not in spec.disclosers:
            problems.append(
                f"{where}: dataset '{item.dataset}' is held by '{dataset.body_id}', "
                "which is not a discloser in this agreement"
            )
        fields = {field.name: field for field in dataset.fields}
        if len(set(item.fields)) != len(item.fields):
            problems.append(f"{where}: a field is listed twice")
        for name in item.fields:
            field = fields.get(name)
            if field is None:
                problems.append(f"{where}: dataset '{item.dataset}' has no field '{name}'")
            elif field.category not in gateway.data_categories:
                problems.append(
                    f"{where}: field '{name}' is {field.category.replace('_', ' ')} data, which the "
                    f"{spec.gateway} gateway does not allow (allowed: {', '.join(gateway.data_categories)})"
                )

    problems += _date_problems(spec, gateway)
    problems += _retention_problems(spec.retention)
    if spec.embargo is not None:
        if not gateway.embargo_allowed:
            problems.append(f"embargo: the {spec.gateway} gateway does not allow hiding accesses from citizens")
        else:
            problems += [p.replace("retention", "embargo") for p in _retention_problems(spec.embargo)]
    for area in spec.areas:
        if area not in framework.areas:
            problems.append(f"areas: '{area}' is not one of {', '.join(framework.areas)}")

    if gateway.pilot and spec.pilot is None:
        problems.append(
            f"pilot: {spec.gateway} agreements run as pilots and need a business case and success measures"
        )
    if not gateway.pilot and spec.pilot is not None:
        problems.append(f"pilot: {spec.gateway} agreements are not pilots; remove the pilot section")
    return problems


def _objective_problems(spec: AgreementSpec, gateway) -> list[str]:  # noqa: ANN001
    if gateway.objectives:
        if spec.objective is None:
            return [f"objective: the {spec.gateway} gateway needs one of: {', '.join(gateway.objectives)}"]
        if spec.objective not in gateway.objectives:
            return [
                f"objective: '{spec.objective}' is not in the closed list for {spec.gateway} "
                f"({', '.join(gateway.objectives)})"
            ]
    elif spec.objective is not None:
        return [f"objective: the {spec.gateway} gateway has no objectives; remove '{spec.objective}'"]
    return []


def _date_problems(spec: AgreementSpec, gateway) -> list[str]:  # noqa: ANN001
    problems = []
    if spec.end_date <= spec.start_date:
        problems.append(f"end_date: {spec.end_date} is not after start_date {spec.start_date}")
    if spec.review_date is not None and not (spec.start_date <= spec.review_date <= spec.end_date):
        problems.append(f"review_date: {spec.review_date} is not between start_date and end_date")
    if gateway.pilot:
        if spec.review_date is None:
            problems.append("review_date: pilots must have a review date")
        limit: timedelta | None = gateway.pilot_limit()
        if limit is not None and spec.end_date - spec.start_date > limit:
            problems.append(
                f"end_date: a pilot may run for at most {gateway.pilot_max_duration} "
                f"({limit.days} days); this one runs {(spec.end_date - spec.start_date).days} days"
            )
    return problems


MAX_DURATION = timedelta(days=100 * 366)


def _retention_problems(retention: str) -> list[str]:
    try:
        as_days = to_timedelta(retention)
    except ValueError:
        return [f"retention: '{retention}' is not an ISO 8601 duration of at most 100 years, such as P1Y or P6M"]
    if as_days <= timedelta(0):
        return [f"retention: '{retention}' must be longer than zero"]
    if as_days > MAX_DURATION:
        return [f"retention: '{retention}' is longer than 100 years"]
    return []
