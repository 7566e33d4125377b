"""The deceased check's entry point, the same for every face: is this person recorded as deceased?

1. intake: the person's details, standardised, and the deaths dataset's fields they need;
2. ask the decision point (action ``deceased.check``) to read those fields and the
   date of death; a refusal reads nothing;
3. under the grant, match against the recorded deaths (``matching``);
4. record the decision, naming the person matched (if any) as the hub resolved them;
5. answer ``{"deceased": true|false}`` and the decision's metadata: nothing about the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from accord.runtime import Hub
from accord.services.access import AccessRequest, Grant, Refusal, ask, record
from accord.services.deceased import intake, matching
from accord.services.deceased.intake import PersonDetails
from accord.services.events import KINDS, PURPOSE
from accord.services.unit_of_work import Actor, Reply, run
from accord.storage.models import Dataset

ACTION = "deceased.check"
DATASET = KINDS["death"].dataset_id


@dataclass(frozen=True)
class _Prepared:
    answer: Grant | Refusal
    found: matching.Found | None = None


def _fields(hub: Hub) -> dict[str, str]:
    with hub.transaction() as session:
        dataset = session.get(Dataset, DATASET)
        registered = [f.name for f in dataset.fields] if dataset is not None else []
    return intake.field_map(registered)


def check(hub: Hub, actor: Actor, person: PersonDetails, *, key: str | None = None) -> Reply:
    """200 ``{"deceased": bool, ...}``, or 403 with the recorded refusal."""

    def prepare() -> _Prepared:
        fields = _fields(hub)
        request = AccessRequest(body_id=actor.body_id, officer=actor.officer, action=ACTION, dataset_id=DATASET,
                                purpose=PURPOSE, fields=intake.requested_fields(person, fields), records=1)
        with hub.transaction() as session:
            answer = ask(session, request)
            if not isinstance(answer, Grant):
                return _Prepared(answer)
            return _Prepared(answer, matching.recorded_as_dead(session, answer, person.standard(), fields))

    def write(session: Session, prepared: _Prepared) -> tuple[int, dict]:
        found = prepared.found
        subjects = [found.subject] if found is not None and found.subject else []
        recorded = record(session, prepared.answer, {"deceased": bool(found and found.deceased)}, subjects,
                          request_id=actor.request_id, client_id=actor.client_id)
        if not recorded.allowed:
            return 403, recorded.refusal(f"{actor.body_id} may not check whether people are deceased")
        return 200, {"deceased": bool(found and found.deceased), **_metadata(recorded.metadata())}

    return run(hub, actor, operation="deceased.check", payload={"officer": actor.officer, **person.payload()},
               key=key, prepare=prepare, write=write)


def _metadata(metadata: dict) -> dict:
    """The answer's keys are the flag and the decision's id, agreement, time and request: nothing else."""
    return {k: metadata[k] for k in ("decision_id", "agreement_id", "decided_at", "request_id")}
