"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from accord.config import Settings


SQLITE_POOL_SIZE = 48
WAL_AUTOCHECKPOINT_PAGES = 10_000  # about 40 MB of log


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # SQLite checkpoints inside a commit once the log passes this many pages. A server
    # checkpoints from its own thread (storage/wal.py); this is the backstop, and what a
    # CLI process relies on.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    # Read through the OS page cache (memory-mapped) and keep a 64 MB page cache per
    # connection, so proofs over a large audit tree stay in memory once warm.
    cursor.execute("PRAGMA mmap_size=1073741824")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def is_sqlite_file(engine: Engine) -> bool:
    """A SQLite database in a file (not in memory): the one that gets the write lock and WAL checkpoints."""
    database = engine.url.database
    return engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite, the parent directory is made and WAL is on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Enough pooled connections for every thread that reads at once (the server's
        # thread pool of 40, the group-commit writer, the audit, job and event workers).
        # With SQLAlchemy's default of 5 + 10 overflow, 32 concurrent requests opened and
        # closed a connection (and ran the pragmas above) on most requests: a third of
        # the thread pool's time in a profile of the verification benchmark.
        in_memory = not parsed.database or parsed.database == ":memory:"
        pool = {} if in_memory else {"pool_size": SQLITE_POOL_SIZE, "max_overflow": 16}
        engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    # More than the default 5 + 10 for the same reason as SQLite, within PostgreSQL's
    # default of 100 connections for two server processes.
    return create_engine(url, pool_pre_ping=True, pool_size=16, max_overflow=24)


def engine_for(settings: Settings) -> Engine:
    return make_engine(settings.resolved_database_url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
