"""Fixtures for the events tests: a seeded hub and API on SQLite and PostgreSQL, and a receiver.

Helpers live in events_support.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from events_support import EventsApi, FlakyReceiver, seeded_api

from accord.runtime import Hub


@pytest.fixture
def api(hub: Hub) -> EventsApi:
    return seeded_api(hub)


@pytest.fixture
def sqlite_api(sqlite_hub: Hub) -> EventsApi:
    return seeded_api(sqlite_hub)


@pytest.fixture
def receiver() -> Iterator[FlakyReceiver]:
    with FlakyReceiver(keep_bodies=True) as running:
        yield running
