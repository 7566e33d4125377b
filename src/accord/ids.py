"""Random ids for the things Accord makes (agreements without one, subscriptions, requests)."""

from __future__ import annotations

import secrets


def new_id(prefix: str, nbytes: int = 8) -> str:
    return f"{prefix}-{secrets.token_hex(nbytes)}"
