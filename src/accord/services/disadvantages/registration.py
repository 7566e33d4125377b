"""What multiple disadvantages adds to the hub: its action, route, command and pages."""

from __future__ import annotations

from accord.policy import Action
from accord.services.purposes import Registration


def register(registration: Registration) -> None:
    registration.action(Action(
        "households.identify",
        "Learn which households in the requester's area meet two or more of the objective's factors.",
        "household references with the factors met, minimised to what the agreement permits",
        gateways=("public_service_delivery:multiple_disadvantages",),
        holder_use=True,  # the council's own household list and case records are read, decided and recorded too
    ))
    registration.api_router("accord.api.routes.disadvantages:router")
    registration.cli_group("disadvantages", "accord.cli.disadvantages:app")
    registration.page("accord.web.disadvantages_pages:router")
