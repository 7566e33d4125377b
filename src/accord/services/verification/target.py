"""The target of a check: the agreement, as the caller may know it, and the dataset it is matched against.

Resolved targets are kept on the hub for a couple of seconds, so a busy
endpoint does not read the agreement on every call. That is safe to be briefly
stale: the decision point reads the agreement afresh for every check and is
the only authority on whether it may run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from accord.errors import InvalidInput
from accord.framework import Purpose
from accord.linkage.standardise import known_columns
from accord.registry.agreements import disclosed_fields, find_visible
from accord.runtime import Hub
from accord.storage.models import Dataset

UNKNOWN_PURPOSE = Purpose("unknown")  # an agreement the caller cannot see: still decided (refused) and recorded
COMPARED_FIELDS = ("nino", "first_name", "middle_name", "surname", "dob", "postcode")
TTL_SECONDS = 2.0


@dataclass(frozen=True)
class Target:
    agreement_id: str
    dataset_id: str | None
    purpose: Purpose
    field_map: Mapping[str, str] = field(default_factory=dict)  # standard field -> the dataset's field
    disclosed: tuple[str, ...] = ()  # the dataset fields the agreement names

    @property
    def known(self) -> bool:
        return self.purpose != UNKNOWN_PURPOSE and self.dataset_id is not None


def resolve(session: Session, body_id: str, is_admin: bool, agreement_id: str, dataset_id: str | None = None) -> Target:
    """The dataset and purpose an agreement governs, as the caller may know them.

    Another body's draft is as absent as an unknown id. An agreement disclosing
    several datasets needs ``dataset_id`` to say which.
    """
    agreement = find_visible(session, agreement_id, body_id, is_admin)
    if agreement is None:
        return Target(agreement_id, dataset_id, UNKNOWN_PURPOSE)
    fields_of = disclosed_fields(agreement)
    disclosed = list(fields_of)
    if dataset_id is None:
        if len(disclosed) > 1:
            raise InvalidInput(
                f"agreement '{agreement_id}' covers several datasets; name one in 'dataset' ({', '.join(disclosed)})")
        dataset_id = disclosed[0] if disclosed else None
    dataset = session.get(Dataset, dataset_id) if dataset_id else None
    registered = [f.name for f in dataset.fields] if dataset is not None else []
    return Target(agreement_id, dataset_id, Purpose(agreement.gateway, agreement.objective),
                  known_columns(registered, COMPARED_FIELDS),
                  tuple(fields_of.get(dataset_id, ())))


class Targets:
    """Resolved targets for ``TTL_SECONDS`` (see the module docstring); one per hub."""

    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self._items: dict[tuple, tuple[float, Target]] = {}
        self._lock = threading.Lock()

    def get(self, hub: Hub, body_id: str, is_admin: bool, agreement_id: str, dataset_id: str | None) -> Target:
        key = (body_id, is_admin, agreement_id, dataset_id)
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with hub.transaction() as session:
            target = resolve(session, body_id, is_admin, agreement_id, dataset_id)
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = (now, target)
        return target


def targets(hub: Hub) -> Targets:
    return hub.cache("verification.targets", Targets)
