"""Multiple disadvantages' entry point, the same for the API, the command line and the pages.

1. plan: ask the decision point about every source (``plan``); the first refusal
   is recorded and answered, and nothing is read;
2. link: read each source's permitted fields under its grant and place the records
   in the council's households (``linking``), outside the write transaction;
3. record: one decision per source read, naming the people of the identified
   households whose records from it were used by their subject keys (each
   re-judged with the true count), with the households found and the people of
   them its records were about as the entry's outcome; if any is now refused,
   the answer is discarded and the refusal given;
4. answer: household references and factor names only (``answer``).

An idempotency key makes a retry harmless without keeping the households in the
hub: the reply kept for a replay says what was decided and how many households
were found, but not which (ask again for a new, recorded answer).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.runtime import Hub
from accord.services.access import Refusal, record
from accord.services.disadvantages.answer import Identification
from accord.services.disadvantages.linking import Linked, link
from accord.services.disadvantages.plan import Plan, check_officer, plan
from accord.services.unit_of_work import Actor, Reply, run

REFUSED = "the request was refused under the agreement's terms; the refusal was recorded"


def identify(hub: Hub, actor: Actor, agreement_id: str, *, min_factors: int | None = None,
             key: str | None = None) -> Reply:
    """200 with the households (references and factor names), or 403 with the recorded refusal."""
    check_officer(actor.officer)

    def prepare() -> Refusal | tuple[Plan, Linked]:
        planned = plan(hub, actor, agreement_id, min_factors, utcnow())
        return planned if isinstance(planned, Refusal) else (planned, link(planned))

    def write(session: Session, prepared: Refusal | tuple[Plan, Linked]) -> tuple[int, dict]:
        if isinstance(prepared, Refusal):
            recorded = record(session, prepared, request_id=actor.request_id, client_id=actor.client_id)
            return 403, {**recorded.refusal(REFUSED), "decision_ids": [recorded.decision_id]}
        planned, linked = prepared
        ids, refusals, obligations = [], [], {}
        for source in (planned.household_list, *planned.sources):
            outcome = {"households": len(linked.households)}
            if source is not planned.household_list:  # how many people of those households its records were about
                outcome["people"] = linked.people.get(source.dataset_id, 0)
            recorded = record(session, source.grant, outcome, linked.subjects.get(source.dataset_id, ()),
                              request_id=actor.request_id, client_id=actor.client_id)
            ids.append(recorded.decision_id)
            if not recorded.allowed:
                refusals += list(recorded.decision.reasons)
            elif not obligations and not source.own:
                obligations = dict(recorded.decision.obligations)
        sources = tuple(s.dataset_id for s in (planned.household_list, *planned.sources))
        if refusals:
            return 403, {"detail": REFUSED, "reasons": refusals, "decision_ids": ids, "request_id": actor.request_id,
                         "agreement_id": agreement_id}
        disclosed = sum(1 for s in planned.sources if not s.own)
        reasons = (f"permitted under agreement '{agreement_id}' for {disclosed} dataset(s)",)
        return 200, Identification(True, reasons, actor.body_id, agreement_id, actor.request_id, tuple(ids),
                                   planned.min_factors, linked.factors_considered, sources, linked.households,
                                   obligations).public()

    def kept(body: dict) -> dict:
        if "households" not in body:
            return body
        return {**body, "households": [], "replayed_without_households": True,
                "note": "This answer was given to an earlier request with the same Idempotency-Key; the households "
                        "are not kept by the hub. Ask again (without the key) for a new, recorded answer."}

    return run(hub, actor, operation="households.identify",
               payload={"agreement": agreement_id, "min_factors": min_factors, "officer": actor.officer}, key=key,
               prepare=prepare, write=write, redact=kept)
