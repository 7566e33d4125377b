"""What share codes add to the hub: routes, commands and pages (no catalogue action: consent is their basis)."""

from __future__ import annotations

from accord.services.purposes import Registration


def register(registration: Registration) -> None:
    registration.api_router("accord.api.routes.sharecodes:router")
    registration.cli_group("share-codes", "accord.cli.sharecodes:app")
    registration.page("accord.web.sharecodes_pages:router")
