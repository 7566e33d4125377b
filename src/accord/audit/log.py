"""Appending records to the audit log, and reading them back.

A record is written as canonical JSON (sorted keys, no insignificant
whitespace, UTF-8): those exact bytes are the Merkle leaf, so anyone holding
the payload can recompute its leaf hash. Records hold pseudonymous person
keys, never personal data.

Leaf version 2 (``"v": 2``) adds ``commitment``, binding the subjects and the
embargo end that the citizen's view reads from their own columns
(``accord.audit.binding``). Version 1 leaves, written before, keep their bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session, sessionmaker

from accord.audit.binding import commitment
from accord.storage.models import AuditEntry, AuditSubject

LEAF_VERSION = 2


@dataclass(frozen=True)
class AuditRecord:
    kind: str  # e.g. "access.decision", "retention.deletion"
    occurred_at: datetime
    outcome: str  # "allow", "deny" or "done"
    body_id: str | None = None
    actor: str | None = None  # the officer or system acting for the body
    purpose: str | None = None
    purpose_iri: str | None = None
    agreement_id: str | None = None
    action: str | None = None
    dataset_id: str | None = None
    subjects: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    records: int = 0
    reasons: tuple[str, ...] = ()
    request_id: str | None = None
    embargo_until: datetime | None = None
    details: dict = field(default_factory=dict)


_FIELDS = tuple(f.name for f in fields(AuditRecord))


def canonical(record: AuditRecord) -> str:
    # A shallow copy: dataclasses.asdict deep-copies every value, which showed up in profiles.
    data = {name: getattr(record, name) for name in _FIELDS}
    data["v"] = LEAF_VERSION
    data["occurred_at"] = record.occurred_at.isoformat()
    data["embargo_until"] = record.embargo_until.isoformat() if record.embargo_until else None
    data["subjects"] = sorted(set(record.subjects))
    data["commitment"] = commitment(data["subjects"], data["embargo_until"])
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_ENTRIES = AuditEntry.__table__
_SUBJECTS = AuditSubject.__table__


_PENDING = "accord.audit.pending"
_INSERT_ENTRIES = insert(_ENTRIES).returning(_ENTRIES.c.id, sort_by_parameter_order=True)
_INSERT_SUBJECTS = insert(_SUBJECTS)


def append(session: Session, record: AuditRecord) -> None:
    """Add a record to the caller's transaction; it commits (or not) with the access.

    Records are held on the session and written together, in two multi-row
    statements, just before the transaction commits or before anything else
    runs on the session (so the transaction always reads its own entries).
    Under group commit a whole batch's entries cost those two statements.
    """
    if not session.info.get(_INSTALLED):
        # Nothing would ever write it: a record on such a session is lost without a word.
        raise RuntimeError("audit records may be appended only on a session from a factory the audit log is "
                           "installed on (the hub's: Hub.sessions)")
    session.info.setdefault(_PENDING, []).append(record)


def write_pending(session: Session) -> None:
    """Write the records appended to this session so far (idempotent; called by hooks)."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    rows = [
        {
            "occurred_at": record.occurred_at,
            "kind": record.kind,
            "body_id": record.body_id,
            "agreement_id": record.agreement_id,
            "request_id": record.request_id,
            "embargo_until": record.embargo_until,
            "payload": canonical(record),
        }
        for record in pending
    ]
    ids = session.execute(_INSERT_ENTRIES, rows).scalars().all()
    subjects = [
        {"entry_id": entry_id, "person_key": key}
        for entry_id, record in zip(ids, pending, strict=True)
        for key in sorted(set(record.subjects))
    ]
    if subjects:
        session.execute(_INSERT_SUBJECTS, subjects)


def _before_commit(session: Session) -> None:
    write_pending(session)


# An execution option for statements that never read the audit tables (the decision
# point's candidate read, the decision insert): they run without writing the records
# appended so far first. Under group commit this lets a whole batch's records go out in
# two statements at commit, instead of two per request before the next request's first
# statement; in the verification benchmark that was a third of the writer thread's time.
AUDIT_INDEPENDENT = "accord_audit_independent"


def _before_any_statement(state) -> None:  # noqa: ANN001 - ORMExecuteState
    if _PENDING in state.session.info and not state.execution_options.get(AUDIT_INDEPENDENT):
        write_pending(state.session)


def _before_flush(session: Session, flush_context, instances) -> None:  # noqa: ANN001
    write_pending(session)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


_INSTALLED = "accord.audit.installed"  # in the info of every session whose factory has the hooks
_HOOKS = (("before_commit", _before_commit), ("do_orm_execute", _before_any_statement),
          ("before_flush", _before_flush), ("after_rollback", _after_rollback))


def install(sessions: sessionmaker[Session]) -> None:
    """Write appended records from sessions of this factory (the hub's): at commit, or before
    anything else runs on the session, so a transaction always reads its own entries."""
    for name, hook in _HOOKS:
        if not event.contains(sessions, name, hook):
            event.listen(sessions, name, hook)
    sessions.configure(info={**(sessions.kw.get("info") or {}), _INSTALLED: True})


def entries_about(session: Session, person_keys: str | tuple[str, ...], *, now: datetime,
                  include_embargoed: bool = False) -> list[dict]:
    """Every entry naming any of these keys (one person's), newest first, each once; embargoed ones
    hidden until their embargo ends."""
    keys = (person_keys,) if isinstance(person_keys, str) else tuple(person_keys)
    naming = select(AuditSubject.entry_id).where(AuditSubject.person_key.in_(keys))
    query = (
        select(AuditEntry)
        .where(AuditEntry.id.in_(naming))
        .order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
    )
    found = []
    for entry in session.scalars(query):
        if not include_embargoed and entry.embargo_until is not None and entry.embargo_until > now:
            continue
        payload = json.loads(entry.payload)
        payload["entry_id"] = entry.id
        payload["leaf_index"] = entry.leaf_index
        found.append(payload)
    return found


def entry_by_leaf(session: Session, leaf_index: int) -> AuditEntry | None:
    return session.scalar(select(AuditEntry).where(AuditEntry.leaf_index == leaf_index))
