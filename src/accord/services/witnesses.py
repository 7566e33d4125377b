"""Publishing the hub's checkpoints to its witnesses, and reading back what they hold.

Each witness named in ACCORD_WITNESSES is sent the latest checkpoint with a
consistency proof from the size it last cosigned (C2SP tlog-witness). Its
answer is stored with the checkpoint: the cosignature, or the refusal, which is
an alarm (logged, and failed by `accord audit verify`). A witness that cannot be
reached leaves nothing stored, so the next pass publishes again; publishing runs
in a thread of its own, so a slow witness never holds up the audit worker.
"""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accord.audit import checkpoint as checkpoints
from accord.audit import merkle
from accord.audit.cosignature import Witness, cosigned_at
from accord.audit.store import SqlNodes
from accord.audit.verify import Witnessed
from accord.clock import utcnow
from accord.config import WitnessSetting
from accord.errors import ConfigurationError
from accord.runtime import Hub
from accord.storage.models import AuditCheckpoint, AuditWitnessReply

log = logging.getLogger("accord.audit.witnesses")
SIZE_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class Published:
    """What one witness said to one checkpoint: "cosigned", "refused", "unreachable" or "already"."""

    witness: str
    tree_size: int
    outcome: str
    detail: str = ""


def configured(hub: Hub) -> list[Witness]:
    return [_witness(setting) for setting in hub.settings.witnesses]


def _witness(setting: WitnessSetting) -> Witness:
    try:
        witness = Witness.from_key(setting.key, setting.url.rstrip("/"))
    except checkpoints.CheckpointError as exc:
        raise ConfigurationError(f"ACCORD_WITNESSES: the key of {setting.name} is not valid: {exc}") from None
    if witness.name != setting.name:
        raise ConfigurationError(f"ACCORD_WITNESSES: the key of {setting.name} names {witness.name}")
    return witness


def publish(hub: Hub) -> list[Published]:
    """Send the latest checkpoint to every witness that has not answered it yet; store each answer."""
    outcomes = []
    for witness in configured(hub):
        try:
            outcomes.append(_publish_to(hub, witness))
        except httpx.HTTPError as exc:
            log.warning("witness %s could not be reached (%s); the checkpoint will be sent again", witness.name, exc)
            outcomes.append(Published(witness.name, 0, "unreachable", str(exc)))
    return outcomes


def _publish_to(hub: Hub, witness: Witness) -> Published:
    with hub.transaction() as session:
        latest = checkpoints.latest(session)
        if latest is None:
            return Published(witness.name, 0, "already", "no checkpoint yet")
        if session.get(AuditWitnessReply, (latest.id, witness.name)) is not None:
            return Published(witness.name, latest.tree_size, "already")
        old = session.scalar(select(func.max(AuditWitnessReply.tree_size)).where(
            AuditWitnessReply.witness == witness.name, AuditWitnessReply.cosignature.is_not(None))) or 0
        checkpoint_id, size, note = latest.id, latest.tree_size, latest.note
    with httpx.Client(timeout=hub.settings.witness_timeout_seconds) as client:
        reply = _send(client, hub, witness, old, size, note)
        if reply.status_code == 409 and reply.headers.get("content-type", "").startswith(SIZE_TYPE):
            known = reply.text.strip()
            if known.isdigit() and int(known) != old and int(known) <= size:
                reply = _send(client, hub, witness, int(known), size, note)  # the witness's size, once
    if reply.status_code >= 500:
        raise httpx.HTTPStatusError(f"the witness answered {reply.status_code}", request=reply.request,
                                    response=reply)
    cosignature, refusal = None, None
    if reply.status_code == 200:
        body = checkpoints.verify_note(note, hub.signing_key.public_key(), hub.settings.audit_origin).body
        try:
            if cosigned_at(note + reply.text, body, witness) is None:
                refusal = "200: the answer holds no cosignature by the witness's key"
            else:
                cosignature = reply.text
        except checkpoints.CheckpointError as exc:
            refusal = f"200: {exc}"
    else:
        refusal = f"{reply.status_code}: {reply.text.strip()[:500]}"
    if refusal is not None:
        log.error("ALARM: witness %s refused the audit checkpoint of size %s (%s)", witness.name, size, refusal)
    with hub.transaction() as session:
        if session.get(AuditWitnessReply, (checkpoint_id, witness.name)) is None:
            session.add(AuditWitnessReply(checkpoint_id=checkpoint_id, witness=witness.name, tree_size=size,
                                          cosignature=cosignature, refusal=refusal, answered_at=utcnow()))
    return Published(witness.name, size, "refused" if refusal else "cosigned", refusal or "")


