"""Agreements: drafting, reading and the public view of each one."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.errors import Conflict, InvalidInput, NotFound
from accord.framework import Framework
from accord.ids import new_id
from accord.registry import confirmations, in_force
from accord.registry.specs import AgreementSpec, DisclosedData, Limits, PilotSpec
from accord.registry.validation import agreement_problems
from accord.storage.models import Agreement, AgreementEvent, AgreementField, AgreementParty

DISCLOSER, RECIPIENT = "discloser", "recipient"
# Statuses shown on the public register; drafts are private to their parties.
PUBLIC_STATUSES = ("consultation", "active", "suspended", "expired", "revoked")


def create_draft(
    session: Session,
    framework: Framework,
    spec: AgreementSpec,
    actor: str,
    now: datetime,
    default_consultation_weeks: int = 8,
    *,
    proposer: str | None = None,
    recorded_by: str | None = None,
) -> Agreement:
    """Validate a draft against the framework and registry, then store it.

    ``actor`` is who drafts it (``created_by``: the drafting body on the API); ``recorded_by``,
    if given, is the person or system named in its history (``registry.officers.label``).
    ``proposer`` is the party proposing it, which consents by proposing; every other party named
    confirms it before it goes to consultation (``confirmations``). Without one (the hub operator
    drafts it) every party confirms.
    """
    if not 1 <= len(actor) <= 64:
        raise InvalidInput("the actor drafting an agreement must be named in 1 to 64 characters")
    problems = agreement_problems(session, framework, spec)
    if problems:
        raise InvalidInput(f"agreement '{spec.name}' is refused", problems)
    agreement_id = spec.id or new_id("agr", 4)
    if session.get(Agreement, agreement_id) is not None:
        raise Conflict(f"agreement '{agreement_id}' already exists")
    agreement = Agreement(
        id=agreement_id,
        name=spec.name,
        gateway=spec.gateway,
        objective=spec.objective,
        purpose=spec.purpose,
        benefits=spec.benefits,
        processors=list(spec.processors),
        sharing_method=spec.sharing_method,
        retention=spec.retention,
        start_date=spec.start_date,
        end_date=spec.end_date,
        review_date=spec.review_date,
        contact=spec.contact,
        areas=list(spec.areas),
        status="draft",
        notes=spec.notes,
        on_excess_fields=spec.on_excess_fields,
        max_records_per_request=spec.limits.max_records_per_request,
        max_requests_per_day=spec.limits.max_requests_per_day,
        embargo=spec.embargo,
        is_pilot=spec.pilot is not None,
        business_case=spec.pilot.business_case if spec.pilot else None,
        success_measures=list(spec.pilot.success_measures) if spec.pilot else [],
        consultation_weeks=spec.consultation_weeks or default_consultation_weeks,
        created_by=actor,
        created_at=now,
        updated_at=now,
        proposer_id=proposer if proposer in {*spec.disclosers, *spec.recipients} else None,
    )
    agreement.parties = [AgreementParty(body_id=b, role=DISCLOSER) for b in spec.disclosers] + [
        AgreementParty(body_id=b, role=RECIPIENT) for b in spec.recipients
    ]
    position = 0
    for item in spec.data:
        for field in item.fields:
            agreement.data.append(AgreementField(dataset_id=item.dataset, field_name=field, position=position))
            position += 1
    agreement.history.append(
        AgreementEvent(from_status=None, to_status="draft", at=now, actor=recorded_by or actor, reason="drafted")
    )
    session.add(agreement)
    session.flush()
    return agreement


def get_agreement(session: Session, agreement_id: str) -> Agreement:
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound(f"no agreement '{agreement_id}' exists")
    return agreement


def visible_to(agreement: Agreement, body_id: str | None, is_admin: bool = False) -> bool:
    """Whether a caller may know the agreement exists: drafts are private to their parties (and the operator)."""
    return agreement.status != "draft" or is_admin or body_id in {p.body_id for p in agreement.parties}


def find_visible(session: Session, agreement_id: str, body_id: str | None, is_admin: bool = False) -> Agreement | None:
    """The agreement, unless it is unknown or another body's draft: to such a caller the two look the same."""
    if not agreement_id or len(agreement_id) > 64 or not agreement_id.isprintable():
        return None
    agreement = session.get(Agreement, agreement_id)
    return agreement if agreement is not None and visible_to(agreement, body_id, is_admin) else None


def list_agreements(
    session: Session,
    *,
    body: str | None = None,
    gateway: str | None = None,
    status: str | None = None,
    statuses: tuple[str, ...] | None = None,
) -> list[Agreement]:
    query = select(Agreement).order_by(Agreement.gateway, Agreement.name, Agreement.id)
    if gateway:
        query = query.where(Agreement.gateway == gateway)
    if status:
        query = query.where(Agreement.status == status)
    if statuses:
        query = query.where(Agreement.status.in_(statuses))
    if body:
        query = query.where(
            Agreement.id.in_(select(AgreementParty.agreement_id).where(AgreementParty.body_id == body))
        )
    return list(session.scalars(query))


