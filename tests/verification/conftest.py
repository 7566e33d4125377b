"""Fixtures for the verification tests: synthetic DWP records, a seeded hub with them loaded, an API client."""

from __future__ import annotations

from pathlib import Path

import pytest
from verification_support import Client, Person, dwp_people, generate_synth, make_client, seed

from accord.runtime import Hub


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synth(tmp_path_factory.mktemp("verification") / "synth")


@pytest.fixture(scope="session")
def people(synth: Path) -> list[Person]:
    found = dwp_people(synth)
    assert len(found) >= 20
    return found


@pytest.fixture
def loaded(hub: Hub, synth: Path) -> Hub:
    """The register seeded and DWP's synthetic records loaded, on SQLite and PostgreSQL."""
    seed(hub, synth)
    return hub


@pytest.fixture
def api(loaded: Hub) -> Client:
    return make_client(loaded)


@pytest.fixture
def sqlite_api(sqlite_hub: Hub, synth: Path) -> Client:
    seed(sqlite_hub, synth)
    return make_client(sqlite_hub)