def _send(client: httpx.Client, hub: Hub, witness: Witness, old: int, size: int, note: str) -> httpx.Response:
    proof: list[bytes] = []
    if 0 < old < size:
        with hub.transaction() as session:
            proof = merkle.consistency_proof(SqlNodes(session), old, size)
    lines = "".join(base64.b64encode(p).decode() + "\n" for p in proof)
    return client.post(f"{witness.url}/add-checkpoint", content=f"old {old}\n{lines}\n{note}".encode(),
                       headers={"content-type": "text/plain; charset=utf-8"})


def cosignatures_of(session: Session, checkpoint_id: int) -> list[tuple[str, str]]:
    """(witness, cosignature line) of each witness that cosigned this checkpoint, by name."""
    return [(name, line) for name, line in session.execute(
        select(AuditWitnessReply.witness, AuditWitnessReply.cosignature)
        .where(AuditWitnessReply.checkpoint_id == checkpoint_id, AuditWitnessReply.cosignature.is_not(None))
        .order_by(AuditWitnessReply.witness))]


def held(hub: Hub) -> tuple[list[Witnessed], list[str], list[str]]:
    """(the cosigned checkpoints stored and the witnesses' latest, refusals stored, witnesses not reached)."""
    witnesses = {w.name: w for w in configured(hub)}
    seen: list[Witnessed] = []
    with hub.transaction() as session:
        rows = session.execute(
            select(AuditWitnessReply.witness, AuditWitnessReply.cosignature, AuditWitnessReply.refusal,
                   AuditWitnessReply.tree_size, AuditCheckpoint.id, AuditCheckpoint.note)
            .join(AuditCheckpoint, AuditCheckpoint.id == AuditWitnessReply.checkpoint_id)
        ).all()
    refusals = []
    for name, cosignature, refusal, size, checkpoint_id, note in rows:
        if refusal is not None:
            refusals.append(f"witness {name} refused the checkpoint of size {size} ({refusal})")
        elif name in witnesses and cosignature:
            seen.append(Witnessed(witnesses[name], note + cosignature, f"stored with checkpoint {checkpoint_id}"))
    unreachable = []
    for witness in witnesses.values():
        try:
            reply = httpx.get(f"{witness.url}/latest", params={"origin": hub.settings.audit_origin},
                              timeout=hub.settings.witness_timeout_seconds)
        except httpx.HTTPError as exc:
            unreachable.append(f"witness {witness.name} could not be reached ({exc})")
            continue
        if reply.status_code == 200:
            seen.append(Witnessed(witness, reply.text, "its latest state"))
        elif reply.status_code != 404:
            unreachable.append(f"witness {witness.name} answered {reply.status_code}")
    return seen, refusals, unreachable


class Publisher:
    """A thread that publishes checkpoints to the witnesses: when told a checkpoint was signed, and every
    ``every`` seconds to retry witnesses that could not be reached."""

    def __init__(self, hub: Hub, every: float) -> None:
        self.hub = hub
        self.every = every
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="accord-witnesses", daemon=True)

    def start(self) -> None:
        if self.hub.settings.witnesses:
            self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                publish(self.hub)
            except Exception:  # noqa: BLE001 - keep publishing; the next pass retries
                log.exception("publishing to the witnesses failed; will retry")
            self._wake.wait(self.every)
            self._wake.clear()
