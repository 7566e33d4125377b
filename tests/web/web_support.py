"""Helpers for the public page tests: a seeded site, and reading what a page shows."""

from __future__ import annotations

import re
from dataclasses import dataclass

from accord_testing import add_agreement, example_spec, seed_register
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.demo.seed import example_agreements
from accord.runtime import Hub

CONSULTING = "debt-pilot-northshire"
# Every example agreement the demo takes to active (the purpose services add their own).
ACTIVE = {spec.id for status, spec in example_agreements() if status == "active"}
PUBLISHED = ACTIVE | {CONSULTING}


def published_where(gateway: str | None = None, body: str | None = None, status: str | None = None) -> set[str]:
    """The published example agreements a register filter should show, worked out from the example file."""
    chosen = set()
    for demo_status, spec in example_agreements():
        if demo_status not in ("active", "consultation"):
            continue
        parties = {*spec.disclosers, *spec.recipients}
        if (gateway in (None, spec.gateway)) and (body is None or body in parties) and status in (None, demo_status):
            chosen.add(spec.id)
    return chosen
REFUSED = "supplier-research-request"
DRAFT = "draft-debt-pilot-southshire"

_AGREEMENT_LINK = re.compile(r'href="/register/agreements/([A-Za-z0-9_-]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@dataclass
class Site:
    hub: Hub
    client: TestClient


def seed(hub: Hub) -> None:
    """The demo register (7 published agreements, 1 refused) plus one private draft."""
    seed_register(hub)  # at the real time: the pages read the clock, so the consultation must be open now
    add_agreement(hub, example_spec(CONSULTING, id=DRAFT, name="Southshire draft that must stay private"), "draft")


def make_site(hub: Hub) -> Site:
    seed(hub)
    return Site(hub, TestClient(create_app(hub=hub)))


def linked_agreements(html: str) -> set[str]:
    """Ids of the agreements a page links to (the register table's rows)."""
    return set(_AGREEMENT_LINK.findall(html))


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no comment form token"
    return match.group(1)


def comment_count(client: TestClient, agreement_id: str) -> int:
    """As the public JSON register reports it: the independent check that a comment was stored."""
    response = client.get(f"/register/agreements/{agreement_id}.json")
    assert response.status_code == 200, response.text
    return response.json()["consultation"]["comments"]


def title(html: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", html, re.S)
    assert match, "the page has no <title>"
    return match.group(1).strip()
