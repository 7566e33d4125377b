"""Tables: share codes and consent records (issue 6)."""

from __future__ import annotations

from accord.storage.models import Base, Int64  # noqa: F401
