"""Pages: none for civil-registration events, on purpose.

No person at a body uses a page for events: subscriptions are set up and watched by the
bodies' systems and the hub operator, through the API (``GET /v1/events/subscriptions``
carries each subscription's delivery health) and ``accord events``. Accord has no sign-in
for a body's officers, and a page listing one body's subscriptions without one would show
them to anyone. Citizens see each event and deceased check about them on /citizen.
The router stays so that a page can be added here once officers can sign in.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
