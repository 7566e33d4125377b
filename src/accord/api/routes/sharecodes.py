"""Share codes: a citizen's consent to show chosen items to a third party."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["sharecodes"])
