"""The shape of a framework file, and the questions the rest of Accord asks of it."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from accord.durations import to_timedelta


class Objective(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    example: str = ""
    dpv_purpose: HttpUrl
    extra_disclosers: tuple[str, ...] = ()
    extra_recipients: tuple[str, ...] = ()


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

