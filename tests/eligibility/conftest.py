"""Fixtures for the eligibility tests: the synthetic data once per session, a seeded hub per test.

``seeded`` builds on the shared ``hub`` fixture, so every test that takes it runs on SQLite
and on PostgreSQL. Helpers are in eligibility_support.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eligibility_support import seed

from accord.runtime import Hub
from accord.synth.generate import generate


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eligibility-synth") / "synth"
    generate(persons=20_000, seed=2026, out=out, bodies="dwp,energy", workers=1, overwrite=True)
    return out


@pytest.fixture
def seeded(hub: Hub, synth: Path) -> Hub:
    seed(hub, synth)
    return hub


@pytest.fixture
def sqlite_seeded(sqlite_hub: Hub, synth: Path) -> Hub:
    seed(sqlite_hub, synth)
    return sqlite_hub
