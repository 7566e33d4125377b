"""Data requests in general: ``POST /v1/decisions`` asks about any catalogue action, and every answer is recorded.

The one entry point for a body that asks the hub for a decision outright (a records
request, a fraud pilot's match): the same governed path as every purpose, with the
people the request names (by National Insurance number) as its subjects. A body may
read its own recorded decisions again by id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from accord.errors import InvalidInput, NotFound
from accord.runtime import Hub
from accord.services.access import AccessRequest, Grant, Purpose, Refusal, ask, catalogue, read_decision, record
from accord.services.subjects import subject_key
from accord.services.unit_of_work import Actor, Reply, run


@dataclass(frozen=True)
class DecisionAsked:
    action: str
    dataset_id: str
    purpose: str  # "gateway" or "gateway:objective", as written
    fields: tuple[str, ...]
    records: int = 1
    agreement_id: str | None = None
    subject_ninos: tuple[str, ...] = ()

    def payload(self) -> dict:
        return {"action": self.action, "dataset": self.dataset_id, "purpose": self.purpose, "fields": list(self.fields),
                "records": self.records, "agreement": self.agreement_id, "subjects": list(self.subject_ninos)}


def decide(hub: Hub, actor: Actor, asked: DecisionAsked, *, key: str | None = None) -> Reply:
    """Decide and record; 200 with the decision either way (a refusal is an answer, not an error)."""
    subjects = tuple(dict.fromkeys(_subject(hub, index, nino) for index, nino in enumerate(asked.subject_ninos)))
    request = AccessRequest(body_id=actor.body_id, officer=actor.officer, action=asked.action,
                            dataset_id=asked.dataset_id, purpose=Purpose.parse(asked.purpose), fields=asked.fields,
                            records=asked.records, agreement_id=asked.agreement_id, subjects=subjects)

    def write(session: Session, answer: Grant | Refusal) -> tuple[int, dict]:
        recorded = record(session, answer, request_id=actor.request_id, client_id=actor.client_id)
        # What the hub may read to answer (permitted_fields) is not always what the body receives:
        # a flag, a grade or a lead discloses none of them (disclosed_fields).
        disclosed = list(recorded.grant.disclosable) if recorded.grant is not None else []
        return 200, {**recorded.decision.as_dict(), "disclosed_fields": disclosed, "request_id": actor.request_id,
                     "decision_id": recorded.decision_id}

    return run(hub, actor, operation="decisions", payload={**asked.payload(), "officer": actor.officer}, key=key,
               read=lambda session, _: ask(session, request), write=write)


def _subject(hub: Hub, index: int, nino: str) -> str:
    key = subject_key(hub, nino=nino)
    if key is None:
        raise InvalidInput(f"subjects[{index}].nino: not a National Insurance number in the form AB123456C")
    return key


def recorded(hub: Hub, actor: Actor, decision_id: int) -> dict:
    """A decision the body was given, as recorded (the hub operator may read any)."""
    with hub.transaction() as session:
        found = read_decision(session, decision_id, None if actor.is_admin else actor.body_id)
    if found is None:
        raise NotFound(f"there is no decision {decision_id} made for your body")
    return found


def actions() -> list[dict]:
    """The catalogue: every action a body may ask about, what it gives, and under which gateways."""
    return [action.as_dict() for action in catalogue().values()]
