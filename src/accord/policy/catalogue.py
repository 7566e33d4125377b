"""Actions a body can ask the hub to perform on a dataset, declared as data.

``decide`` refuses any action not in the catalogue it is given. The catalogue
is assembled from what each purpose package registers (``services.purposes``);
this module only says what an action is.

``gateways`` limits an action to agreements under those legal gateways, or
``gateway:objective`` for one objective of a gateway (None: any gateway). The
minimal answer each purpose needs decides the rest:

- ``discloses``: the permitted fields themselves leave the hub (records,
  event payloads). Otherwise the hub may only read them to compute a derived
  answer (a grade, a flag, a household reference), and discloses none.
- ``holder_use``: the body holding the dataset may have the hub read its own
  records for this action (a council's own household list), without an
  agreement; the read is decided and recorded all the same.
- ``bulk``: the action covers a whole holding (training a model, linking,
  encoding); its audit entry records how many people it covered and a hash
  commitment to their keys, not millions of keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    name: str
    description: str
    result: str
    gateways: tuple[str, ...] | None = None
    discloses: bool = False
    holder_use: bool = False
    bulk: bool = False

    def permits(self, gateway: str, objective: str | None) -> bool:
        if self.gateways is None:
            return True
        return gateway in self.gateways or (objective is not None and f"{gateway}:{objective}" in self.gateways)

    def as_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "result": self.result,
                "gateways": list(self.gateways) if self.gateways is not None else None,
                "discloses_fields": self.discloses}


class Catalogue(Mapping[str, Action]):
    """The actions in force, by name; a name declared twice is a programming error, refused at once."""

    def __init__(self, actions: Iterable[Action]) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions:
            if action.name in self._actions:
                raise ValueError(f"action '{action.name}' is declared twice")
            self._actions[action.name] = action

    def __getitem__(self, name: str) -> Action:
        return self._actions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._actions)

    def __len__(self) -> int:
        return len(self._actions)
