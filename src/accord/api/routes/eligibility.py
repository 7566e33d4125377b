"""Fuel-poverty eligibility (Warm Home Discount) jobs: an eligible / not matched flag per account."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["eligibility"])
