"""Support for the verification tests: a seeded hub with DWP's synthetic records loaded, and people to check.

The synthetic data (``accord.synth``) is generated once per session. ``Person``
rows come from DWP's own view (so their details are the source record's) and
from the synthetic population's truth, so tests can tell which grade each
check must get without reading the service's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from accord.app import create_app
from accord.clock import utcnow
from accord.demo.seed import seed_agreements, seed_registry
from accord.linkage.standardise import standardise_nino, standardise_postcode
from accord.registry.credentials import IssuedSecret, create_client
from accord.runtime import Hub
from accord.services import holdings
from accord.storage.models import Base

AGREEMENT = "electoral-registration-verification"
ERO = "northshire-ero"
OFFICER = "A Clerk, electoral services"
PROBLEM = "application/problem+json"
SYNTH_PERSONS, SYNTH_SEED = 3000, 11


def generate_synth(out: Path) -> Path:
    from accord.synth import generate

    generate(persons=SYNTH_PERSONS, seed=SYNTH_SEED, out=out, overwrite=True, workers=1, bodies="dwp,electoral")
    return out


def seed(hub: Hub, synth: Path | None = None) -> None:
    """The example register (with the verification agreement) and, if given, DWP's records as its holding."""
    hub.forget_caches()
    now = utcnow()
    with hub.transaction() as session:
        seed_registry(session, hub.framework, now)
        seeded = seed_agreements(session, hub.framework, now)
    assert seeded.created[AGREEMENT] == "active"
    if synth is not None:
        holdings.load_holding(hub, "dwp-benefits", synth / "dwp-benefits.parquet")


def activate_narrow_agreement(hub: Hub, fields: list[str], agreement_id: str = "narrow-verification") -> str:
    """The verification agreement again, active, naming only ``fields`` of DWP's dataset."""
    from datetime import timedelta

    from accord.demo.seed import example_agreements
    from accord.registry import agreements, lifecycle

    spec = next(s for _, s in example_agreements() if s.id == AGREEMENT).model_copy(deep=True)
    spec = spec.model_copy(update={"id": agreement_id, "data": [
        spec.data[0].model_copy(update={"fields": fields})]})
    now = utcnow()
    with hub.transaction() as session:
        agreement = agreements.create_draft(session, hub.framework, spec, "accord-hub", now - timedelta(weeks=11))
        lifecycle.transition(session, hub.framework, agreement, "consultation", actor="t", now=now - timedelta(weeks=10))
        lifecycle.transition(session, hub.framework, agreement, "active", actor="t", now=now)
    return agreement_id


def counts(hub: Hub) -> dict[str, int]:
    with hub.transaction() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


@dataclass(frozen=True)
class Person:
    """A DWP record's identity details, as an applicant would give them."""

    record_id: str
    first_name: str
    surname: str
    dob: date
    postcode: str
    nino: str

    def details(self, **changes: object) -> dict:
        values = {"first_name": self.first_name, "surname": self.surname, "dob": self.dob.isoformat(),
                  "postcode": self.postcode, "nino": self.nino}
        values.update(changes)
        return {k: v for k, v in values.items() if v is not None}

    def values(self) -> list[str]:
        """Every value of the record, in the forms a response could leak them."""
        found = [self.record_id, self.first_name, self.surname, self.postcode, self.nino,
                 self.dob.isoformat(), self.dob.strftime("%d/%m/%Y"), self.postcode.replace(" ", "")]
        return [v for v in found if v and len(v) >= 3]


def dwp_people(synth: Path, limit: int = 40) -> list[Person]:
    """DWP records with every identity field valid, one per NINO, NINOs and name+dob unique in the file."""
    table = pq.read_table(synth / "dwp-benefits.parquet").to_pylist()
    by_nino: dict[str, list[dict]] = {}
    by_name_dob: dict[tuple, int] = {}
    for row in table:
        if row["nino"]:
            by_nino.setdefault(standardise_nino(row["nino"]) or "", []).append(row)
        key = ((row["first_name"] or "").lower(), (row["surname"] or "").lower(), row["date_of_birth"])
        by_name_dob[key] = by_name_dob.get(key, 0) + 1
    people = []
    for nino, rows in by_nino.items():
        row = rows[0]
        key = ((row["first_name"] or "").lower(), (row["surname"] or "").lower(), row["date_of_birth"])
        if not nino or len(rows) != 1 or by_name_dob[key] != 1:
            continue
        if not (row["first_name"] and row["surname"] and row["date_of_birth"] and standardise_postcode(row["postcode"])):
            continue
        if not re.fullmatch(r"[A-Za-z]+", row["first_name"]) or not re.fullmatch(r"[A-Za-z]+", row["surname"]):
            continue
        people.append(Person(row["record_id"], row["first_name"], row["surname"], row["date_of_birth"],
                             row["postcode"], nino))
        if len(people) >= limit:
            break
    return people


# ------------------------------------------------------------------ API


@dataclass
class Client:
    """An in-process API client with credentials made on demand."""

    hub: Hub
    http: TestClient
    secrets: dict[str, IssuedSecret] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def secret(self, body_id: str) -> IssuedSecret:
        if body_id not in self.secrets:
            with self.hub.transaction() as session:
                self.secrets[body_id] = create_client(session, body_id, utcnow(), label="test")
        return self.secrets[body_id]

    def token(self, body_id: str) -> str:
        if body_id not in self.tokens:
            issued = self.secret(body_id)
            response = self.http.post("/oauth/token", data={
                "grant_type": "client_credentials", "client_id": issued.client_id,
                "client_secret": issued.client_secret})
            assert response.status_code == 200, response.text
            self.tokens[body_id] = response.json()["access_token"]
        return self.tokens[body_id]

    def headers(self, body_id: str = ERO, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(body_id)}", "X-Accord-Officer": OFFICER,
                **{k.replace("_", "-"): v for k, v in extra.items()}}

    def verify(self, applicant: dict, body_id: str = ERO, agreement: str = AGREEMENT, **extra):  # noqa: ANN201
        payload = {"agreement": agreement, "applicant": applicant, **extra}
        return self.http.post("/v1/verifications", json=payload, headers=self.headers(body_id))


def make_client(hub: Hub) -> Client:
    return Client(hub, TestClient(create_app(hub=hub), raise_server_exceptions=False))


def assert_problem(response, status: int, *mentions: str) -> dict:  # noqa: ANN001
    """An RFC 9457 problem with a sentence, naming each of ``mentions``."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and re.search(r"\w+ \w+", body["detail"]), body
    text = " ".join([body["detail"], *body.get("problems", [])])
    for mention in mentions:
        assert mention in text, f"{mention!r} not in {text!r}"
    return body


# ------------------------------------------------------------------ a real server on loopback


def start_server(hub: Hub):  # noqa: ANN201 - (server, thread, port)
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(create_app(hub=hub), host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="verification-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    return server, thread, server.servers[0].sockets[0].getsockname()[1]
