"""A purpose: the legal gateway a use of data is made under, and the objective within it.

Written ``gateway`` or ``gateway:objective`` at the edges (API bodies, audit
payloads, the decisions table); inside Accord it is this type, so no service
splits or joins strings to learn which gateway it is under.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Purpose:
    gateway: str
    objective: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Purpose":
        """``gateway`` or ``gateway:objective``, as written in requests and records."""
        gateway, _, objective = text.partition(":")
        return cls(gateway, objective or None)

    def __str__(self) -> str:
        return f"{self.gateway}:{self.objective}" if self.objective else self.gateway
