"""Table: throttle counters (issue 13), one row per limited scope and key, shared by every server process.

A row counts what happened to one key (a keyed hash of a client id or an address, never the
value itself) since ``window_start`` (epoch seconds). The counters live in the database, not in
a process, so a limit holds however many server processes share it; ``accord throttle reset``
empties the table. See accord.services.throttle for the scopes and how they are counted.
"""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from accord.storage.models import Base, Int64


class ThrottleCounter(Base):
    __tablename__ = "throttle_counters"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)  # e.g. token.client, comments.address
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # keyed hash of the client id or address
    window_start: Mapped[int] = mapped_column(Int64)  # epoch seconds when the current window began
    attempts: Mapped[int] = mapped_column(Integer)  # failures (or requests) in the window
