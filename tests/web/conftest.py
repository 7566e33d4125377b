"""Fixtures for the public page tests.

``site`` runs each test once per backend (SQLite and PostgreSQL, via the shared
``hub`` fixture) because the pages read and write through storage;
``sqlite_site`` is for tests whose subject is only the HTML or HTTP layer.
"""

from __future__ import annotations

import pytest
from web_support import Site, make_site

from accord.runtime import Hub


@pytest.fixture
def site(hub: Hub) -> Site:
    return make_site(hub)


@pytest.fixture
def sqlite_site(sqlite_hub: Hub) -> Site:
    return make_site(sqlite_hub)
