"""Storage on SQLite and PostgreSQL: migrations, timezone-aware UTC datetimes, WAL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import StatementError

from accord.config import load_settings
from accord.runtime import Hub
from accord.storage import migrate
from accord.storage.engine import make_engine
from accord.storage.models import Agreement, Base, Body, DecisionRecord

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # as tests/conftest.py
IST = timezone(timedelta(hours=5, minutes=30))
NEW_YORK_WINTER = timezone(timedelta(hours=-5))


def _head(engine) -> str:  # noqa: ANN001
    return ScriptDirectory.from_config(migrate.alembic_config(engine)).get_current_head()


# ---------------------------------------------------------------- migrations


def test_migrations_are_applied_to_head(hub) -> None:  # noqa: ANN001
    with hub.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        tables = set(inspect(connection).get_table_names())
    assert current == _head(hub.engine)
    assert set(Base.metadata.tables) <= tables


def test_migrations_match_the_models(hub) -> None:  # noqa: ANN001
    with hub.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrading_again_is_a_no_op(hub) -> None:  # noqa: ANN001
    with hub.transaction() as session:
        session.add(Body(id="dwp", name="DWP", body_type="government_department", created_at=NOW))
    migrate.upgrade(hub.engine)
    with hub.transaction() as session:
        assert session.get(Body, "dwp").name == "DWP"
    with hub.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _head(hub.engine)


def test_a_new_data_directory_is_created_and_migrated(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"
    hub = Hub.open(load_settings(data_dir=data_dir, environment="test"))
    try:
        assert (data_dir / "accord.db").is_file()
        with hub.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == _head(hub.engine)
    finally:
        hub.close()


def test_migrations_downgrade_to_nothing_and_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'round-trip.db'}")
    try:
        migrate.upgrade(engine)
        config = migrate.alembic_config(engine)
        command.downgrade(config, "base")
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        with engine.connect() as connection:
            assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


# ---------------------------------------------------------------- datetimes


def test_utc_datetimes_round_trip_timezone_aware(hub) -> None:  # noqa: ANN001
    given = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=IST)  # microseconds and a non-UTC offset
    with hub.transaction() as session:
        session.add(Body(id="dwp", name="DWP", body_type="government_department", created_at=given))
    with hub.transaction() as session:
        read = session.scalar(select(Body.created_at).where(Body.id == "dwp"))
    assert read == given
    assert read.tzinfo is not None
    assert read.utcoffset() == timedelta(0)
    assert read.replace(tzinfo=None) == datetime(2026, 3, 28, 20, 0, 15, 123456)


def test_naive_datetimes_are_refused(hub) -> None:  # noqa: ANN001
    with pytest.raises(StatementError, match="naive datetime given to a UTC column"), hub.transaction() as session:
        session.add(Body(id="dwp", name="DWP", body_type="government_department", created_at=datetime(2026, 1, 1)))
        session.flush()
    with hub.transaction() as session:
        assert session.get(Body, "dwp") is None


def test_range_queries_compare_instants_not_wall_clocks(hub) -> None:  # noqa: ANN001
    # The daily request limit counts decisions with decided_at >= midnight UTC;
    # rows written with other offsets must compare by the instant they denote.
    def decision(n: int, at: datetime) -> DecisionRecord:
        return DecisionRecord(
            decided_at=at, request_id=f"r{n}", body_id="b", officer="o", action="dataset.read",
            purpose="fraud", agreement_id="a", allowed=True, reasons=[], fields_requested=[],
            fields_permitted=[], records=1, obligations={},
        )  # fmt: skip

    midnight = datetime(2026, 11, 22, tzinfo=UTC)
    with hub.transaction() as session:
        session.add_all(
            [
                decision(1, datetime(2026, 11, 21, 20, 0, tzinfo=NEW_YORK_WINTER)),  # 01:00 UTC on the 22nd
                decision(2, datetime(2026, 11, 22, 4, 0, tzinfo=IST)),  # 22:30 UTC on the 21st
                decision(3, midnight),
                decision(4, midnight - timedelta(microseconds=1)),
            ]
        )
    since = datetime(2026, 11, 21, 19, 0, tzinfo=NEW_YORK_WINTER)  # the same instant as midnight UTC
    with hub.transaction() as session:
        found = session.scalars(
            select(DecisionRecord.request_id).where(DecisionRecord.decided_at >= since).order_by(DecisionRecord.id)
        )
        assert list(found) == ["r1", "r3"]


def test_dates_and_json_round_trip(hub) -> None:  # noqa: ANN001
    with hub.transaction() as session:
        session.add(
            Agreement(
                id="a-1", name="Ā name — with ünïcode", gateway="fraud", purpose="p", benefits="b",
                processors=["Ünï processor"], sharing_method="m", retention="P1Y", start_date=date(2028, 2, 29),
                end_date=date(2029, 2, 28), contact="c", areas=["England", "Wales"], status="draft",
                success_measures=[], created_by="t", created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
    with hub.transaction() as session:
        agreement = session.get(Agreement, "a-1")
        assert agreement.start_date == date(2028, 2, 29)
        assert agreement.processors == ["Ünï processor"]
        assert agreement.areas == ["England", "Wales"]
        assert agreement.name == "Ā name — with ünïcode"
        assert agreement.updated_at == NOW and agreement.updated_at.tzinfo is not None


# ---------------------------------------------------------------- SQLite specifics


def test_sqlite_is_in_wal_mode_with_foreign_keys(sqlite_hub) -> None:  # noqa: ANN001
    with sqlite_hub.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 10000


def test_wal_mode_is_recorded_in_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "accord.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.commit()
    engine.dispose()
    plain = create_engine(f"sqlite:///{path}")  # no Accord pragmas: reads what the file says
    try:
        with plain.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        plain.dispose()


def test_sqlite_enforces_foreign_keys(sqlite_hub) -> None:  # noqa: ANN001
    from sqlalchemy.exc import IntegrityError

    from accord.storage.models import Dataset

    with pytest.raises(IntegrityError), sqlite_hub.transaction() as session:
        session.add(Dataset(id="orphan", body_id="no-such-body", name="n", created_at=NOW))
        session.flush()


def test_postgres_url_without_a_driver_uses_psycopg() -> None:
    engine = make_engine("postgresql://user@127.0.0.1:1/db")
    try:
        assert engine.url.drivername == "postgresql+psycopg"
    finally:
        engine.dispose()
