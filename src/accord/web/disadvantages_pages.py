"""Pages: Multiple disadvantages (Troubled Families): households meeting two or more factors."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
