"""The fixtures every test directory shares (helpers are in accord_testing.py).

- ``hub`` runs a test once per backend (SQLite and PostgreSQL); ``sqlite_hub`` on SQLite only.
- ``data_dir`` gives the command line a data directory of its own; ``accord(*args)`` runs
  the real entry point in process and returns a ``CliRun``.
- ``demo_run`` is one run of ``accord demo --no-serve`` shared by the whole test run.
- ``throttle_reset`` forgets the throttle's counters (failed sign-ins, comments) when called;
  the ``hub`` fixtures start every test with them empty too, so no test (and no fuzzing run)
  is locked out by the failures of another.

Storage and API tests take the ``hub`` fixture, which runs each
test once per backend. PostgreSQL is at ACCORD_TEST_POSTGRES_URL (default:
127.0.0.1:5432, trust auth, database ``test``); each test worker gets its own
database, migrated once, and every test starts from empty tables. If
PostgreSQL is unreachable its tests are skipped, unless ACCORD_REQUIRE_POSTGRES=1
(as in CI), when they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url

warnings.filterwarnings("ignore", message=".*httpx2.*")

from accord.config import load_settings  # noqa: E402
from accord.runtime import Hub  # noqa: E402
from accord.storage.models import Base  # noqa: E402

POSTGRES_URL = os.environ.get("ACCORD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("ACCORD_REQUIRE_POSTGRES") == "1"
_TEST_SETTINGS = {"ACCORD_TEST_POSTGRES_URL", "ACCORD_REQUIRE_POSTGRES"}  # how the tests run, not Accord's settings
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    problem = _postgres_available()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (ACCORD_REQUIRE_POSTGRES=1) but unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    name = f"accord_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{(tmp_path_factory.mktemp('sqlite') / 'accord.db').as_posix()}"


_migrated: dict[str, Hub] = {}


def _hub_for(url: str, data_dir: Path) -> Hub:
    """One migrated hub per database for the session; tables emptied before each test."""
    hub = _migrated.get(url)
    if hub is None:
        settings = load_settings(database_url=url, data_dir=data_dir, environment="test")
        hub = Hub.open(settings)
        _migrated[url] = hub
    with hub.engine.begin() as connection:  # the throttle's counters too: no test is locked out by another
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    # Files the hub keeps beside its database (holdings, job results) start empty too.
    data_dir = hub.settings.data_dir
    if data_dir.is_dir():
        for child in data_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    return hub


@pytest.fixture(params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Hub:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_database")
    else:
        url = request.getfixturevalue("sqlite_database")
    return _hub_for(url, _hub_data_dir(url, tmp_path_factory))


@pytest.fixture
def sqlite_hub(sqlite_database: str, tmp_path_factory: pytest.TempPathFactory) -> Hub:
    return _hub_for(sqlite_database, _hub_data_dir(sqlite_database, tmp_path_factory))


@pytest.fixture
def throttle_reset():  # noqa: ANN201 - reset(hub) -> counters forgotten
    """``throttle_reset(hub)``: forget every throttle counter (what ``accord throttle reset`` does), e.g.
    between the examples of a fuzzing run that sends many failing or anonymous requests."""
    from accord.services import throttle

    return throttle.reset


def _hub_data_dir(url: str, factory: pytest.TempPathFactory) -> Path:
    """The hub's own data directory (not a test's tmp_path, which the reset below would empty)."""
    hub = _migrated.get(url)
    return hub.settings.data_dir if hub is not None else factory.mktemp("hub-data")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for hub in _migrated.values():
        hub.close()
    _migrated.clear()


# ---------------------------------------------------------------- the command line


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory of the command line's own (ACCORD_DATA_DIR), wide output, and the test's tmp_path as cwd."""
    data = tmp_path / "data"
    for name in [name for name in os.environ if name.startswith("ACCORD_") and name not in _TEST_SETTINGS]:
        monkeypatch.delenv(name)  # the machine's own settings (a database URL, a chunk size) do not leak in
    monkeypatch.setenv("ACCORD_DATA_DIR", str(data))
    _wide(monkeypatch)
    monkeypatch.chdir(tmp_path)
    return data


def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide output and errors, so tables and messages do not fold identifiers across lines."""
    from accord.cli import common

    monkeypatch.setattr(common.console, "_width", 250)
    monkeypatch.setattr(common.err, "_width", 250)


def _runner(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):  # noqa: ANN202
    import sys

    from accord_testing import CliRun, strip_ansi

    from accord.cli import main

    def invoke(*args: object) -> CliRun:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["accord", *map(str, args)])
        try:
            main.run()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliRun(code, strip_ansi(captured.out), strip_ansi(captured.err))

    return invoke


@pytest.fixture
def accord(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):  # noqa: ANN201
    """``accord(*args)``: the console script's entry point (``accord.cli.main:run``, which maps an
    AccordError to one line and exit 2) in this process, with ``sys.argv`` patched; a ``CliRun``."""
    return _runner(monkeypatch, capsys)


@pytest.fixture
def accord_on(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):  # noqa: ANN201
    """``accord_on(hub)``: the same runner, pointed at a test hub's database (either backend) and data directory."""
    def point(hub: Hub):  # noqa: ANN202
        for name in [name for name in os.environ if name.startswith("ACCORD_") and name not in _TEST_SETTINGS]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("ACCORD_DATABASE_URL", hub.settings.resolved_database_url)
        monkeypatch.setenv("ACCORD_DATA_DIR", str(hub.settings.data_dir))
        monkeypatch.setenv("ACCORD_ENVIRONMENT", "test")
        _wide(monkeypatch)
        return _runner(monkeypatch, capsys)

    return point


@pytest.fixture
def cli_hub(data_dir: Path):  # noqa: ANN201
    """The database the command line uses (SQLite under ``data_dir``), empty."""
    opened = Hub.open(load_settings())
    yield opened
    opened.close()


# ---------------------------------------------------------------- the demo, run once

# `accord demo --no-serve` is the slowest command there is (synthetic data, every service,
# linkage included). Tests that need its output share one run, across xdist workers too:
# the first worker to ask runs it under a file lock in the directory the workers share,
# and the others read its result. (xdist's loadgroup cannot do this under pytest 9.2.)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - (data root, completed process)
    import json
    import subprocess
    import sys

    from accord.storage.write_lock import ProcessWriteLock

    # Under xdist each worker's base is a child of the run's own directory, which the workers share;
    # without xdist the base itself is the run's (its parent is shared by every run, and would keep
    # an earlier run's result).
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root, result = shared / "demo-run", shared / "demo-run.json"
    lock = ProcessWriteLock(shared / "demo-run.lock")
    try:
        with lock:
            if not result.exists():
                root.mkdir(exist_ok=True)
                env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
                env.update({"ACCORD_DATA_DIR": str(root), "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"})
                done = subprocess.run(
                    [str(Path(sys.executable).parent / "accord"), "demo", "--no-serve", "--port", "0"],
                    env=env, cwd=root, capture_output=True, text=True,
                    timeout=600,  # the whole demo, linkage included, on a loaded machine
                    check=False,
                )
                result.write_text(json.dumps([done.returncode, done.stdout, done.stderr]), encoding="utf-8")
    finally:
        lock.close()
    code, stdout, stderr = json.loads(result.read_text(encoding="utf-8"))
    return root, subprocess.CompletedProcess([], code, stdout, stderr)
