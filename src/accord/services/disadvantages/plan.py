"""Plan: every source a request will read, each asked of the decision point before anything is read.

The sources are the datasets the agreement discloses (another body's records,
decided under the agreement) and the council's own datasets: its household list
(its council-tax accounts, which bound the area) and its own case records, read
under the holder rule (its own records, decided and recorded like any other
read). Only the fields this service can use are asked for: identifiers for
linkage and the factors' indicator fields. The first refusal stops the plan;
the service records it, and nothing is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.errors import Conflict, InvalidInput
from accord.framework import Factor, Framework, Purpose
from accord.registry.agreements import find_visible
from accord.registry.datasets import list_datasets
from accord.runtime import Hub
from accord.services.access import AccessRequest, Grant, Refusal, ask
from accord.services.unit_of_work import Actor
from accord.storage.models import Dataset

ACTION = "households.identify"
PURPOSE = Purpose("public_service_delivery", "multiple_disadvantages")
# A registered field that holds a standard linkage field (the registry's common names).
IDENTITY_FIELDS: dict[str, str] = {
    "first_name": "first_name",
    "surname": "surname",
    "date_of_birth": "dob",
    "address_line_1": "address",
    "postcode": "postcode",
    "nino": "nino",
    "uprn": "uprn",
}
# The council's household list: its own dataset of properties with accounts.
LIST_REQUIRED = ("account_ref", "address_line_1", "postcode")
LIST_OPTIONAL = ("uprn", "liable_name", "joint_liable_name")
_OFFICER = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


@dataclass(frozen=True)
class Source:
    """One dataset read: another body's under the agreement, or the council's own; with its grant."""

    dataset_id: str
    own: bool
    grant: Grant

    @property
    def fields(self) -> tuple[str, ...]:
        return self.grant.readable


@dataclass(frozen=True)
class Plan:
    household_list: Source
    sources: tuple[Source, ...]
    factors: dict[str, Factor]
    min_factors: int


def objective_factors(framework: Framework) -> tuple[dict[str, Factor], int]:
    gateway = framework.gateway(PURPOSE.gateway)
    objective = gateway.objectives.get(PURPOSE.objective) if gateway else None
    if objective is None or not objective.factors:
        raise Conflict(f"the framework {framework.id} lists no factors for {PURPOSE}")
    return dict(objective.factors), objective.min_factors or 2


def indicator_fields(factors: Mapping[str, Factor]) -> set[str]:
    return {indicator.field for factor in factors.values() for indicator in factor.indicators}


def check_officer(officer: str) -> str:
    value = (officer or "").strip()
    if not _OFFICER.match(value):
        raise InvalidInput("the officer must be named in 1-200 printable characters")
    return value


def _wanted(dataset: Dataset, indicators: set[str]) -> tuple[str, ...]:
    """The registered fields this service can use: identifiers for linkage and indicator fields."""
    useful = set(IDENTITY_FIELDS) | indicators
    return tuple(f.name for f in dataset.fields if f.name in useful)


def _household_list(own: Sequence[Dataset], body_id: str) -> tuple[Dataset, tuple[str, ...]]:
    """The council's own list of properties with accounts: its area and the references it knows."""
    candidates = []
    for dataset in own:
        names = {f.name for f in dataset.fields}
        if all(name in names for name in LIST_REQUIRED):
            candidates.append((("uprn" not in names), dataset.id, dataset))
    if not candidates:
        raise Conflict(
            f"'{body_id}' has no household list: register a dataset of its own with the fields "
            f"{', '.join(LIST_REQUIRED)} (its council tax accounts) and load its records")
    _, _, dataset = min(candidates, key=lambda c: (c[0], c[1]))
    names = {f.name for f in dataset.fields}
    return dataset, tuple(name for name in LIST_REQUIRED + LIST_OPTIONAL if name in names)


def plan(hub: Hub, actor: Actor, agreement_id: str, min_factors: int | None, now: datetime) -> Plan | Refusal:
    """Ask about every source before anything is read: a ``Plan`` of grants, or the first refusal."""
    factors, least = objective_factors(hub.framework)
    if min_factors is not None:
        if not least <= min_factors <= len(factors):
            raise InvalidInput(
                f"min_factors must be between {least} (the objective's minimum) and {len(factors)} (its factors)")
        least = min_factors
    indicators = indicator_fields(factors)

    def request(dataset_id: str, fields: tuple[str, ...], agreement: str | None) -> AccessRequest:
        return AccessRequest(body_id=actor.body_id, officer=actor.officer, action=ACTION, dataset_id=dataset_id,
                             purpose=PURPOSE, fields=fields or tuple(sorted(indicators)), records=1,
                             agreement_id=agreement)

    with hub.transaction() as session:
        agreement = find_visible(session, agreement_id, actor.body_id)
        if agreement is None:
            return ask(session, request("", (), agreement_id), now=now)
        disclosed = list(dict.fromkeys(item.dataset_id for item in agreement.data))
        datasets = {d.id: d for d in session.scalars(select(Dataset).where(Dataset.id.in_(disclosed)))}
        sources: list[Source] = []
        for dataset_id in disclosed:
            wanted = _wanted(datasets[dataset_id], indicators)
            if not set(wanted) & indicators:
                continue  # nothing the factors are read from: neither asked for nor read
            answer = ask(session, request(dataset_id, wanted, agreement_id), now=now)
            if not isinstance(answer, Grant):
                return answer
            sources.append(Source(dataset_id, False, answer))
        if not sources:
            return _nothing_to_read(session, disclosed, datasets, indicators, request, now, agreement_id)
        return _with_own(session, actor, now, sources, indicators, factors, least, request)


def _nothing_to_read(session: Session, disclosed, datasets, indicators, request, now, agreement_id) -> Refusal:  # noqa: ANN001
    first = disclosed[0] if disclosed else ""
    answer = ask(session, request(first, _wanted(datasets[first], indicators) if first else (), agreement_id), now=now)
    if not isinstance(answer, Grant):
        return answer
    raise Conflict(f"agreement '{agreement_id}' discloses none of the fields the factors are read from "
                   f"({', '.join(sorted(indicators))})")


def _with_own(session: Session, actor: Actor, now: datetime, sources: list[Source],
              indicators: set[str], factors: dict[str, Factor], least: int, request) -> Plan | Refusal:  # noqa: ANN001
    """The council's own household list and case records, each read under the holder rule."""
    own = list_datasets(session, actor.body_id)
    listed, list_fields = _household_list(own, actor.body_id)
    answer = ask(session, request(listed.id, list_fields, None), now=now)
    if not isinstance(answer, Grant):
        return answer
    household_list = Source(listed.id, True, answer)
    for dataset in own:
        if dataset.id == listed.id:
            continue
        wanted = _wanted(dataset, indicators)
        if set(wanted) & indicators:
            answer = ask(session, request(dataset.id, wanted, None), now=now)
            if not isinstance(answer, Grant):
                return answer
            sources.append(Source(dataset.id, True, answer))
    return Plan(household_list, tuple(sources), factors, least)
