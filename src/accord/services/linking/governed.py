"""Linking under an agreement: reading the other body's records is decided and recorded like any access.

Before RIGHT is read, the hub asks the decision point, for the body named, to read
the columns the linkage would use (the agreement must name them): ``linkage.link``
always, ``linkage.train`` when a model will be trained on them, and
``linkage.encode`` when plaintext will be encoded at the hub. A refusal is recorded
and nothing is read. RIGHT is then read with only the permitted columns (a column
named like a standard field is not read unless permitted), and each read is
recorded before anything is written: a bulk action, so its audit entry holds how
many people it covered and a hash commitment to their subject keys. The pairs
name RIGHT's records by their row key (``record_id``, else ``id``, else the row
number), never by another of its columns. An encoding of RIGHT (``accord
encode``) is asked for as the fields its filters stand for, and a filter the
decision does not permit is left out of the comparison. The hub operator is
never a party to an agreement, so it is never granted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.config import load_settings
from accord.errors import InvalidInput, NotFound
from accord.files import parse_mapping
from accord.framework import Purpose
from accord.linkage.records import column_names, read_records
from accord.linkage.standardise import STANDARD_FIELDS, resolve_mapping
from accord.registry.agreements import disclosed_fields, find_visible, not_in_force
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


ROW_KEYS = ("record_id", "id")  # the columns RIGHT's pairs may name its records by (linkage.prepare's default ids)


@dataclass(frozen=True)
class Reading:
    grants: dict[str, Grant]
    mapping: dict[str, str]  # RIGHT's standard field -> column (or, for an encoding, field), only the permitted
    left_rows: int
    encoded: pa.Table | None = None  # RIGHT as the Bloom-filter encoding its body made, if it is one


def _dataset(hub: Hub, actor: Actor, agreement_id: str, dataset_id: str | None) -> tuple[Purpose, str]:
    with hub.transaction() as session:
        agreement = find_visible(session, agreement_id, actor.body_id, actor.is_admin)
        if agreement is None:
            raise NotFound(f"no agreement '{agreement_id}' exists")
        disclosed = list(disclosed_fields(agreement))
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
    if request.right_id is not None and request.right_id not in ROW_KEYS:
        raise InvalidInput(f"--right-id {request.right_id}: under an agreement the pairs name RIGHT's records by "
                           f"their row key ({' or '.join(ROW_KEYS)}), not by another of their columns")
    encoded = _read_encoded(request.right, "RIGHT") if request.mode == "pprl" else None
    if encoded is not None:
        mapping = _encoded_fields(encoded, parse_mapping(request.right_map, "RIGHT mapping"))
    else:
        mapping = resolve_mapping(column_names(request.right, source),
                                  parse_mapping(request.right_map, "RIGHT mapping"), source)
    fields = tuple(dict.fromkeys(mapping.values()))
    if not fields:
        raise InvalidInput(f"{source}: no column is a standard field or mapped to one")
    actions = [LINK] + ([TRAIN] if trains else [])
    if request.mode == "pprl" and encoded is None:
        actions.append(ENCODE)
    grants: dict[str, Grant] = {}
    refusals: list[Refusal] = []
    with hub.transaction() as session:
        for action in actions:
            answer = ask(session, AccessRequest(body_id=actor.body_id, officer=actor.officer, action=action,
                                                dataset_id=dataset_id, purpose=purpose, fields=fields,
                                                records=left_rows, agreement_id=request.agreement))
            if isinstance(answer, Grant):
                grants[action] = answer
            else:
                refusals.append(answer)
    if refusals:  # every use refused is recorded; nothing is read, so no use allowed alongside is recorded
        raise LinkRefused(_record_refusals(hub, actor, refusals))
    permitted = set.intersection(*(set(grant.readable) for grant in grants.values()))
    return Reading(grants, {std: column for std, column in mapping.items() if column in permitted}, left_rows,
                   encoded)


def _encoded_fields(encoded: pa.Table, mapping: dict[str, str]) -> dict[str, str]:
    """{standard field: the dataset's field} for each field the encoding holds filters for (named as mapped)."""
    from accord.linkage import pprl

    unknown = [std for std in mapping if std not in STANDARD_FIELDS]
    if unknown:
        raise InvalidInput(f"RIGHT mapping: '{unknown[0]}' is not a standard field "
                           f"(standard fields: {', '.join(STANDARD_FIELDS)})")
    held = {}
    for spec in pprl.bloom.FIELD_SPECS:
        column = pprl.filter_column(spec.name)
        if column in encoded.column_names and encoded.column(column).null_count < encoded.num_rows:
            held[spec.name] = mapping.get(spec.name, spec.name)
    return held


def notes(reading: Reading) -> list[str]:
    """What the decision left out of the run, for the person running it."""
    grant = reading.grants[LINK]
    removed = sorted({f for g in reading.grants.values() for f in g.decision.removed_fields})
    if not removed:
        return []
    return [f"RIGHT: not read, as agreement {grant.decision.agreement_id} does not name them: {', '.join(removed)}"]


def read_right(reading: Reading, request: Any) -> Any:
    """RIGHT as the grants permit: only the permitted columns, and its row key, are read (an encoding keeps
    only the permitted fields' filters)."""
    from accord.linkage import pprl
    from accord.linkage.prepare import prepare_table

    if reading.encoded is not None:
        table = reading.encoded
        for spec in pprl.bloom.FIELD_SPECS:
            column = pprl.filter_column(spec.name)
            if spec.name not in reading.mapping and column in table.column_names:
                table = table.set_column(table.column_names.index(column), table.schema.field(column),
                                         pa.nulls(table.num_rows, table.schema.field(column).type))
        return table
    label = f"RIGHT {request.right.name}"
    names = column_names(request.right, label)
    row_key = request.right_id or next((c for c in ROW_KEYS if c in names), None)
    wanted = list(dict.fromkeys([*reading.mapping.values(), *([row_key] if row_key else [])]))
    table = read_records(request.right, label, columns=[n for n in names if n in wanted])  # only those columns
    return prepare_table(table, reading.mapping, row_key, label)


def _record_refusals(hub: Hub, actor: Actor, answers: list[Refusal]) -> Reply:
    """Record each refused use; the answer names the first decision, lists them all, and gives every reason."""
    def write(session: Session, _: None) -> tuple[int, dict]:
        recorded = [record(session, answer, request_id=actor.request_id, client_id=actor.client_id)
                    for answer in answers]
        body = recorded[0].refusal(f"{actor.body_id} may not read these records under the agreement; "
                                   "the refusal was recorded")
        body["reasons"] = list(dict.fromkeys(r for each in recorded for r in each.decision.reasons))
        body["decision_ids"] = [each.decision_id for each in recorded]
        return 403, body

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
        # Linking first: it alone takes the day's place; training or encoding the same records is part of
        # the same access, recorded beside it, or not at all if the link is refused when recorded.
        ids = []
        for action, grant in sorted(reading.grants.items(), key=lambda item: item[0] != LINK):
            recorded = record(session, grant, {"left_records": reading.left_rows}, subjects,
                              request_id=actor.request_id, client_id=actor.client_id, claimed=action != LINK)
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
