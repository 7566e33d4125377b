"""What civil-registration events add to the hub: the action, routes, commands and the webhook worker."""

from __future__ import annotations

from accord.policy import Action
from accord.services.purposes import Registration


def register(registration: Registration) -> None:
    registration.action(Action(
        "events.receive",
        "Receive civil-registration events (births, deaths, marriages).",
        "event notifications, minimised to the fields the agreement names",
        gateways=("civil_registration",),
        discloses=True,
    ))
    registration.api_router("accord.api.routes.events:router")
    registration.cli_group("events", "accord.cli.events:app")
    registration.worker("accord.services.events.delivery:ServerDeliveries")
