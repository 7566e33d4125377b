"""The event kinds civil registration records, and the registered dataset each one's fields come from."""

from __future__ import annotations

from dataclasses import dataclass

from accord.errors import InvalidInput
from accord.framework import Purpose

PURPOSE = Purpose("civil_registration")
RECEIVE = "events.receive"


@dataclass(frozen=True)
class EventKind:
    """An event kind, the registered dataset its fields come from, and the date it records."""

    name: str
    dataset_id: str
    date_field: str


KINDS: dict[str, EventKind] = {
    kind.name: kind
    for kind in (
        EventKind("birth", "gro-births", "date_of_birth"),
        EventKind("death", "gro-deaths", "date_of_death"),
        EventKind("marriage", "gro-marriages", "marriage_date"),
    )
}


def kind_named(name: str, where: str) -> EventKind:
    kind = KINDS.get(name)
    if kind is None:
        raise InvalidInput(f"{where}: '{name}' is not an event kind (one of {', '.join(KINDS)})")
    return kind
