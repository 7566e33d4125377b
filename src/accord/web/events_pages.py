"""Pages: Civil-registration events: subscriptions, signed webhooks, pull feed, deceased check."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
