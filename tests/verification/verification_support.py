"""Support for the verification tests: a seeded hub with DWP's synthetic records loaded, and people to check.

The synthetic data (``accord.synth``) is generated once per session. ``Person``
rows come from DWP's own view (so their details are the source record's) and
from the synthetic population's truth, so tests can tell which grade each
check must get without reading the service's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from accord_testing import ApiClient, add_agreement, narrowed_spec, seed_register

from accord.app import create_app
from accord.linkage.standardise import standardise_nino, standardise_postcode
from accord.runtime import Hub
from accord.services import holdings

AGREEMENT = "electoral-registration-verification"
ERO = "northshire-ero"
OFFICER = "A Clerk, electoral services"
SYNTH_PERSONS, SYNTH_SEED = 3000, 11


def generate_synth(out: Path) -> Path:
    from accord.synth import generate

    generate(persons=SYNTH_PERSONS, seed=SYNTH_SEED, out=out, overwrite=True, workers=1, bodies="dwp,electoral")
    return out


def seed(hub: Hub, synth: Path | None = None) -> None:
    """The example register (with the verification agreement) and, if given, DWP's records as its holding."""
    hub.forget_caches()
    seeded = seed_register(hub)
    assert seeded.created[AGREEMENT] == "active"
    if synth is not None:
        holdings.load_holding(hub, "dwp-benefits", synth / "dwp-benefits.parquet")


def activate_narrow_agreement(hub: Hub, fields: list[str], agreement_id: str = "narrow-verification") -> str:
    """The verification agreement again, active, naming only ``fields`` of DWP's dataset."""
    return add_agreement(hub, narrowed_spec(AGREEMENT, agreement_id, fields))





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
class Client(ApiClient):
    """The shared in-process client, acting by default as the ERO's clerk."""

    officer: str | None = OFFICER

    def headers(self, body_id: str = ERO, **extra: str) -> dict[str, str]:
        return self.auth(body_id, **extra)

    def verify(self, applicant: dict, body_id: str = ERO, agreement: str = AGREEMENT, **extra):  # noqa: ANN201
        payload = {"agreement": agreement, "applicant": applicant, **extra}
        return self.http.post("/v1/verifications", json=payload, headers=self.headers(body_id))


def make_client(hub: Hub) -> Client:
    return Client.for_hub(hub)


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
