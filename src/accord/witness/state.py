"""A witness's key and state: its own Ed25519 key, the logs it trusts, and the latest tree it cosigned for each.

Everything lives in one directory: ``witness-ed25519.pem`` (mode 0600) and
``witness.sqlite``. SQLite gives the atomic check-then-update that tlog-witness
requires: a request is checked against the stored size and the new size stored
in one ``BEGIN IMMEDIATE`` transaction, so two requests can never roll the
size back, and a restart keeps it.
"""

from __future__ import annotations

import base64
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from accord.audit import merkle
from accord.audit.cosignature import COSIGNER, cosign
from accord.audit.note import (
    Checkpoint,
    CheckpointError,
    load_or_create_key,
    origin_of,
    parse_verifier_key,
    verifier_key,
    verify_note,
)

KEY_FILE = "witness-ed25519.pem"
DB_FILE = "witness.sqlite"
NAME = re.compile(r"^[A-Za-z0-9.\-]+(/[A-Za-z0-9.\-_]+)*$")
MAX_PROOF = 63  # tlog-witness: no more than 63 consistency proof lines

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY, log_key TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0, root BLOB, note TEXT, cosignature TEXT, updated_at INTEGER
);
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, status INTEGER NOT NULL,
    reason TEXT NOT NULL, request TEXT NOT NULL, at INTEGER NOT NULL
);
"""


class WitnessError(ValueError):
    """A witness directory that is missing, or a setting that is not valid."""


@dataclass(frozen=True)
class Answer:
    """What the witness says to a request: an HTTP status, a content type and a body."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class LogState:
    origin: str
    log_key: str
    size: int
    root: bytes | None
    note: str | None
    cosignature: str | None


class WitnessStore:
    """One witness directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        if not (directory / DB_FILE).is_file() or not (directory / KEY_FILE).is_file():
            raise WitnessError(f"{directory} is not a witness directory (run `accord witness init` first)")
        self.key = load_or_create_key(directory / KEY_FILE, create=False)
        self.name = self._setting("name")

    @classmethod
    def init(cls, directory: Path, name: str) -> WitnessStore:
        """Make the directory's key and database (an existing witness is kept, never re-keyed)."""
        if not NAME.match(name):
            raise WitnessError(f"the witness name {name!r} must be like example.org/witness (letters, digits, dots, "
                               "hyphens and /-separated parts)")
        directory.mkdir(parents=True, exist_ok=True)
        load_or_create_key(directory / KEY_FILE, create=True)
        with _connect(directory) as db:
            db.executescript(_SCHEMA)
            existing = db.execute("SELECT value FROM settings WHERE name = 'name'").fetchone()
            if existing and existing[0] != name:
                raise WitnessError(f"{directory} is already the witness {existing[0]}")
            db.execute("INSERT OR IGNORE INTO settings VALUES ('name', ?)", (name,))
        return cls(directory)

    def _setting(self, name: str) -> str:
        with _connect(self.directory) as db:
            row = db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise WitnessError(f"{self.directory}: the witness has no {name}")
        return row[0]

    @property
    def verifier_key(self) -> str:
        """The witness's public key, as logs and verifiers configure it (signed-note vkey, type 0x04)."""
        return verifier_key(self.name, self.key.public_key(), COSIGNER)

    def trust(self, log_key: str) -> str:
        """Witness the log whose checkpoints this key signs (its name is the log's origin); returns the origin."""
        try:
            origin, _, _ = parse_verifier_key(log_key)
        except CheckpointError as exc:
            raise WitnessError(f"the log key is not valid: {exc}") from None
        with _connect(self.directory) as db:
            row = db.execute("SELECT log_key FROM logs WHERE origin = ?", (origin,)).fetchone()
            if row is not None and row[0] != log_key:
                raise WitnessError(f"the witness already knows {origin} under another key")
            db.execute("INSERT OR IGNORE INTO logs (origin, log_key) VALUES (?, ?)", (origin, log_key))
        return origin

    def logs(self) -> list[LogState]:
        with _connect(self.directory) as db:
            rows = db.execute("SELECT origin, log_key, size, root, note, cosignature FROM logs ORDER BY origin")
            return [LogState(*row) for row in rows]

    def latest(self, origin: str) -> LogState | None:
        return next((log for log in self.logs() if log.origin == origin), None)

    def refusals(self) -> list[tuple[str, int, str]]:
        with _connect(self.directory) as db:
            return list(db.execute("SELECT origin, status, reason FROM refusals ORDER BY id"))

    def add_checkpoint(self, request: str, now: int | None = None) -> Answer:
        """The tlog-witness add-checkpoint call: check, store and cosign, or refuse with the spec's status."""
        try:
            old, proof, note = parse_request(request)
        except ValueError as exc:
            return Answer(400, f"{exc}\n")
        origin = origin_of(note)
        with _connect(self.directory) as db:
            db.execute("BEGIN IMMEDIATE")  # the check and the update are one step (tlog-witness)
            row = db.execute("SELECT log_key, size, root FROM logs WHERE origin = ?", (origin,)).fetchone()
            if row is None:
                return Answer(404, f"this witness does not witness the log {origin}\n")
            log_key, size, root = row
            _, _, public = parse_verifier_key(log_key)
            try:
                checkpoint = verify_note(note, public, origin)
            except CheckpointError as exc:
                return Answer(403, f"the checkpoint is not signed by the log's known key: {exc}\n")
            if old > checkpoint.tree_size:
                return Answer(400, "the old size is larger than the checkpoint's size\n")
            if old != size:
                return Answer(409, f"{size}\n", "text/x.tlog.size")
            refusal = _inconsistency(old, proof, root, checkpoint)
            if refusal is not None:
                db.execute("INSERT INTO refusals (origin, status, reason, request, at) VALUES (?, ?, ?, ?, ?)",
                           (origin, refusal.status, refusal.body.strip(), request, int(time.time())))
                db.execute("COMMIT")  # kept as evidence of the log's misbehaviour
                return refusal
            stamp = int(time.time()) if now is None else now
            line = cosign(self.key, self.name, checkpoint.body, stamp)
            db.execute("UPDATE logs SET size = ?, root = ?, note = ?, cosignature = ?, updated_at = ? WHERE origin = ?",
                       (checkpoint.tree_size, checkpoint.root_hash, note, line, stamp, origin))
            db.execute("COMMIT")
        return Answer(200, line)


