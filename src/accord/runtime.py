"""The hub's runtime: settings, framework and storage, built once and passed in."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.audit import log as audit_log
from accord.audit.checkpoint import CheckpointError, load_or_create_key
from accord.config import Settings
from accord.errors import ConfigurationError
from accord.framework import Framework, load_framework
from accord.privacy import labels
from accord.privacy.pseudonymise import derive_key, person_key
from accord.storage import migrate
from accord.storage.engine import engine_for, session_factory, transaction
from accord.storage.group_commit import GroupCommitter
from accord.storage.write_lock import ProcessWriteLock, write_lock_for


_GROUP_COMMIT_LOCK = threading.RLock()  # group_commit builds write_lock under it
_HUB = "accord.hub"  # the key of the hub in each of its sessions' ``info``
T = TypeVar("T")


@dataclass
class Hub:
    settings: Settings
    framework: Framework
    engine: Engine
    sessions: sessionmaker[Session]
    _signing_key: Ed25519PrivateKey | None = field(default=None, repr=False)
    _subject_key: bytes | None = field(default=None, repr=False)
    _idempotency_key: bytes | None = field(default=None, repr=False)
    _group_commit: GroupCommitter | None = field(default=None, repr=False)
    _write_lock: ContextManager | None = field(default=None, repr=False)
    _caches: dict[str, Any] = field(default_factory=dict, repr=False)
    _caches_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # Each session knows its hub (``hub_of``), and the audit log writes its pending records
        # through listeners on this hub's sessions only, never on SQLAlchemy's global Session.
        self.sessions.configure(info={_HUB: self})
        audit_log.install(self.sessions)

    def cache(self, name: str, factory: Callable[[], T]) -> T:
        """This hub's one instance of a cache (built on first use): caches hang on the hub, not on modules."""
        found = self._caches.get(name)
        if found is None:
            with self._caches_lock:
                found = self._caches.get(name)
                if found is None:
                    found = self._caches[name] = factory()
        return found

    def forget_caches(self) -> None:
        """Drop every cache (tests that change files under the hub's feet; an operator never needs to)."""
        with self._caches_lock:
            self._caches.clear()

    @classmethod
    def open(cls, settings: Settings, *, upgrade: bool = True) -> "Hub":
        framework = load_framework(settings.framework_file)
        engine = engine_for(settings)
        if upgrade:
            migrate.upgrade(engine)
        return cls(settings, framework, engine, session_factory(engine))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        """The audit checkpoint signing key; created on first use outside production."""
        if self._signing_key is None:
            path = self.settings.resolved_audit_key_file
            try:
                self._signing_key = load_or_create_key(path, create=self.settings.environment != "production")
            except CheckpointError as exc:
                raise ConfigurationError(str(exc)) from None
        return self._signing_key

    @property
    def subject_secret(self) -> bytes:
        """The key audit subjects are derived with (``services.subjects``); derived once."""
        if self._subject_key is None:
            self._subject_key = derive_key(self.settings.secret_key.get_secret_value(), labels.AUDIT_SUBJECTS)
        return self._subject_key

    def person_key(self, scheme: str, identifier: str) -> str:
        """The audit log's pseudonymous key for an identifier (never the identifier itself)."""
        return person_key(self.subject_secret, scheme, identifier)

    @property
    def write_lock(self) -> ContextManager:
        """Held by this process's heavy writers around each transaction (storage/write_lock.py)."""
        if self._write_lock is None:
            with _GROUP_COMMIT_LOCK:
                if self._write_lock is None:
                    self._write_lock = write_lock_for(self.engine)
        return self._write_lock

    @property
    def group_commit(self) -> GroupCommitter:
        """The process's one group-commit writer; API writes go through it."""
        if self._group_commit is None:
            with _GROUP_COMMIT_LOCK:
                if self._group_commit is None:
                    self._group_commit = GroupCommitter(self.sessions, lock=self.write_lock)
        return self._group_commit

    @property
    def idempotency_key(self) -> bytes:
        """Key for hashing write requests kept for idempotent replay (derived once)."""
        if self._idempotency_key is None:
            self._idempotency_key = derive_key(self.settings.secret_key.get_secret_value(), labels.IDEMPOTENCY)
        return self._idempotency_key

    def close(self) -> None:
        if self._group_commit is not None:
            self._group_commit.close()
        if isinstance(self._write_lock, ProcessWriteLock):
            self._write_lock.close()
        self.engine.dispose()


def hub_of(session: Session) -> Hub:
    """The hub a session was opened from (every session of ``Hub.sessions`` carries it)."""
    hub = session.info.get(_HUB)
    if hub is None:
        raise RuntimeError("this session was not opened from a hub's session factory")
    return hub
