"""Helpers every test directory shares (imported as ``accord_testing``; fixtures live in tests/conftest.py).

- ``seed_register``: the example register (bodies, datasets, agreements), as the demo seeds it;
  ``example_spec`` and ``add_agreement`` put a variant of an example agreement in force.
- ``ApiClient``: the HTTP API in process, with a client and token per body made on demand.
- ``assert_problem``: an RFC 9457 problem document with a human sentence.
- ``CliRun``: what ``accord ARGS`` printed and exited with (the ``accord`` fixture runs it).
- ``count_rows``: rows in every table, to show a refused request stored nothing.
- ``decide_and_record``: the governed path's two calls, in the caller's transaction.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.policy import AccessRequest, Decision
from accord.runtime import Hub
from accord.services.access import Recorded, ask, record

PROBLEM = "application/problem+json"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# ---------------------------------------------------------------- the register


def seed_register(hub: Hub, *, now: datetime | None = None, registered: datetime | None = None):  # noqa: ANN201
    """The example register and agreements in the (empty) hub; returns what ``seed_agreements`` made.

    ``registered`` is when the bodies and datasets were registered (default ``now``).
    """
    from accord.demo.seed import seed_agreements, seed_registry

    now = now or utcnow()
    with hub.transaction() as session:
        seed_registry(session, hub.framework, registered or now)
        return seed_agreements(session, hub.framework, now)


def example_spec(agreement_id: str, **changes):  # noqa: ANN003, ANN201 - an AgreementSpec
    """One of the demo's example agreements, with ``changes`` (a new ``id``, narrower ``data``...)."""
    from accord.demo.seed import example_agreements
    from accord.registry.specs import AgreementSpec

    spec = next(s for _, s in example_agreements() if s.id == agreement_id)
    return AgreementSpec.model_validate({**spec.model_dump(), **changes})


def narrowed_spec(agreement_id: str, new_id: str, fields: list[str]):  # noqa: ANN201 - an AgreementSpec
    """An example agreement again as ``new_id``, its (first) dataset naming only ``fields``."""
    spec = example_spec(agreement_id)
    data = [{**spec.data[0].model_dump(), "fields": fields}, *[d.model_dump() for d in spec.data[1:]]]
    return example_spec(agreement_id, id=new_id, data=data)


def confirm_all(session, agreement, now) -> None:  # noqa: ANN001
    """Every party named in a draft confirms it, as they must before it goes to consultation."""
    from accord.registry import confirmations

    for party in confirmations.still_to_confirm(agreement):
        confirmations.confirm(session, agreement, party, actor=f"{party} officer", now=now)


def add_agreement(hub: Hub, spec, status: str = "active", *, actor: str = "accord-hub") -> str:  # noqa: ANN001
    """Draft ``spec`` (an AgreementSpec or its dict) and take it through the lifecycle to ``status``:
    ``draft``, ``consultation`` (opened now, so still open) or ``active`` (live from now, after ten
    weeks' consultation). Returns its id."""
    from datetime import timedelta

    from accord.registry import agreements, lifecycle
    from accord.registry.specs import AgreementSpec

    spec = spec if isinstance(spec, AgreementSpec) else AgreementSpec.model_validate(spec)
    now = utcnow()
    with hub.transaction() as session:
        agreement = agreements.create_draft(session, hub.framework, spec, actor, now - timedelta(weeks=11))
        if status in ("consultation", "active"):
            opened = now - timedelta(weeks=10) if status == "active" else now
            confirm_all(session, agreement, opened)
            lifecycle.transition(session, hub.framework, agreement, "consultation", actor=actor, now=opened)
        if status == "active":
            lifecycle.transition(session, hub.framework, agreement, "active", actor=actor, now=now)
        return agreement.id


# Bookkeeping a refused request does write: the throttle's counters of failures and posts.
NOT_COUNTED = frozenset({"throttle_counters"})


def count_rows(hub: Hub) -> dict[str, int]:
    """Rows in every table (but the throttle's counters), to prove a refused request stored nothing."""
    from accord.storage.models import Base

    with hub.transaction() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables if table.name not in NOT_COUNTED}


def rows_of(hub: Hub, model, **where) -> list:  # noqa: ANN001
    with hub.transaction() as session:
        return list(session.scalars(select(model).filter_by(**where)))


# ---------------------------------------------------------------- the HTTP API


