"""Verification's entry points, the same for the API, the pages and the command line.

``check`` takes the governed path:

1. intake: validate and standardise the applicants; resolve the agreement to
   the dataset and purpose it governs (``target``);
2. ask the decision point (``services.access.ask``) for the fields the check
   needs; a refusal reads nothing;
3. under the grant, read the holding's permitted columns and match
   (``matching``): for a few applicants against a built index, in the write
   transaction's read phase, which concurrent checks share; otherwise
   beforehand, in a transaction of its own (``IN_TRANSACTION``);
4. record the decision, with the people matched as its subjects, in the unit
   of work's transaction (``services.access.record``, which re-judges quotas);
5. answer with the minimal answer (``answer.minimise``), or the recorded refusal.

``train_model`` is a read of the whole holding, decided and recorded the same
way (action ``linkage.train``) for the body that asks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from accord.errors import Forbidden, NotFound
from accord.runtime import Hub
from accord.services import holdings
from accord.services.access import AccessRequest, Grant, Refusal, ask, record
from accord.services.linkage_models import StoredModel
from accord.services.linking import TRAIN
from accord.services.unit_of_work import Actor, Reply, run
from accord.services.verification import intake, matching
from accord.services.verification.answer import Matched, minimise
from accord.services.verification.intake import Application, CheckRequest
from accord.services.verification.model import past_applications, train_on
from accord.services.verification.target import COMPARED_FIELDS, Target, resolve, targets

ACTION = "identity.verify"


@dataclass(frozen=True)
class _Prepared:
    answer: Grant | Refusal
    target: Target
    matched: tuple[Matched, ...] = ()


def _access(actor: Actor, target: Target, action: str, fields: tuple[str, ...], records: int) -> AccessRequest:
    return AccessRequest(body_id=actor.body_id, officer=actor.officer, action=action,
                         dataset_id=target.dataset_id or "", purpose=target.purpose, fields=fields, records=records,
                         agreement_id=target.agreement_id)


# A check of up to this many applicants, against a holding whose index is built, asks and
# matches in the write transaction's read phase (shared with concurrent checks, on the writer's
# warm connection). A larger batch, or the first check after a load (which builds the index),
# does so beforehand in its own transaction, so the process's writer never waits for it.
IN_TRANSACTION = 8


def check(hub: Hub, actor: Actor, request: CheckRequest, *, key: str | None = None) -> Reply:
    """Check one applicant or a batch (see the module docstring): 200 with grades, or 403 recorded."""

    def intake_() -> tuple[Target, tuple[Application, ...]]:
        applications = intake.applications(request)
        return targets(hub).get(hub, actor.body_id, actor.is_admin, request.agreement_id, request.dataset_id), \
            applications

    def ask_and_match(session: Session, taken: tuple[Target, tuple[Application, ...]]) -> _Prepared:
        target, applications = taken
        access = _access(actor, target, ACTION, matching.requested_fields(target, applications), len(applications))
        answer = ask(session, access)
        if not isinstance(answer, Grant):
            return _Prepared(answer, target)
        # Allowed, but with no records loaded nothing is recorded: the log never shows an access
        # that did not happen (NotFound reaches the caller).
        return _Prepared(answer, target, tuple(matching.match(hub, answer, target, applications)))

    def beforehand() -> _Prepared:
        with hub.transaction() as session:
            return ask_and_match(session, taken or intake_())

    def write(session: Session, prepared: _Prepared) -> tuple[int, dict]:
        subjects = [m.subject for m in prepared.matched if m.subject]
        grades = Counter(m.grade for m in prepared.matched)
        recorded = record(session, prepared.answer, {"grades": dict(sorted(grades.items()))}, subjects,
                          request_id=actor.request_id, client_id=actor.client_id)
        if not recorded.allowed:
            return 403, recorded.refusal(_refused(prepared.target))
        return 200, minimise(recorded, prepared.matched, single=request.single)

    operation = f"verification.check:{actor.body_id}:{actor.officer}"
    taken = intake_() if len(request.applications) <= IN_TRANSACTION else None
    if taken is not None and matching.index_ready(hub, taken[0], matching.requested_fields(*taken)):
        return run(hub, actor, operation=operation, payload=request.payload, key=key, prepare=lambda: taken,
                   read=ask_and_match, write=write)
    return run(hub, actor, operation=operation, payload=request.payload, key=key, prepare=beforehand, write=write)


def _refused(target: Target) -> str:
    if not target.known:
        return f"there is no agreement '{target.agreement_id}' this body may use; the refused check was recorded"
    return "the check was refused under the agreement's terms; the refusal was recorded"


def train_model(hub: Hub, actor: Actor, *, agreement_id: str, applications: Path, dataset_id: str | None = None,
                mapping: dict[str, str] | None = None) -> StoredModel:
    """Train and store the agreement's model from past applications, reading the holding under a grant.

    The body asking must be allowed to read the compared fields under the agreement
    (action ``linkage.train``: one request, whose answer is a model of field names and
    probabilities, about no record); the read is recorded before the model is trained,
    with the people of the holding it covered as a count and a hash commitment. A
    refusal is recorded, then raised as Forbidden.
    """
    past = past_applications(applications, mapping)  # bad input is refused before anything is asked
    with hub.transaction() as session:
        target = resolve(session, actor.body_id, actor.is_admin, agreement_id, dataset_id)
    if not target.known:
        raise NotFound(f"no agreement '{agreement_id}' this body may use, or it discloses no dataset")
    fields = tuple(column for std, column in target.field_map.items() if std in COMPARED_FIELDS)
    with hub.transaction() as session:
        answer = ask(session, _access(actor, target, TRAIN, fields, 1))
    index = matching.index_for(answer, target) if isinstance(answer, Grant) else None  # NotFound: nothing loaded
    subjects = index.table.column(holdings.SUBJECT).drop_null().to_pylist() \
        if index is not None and holdings.SUBJECT in index.table.column_names else []

    def write(session: Session, _prepared: None) -> tuple[int, dict]:
        recorded = record(session, answer, {"applications": past.num_rows}, subjects, request_id=actor.request_id,
                          client_id=actor.client_id)
        return (200, recorded.metadata()) if recorded.allowed else (403, recorded.refusal())

    reply = run(hub, actor, operation="verification.train", payload=None, key=None, write=write)
    if not reply.ok:
        raise Forbidden(f"{actor.body_id} may not train a model on {target.dataset_id} under {agreement_id} "
                        f"(decision {reply.body['decision_id']}, recorded)", reply.body["reasons"])
    return train_on(hub, agreement_id=agreement_id, holding=index.table, compared=COMPARED_FIELDS,
                    applications=past, source=f"applications {applications.name}")

