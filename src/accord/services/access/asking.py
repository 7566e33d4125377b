"""ask(): the one route to the decision point. Reads only; nothing is recorded until ``record``.

The policy's reads (the candidate agreements, the dataset's holder, today's
usage) go through one context per transaction, kept on the session: every ask
in one request, and the re-check when it is recorded, read the agreements
once. The context is dropped when the transaction ends, and when the session
writes an agreement, so no ask sees terms its own transaction has changed.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import event
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.policy import AccessRequest, AgreementTerms, Catalogue, Decision
from accord.policy.context import SqlPolicyContext
from accord.policy.decide import decide
from accord.runtime import Hub, hub_of
from accord.services.access.answers import _ISSUER, Grant, Refusal
from accord.services.purposes import purposes
from accord.storage.models import Agreement, AgreementField, AgreementParty

_CONTEXT = "accord.access.context"
_AGREEMENT_TABLES = (Agreement, AgreementField, AgreementParty)


@cache
def catalogue() -> Catalogue:
    """Every action the purposes register (``services.purposes``): what ``decide`` knows."""
    return Catalogue(purposes().actions)


def ask(session: Session, request: AccessRequest, *, now: datetime | None = None,
        claimed: bool = False) -> Grant | Refusal:
    """Decide ``request``: a Grant (what may be read, what may be disclosed) or a Refusal. Records nothing.

    ``claimed``: the request already holds its place in the day's quota (a job's release,
    asked again after its read was recorded), so the daily limit does not count it twice.
    """
    context = policy_context(session)
    now = now or utcnow()
    decision = decide(_Claimed(context) if claimed else context, request, now)
    if not decision.allowed:
        return Refusal(request, decision, now, _ISSUER, context)
    action = context.catalogue[request.action]
    permitted = decision.permitted_fields
    return Grant(request, decision, now, _ISSUER, context, readable=permitted,
                 disclosable=permitted if action.discloses else ())


class _Claimed:
    """The transaction's policy context, for a request whose daily quota it already claimed."""

    def __init__(self, context: SqlPolicyContext) -> None:
        self._context = context
        self.catalogue = context.catalogue

    def holder_of(self, dataset_id: str) -> str | None:
        return self._context.holder_of(dataset_id)

    def candidate_agreements(self, body_id: str, dataset_id: str) -> list[AgreementTerms]:
        return self._context.candidate_agreements(body_id, dataset_id)

    def allowed_requests_since(self, agreement_id: str, body_id: str, since: datetime) -> int:
        return max(0, self._context.allowed_requests_since(agreement_id, body_id, since) - 1)


def agreements_for(session: Session, body_id: str, dataset_id: str) -> list[AgreementTerms]:
    """The agreements naming the body as a recipient of the dataset, as the decision point reads them."""
    return policy_context(session).candidate_agreements(body_id, dataset_id)


def policy_context(session: Session) -> SqlPolicyContext:
    """This transaction's policy context (see the module docstring)."""
    context = session.info.get(_CONTEXT)
    if context is None:
        hub = hub_of(session)
        _listen(hub)
        context = session.info[_CONTEXT] = SqlPolicyContext(session, hub.framework, catalogue())
    return context


def _forget(session: Session, *_: object) -> None:
    session.info.pop(_CONTEXT, None)


def _forget_if_agreements_change(session: Session, _flush_context: object, _instances: object = None) -> None:
    if _CONTEXT in session.info and any(
        isinstance(item, _AGREEMENT_TABLES) for item in (*session.new, *session.dirty, *session.deleted)
    ):
        _forget(session)


def _listen(hub: Hub) -> None:
    """Listeners on the hub's session factory (once per hub) that drop a transaction's context."""

    def install() -> bool:
        for name in ("after_commit", "after_rollback", "after_soft_rollback"):
            event.listen(hub.sessions, name, _forget)
        event.listen(hub.sessions, "before_flush", _forget_if_agreements_change)
        return True

    hub.cache("access.listeners", install)


def by_consent(session: Session, request: AccessRequest, basis: str, *, now: datetime | None = None) -> Grant:
    """A grant resting on the person's own consent (a share code) or request, not on an agreement.

    Such reads are not Part 5 sharing, so the decision point's agreement rules do not
    apply: the consent (or the person's own sign-in) plays the agreement's part, and
    the caller has checked it is valid. The grant still names the fields that may be
    read, and ``services.holdings`` reads nothing else; the caller records the use
    in the audit log with the person as subject.
    """
    now = now or utcnow()
    decision = Decision(True, (basis,), request.action, request.purpose, now, None,
                        tuple(dict.fromkeys(request.fields)))
    return Grant(request, decision, now, _ISSUER, policy_context(session), readable=decision.permitted_fields,
                 disclosable=decision.permitted_fields)
