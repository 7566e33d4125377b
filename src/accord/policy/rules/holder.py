"""Holder: a body may have the hub read its own dataset, for an action that allows it.

The hub still decides and records the read (a council's own household list
read to place other bodies' records in households is a use of personal data
like any other), but no agreement is needed: nothing leaves the body's hands.
A request naming an agreement is judged against that agreement instead.
"""

from __future__ import annotations

from accord.policy.model import AccessRequest


def holds(context, request: AccessRequest) -> bool:  # noqa: ANN001 - a PolicyContext
    return request.agreement_id is None and context.holder_of(request.dataset_id) == request.body_id


def reasons(request: AccessRequest) -> list[str]:
    return [f"'{request.body_id}' holds dataset '{request.dataset_id}': its own records, read at its request"]
