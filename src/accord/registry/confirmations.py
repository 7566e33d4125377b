"""The parties' consent to a draft: every named party confirms its terms before it goes to consultation.

A draft names the bodies that will disclose and receive data; naming a body is not its
agreement. So a draft goes to public consultation only once every named party other than
its proposer has confirmed it (the proposer consents by proposing; a draft the hub operator
drafted has no proposer, so every party confirms). A confirmation is of the terms as they
stand: whatever changes a draft's terms calls ``reset``, the one place that clears them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from accord.errors import Conflict, Forbidden, InvalidInput
from accord.storage.models import Agreement, AgreementConfirmation


def named_parties(agreement: Agreement) -> list[str]:
    """Every body the agreement names, disclosers and recipients alike, once each."""
    return sorted({p.body_id for p in agreement.parties})


def confirmers(agreement: Agreement) -> list[str]:
    """The parties whose confirmation the draft needs: every named party but its proposer."""
    return [b for b in named_parties(agreement) if b != agreement.proposer_id]


def still_to_confirm(agreement: Agreement) -> list[str]:
    confirmed = {c.body_id for c in agreement.confirmations}
    return [b for b in confirmers(agreement) if b not in confirmed]


def require_confirmed(agreement: Agreement) -> None:
    """Refuse (409) a draft going to consultation while a named party has not confirmed it."""
    waiting = still_to_confirm(agreement)
    if waiting:
        raise Conflict(
            f"agreement '{agreement.id}' cannot go to consultation until every party named in it has confirmed "
            f"it; still to confirm: {', '.join(waiting)}"
        )


def confirm(session: Session, agreement: Agreement, body_id: str, *, actor: str, now: datetime
            ) -> tuple[AgreementConfirmation, bool]:
    """Record that ``body_id`` confirms the draft as it stands; (the confirmation, whether it is new).

    Only a draft is confirmed (its terms are settled once it is published), only by a party
    other than its proposer. Confirming twice keeps the first confirmation.
    """
    if body_id not in named_parties(agreement):
        raise Forbidden(f"only a body named in agreement '{agreement.id}' may confirm it, and {body_id} is not")
    if body_id == agreement.proposer_id:
        raise Conflict(f"{body_id} proposed agreement '{agreement.id}', so it needs no confirmation from {body_id}")
    if agreement.status != "draft":
        raise Conflict(f"agreement '{agreement.id}' is {agreement.status}: only a draft is confirmed")
    if not 1 <= len(actor) <= 200:
        raise InvalidInput("the person confirming must be named in 1 to 200 characters")
    for existing in agreement.confirmations:
        if existing.body_id == body_id:
            return existing, False
    made = AgreementConfirmation(body_id=body_id, confirmed_at=now, actor=actor)
    agreement.confirmations.append(made)
    session.flush()
    return made, True


def reset(agreement: Agreement) -> list[str]:
    """Clear the draft's confirmations because its terms changed; returns the bodies that must confirm again.

    Whatever changes a draft's terms (the coming "edit a draft") calls this in the same transaction.
    """
    cleared = [c.body_id for c in agreement.confirmations]
    agreement.confirmations.clear()
    return cleared


def confirmations_entry(agreement: Agreement) -> dict:
    """Who proposed the draft, who has confirmed it and who still must (for the agreement's view)."""
    return {
        "proposer": agreement.proposer_id,
        "confirmed": [{"body_id": c.body_id, "at": c.confirmed_at.isoformat()} for c in agreement.confirmations],
        "still_to_confirm": still_to_confirm(agreement),
    }
