"""The audit log as the faces use it: integrate, checkpoint, prove, verify, publish the key."""

from __future__ import annotations

import base64
import logging
import threading
from datetime import timedelta

from cryptography.hazmat.primitives import serialization

from accord.audit import checkpoint as checkpoints
from accord.audit import merkle, sequencer
from accord.audit.log import entry_by_leaf
from accord.audit.store import SqlNodes, head
from accord.audit.verify import Report, verify
from accord.clock import utcnow
from accord.errors import InvalidInput, NotFound
from accord.runtime import Hub
from accord.services import retention, witnesses

log = logging.getLogger("accord.audit")


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def integrate_now(hub: Hub) -> int:
    return sequencer.integrate(hub.sessions, utcnow, lock=hub.write_lock)


def checkpoint_now(hub: Hub) -> dict:
    """Integrate what is pending and sign a checkpoint of the whole tree."""
    integrate_now(hub)
    with hub.transaction() as session:
        row = checkpoints.create(session, hub.signing_key, hub.settings.audit_origin, utcnow())
        return checkpoint_view(row)


def checkpoint_view(row) -> dict:  # noqa: ANN001
    return {
        "tree_size": row.tree_size,
        "root_hash": b64(bytes(row.root_hash)),
        "created_at": row.created_at.isoformat(),
        "note": row.note,
    }


def latest_checkpoint(hub: Hub) -> dict:
    """The latest checkpoint, and the same note with the cosignatures its witnesses returned (C2SP: a client
    checks a quorum of them before it trusts a proof against the checkpoint)."""
    with hub.transaction() as session:
        row = checkpoints.latest(session)
        if row is None:
            raise NotFound("no checkpoint has been signed yet")
        view = checkpoint_view(row)
        cosigned = witnesses.cosignatures_of(session, row.id)
    view["witnessed_by"] = [name for name, _ in cosigned]
    view["cosigned_note"] = row.note + "".join(line for _, line in cosigned)
    return view


def public_key(hub: Hub) -> dict:
    public = hub.signing_key.public_key()
    return {
        "origin": hub.settings.audit_origin,
        "algorithm": "Ed25519",
        "verifier_key": checkpoints.verifier_key(hub.settings.audit_origin, public),
        "public_key_pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
    }


def _tree_size(session, requested: int | None) -> int:  # noqa: ANN001
    size, _ = head(session)
    if requested is None:
        return size
    if requested < 1 or requested > size:
        raise InvalidInput(f"tree_size must be between 1 and {size}, the size of the integrated log")
    return requested


def inclusion(hub: Hub, leaf_index: int, tree_size: int | None = None) -> dict:
    with hub.transaction() as session:
        size = _tree_size(session, tree_size)
        if not 0 <= leaf_index < size:
            raise NotFound(f"leaf {leaf_index} is not in the log of size {size}")
        leaf, proof, root = merkle.inclusion_with_root(SqlNodes(session), leaf_index, size)
    return {
        "leaf_index": leaf_index,
        "tree_size": size,
        "leaf_hash": b64(leaf),
        "root_hash": b64(root),
        "proof": [b64(p) for p in proof],
    }


def consistency(hub: Hub, first: int, second: int | None = None) -> dict:
    with hub.transaction() as session:
        second = _tree_size(session, second)
        if not 1 <= first <= second:
            raise InvalidInput(f"first must be between 1 and {second}")
        first_root, second_root, proof = merkle.consistency_with_roots(SqlNodes(session), first, second)
    return {
        "first": first,
        "second": second,
        "first_root": b64(first_root),
        "second_root": b64(second_root),
        "proof": [b64(p) for p in proof],
    }


def entry(hub: Hub, leaf_index: int) -> dict:
    with hub.transaction() as session:
        found = entry_by_leaf(session, leaf_index) if 0 <= leaf_index < 2**62 else None  # beyond any 64-bit leaf index
        if found is None:
            raise NotFound(f"no audit entry at leaf {leaf_index}")
        return {"leaf_index": leaf_index, "payload": found.payload}


def verify_log(hub: Hub, extra_notes: list[str] | None = None, *, consult_witnesses: bool = True) -> Report:
    """Recompute the log and check it against every signed checkpoint: the hub's, any saved by an auditor,
    those its witnesses cosigned (stored here) and, where they can be reached, the witnesses' latest."""
    integrate_now(hub)
    seen, refusals, unreachable = witnesses.held(hub) if consult_witnesses else ([], [], [])
    days = hub.settings.audit_subject_retention_days
    with hub.transaction() as session:
        report = verify(session, hub.signing_key.public_key(), hub.settings.audit_origin, extra_notes,
                        witnessed=seen, now=utcnow(), subject_retention=timedelta(days=days) if days else None)
    for refusal in refusals:
        report.fail(f"ALARM: {refusal}", kind="witness-refused")
    report.warnings.extend(unreachable)
    return report


def report_view(report: Report) -> dict:
    """A verification report as the API and the CLI show it."""
    return {
        "ok": report.ok,
        "tree_size": report.tree_size,
        "checkpoints_checked": report.checkpoints_checked,
        "cosigned_checkpoints_checked": report.cosigned_checked,
        "first_bad_leaf": report.first_bad_leaf,
        "first_bad_entry": report.first_bad_entry,
        "problems": report.problems,
        "findings": [
            {"kind": f.kind, "message": f.message, "leaf": f.leaf, "entry_id": f.entry_id} for f in report.findings
        ],
        "forks": [f.message for f in report.forks],
        "warnings": report.warnings,
    }


def publish_checkpoint(hub: Hub) -> list[witnesses.Published]:
    """Send the latest checkpoint to the witnesses now (the server's worker also does so after each)."""
    return witnesses.publish(hub)


RETENTION_EVERY_SECONDS = 3600.0


class AuditWorker:
    """In the server process: integrates new entries often, signs a checkpoint now and then,
    and runs retention hourly (deleting expired personal payloads, each deletion logged)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="accord-audit", daemon=True)
        witnesses.configured(hub)  # a witness key that does not parse stops the server at start-up
        # Witnesses are sent each checkpoint from a thread of their own: a slow one never holds up integration.
        self.publisher = witnesses.Publisher(hub, every=max(hub.settings.audit_checkpoint_seconds, 5.0))

    def start(self) -> None:
        self._thread.start()
        self.publisher.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.publisher.stop()

    def _run(self) -> None:
        settings = self.hub.settings
        since_checkpoint = 0.0
        since_retention = RETENTION_EVERY_SECONDS  # run once soon after start
        while not self._stop.wait(settings.audit_integrate_seconds):
            try:
                since_retention += settings.audit_integrate_seconds
                if since_retention >= RETENTION_EVERY_SECONDS:
                    since_retention = 0.0
                    with self.hub.transaction() as session:
                        retention.run(session, utcnow())
                integrate_now(self.hub)
                since_checkpoint += settings.audit_integrate_seconds
                if since_checkpoint >= settings.audit_checkpoint_seconds:
                    since_checkpoint = 0.0
                    with self.hub.transaction() as session:
                        size, _ = head(session)
                        last = checkpoints.latest(session)
                    if last is None or size > last.tree_size:
                        checkpoint_now(self.hub)
                        self.publisher.poke()
            except Exception:  # noqa: BLE001 - keep integrating; the next pass retries
                log.exception("audit integration failed; will retry")
