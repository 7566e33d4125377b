"""Registry test fixtures: one seeded in-memory registry per test module, each test rolled back."""

from __future__ import annotations

import pytest
from registry_support import memory_registry, rolled_back


@pytest.fixture(scope="module")
def registry_db():  # noqa: ANN201
    engine = memory_registry()
    yield engine
    engine.dispose()


@pytest.fixture
def session(registry_db):  # noqa: ANN001, ANN201
    yield from rolled_back(registry_db)
