"""Pages: Share codes: a citizen's consent to show chosen items to a third party."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