def parties(agreement: Agreement, role: str) -> list[str]:
    return [p.body_id for p in agreement.parties if p.role == role]


def disclosed_fields(agreement: Agreement) -> dict[str, list[str]]:
    """The data disclosed, as {dataset id: [field, ...]} in the agreement's order."""
    result: dict[str, list[str]] = {}
    for item in agreement.data:
        result.setdefault(item.dataset_id, []).append(item.field_name)
    return result


def effective_status(agreement: Agreement, today: date) -> str:
    """Stored status, except that a live agreement past its end date is expired."""
    return in_force.effective_status(agreement.status, agreement.end_date, today)


def not_in_force(agreement: Agreement, today: date) -> str | None:
    """Why the agreement is not in force today (None: it is); the rule the decision point applies."""
    return in_force.not_in_force(agreement.id, agreement.status, agreement.start_date, agreement.end_date, today)


def spec_of(agreement: Agreement) -> AgreementSpec:
    """Rebuild the user-authored spec, to re-validate before a lifecycle step."""
    return AgreementSpec(
        id=agreement.id,
        name=agreement.name,
        gateway=agreement.gateway,
        objective=agreement.objective,
        purpose=agreement.purpose,
        benefits=agreement.benefits,
        disclosers=parties(agreement, DISCLOSER),
        recipients=parties(agreement, RECIPIENT),
        processors=agreement.processors,
        data=[DisclosedData(dataset=d, fields=f) for d, f in disclosed_fields(agreement).items()],
        sharing_method=agreement.sharing_method,
        retention=agreement.retention,
        start_date=agreement.start_date,
        end_date=agreement.end_date,
        review_date=agreement.review_date,
        contact=agreement.contact,
        areas=agreement.areas,
        notes=agreement.notes,
        on_excess_fields=agreement.on_excess_fields,  # type: ignore[arg-type]
        limits=Limits(
            max_records_per_request=agreement.max_records_per_request,
            max_requests_per_day=agreement.max_requests_per_day,
        ),
        pilot=PilotSpec(business_case=agreement.business_case, success_measures=agreement.success_measures)
        if agreement.is_pilot
        else None,
        consultation_weeks=agreement.consultation_weeks,
        embargo=agreement.embargo,
    )


def register_entry(agreement: Agreement, framework: Framework, today: date) -> dict:
    """The agreement as the public register publishes it."""
    gateway = framework.gateway(agreement.gateway)
    return {
        "id": agreement.id,
        "name": agreement.name,
        "status": effective_status(agreement, today),
        "legal_power": {
            "gateway": agreement.gateway,
            "title": gateway.title if gateway else agreement.gateway,
            "section": gateway.section if gateway else "",
            "objective": agreement.objective,
            "dpv_purpose": framework.purpose_iri(agreement.gateway, agreement.objective) if gateway else None,
        },
        "purpose": agreement.purpose,
        "benefits": agreement.benefits,
        "controllers": sorted({p.body_id for p in agreement.parties}),
        "disclosers": parties(agreement, DISCLOSER),
        "recipients": parties(agreement, RECIPIENT),
        "processors": agreement.processors,
        "data_disclosed": [{"dataset": d, "fields": f} for d, f in disclosed_fields(agreement).items()],
        "sharing_method": agreement.sharing_method,
        "retention": agreement.retention,
        "start_date": agreement.start_date.isoformat(),
        "end_date": agreement.end_date.isoformat(),
        "review_date": agreement.review_date.isoformat() if agreement.review_date else None,
        "contact": agreement.contact,
        "areas": agreement.areas,
        "notes": agreement.notes,
        "pilot": {"business_case": agreement.business_case, "success_measures": agreement.success_measures}
        if agreement.is_pilot
        else None,
        "limits": {
            "on_excess_fields": agreement.on_excess_fields,
            "max_records_per_request": agreement.max_records_per_request,
            "max_requests_per_day": agreement.max_requests_per_day,
        },
        "embargo": agreement.embargo,
        "consultation": {
            "opens_at": agreement.consultation_opens_at.isoformat() if agreement.consultation_opens_at else None,
            "closes_at": agreement.consultation_closes_at.isoformat()
            if agreement.consultation_closes_at
            else None,
            "comments": len(agreement.comments),
        },
        "history": [
            {"from": e.from_status, "to": e.to_status, "at": e.at.isoformat(), "reason": e.reason}
            for e in agreement.history
        ],
        "confirmations": confirmations.confirmations_entry(agreement),
    }
