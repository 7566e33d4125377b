"""The minimal answer: a grade and the names of the applicant's details that agreed, never the record.

``minimise`` is verification's one redaction function at the trust boundary:
whatever matching found (the candidate, its id, its subject key, the rule that
fired), only the grade and the agreeing field names of each application leave
the hub, with the decision's own metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from accord.services.access import Recorded


@dataclass(frozen=True)
class Result:
    reference: str | None
    grade: str
    agreed: tuple[str, ...]

    def public(self) -> dict:
        return {"reference": self.reference, "grade": self.grade, "agreed": list(self.agreed)}


@dataclass(frozen=True)
class Matched:
    """What matching found for one application, before it is minimised; never leaves the service."""

    reference: str | None
    grade: str
    agreed: tuple[str, ...]
    subject: str | None  # the subject key of the one person it matched (None: no one)


def minimise(recorded: Recorded, matched: Sequence[Matched], *, single: bool) -> dict:
    """The answer to an allowed check (``single``: one applicant's result; else every result in order)."""
    results = [Result(m.reference, m.grade, m.agreed).public() for m in matched]
    if single:
        return {**results[0], **recorded.metadata()}
    return {**recorded.metadata(), "count": len(results), "results": results}


def results_of(body: dict) -> list[Result]:
    """The results in an answer (or a replayed one), for writing a results file."""
    rows = body["results"] if "results" in body else [body]
    return [Result(r["reference"], r["grade"], tuple(r["agreed"])) for r in rows]
