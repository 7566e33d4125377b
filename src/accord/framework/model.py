"""The shape of a framework file, and the questions the rest of Accord asks of it."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StrictBool, StrictInt, field_validator, model_validator

from accord.durations import to_timedelta


class Indicator(BaseModel):
    """Where a factor shows in data: a field of a kind of record, and the values that mean "met".

    Named by the kind of data ("police incidents"), never by a body, so any
    body holding such records can supply it under an agreement.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str
    field: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    values: tuple[StrictBool | StrictInt | str, ...] = Field(min_length=1)


class Factor(BaseModel):
    """One of an objective's listed factors; met when any of its indicators is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    indicators: tuple[Indicator, ...] = Field(min_length=1)


class Objective(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    example: str = ""
    dpv_purpose: HttpUrl
    extra_disclosers: tuple[str, ...] = ()
    extra_recipients: tuple[str, ...] = ()
    # Objectives about people meeting several listed factors (multiple disadvantages).
    factors: dict[str, Factor] = Field(default_factory=dict)
    min_factors: int | None = None

    @model_validator(mode="after")
    def _factors_coherent(self) -> "Objective":
        if self.min_factors is not None and not 1 <= self.min_factors <= len(self.factors):
            raise ValueError(f"min_factors must be between 1 and the number of factors ({len(self.factors)})")
        for name in self.factors:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
                raise ValueError(f"factor name '{name}' must be lower case letters, digits and underscores")
        return self


class Gateway(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    section: str
    summary: str
    dpv_purpose: HttpUrl
    disclosers: tuple[str, ...]
    recipients: tuple[str, ...]
    data_categories: tuple[str, ...]
    pilot: bool = False
    pilot_max_duration: str | None = None
    embargo_allowed: bool = False
    objectives: dict[str, Objective] = Field(default_factory=dict)

    @field_validator("pilot_max_duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            to_timedelta(value)
        return value

    @model_validator(mode="after")
    def _pilot_has_limit(self) -> "Gateway":
        if self.pilot and not self.pilot_max_duration:
            raise ValueError("a pilot gateway needs pilot_max_duration")
        return self

    def allowed_disclosers(self, objective: str | None) -> set[str]:
        extra = self.objectives[objective].extra_disclosers if objective in self.objectives else ()
        return set(self.disclosers) | set(extra)

    def allowed_recipients(self, objective: str | None) -> set[str]:
        extra = self.objectives[objective].extra_recipients if objective in self.objectives else ()
        return set(self.recipients) | set(extra)

    def pilot_limit(self) -> timedelta | None:
        return to_timedelta(self.pilot_max_duration) if self.pilot_max_duration else None


class Framework(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    jurisdiction: str
    areas: tuple[str, ...]
    field_categories: dict[str, str]
    field_types: tuple[str, ...]
    body_types: dict[str, str]
    gateways: dict[str, Gateway]

    @model_validator(mode="after")
    def _cross_references(self) -> "Framework":
        problems: list[str] = []
        for name, gateway in self.gateways.items():
            named = list(gateway.disclosers) + list(gateway.recipients)
            for objective_name, objective in gateway.objectives.items():
                named += list(objective.extra_disclosers) + list(objective.extra_recipients)
            for body_type in named:
                if body_type not in self.body_types:
                    problems.append(f"gateways.{name}: unknown body type '{body_type}'")
            for category in gateway.data_categories:
                if category not in self.field_categories:
                    problems.append(f"gateways.{name}.data_categories: unknown category '{category}'")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def gateway(self, name: str) -> Gateway | None:
        return self.gateways.get(name)

    def purpose_iri(self, gateway: str, objective: str | None = None) -> str:
        gw = self.gateways[gateway]
        if objective and objective in gw.objectives:
            return str(gw.objectives[objective].dpv_purpose)
        return str(gw.dpv_purpose)

