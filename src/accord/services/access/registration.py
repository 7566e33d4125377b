"""The actions any body may ask about through ``POST /v1/decisions``, before a purpose package owns them.

``dataset.read`` is the generic request for records. ``records.match``,
``extract.request`` and ``statistics.request`` are decided and recorded here
until the fraud, debt, research and statistics packages register their own
services (each then takes its action into its own registration).
"""

from __future__ import annotations

from accord.policy import Action
from accord.services.purposes import Registration


def register(registration: Registration) -> None:
    registration.action(
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
            discloses=True,
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
