"""Fixtures for the CLI tests: a data directory of its own, and `accord` run in process.

``accord(*args)`` runs the real entry point ``accord.cli.main:run`` (the one
the console script calls, which maps AccordError to one line and exit 2) with
``sys.argv`` patched, and returns its exit code and output. ``seeded`` loads
the example register into that data directory's SQLite database. A few tests
also run the installed console script in a subprocess; see cli_support.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cli_support import Result, strip_ansi

from accord.cli import common, main
from accord.clock import utcnow
from accord.config import load_settings
from accord.demo.seed import seed_agreements, seed_registry
from accord.runtime import Hub


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("ACCORD_DATA_DIR", str(data))
    for name in ("ACCORD_DATABASE_URL", "ACCORD_ENVIRONMENT", "ACCORD_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    # Wide output, so tables do not fold identifiers across lines.
    monkeypatch.setattr(common.console, "_width", 250)
    monkeypatch.chdir(tmp_path)
    return data


@pytest.fixture
def accord(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):  # noqa: ANN201
    def invoke(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["accord", *map(str, args)])
        try:
            main.run()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, strip_ansi(captured.out), strip_ansi(captured.err))

    return invoke


@pytest.fixture
def cli_hub(data_dir: Path):  # noqa: ANN201 - the database the CLI uses (SQLite under data_dir)
    opened = Hub.open(load_settings())
    yield opened
    opened.close()


@pytest.fixture
def seeded(cli_hub: Hub) -> Hub:
    now = utcnow()
    with cli_hub.transaction() as session:
        seed_registry(session, cli_hub.framework, now)
        seed_agreements(session, cli_hub.framework, now)
    return cli_hub
