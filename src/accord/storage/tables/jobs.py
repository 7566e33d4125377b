"""Tables: durable background jobs and their results (issue 6: eligibility)."""

from __future__ import annotations

from accord.storage.models import Base, Int64  # noqa: F401
