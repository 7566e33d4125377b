"""Purpose: the agreement must be under the gateway (and objective) the request names."""

from __future__ import annotations

from accord.policy.model import AccessRequest, AgreementTerms


def reasons(request: AccessRequest, terms: AgreementTerms) -> list[str]:
    if request.agreement_id and request.agreement_id != terms.id:
        return [f"agreement '{terms.id}' is not the agreement named in the request"]
    if terms.gateway != request.gateway:
        return [f"agreement '{terms.id}' is under the {terms.gateway} gateway, not {request.gateway}"]
    if request.objective and terms.objective != request.objective:
        return [f"agreement '{terms.id}' is for objective {terms.objective}, not {request.objective}"]
    return []
