"""What record linkage adds to the hub: its actions (each a read of a whole holding) and its commands."""

from __future__ import annotations

from accord.policy import Action
from accord.services.purposes import Registration


def register(registration: Registration) -> None:
    registration.action(
        Action(
            "linkage.train",
            "Train a probabilistic linkage model on another body's records, under an agreement.",
            "a model of field names and probabilities; no record leaves the hub",
            bulk=True,
        ),
        Action(
            "linkage.link",
            "Link the requesting body's records with another body's, under an agreement.",
            "linked pairs of record ids with their match probability",
            bulk=True,
        ),
        Action(
            "linkage.encode",
            "Encode another body's records into keyed Bloom filters at the hub, under an agreement.",
            "Bloom-filter encodings for privacy-preserving linkage",
            bulk=True,
        ),
    )
    registration.cli_group("link", "accord.cli.link:app")
    registration.cli_command("encode", "accord.cli.encode:encode")
