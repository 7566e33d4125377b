"""What the deceased check adds to the hub: its action, API route and command."""

from __future__ import annotations

from accord.policy import Action
from accord.services.purposes import Registration


def register(registration: Registration) -> None:
    registration.action(Action(
        "deceased.check",
        "Learn whether a person is recorded as deceased, to stop letters to them.",
        "a deceased / not recorded flag; nothing else about the person",
        gateways=("civil_registration",),
    ))
    registration.api_router("accord.api.routes.deceased:router")
    registration.cli_group("deceased", "accord.cli.deceased:app")
