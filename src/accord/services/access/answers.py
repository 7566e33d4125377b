"""What the decision point answers: a Grant or a Refusal, and what recording either leaves behind.

A ``Grant`` is the only thing that lets the hub read a body's records
(``services.holdings.read`` takes nothing else). It carries two sets of fields:

- ``readable``: the columns of the dataset the hub may read in order to match
  (the fields the decision permits);
- ``disclosable``: the fields it may put in the answer - the same fields for
  an action whose result is records (``Action.discloses``), none for one whose
  result is a grade, a flag or a household reference.

Grants are issued only by ``ask``: anyone else constructing one is refused, so
a service cannot grant itself access by building the object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accord.policy import AccessRequest, Decision

_ISSUER = object()  # known only to this package: ``ask`` issues grants and refusals with it


@dataclass(frozen=True)
class _Answer:
    request: AccessRequest
    decision: Decision
    now: datetime
    _issuer: object = field(repr=False, compare=False)
    _context: Any = field(default=None, repr=False, compare=False)  # what the decision read, for recording

    def __post_init__(self) -> None:
        if self._issuer is not _ISSUER:
            raise TypeError("grants and refusals are issued by services.access.ask only")

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.decision.reasons

    @property
    def agreement_id(self) -> str | None:
        return self.decision.agreement_id

    @property
    def dataset_id(self) -> str:
        return self.request.dataset_id

    @property
    def body_id(self) -> str:
        return self.request.body_id


@dataclass(frozen=True)
class Grant(_Answer):
    readable: tuple[str, ...] = ()
    disclosable: tuple[str, ...] = ()

    @property
    def obligations(self) -> dict:
        return self.decision.obligations


@dataclass(frozen=True)
class Refusal(_Answer):
    pass


@dataclass(frozen=True)
class Recorded:
    """A decision as written: its row id, the decision (a grant can become a refusal when recorded), the call."""

    decision_id: int
    decision: Decision
    request_id: str
    grant: Grant | None  # None when what was recorded is a refusal

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    def metadata(self) -> dict:
        """What an answer says about its decision: never anything from a record."""
        return {
            "decision": "allow" if self.decision.allowed else "deny",
            "decision_id": self.decision_id,
            "request_id": self.request_id,
            "agreement_id": self.decision.agreement_id,
            "decided_at": self.decision.decided_at.isoformat(),
        }

    def refusal(self, detail: str | None = None) -> dict:
        """The answer to a recorded refusal, the same from every purpose and every face.

        ``detail`` is one sentence for the person asking; the reasons are the decision
        point's own. The API sends it as a 403 problem document, the pages as an error
        summary, the command line as a line on stderr.
        """
        return {
            "detail": detail or "the request was refused under the agreement's terms; the refusal was recorded",
            "reasons": list(self.decision.reasons),
            **self.metadata(),
        }
