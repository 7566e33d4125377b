"""The hub's runtime: settings, framework and storage, built once and passed in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from accord.config import Settings
from accord.framework import Framework, load_framework
from accord.storage import migrate
from accord.storage.engine import engine_for, session_factory, transaction


@dataclass
class Hub:
    settings: Settings
    framework: Framework
    engine: Engine
    sessions: sessionmaker[Session]

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

    def close(self) -> None:
        self.engine.dispose()
