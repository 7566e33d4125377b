"""Fixtures for the share-code tests: one small synthetic population per session, and a hub
(SQLite and PostgreSQL) holding the example register and DVLA's synthetic records."""

from __future__ import annotations

from pathlib import Path

import pytest
from sharecodes_support import Driver, prepare, synthetic_drivers

from accord.runtime import Hub
from accord.synth.generate import generate


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sharecodes-synth")
    generate(persons=500, seed=11, out=out, overwrite=True, workers=1)
    return out


@pytest.fixture(scope="session")
def drivers(synth_dir: Path) -> list[Driver]:
    found = synthetic_drivers(synth_dir)
    assert len(found) >= 4, "the synthetic population has too few licence holders for these tests"
    return found


@pytest.fixture
def dvla_hub(hub: Hub, synth_dir: Path, drivers: list[Driver]) -> Hub:
    return prepare(hub, synth_dir, drivers)


@pytest.fixture
def sqlite_dvla_hub(sqlite_hub: Hub, synth_dir: Path, drivers: list[Driver]) -> Hub:
    return prepare(sqlite_hub, synth_dir, drivers)
