"""Every action a body can ask the hub to perform on a dataset, declared as data.

``decide`` refuses any action not in this catalogue. ``gateways`` limits an
action to agreements under those legal gateways, or ``gateway:objective`` for
one objective of a gateway (None: any gateway). The minimal answer each
purpose needs decides it: an energy supplier gets an eligibility flag, never
records; fraud gets leads; research gets de-identified extracts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    name: str
    description: str
    result: str
    gateways: tuple[str, ...] | None = None

    def permits(self, gateway: str, objective: str | None) -> bool:
        if self.gateways is None:
            return True
        return gateway in self.gateways or (objective is not None and f"{gateway}:{objective}" in self.gateways)


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action(
            "dataset.read",
            "Receive the permitted fields of records in another body's dataset.",
            "records, minimised to the fields the agreement names",
            gateways=(
                "public_service_delivery:multiple_disadvantages",
                "public_service_delivery:tv_retuning",
                "civil_registration",
                "debt",
                "statistics",
            ),
        ),
        Action(
            "identity.verify",
            "Check a person's details against another body's records.",
            "a grade (match / partial / no match) and which fields agreed; never the record",
        ),
        Action(
            "eligibility.check",
            "Learn whether people meet an eligibility condition held by another body.",
            "an eligible / not matched flag per person",
            gateways=("public_service_delivery",),
        ),
        Action(
            "events.receive",
            "Receive civil-registration events (births, deaths, marriages).",
            "event notifications",
            gateways=("civil_registration",),
        ),
        Action(
            "deceased.check",
            "Learn whether a person is recorded as deceased, to stop letters to them.",
            "a deceased / not recorded flag; nothing else about the person",
            gateways=("civil_registration",),
        ),
        Action(
            "households.identify",
            "Learn which households in the requester's area meet two or more of the objective's factors.",
            "household references with the factors met, minimised to what the agreement permits",
            gateways=("public_service_delivery:multiple_disadvantages",),
        ),
        Action(
            "records.match",
            "Match records across bodies to find leads for review.",
            "leads for human review, never findings",
            gateways=("fraud", "debt"),
        ),
        Action(
            "extract.request",
            "Receive a de-identified, pseudonymised linked extract.",
            "a pseudonymised extract",
            gateways=("research", "statistics"),
        ),
        Action(
            "statistics.request",
            "Receive statistics computed from linked data, after disclosure checks.",
            "disclosure-checked aggregates",
            gateways=("statistics", "research"),
        ),
    )
}
