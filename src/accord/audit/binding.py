"""What a citizen's "who used my data" reads, bound to the leaf: the subject rows and the embargo column.

The view finds a person's entries through ``audit_subjects`` rows and hides them
until ``audit_entries.embargo_until``; both are columns beside the leaf, which an
operator with database access could change without touching a payload. So:

- A version 2 leaf carries ``commitment``: SHA-256 (hex) of the canonical JSON
  ``{"embargo_until": <ISO 8601 or null>, "subjects": [sorted, unique keys]}``.
  The payload also names the subjects and the embargo, as version 1 did, so the
  commitment is checked against them, and the columns against both.
- Rules, for every integrated entry (version 1 entries' payloads already name the
  subjects and embargo, so they get the same row checks; their leaf hashes are
  unchanged):
  * the embargo column must be the logged embargo (cleared, moved or added: caught);
  * every subject row must be a logged subject (added or changed: caught);
  * a logged subject with no row was removed: lawful only once the subject
    retention has ended for the entry (``keep``, from ACCORD_AUDIT_SUBJECT_RETENTION_DAYS,
    counted from when the entry was logged, and never before its embargo ends);
    with no retention set, rows are kept for ever and any removal is caught.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


def commitment(subjects: Iterable[str], embargo_until: str | None) -> str:
    """The commitment a version 2 leaf holds to its subjects and embargo end."""
    data = {"embargo_until": embargo_until, "subjects": sorted(set(subjects))}
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Departure:
    """How an entry's rows depart from its leaf: ``kind`` is "embargo" or "subjects"."""

    kind: str
    message: str


def subjects_due(occurred_at: datetime, embargo_until: datetime | None, now: datetime,
                 keep: timedelta | None) -> bool:
    """Whether an entry's subject rows may have been removed by retention by ``now``."""
    if keep is None:
        return False
    return occurred_at + keep <= now and (embargo_until is None or embargo_until <= now)


def check_rows(payload: dict, rows: set[str], embargo_column: datetime | None, now: datetime,
               keep: timedelta | None) -> Departure | None:
    """The first way the stored rows depart from what the (authentic) payload logged; None if they agree."""
    logged_embargo = payload.get("embargo_until")
    logged = set(payload.get("subjects") or ())
    if payload.get("v", 1) >= 2 and payload.get("commitment") != commitment(logged, logged_embargo):
        return Departure("subjects", "its commitment does not match the subjects and embargo it names")
    wanted = datetime.fromisoformat(logged_embargo) if logged_embargo else None
    if wanted != embargo_column:
        shown = embargo_column.isoformat() if embargo_column else "none"
        return Departure("embargo", f"its embargo was changed (logged {logged_embargo or 'none'}, stored {shown})")
    added = rows - logged
    if added:
        return Departure("subjects", f"{len(added)} subject row(s) not in the entry were added or changed")
    removed = logged - rows
    if removed and not subjects_due(datetime.fromisoformat(payload["occurred_at"]), wanted, now, keep):
        return Departure("subjects", f"{len(removed)} subject row(s) were removed before their retention ended")
    return None
