"""Throttling holds across server processes (issue 13): the counters are in the shared database.

Two `accord serve` processes share one database (a SQLite file; PostgreSQL). Failed token
requests for one client id, alternated between them, lock it out after N in total: then the right
secret is refused by both. `accord throttle reset` (throttle.reset) lets it in again.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from live_servers import serving_together

from accord.clock import utcnow
from accord.registry.credentials import create_client
from accord.runtime import Hub
from accord.services import throttle

FAILURES = 4


def _token(url: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(f"{url}/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                  "client_secret": secret}, timeout=10)


def test_failures_alternated_between_two_servers_lock_out_after_n_in_total(hub: Hub, tmp_path: Path) -> None:
    from accord_testing import seed_register

    seed_register(hub)
    with hub.transaction() as session:
        issued = create_client(session, "northshire-council", utcnow(), label="throttle test")
    shared = {"database_url": hub.settings.resolved_database_url,
              "throttle_token_failures_per_client": str(FAILURES)}
    with serving_together([(tmp_path / "one", "one"), (tmp_path / "two", "two")], **shared) as (one, two):
        servers = [one.url, two.url]
        for attempt in range(FAILURES):
            refused = _token(servers[attempt % 2], issued.client_id, "not the secret")
            assert refused.status_code == 401, refused.text
        for url in servers:  # locked out on both, the right secret included
            locked = _token(url, issued.client_id, issued.client_secret)
            assert locked.status_code == 429, locked.text
            assert locked.headers["content-type"].startswith("application/problem+json")
            assert int(locked.headers["retry-after"]) > 0
        throttle.reset(hub)  # what `accord throttle reset` does
        assert _token(two.url, issued.client_id, issued.client_secret).status_code == 200
