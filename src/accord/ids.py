"""Identifiers: validated slugs for registry objects and random ids for the rest."""

from __future__ import annotations

import re
import secrets

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")


def is_slug(value: str) -> bool:
    return bool(SLUG.match(value))


def new_id(prefix: str, nbytes: int = 8) -> str:
    return f"{prefix}-{secrets.token_hex(nbytes)}"
