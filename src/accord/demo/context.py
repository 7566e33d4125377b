"""What each purpose service's demo step gets: the running server, the hub, the synthetic data.

``accord demo`` builds one ``DemoContext`` and calls ``run(ctx)`` of each module in ``SERVICES`` that
exists, in order, after the example decision requests. A step talks to the server over HTTP as a
body would, with a bearer token from ``ctx.token(body_id)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from accord.clock import utcnow
from accord.registry import credentials, officers
from accord.runtime import Hub

SERVICES = ("linkage", "verification", "eligibility", "disadvantages", "events", "sharecodes")


@dataclass
class DemoContext:
    url: str
    hub: Hub
    console: Console
    synth_dir: Path
    people: list[Any]
    _tokens: dict[str, str] = field(default_factory=dict)
    _officer_tokens: dict[str, str] = field(default_factory=dict)

    def officer_token(self, subject: str) -> str:
        """The API token the demo officer with this subject (demo/officers.yaml) would take from their page
        after signing in: calls made with it are recorded as that person. A step run on its own registers
        the officer it needs."""
        from accord.demo.seed import example_officers

        if subject not in self._officer_tokens:
            with self.hub.transaction() as session:
                officer = officers.active_by_subject(session, subject)
                if officer is None:
                    known = next(o for o in example_officers() if o["subject"] == subject)
                    officer = officers.add_officer(session, known["body"], subject, known["name"], known["roles"],
                                                   utcnow())
                self._officer_tokens[subject] = officers.issue_token(
                    session, officer.id, utcnow(), self.hub.settings.officer_token_ttl_seconds)
        return self._officer_tokens[subject]

    def token(self, body_id: str) -> str:
        """A bearer token for ``body_id``'s system, from a demo client created on first use (recorded as the system)."""
        if body_id not in self._tokens:
            with self.hub.transaction() as session:
                issued = credentials.create_client(session, body_id, utcnow(), label="demo")
            response = httpx.post(
                f"{self.url}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(issued.client_id, issued.client_secret),
                timeout=10,
            )
            response.raise_for_status()
            self._tokens[body_id] = response.json()["access_token"]
        return self._tokens[body_id]


def service_steps() -> list[tuple[str, Callable[[DemoContext], None]]]:
    """The ``run`` function of each service's demo module that exists."""
    steps = []
    for name in SERVICES:
        try:
            module = importlib.import_module(f"accord.demo.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"accord.demo.{name}":
                raise
            continue
        run = getattr(module, "run", None)
        if callable(run):
            steps.append((name, run))
    return steps
