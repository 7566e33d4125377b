"""The agreement lifecycle, in one table.

    draft -> consultation -> active -> suspended -> active (reinstated)
                 |              |          |
               draft         revoked    revoked
    active | suspended -> expired (once the end date has passed)

Going into consultation and going live both re-validate the agreement against
the framework and the registry as they are at that moment. A draft goes into
consultation only once every party it names has confirmed it (``confirmations``).
Who may make each move is ``may_move``: the hub operator any; a party the moves
that are not the register-keeper's, except that only its proposer withdraws it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from accord.errors import Conflict, Forbidden, InvalidInput
from accord.framework import Framework
from accord.registry.agreements import spec_of
from accord.registry.confirmations import require_confirmed
from accord.registry.validation import agreement_problems
from accord.storage.models import Agreement, AgreementEvent, ConsultationComment

TRANSITIONS: dict[str, set[str]] = {
    "draft": {"consultation"},
    "consultation": {"draft", "active"},
    "active": {"suspended", "revoked", "expired"},
    "suspended": {"active", "revoked", "expired"},
    "expired": set(),
    "revoked": set(),
}
STATUSES = tuple(TRANSITIONS)
NEEDS_REASON = {"suspended", "revoked"}
# Going live, suspending, reinstating and revoking are the register-keeper's decisions.
OPERATOR_ONLY = {"active", "suspended", "revoked"}


def may_move(agreement: Agreement, to: str, body_id: str, *, is_operator: bool) -> None:
    """Refuse (403) a party a move that is not theirs: the register-keeper's decisions are the
    operator's, and withdrawing from consultation (back to draft) is the proposer's or the operator's."""
    if is_operator:
        return
    if to in OPERATOR_ONLY:
        raise Forbidden(f"only the hub operator may make an agreement {to}")
    if to == "draft" and body_id != agreement.proposer_id:
        raise Forbidden(f"only the body that proposed agreement '{agreement.id}' or the hub operator may withdraw it")


def transition(
    session: Session,
    framework: Framework,
    agreement: Agreement,
    to: str,
    *,
    actor: str,
    now: datetime,
    reason: str = "",
) -> Agreement:
    current = agreement.status
    if not 1 <= len(actor) <= 200:
        raise InvalidInput("the actor must be named in 1 to 200 characters")
    if to not in TRANSITIONS:
        raise InvalidInput(f"'{to}' is not an agreement status (one of {', '.join(STATUSES)})")
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none: it is final"
        raise Conflict(f"agreement '{agreement.id}' is {current} and cannot become {to} (allowed: {allowed})")
    reason = reason.strip()
    if to in NEEDS_REASON and not reason:
        raise InvalidInput(f"a reason is required to make an agreement {to}")

    if to in ("consultation", "active"):
        problems = agreement_problems(session, framework, spec_of(agreement))
        if problems:
            raise InvalidInput(f"agreement '{agreement.id}' is no longer valid", problems)
    if to == "consultation" and current == "draft":
        require_confirmed(agreement)
    if to == "consultation":
        agreement.consultation_opens_at = now
        agreement.consultation_closes_at = now + timedelta(weeks=agreement.consultation_weeks)
    elif to == "active" and current == "consultation":
        closes = agreement.consultation_closes_at
        if closes is None or now < closes:
            raise Conflict(
                f"agreement '{agreement.id}' is in public consultation until "
                f"{closes.date().isoformat() if closes else 'unknown'}; it cannot go live before then"
            )
        if now.date() > agreement.end_date:
            raise Conflict(f"agreement '{agreement.id}' ended on {agreement.end_date}; it cannot go live")
    elif to == "expired" and now.date() <= agreement.end_date:
        raise Conflict(f"agreement '{agreement.id}' runs until {agreement.end_date}; it has not expired")

    agreement.status = to
    agreement.updated_at = now
    agreement.history.append(
        AgreementEvent(from_status=current, to_status=to, at=now, actor=actor, reason=reason)
    )
    session.flush()
    return agreement


def add_comment(
    session: Session, agreement: Agreement, *, author: str, organisation: str, comment: str, now: datetime
) -> ConsultationComment:
    """A public comment on an agreement, accepted only while its consultation is open."""
    if agreement.status != "consultation":
        raise Conflict(f"agreement '{agreement.id}' is not in public consultation")
    closes = agreement.consultation_closes_at
    if closes is not None and now >= closes:
        raise Conflict(f"the consultation on agreement '{agreement.id}' closed on {closes.date().isoformat()}")
    author, organisation, comment = author.strip(), organisation.strip(), comment.strip()
    problems = []
    if not author:
        problems.append("author: enter your name")
    if not comment:
        problems.append("comment: enter your comment")
    if len(comment) > 10_000:
        problems.append("comment: must be 10,000 characters or fewer")
    if len(author) > 200:
        problems.append("author: must be 200 characters or fewer")
    if len(organisation) > 200:
        problems.append("organisation: must be 200 characters or fewer")
    if problems:
        raise InvalidInput("the comment cannot be accepted", problems)
    entry = ConsultationComment(
        agreement_id=agreement.id,
        author=author.strip(),
        organisation=organisation.strip(),
        comment=comment.strip(),
        created_at=now,
    )
    agreement.comments.append(entry)
    session.flush()
    return entry
