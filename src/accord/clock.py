"""The one place Accord reads the time, so tests and the demo can set it."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
