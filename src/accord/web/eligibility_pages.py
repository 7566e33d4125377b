"""Pages: Fuel-poverty eligibility (Warm Home Discount) jobs: an eligible / not matched flag per account."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
