"""Pages: Identity verification (electoral-registration style): a grade, never the record."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