def assert_problem(response, status: int, *mentions: str | None) -> dict:  # noqa: ANN001
    """An RFC 9457 problem with a title and a sentence of detail, naming each of ``mentions`` (any case)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status
    assert isinstance(body.get("title"), str) and body["title"]
    detail = body["detail"]
    assert isinstance(detail, str) and re.search(r"\w+ \w+", detail), f"no sentence in detail: {detail!r}"
    text = " ".join([detail, *body.get("problems", [])])
    for mention in mentions:
        if mention is not None:
            assert mention.lower() in text.lower(), f"{mention!r} not in {text!r}"
    return body


@dataclass
class ApiClient:
    """The API in process for one hub, with an API client and a token per body made on demand.

    ``aliases`` maps the short names a test directory uses ("council") to body ids.
    """

    hub: Hub
    client: TestClient
    aliases: dict[str, str] = field(default_factory=dict)
    officer: str | None = None  # sent as X-Accord-Officer by ``auth`` unless overridden (ignored by the hub now)
    secrets: dict = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_hub(cls, hub: Hub, **options) -> ApiClient:  # noqa: ANN003
        from accord.app import create_app

        return cls(hub, TestClient(create_app(hub=hub), raise_server_exceptions=False), **options)

    @property
    def http(self) -> TestClient:
        return self.client

    def new_client(self, body_id: str):  # noqa: ANN201 - an IssuedSecret
        from accord.registry.credentials import create_client

        with self.hub.transaction() as session:
            return create_client(session, body_id, utcnow(), label="test")

    def secret(self, who: str):  # noqa: ANN201 - an IssuedSecret
        if who not in self.secrets:
            self.secrets[who] = self.new_client(self.aliases.get(who, who))
        return self.secrets[who]

    def issue(self, issued) -> str:  # noqa: ANN001
        response = self.client.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": issued.client_id, "client_secret": issued.client_secret})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def token(self, who: str) -> str:
        if who not in self.tokens:
            self.tokens[who] = self.issue(self.secret(who))
        return self.tokens[who]

    def auth(self, who: str, officer: str | None = "", **headers: str) -> dict[str, str]:
        """Authorization for ``who``, the officer (the client's default unless given; None for none), and
        extra headers (underscores become hyphens)."""
        sent = {"Authorization": f"Bearer {self.token(who)}"}
        officer = self.officer if officer == "" else officer
        if officer:
            sent["X-Accord-Officer"] = officer
        sent.update({name.replace("_", "-"): value for name, value in headers.items()})
        return sent

    def system(self, who: str) -> str:
        """How the audit log names ``who``'s API client: ``system:<client id>``."""
        return f"system:{self.secret(who).client_id}"

    def add_officer(self, who: str, subject: str | None = None, *roles: str, name: str = "Sam Officer") -> dict:
        """Register a person at ``who``'s body (default role: data_sharing_officer), straight through the service."""
        return add_officer(self.hub, self.aliases.get(who, who), subject, *roles, name=name)

    def officer_token(self, officer: dict) -> str:
        """The API token an officer takes from their page after signing in."""
        from accord.services import officers

        with self.hub.transaction() as session:
            from accord.registry.officers import find_officer

            identity = find_officer(session, officer["body_id"], officer["subject"])
        return officers.issue_api_token(self.hub, identity, utcnow())

    def counts(self) -> dict[str, int]:
        return count_rows(self.hub)

    def rows(self, model, **where) -> list:  # noqa: ANN001
        return rows_of(self.hub, model, **where)

    @staticmethod
    def problem(response, status: int, *mentions: str | None) -> dict:  # noqa: ANN001
        return assert_problem(response, status, *mentions)


# ---------------------------------------------------------------- officers


def add_officer(hub: Hub, body_id: str, subject: str | None = None, *roles: str, name: str = "Sam Officer") -> dict:
    """Register a person at a body (default role: data_sharing_officer), as the hub operator does."""
    from accord.services import officers
    from accord.services.unit_of_work import Actor

    reply = officers.add(hub, Actor("", "operator:test", "req-test", is_admin=True), body_id,
                         subject or f"sub-{secrets.token_hex(4)}", name, list(roles or ("data_sharing_officer",)))
    assert reply.ok, reply.body
    return reply.body


def sign_in_officer(http: TestClient, officer: dict, next_page: str = "/officer"):  # noqa: ANN201 - the response
    """Sign in to the pages as a registered officer, through the development identity provider."""
    page = http.get(f"/officer/sign-in?next={next_page}")
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
    return http.post("/officer/sign-in", data={"officer": officer["id"], "next": next_page, "csrf_token": token},
                     follow_redirects=False)


# ---------------------------------------------------------------- the command line


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass
class CliRun:
    """``accord ARGS``: its exit code and what it printed (colour codes removed)."""

    code: int
    out: str
    err: str

    def __iter__(self):  # noqa: ANN204 - ``code, out, err = accord(...)``
        return iter((self.code, self.out, self.err))

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def assert_bad_input(self, *mentions: str) -> str:
        """Exit 2, exactly one line on stderr naming the problem, no traceback; returns the line."""
        assert self.code == 2, f"exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"
        assert len(self.err_lines) == 1, self.err
        line = self.err_lines[0]
        assert line.startswith("error: "), line
        for text in mentions:
            assert text in line, f"{text!r} not in {line!r}"
        assert "Traceback" not in self.out + self.err
        return line

    def assert_refused(self) -> str:
        """A recorded refusal: exit 1, its decision id and reasons on stderr; returns stderr."""
        assert self.code == 1, f"exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"
        assert self.err.startswith("refused (decision ") and "recorded in the audit log" in self.err, self.err
        assert "Traceback" not in self.out + self.err
        return self.err


# ---------------------------------------------------------------- the governed path


def decide_and_record(session: Session, request: AccessRequest, *, now: datetime, request_id: str = "req-test",
                      client_id: str | None = None) -> tuple[Decision, Recorded]:
    """Ask the decision point and record its answer, in the caller's transaction (the governed path's two calls)."""
    recorded = record(session, ask(session, request, now=now), request_id=request_id, client_id=client_id)
    return recorded.decision, recorded
