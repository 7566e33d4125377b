"""Fixtures for the API tests.

``api`` runs each test once per backend (it builds on the shared ``hub``
fixture); ``sqlite_api`` runs on SQLite only, for tests whose subject is the
HTTP layer rather than storage. Helpers and payloads are in api_support.py.
"""

from __future__ import annotations

import pytest
from api_support import Api, seed

from accord.runtime import Hub


@pytest.fixture
def api(hub: Hub) -> Api:
    seed(hub)
    return Api.for_hub(hub)


@pytest.fixture
def sqlite_api(sqlite_hub: Hub) -> Api:
    seed(sqlite_hub)
    return Api.for_hub(sqlite_hub)
