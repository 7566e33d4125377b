"""What verification adds to the hub: its action, API routes, command group and pages."""

from __future__ import annotations

from accord.policy import Action
from accord.services.purposes import Registration


def register(registration: Registration) -> None:
    registration.action(Action(
        "identity.verify",
        "Check a person's details against another body's records.",
        "a grade (match / partial / no match) and which fields agreed; never the record",
    ))
    registration.api_router("accord.api.routes.verification:router")
    registration.cli_group("verification", "accord.cli.verification:app")
    registration.page("accord.web.verification_pages:router")
