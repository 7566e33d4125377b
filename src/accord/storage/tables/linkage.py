"""Tables: linkage models stored per agreement (issue 5)."""

from __future__ import annotations

from accord.storage.models import Base, Int64  # noqa: F401
