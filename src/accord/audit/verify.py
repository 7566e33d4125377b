"""Recompute the audit tree from the stored payloads and check it against the signed checkpoints.

What is caught, and how it is named:
- a payload edited in place: its hash no longer matches the stored leaf hash;
- an entry deleted: a gap in the leaf indices;
- an entry inserted (indices shifted to make room): the entry after it carries
  the hash stored for its position;
- entries reordered: an entry carries the hash stored for another position;
- the stored tree rewritten to hide any of these: the recomputed root no
  longer matches a signed checkpoint (named as the range of leaves between the
  last checkpoint that still verifies and the first that does not);
- a subject row or an embargo changed beside an intact leaf: the rows no longer
  agree with what the leaf logged (``accord.audit.binding``);
- the hub's checkpoints deleted, or re-signed over a rewritten log: a witness's
  cosigned checkpoint no longer matches the log; two validly signed checkpoints
  of one size with different roots are reported as a FORK, naming both sources.

Each problem is also a ``Finding`` with a kind, the leaf and the entry id where
there is one; ``first_bad_leaf``/``first_bad_entry`` name where the log first departs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.audit import checkpoint as checkpoints
from accord.audit.binding import check_rows
from accord.audit.cosignature import Witness, cosigned_at
from accord.audit.merkle import MemoryNodes, leaf_hash, root
from accord.audit.store import head
from accord.storage.models import AuditEntry, AuditNode, AuditSubject

MAX_ROW_FINDINGS = 20  # entries whose rows depart, reported one by one; beyond that, counted


@dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` is edited, deleted, inserted, reordered, subtree, head, checkpoint, embargo,
    subjects, fork, witness or witness-refused."""

    kind: str
    message: str
    leaf: int | None = None
    entry_id: int | None = None


@dataclass(frozen=True)
class Witnessed:
    """A checkpoint note as a witness holds it (with its cosignature), and where it came from."""

    witness: Witness
    note: str
    source: str  # e.g. "stored with the hub's checkpoint 7", "the witness's latest state"


@dataclass
class Report:
    tree_size: int = 0
    checkpoints_checked: int = 0
    problems: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    first_bad_leaf: int | None = None
    first_bad_entry: int | None = None
    cosigned_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def forks(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "fork"]

    def fail(self, message: str, leaf: int | None = None, upto: int | None = None, *, kind: str = "checkpoint",
             entry_id: int | None = None) -> None:
        """Record a problem at ``leaf`` (or in the leaves [leaf, upto), when only a range is known)."""
        self.problems.append(message)
        self.findings.append(Finding(kind, message, leaf, entry_id))
        if leaf is None:
            return
        if upto is not None and self.first_bad_leaf is not None and leaf <= self.first_bad_leaf < upto:
            return  # the range holds the leaf already named, which explains it
        if self.first_bad_leaf is None or leaf < self.first_bad_leaf:
            self.first_bad_leaf = leaf
            self.first_bad_entry = entry_id


