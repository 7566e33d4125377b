"""What fuel-poverty eligibility adds to the hub: its action, routes, commands, status pages and job kind."""

from __future__ import annotations

from accord.policy import Action
from accord.services.purposes import Registration


def register(registration: Registration) -> None:
    registration.action(Action(
        "eligibility.check",
        "Learn whether people meet an eligibility condition held by another body.",
        "an eligible / not matched flag per person",
        gateways=("public_service_delivery",),
    ))
    registration.api_router("accord.api.routes.eligibility:router")
    registration.cli_group("eligibility", "accord.cli.eligibility:app")
    registration.page("accord.web.eligibility_pages:router")
    registration.job_kind("eligibility", "accord.services.eligibility.work:start")
