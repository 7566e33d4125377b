"""Consent records shaped after ISO/IEC TS 27560:2023, and the receipts a citizen downloads.

A share code is consent-based sharing: its legal basis is the citizen's consent (UK GDPR
Article 6(1)(a)), not a Digital Economy Act gateway, so no data-sharing agreement governs it.
The consent record is what stands in for the agreement: it says who gave consent (as the
pseudonymous person key, never the NINO), to which controller, for which purpose, for which
data items, to which recipients and until when, and keeps the history of its state.

The JSON follows the four sections of a 27560 record (record header, PII processing, party
identification, events) using the DPV vocabulary's terms and the DPVCG's 27560 profile IRIs,
so another consent-management system can read it. The receipt is the same information, with
receipt metadata on top, given to the citizen as a copy they keep.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from accord.storage.tables.sharecodes import Consent

SCHEMA_VERSION = "ISO/IEC TS 27560:2023"
RECORD_PROFILE = "https://w3id.org/dpv/schema/iso-27560#record"
RECEIPT_PROFILE = "https://w3id.org/dpv/schema/iso-27560#receipt-full"
DPV = "https://w3id.org/dpv#"

LEGAL_BASIS = "Consent: UK GDPR Article 6(1)(a)"
LEGAL_BASIS_IRI = "https://w3id.org/dpv/legal/eu/gdpr#A6-1-a"  # GDPR Art 6(1)(a); UK GDPR keeps the article
# Processing the recipient's redemption performs: DVLA's record is retrieved and disclosed to it.
PROCESSING = (DPV + "Retrieve", DPV + "Disclose")
RECIPIENTS = (
    "Anyone who presents the share code together with the last 8 characters of the driving licence "
    "number, while the code is valid"
)
STATES = {"given": DPV + "ConsentGiven", "withdrawn": DPV + "ConsentWithdrawn", "expired": DPV + "ConsentExpired"}


@dataclass(frozen=True)
class Purpose:
    code: str
    title: str  # in the citizen's words: what they are doing
    iri: str  # a DPV purpose


# A closed list, so the citizen's "why" is a purpose a reader of the audit log can rely on.
PURPOSES: dict[str, Purpose] = {
    purpose.code: purpose
    for purpose in (
        Purpose("vehicle_hire", "Prove my driving record to a vehicle hire company", DPV + "EstablishContractualAgreement"),
        Purpose("employment", "Prove my driving record to an employer", DPV + "HumanResourceManagement"),
        Purpose("insurance", "Prove my driving record to a motor insurer", DPV + "EstablishContractualAgreement"),
    )
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def give(
    session: Session,
    *,
    person_key: str,
    controller_id: str,
    dataset_id: str,
    purpose: Purpose,
    items: list[str],
    record_locator: bytes,
    expires_at: datetime,
    now: datetime,
    consent_id: str | None = None,
) -> Consent:
    """Record consent given now; the caller's transaction commits it with the share code."""
    consent = Consent(
        id=consent_id or new_id("cr"),
        schema_version=SCHEMA_VERSION,
        person_key=person_key,
        controller_id=controller_id,
        dataset_id=dataset_id,
        purpose_code=purpose.code,
        purpose=purpose.title,
        purpose_iri=purpose.iri,
        items=list(items),
        processing=list(PROCESSING),
        recipients=RECIPIENTS,
        legal_basis=LEGAL_BASIS,
        legal_basis_iri=LEGAL_BASIS_IRI,
        record_locator=record_locator,
        given_at=now,
        expires_at=expires_at,
        withdrawn_at=None,
        events=[_event("given", now)],
        receipt_id=new_id("rc"),
    )
    session.add(consent)
    return consent


def withdraw(consent: Consent, now: datetime) -> bool:
    """Withdraw the consent (False when it already was); the caller's transaction commits it."""
    if consent.withdrawn_at is not None:
        return False
    consent.withdrawn_at = now
    consent.events = [*consent.events, _event("withdrawn", now)]  # a new list, so the JSON column is updated
    return True


def _event(kind: str, at: datetime) -> dict:
    return {"event": kind, "at": at.isoformat(), "state": STATES[kind]}


def state(consent: Consent, now: datetime) -> str:
    if consent.withdrawn_at is not None:
        return "withdrawn"
    if consent.expires_at <= now:
        return "expired"
    return "given"


def record(consent: Consent, *, controller_name: str, item_labels: dict[str, str], now: datetime) -> dict:
    """The consent record in the 27560 structure (what the controller keeps)."""
    events = list(consent.events)
    if consent.withdrawn_at is None and consent.expires_at <= now:
        events.append(_event("expired", consent.expires_at))
    current = state(consent, now)
    return {
        "record_header": {
            "schema_version": consent.schema_version,
            "conforms_to": RECORD_PROFILE,
            "record_id": consent.id,
            "pii_principal_id": consent.person_key,
            "pii_principal_id_note": "A pseudonymous key derived from the person's identifier; the identifier itself is not kept.",
        },
        "pii_processing": {
            "language": "en-GB",
            "purposes": [
                {
                    "purpose": consent.purpose,
                    "purpose_id": consent.purpose_code,
                    "purpose_iri": consent.purpose_iri,
                    "lawful_basis": consent.legal_basis,
                    "lawful_basis_iri": consent.legal_basis_iri,
                    "processing": list(consent.processing),
                    "pii_information": [
                        {"item": item, "label": item_labels.get(item, item.replace("_", " ")), "source": consent.dataset_id}
                        for item in consent.items
                    ],
                    "recipients": [consent.recipients],
                    "storage_location": "The driving licence record stays with its controller; recipients see it once per use.",
                    "duration": {"from": consent.given_at.isoformat(), "until": consent.expires_at.isoformat()},
                    "withdrawal_method": "Withdraw the share code on the 'Share your driving licence information' page.",
                }
            ],
        },
        "party_identification": {
            "pii_controllers": [{"id": consent.controller_id, "name": controller_name}],
            "presented_by": "Accord hub, on the controller's behalf",
        },
        "events": events,
        "consent_state": {"state": current, "state_iri": STATES[current]},
    }


def receipt(consent: Consent, *, controller_name: str, item_labels: dict[str, str], now: datetime) -> dict:
    """The citizen's copy: receipt metadata, then the full record it is a receipt for."""
    return {
        "receipt_header": {
            "receipt_id": consent.receipt_id,
            "conforms_to": RECEIPT_PROFILE,
            "schema_version": consent.schema_version,
            "issued_at": now.isoformat(),
            "issued_by": controller_name,
            "for_record": consent.id,
        },
        **record(consent, controller_name=controller_name, item_labels=item_labels, now=now),
    }
