"""Civil-registration events: subscriptions, signed webhooks, pull feed, deceased check."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["events"])