def _inconsistency(old: int, proof: list[bytes], root: bytes | None, checkpoint: Checkpoint) -> Answer | None:
    if old == 0:
        if proof:
            return Answer(422, "a consistency proof from size 0 must be empty\n")
        if checkpoint.tree_size == 0 and checkpoint.root_hash != merkle.EMPTY_ROOT:
            return Answer(422, "an empty tree's root must be the hash of nothing\n")
        return None
    if old == checkpoint.tree_size:
        if proof or checkpoint.root_hash != root:
            return Answer(409, f"a checkpoint of size {old} with another root was cosigned already\n")
        return None
    if not merkle.verify_consistency(old, checkpoint.tree_size, root or b"", checkpoint.root_hash, proof):
        return Answer(422, f"the consistency proof from size {old} to {checkpoint.tree_size} does not verify\n")
    return None


def parse_request(text: str) -> tuple[int, list[bytes], str]:
    """(old size, proof hashes, checkpoint note) of an add-checkpoint body; ValueError when malformed."""
    head, sep, note = text.partition("\n\n")
    if not sep or not note:
        raise ValueError("the request has no blank line followed by a checkpoint")
    lines = head.split("\n")
    first = lines[0]
    if not first.startswith("old ") or not first[4:].isdigit() or (first[4:] != "0" and first[4] == "0"):
        raise ValueError("the first line must be 'old <size>' with no leading zeroes")
    if len(lines) - 1 > MAX_PROOF:
        raise ValueError(f"more than {MAX_PROOF} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            value = base64.b64decode(line, validate=True)
        except ValueError:
            raise ValueError("a consistency proof line is not base64") from None
        if len(value) != 32:
            raise ValueError("a consistency proof line is not a 32-byte hash")
        proof.append(value)
    return int(first[4:]), proof, note


def _connect(directory: Path) -> _Closing:
    # isolation_level=None: transactions are the explicit BEGIN IMMEDIATE ... COMMIT above.
    db = sqlite3.connect(directory / DB_FILE, timeout=10, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return _Closing(db)


class _Closing:
    """A connection used as ``with``: rolls back an unfinished transaction and closes."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc: object) -> None:
        if self.db.in_transaction:
            self.db.rollback()
        self.db.close()