def verify(
    session: Session, public: Ed25519PublicKey, origin: str, extra_notes: list[str] | None = None, *,
    witnessed: list[Witnessed] | None = None, now: datetime | None = None, subject_retention: timedelta | None = None,
) -> Report:
    # The server may be integrating and signing while this runs. Everything is read up
    # to the tree head as it stood at the start; what lies beyond it is judged against
    # the head re-read at the end (a head never shrinks, and an index is committed
    # together with the head that covers it).
    report = Report()
    size, stored_root = head(session)
    report.tree_size = size
    stored = {
        idx: bytes(value)
        for idx, value in session.execute(
            select(AuditNode.idx, AuditNode.hash).where(AuditNode.level == 0, AuditNode.idx < size)
        )
    }
    position_of = {value: idx for idx, value in stored.items()}
    actual: dict[int, bytes] = {}
    entries: dict[int, tuple[int, str, datetime | None]] = {}  # leaf -> (entry id, payload, embargo column)
    for entry_id, leaf_index, payload, embargo in session.execute(
        select(AuditEntry.id, AuditEntry.leaf_index, AuditEntry.payload, AuditEntry.embargo_until).where(
            AuditEntry.leaf_index.is_not(None), AuditEntry.leaf_index < size
        )
    ):
        actual[leaf_index] = leaf_hash(payload.encode())
        entries[leaf_index] = (entry_id, payload, embargo)
    rows: dict[int, set[str]] = {}
    for entry_id, person_key in session.execute(
        select(AuditSubject.entry_id, AuditSubject.person_key)
        .join(AuditEntry, AuditEntry.id == AuditSubject.entry_id)
        .where(AuditEntry.leaf_index.is_not(None), AuditEntry.leaf_index < size)
    ):
        rows.setdefault(entry_id, set()).add(person_key)
    later_size, _ = head(session)
    beyond = session.scalars(
        select(AuditEntry.leaf_index).where(AuditEntry.leaf_index >= max(size, later_size))
    ).all()

    ids = {leaf: values[0] for leaf, values in entries.items()}
    _check_leaves(report, size, stored, actual, position_of, beyond, max(size, later_size), ids)
    recomputed = MemoryNodes(actual.get(i, stored.get(i, b"\x00" * 32)) for i in range(size))
    _check_nodes(report, session, recomputed)
    if size and root(recomputed, size) != stored_root:
        report.fail("the stored tree head does not match the tree recomputed from the entries", kind="head")
    _check_rows(report, entries, rows, stored, actual, now or datetime.now(UTC), subject_retention)
    _check_checkpoints(report, session, public, origin, recomputed, extra_notes or [], max(size, later_size),
                       witnessed or [])
    return report


def _check_leaves(
    report: Report, size: int, stored: dict, actual: dict, position_of: dict, beyond: list, head_size: int,
    ids: dict[int, int],
) -> None:
    for index in sorted(beyond):
        report.fail(f"leaf {index}: an entry was inserted beyond the integrated tree (size {head_size})", index,
                    kind="inserted")
    for index in range(size):
        have, want = actual.get(index), stored.get(index)
        if want is None:
            report.fail(f"leaf {index}: its stored leaf hash is missing", index, kind="deleted",
                        entry_id=ids.get(index))
            return
        if have == want:
            continue
        if have is None:
            report.fail(f"leaf {index}: the entry was deleted", index, kind="deleted")
        elif have in position_of and position_of[have] != index:
            report.fail(
                f"leaf {index}: entries were reordered (it holds the entry recorded at leaf {position_of[have]})",
                index, kind="reordered", entry_id=ids.get(index),
            )
        elif actual.get(index + 1) == want:
            report.fail(f"leaf {index}: an entry was inserted here, shifting later entries", index, kind="inserted",
                        entry_id=ids.get(index))
        else:
            report.fail(f"leaf {index}: the entry was edited after it was logged", index, kind="edited",
                        entry_id=ids.get(index))
        return  # later mismatches follow from the first


def _check_rows(report: Report, entries: dict, rows: dict[int, set[str]], stored: dict, actual: dict,
                now: datetime, keep: timedelta | None) -> None:
    """The subject rows and embargo column of every entry whose leaf is intact, against what it logged."""
    departed = 0
    for leaf in sorted(entries):
        if actual.get(leaf) != stored.get(leaf):
            continue  # the leaf itself is reported; its payload is not evidence
        entry_id, payload, embargo = entries[leaf]
        try:
            logged = json.loads(payload)
        except ValueError:
            continue  # a leaf that verifies was logged so; nothing of the view hangs on it
        departure = check_rows(logged, rows.get(entry_id, set()), embargo, now, keep) \
            if isinstance(logged, dict) else None
        if departure is None:
            continue
        departed += 1
        if departed <= MAX_ROW_FINDINGS:
            report.fail(f"leaf {leaf} (entry {entry_id}): {departure.message}", leaf, kind=departure.kind,
                        entry_id=entry_id)
    if departed > MAX_ROW_FINDINGS:
        report.problems.append(f"... and {departed - MAX_ROW_FINDINGS} more entries whose rows depart from their leaf")


