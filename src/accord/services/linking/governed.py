"""Linking under an agreement: reading the other body's records is decided and recorded like any access.

Before RIGHT is read, the hub asks the decision point, for the body named, to read
the columns the linkage would use (the agreement must name them): ``linkage.link``
always, ``linkage.train`` when a model will be trained on them, and
``linkage.encode`` when plaintext will be encoded at the hub. A refusal is recorded
and nothing is read. RIGHT is then read with only the permitted columns, and each
read is recorded before anything is written: a bulk action, so its audit entry
holds how many people it covered and a hash commitment to their subject keys.
The hub operator is never a party to an agreement, so it is never granted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.config import load_settings
from accord.errors import InvalidInput, NotFound
from accord.files import parse_mapping
from accord.framework import Purpose
from accord.linkage.records import column_names
from accord.linkage.standardise import resolve_mapping
from accord.registry.agreements import find_visible, not_in_force
from accord.runtime import Hub
from accord.services.access import AccessRequest, Grant, Refusal, ask, record
from accord.services.subjects import IDENTITY_FIELDS, subject_column
from accord.services.unit_of_work import Actor, Reply, run

LINK, TRAIN, ENCODE = "linkage.link", "linkage.train", "linkage.encode"


class LinkRefused(Exception):
    """The decision point refused (the refusal is recorded); ``reply`` is its answer."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body.get("detail", "refused"))
        self.reply = reply


@dataclass(frozen=True)
class Reading:
    grants: dict[str, Grant]
    mapping: dict[str, str]  # RIGHT's standard field -> column, only the permitted columns
    left_rows: int


def _dataset(hub: Hub, actor: Actor, agreement_id: str, dataset_id: str | None) -> tuple[Purpose, str]:
    with hub.transaction() as session:
        agreement = find_visible(session, agreement_id, actor.body_id, actor.is_admin)
        if agreement is None:
            raise NotFound(f"no agreement '{agreement_id}' exists")
        disclosed = list(dict.fromkeys(item.dataset_id for item in agreement.data))
        purpose = Purpose(agreement.gateway, agreement.objective)
    if dataset_id is None:
        if len(disclosed) != 1:
            raise InvalidInput(f"agreement '{agreement_id}' discloses {len(disclosed)} datasets; name the one RIGHT "
                               f"holds with --dataset ({', '.join(disclosed)})")
        dataset_id = disclosed[0]
    elif dataset_id not in disclosed:
        raise InvalidInput(f"agreement '{agreement_id}' does not disclose {dataset_id}")
    return purpose, dataset_id


def ask_to_read(hub: Hub, actor: Actor, request: Any, *, left_rows: int, trains: bool) -> Reading:
    """Ask to read RIGHT's linkage columns (for each use the run will make of them); LinkRefused if refused."""
    from accord.services.linking.run import _read_encoded  # an encoding of RIGHT holds no plaintext to encode

    purpose, dataset_id = _dataset(hub, actor, request.agreement, request.dataset)
    source = f"RIGHT {request.right.name}"
    mapping = resolve_mapping(column_names(request.right, source), parse_mapping(request.right_map, "RIGHT mapping"),
                              source)
    fields = tuple(dict.fromkeys(mapping.values()))
    if not fields:
        raise InvalidInput(f"{source}: no column is a standard field or mapped to one")
    actions = [LINK] + ([TRAIN] if trains else [])
    if request.mode == "pprl" and request.secret is not None and _read_encoded(request.right, "RIGHT") is None:
        actions.append(ENCODE)
    grants: dict[str, Grant] = {}
    with hub.transaction() as session:
        for action in actions:
            answer = ask(session, AccessRequest(body_id=actor.body_id, officer=actor.officer, action=action,
                                                dataset_id=dataset_id, purpose=purpose, fields=fields,
                                                records=left_rows, agreement_id=request.agreement))
            if not isinstance(answer, Grant):
                raise LinkRefused(_record_refusal(hub, actor, answer))
            grants[action] = answer
    permitted = set(grants[LINK].readable)
    return Reading(grants, {std: column for std, column in mapping.items() if column in permitted}, left_rows)


def _record_refusal(hub: Hub, actor: Actor, answer: Refusal) -> Reply:
    def write(session: Session, _: None) -> tuple[int, dict]:
        recorded = record(session, answer, request_id=actor.request_id, client_id=actor.client_id)
        return 403, recorded.refusal(f"{actor.body_id} may not read these records under the agreement; "
                                     "the refusal was recorded")

    return run(hub, actor, operation="linkage.refused", payload=None, key=None, write=write)


def record_reads(hub: Hub, actor: Actor, reading: Reading, right: Any) -> tuple[int, ...]:
    """Record each use of RIGHT, with the people it holds as a count and a commitment; the decision ids."""
    subjects: list[str] = []
    table = getattr(right, "table", None)
    if table is not None:  # plaintext: the people RIGHT names (an encoding names no one the hub can tell)
        identity = {f: f for f in IDENTITY_FIELDS if f in table.column_names}
        keys = subject_column(hub, table, identity, f"RIGHT {reading.grants[LINK].dataset_id}")
        subjects = [k for k in keys.to_pylist() if k]

    def write(session: Session, _: None) -> tuple[int, dict]:
        ids = []
        for action, grant in reading.grants.items():
            recorded = record(session, grant, {"left_records": reading.left_rows}, subjects,
                              request_id=actor.request_id, client_id=actor.client_id)
            if not recorded.allowed:
                return 403, recorded.refusal()
            ids.append(recorded.decision_id)
        return 200, {"decision_ids": ids}

    reply = run(hub, actor, operation="linkage.read", payload=None, key=None, write=write)
    if not reply.ok:
        raise LinkRefused(reply)
    return tuple(reply.body["decision_ids"])


def check_in_force(hub: Hub | None, agreement_id: str) -> None:
    """An encoding made for an agreement is linked only while that agreement is in force (on this hub's register)."""
    if hub is None:
        opened = Hub.open(load_settings())
        try:
            return check_in_force(opened, agreement_id)
        finally:
            opened.close()
    with hub.transaction() as session:
        agreement = find_visible(session, agreement_id, None, True)
        if agreement is None:
            raise NotFound(f"no agreement '{agreement_id}' exists")
        why = not_in_force(agreement, utcnow().date())
    if why:
        raise InvalidInput(f"{why}: records are linked only under an agreement in force")