def _check_nodes(report: Report, session: Session, recomputed: MemoryNodes) -> None:
    # Subtrees beyond the tree read here are not in ``recomputed`` and are skipped.
    for level, idx, value in session.execute(
        select(AuditNode.level, AuditNode.idx, AuditNode.hash).where(AuditNode.level > 0)
    ):
        expected = recomputed.hashes.get((level, idx))
        if expected is not None and expected != bytes(value):
            first_leaf = idx << level
            report.fail(
                f"stored subtree ({level}, {idx}) over leaves from {first_leaf} was altered",
                first_leaf,
                first_leaf + (1 << level),
                kind="subtree",
            )
            return


def _check_checkpoints(
    report: Report,
    session: Session,
    public: Ed25519PublicKey,
    origin: str,
    recomputed: MemoryNodes,
    extra: list[str],
    head_size: int,
    witnessed: list[Witnessed],
) -> None:
    views: list[tuple[str, checkpoints.Checkpoint]] = []  # (where it came from, the checkpoint)
    for row in checkpoints.all_checkpoints(session):
        _accept(report, views, f"the hub's checkpoint {row.id}", row.note, public, origin)
    for n, note in enumerate(extra, 1):
        _accept(report, views, f"saved checkpoint {n}", note, public, origin)
    for seen in witnessed:
        _accept_witnessed(report, views, seen, public, origin)
    _report_forks(report, views)
    # Where the log first departs lies after the largest checkpoint that still matches. After a fork,
    # only a witness's cosigned view is trusted as that anchor: the hub's own may be re-signed forgeries.
    # At one size, a witness's view is checked first.
    forked = bool(report.forks)
    good_size = 0
    for source, signed in sorted(views, key=lambda view: (view[1].tree_size, not view[0].startswith("witness"))):
        if recomputed.size < signed.tree_size <= head_size:
            continue  # signed after this verification read the tree: checked next time
        report.checkpoints_checked += 1
        by = f" (as {source} holds it)" if source.startswith("witness") else ""
        if signed.tree_size > recomputed.size:
            report.fail(
                f"a signed checkpoint covers {signed.tree_size} leaves but only {recomputed.size} are stored{by}: "
                f"a leaf between {good_size} and {signed.tree_size - 1} was deleted",
                good_size, signed.tree_size, kind="witness" if by else "checkpoint",
            )
            return
        if root(recomputed, signed.tree_size) != signed.root_hash:
            report.fail(
                f"the entries no longer match the checkpoint signed at size {signed.tree_size}{by}: "
                f"a leaf between {good_size} and {signed.tree_size - 1} was altered",
                good_size, signed.tree_size, kind="witness" if by else "checkpoint",
            )
            return
        if not forked or source.startswith("witness"):
            good_size = signed.tree_size


def _accept(report: Report, views: list, source: str, note: str, public: Ed25519PublicKey, origin: str) -> None:
    try:
        views.append((source, checkpoints.verify_note(note, public, origin)))
    except checkpoints.CheckpointError as exc:
        report.fail(f"checkpoint not accepted: {exc}")


def _accept_witnessed(report: Report, views: list, seen: Witnessed, public: Ed25519PublicKey, origin: str) -> None:
    """A witness's copy counts only if the hub's key signed it and the witness's key cosigned it."""
    name = seen.witness.name
    try:
        signed = checkpoints.verify_note(seen.note, public, origin)
        when = cosigned_at(seen.note, signed.body, seen.witness)
    except checkpoints.CheckpointError as exc:
        report.fail(f"witness {name}: its checkpoint ({seen.source}) is not accepted: {exc}", kind="witness")
        return
    if when is None:
        report.fail(f"witness {name}: its checkpoint ({seen.source}) carries no cosignature by it", kind="witness")
        return
    report.cosigned_checked += 1
    views.append((f"witness {name} ({seen.source}, cosigned {checkpoints.utc_from_timestamp(when).isoformat()})",
                  signed))


def _report_forks(report: Report, views: list) -> None:
    """Two validly signed checkpoints of one size with different roots: the log showed two histories."""
    first_seen: dict[int, tuple[str, bytes]] = {}
    for source, signed in views:
        known = first_seen.setdefault(signed.tree_size, (source, signed.root_hash))
        if known[1] != signed.root_hash:
            report.fail(
                f"FORK at size {signed.tree_size}: {known[0]} has root {known[1].hex()[:16]}..., "
                f"{source} has root {signed.root_hash.hex()[:16]}...",
                kind="fork",
            )
