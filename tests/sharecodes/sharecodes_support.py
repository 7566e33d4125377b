"""Support for the share-code tests: synthetic drivers, a hub holding DVLA's records, page helpers.

The drivers come from a small synthetic population (accord.synth): DVLA's extract is loaded as
DVLA's holding, and the answer key links each licence to its holder, standing in for what the
driver knows about themselves (their NINO to sign in, their licence number and postcode). A
driver's verified identity (what the development identity provider signs them in with) is the
person as the population holds them: NINO, name and date of birth. DVLA holds the NINO the driver
gave, so a licence record's subject key is the NINO's person key, and a driver may share only a
licence whose record carries the NINO their identity provider verified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.clock import utcnow
from accord.demo.seed import seed_registry
from accord.runtime import Hub
from accord.services import citizens, sharecodes
from accord.services.holdings import load_holding
from accord.services.subjects import subject_key

HIRE = "swiftwheels-hire"
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Driver:
    name: str
    nino: str
    licence: str
    postcode: str
    row: dict  # DVLA's record as loaded, for field-by-field checks

    @property
    def suffix(self) -> str:
        return self.licence[-8:]

    identity: tuple[str, str, str] = ("", "", "")  # first name, surname, date of birth as the population holds them

    @property
    def person(self) -> citizens.DemoCitizen:
        """The driver as an identity provider verifies them: NINO, name and date of birth."""
        return citizens.DemoCitizen(self.name, self.nino, *self.identity)


def synthetic_drivers(synth_dir: Path, count: int = 6) -> list[Driver]:
    """Living licence holders with a NINO, a postcode and a date of birth on DVLA's record."""
    query = f"""
        SELECT p.first_name || ' ' || p.surname AS name, p.nino, p.first_name AS p_first, p.surname AS p_surname,
               p.date_of_birth AS p_born, d.*
        FROM read_parquet('{synth_dir / "dvla-drivers.parquet"}') d
        JOIN read_parquet('{synth_dir / "truth" / "dvla-drivers.parquet"}') t USING (record_id)
        JOIN read_parquet('{synth_dir / "truth" / "population" / "persons.parquet"}') p USING (person_id)
        WHERE p.nino IS NOT NULL AND d.national_insurance_number = p.nino AND NOT t.duplicate
          AND p.date_of_death IS NULL AND d.postcode IS NOT NULL
          AND d.date_of_birth IS NOT NULL AND d.licence_issue_date IS NOT NULL AND d.driver_number IS NOT NULL
          AND d.first_name IS NOT NULL AND d.surname IS NOT NULL
        ORDER BY d.record_id
        LIMIT {count}
    """
    with duckdb.connect() as connection:
        result = connection.execute(query)
        names = [d[0] for d in result.description]
        rows = [dict(zip(names, values, strict=True)) for values in result.fetchall()]
    drivers = []
    for row in rows:
        name, nino = row.pop("name"), row.pop("nino")
        identity = (row.pop("p_first"), row.pop("p_surname"), row.pop("p_born").isoformat())
        drivers.append(Driver(name, nino, row["driver_number"], row["postcode"], row, identity))
    identities = {(d.row["first_name"], d.row["surname"], d.row["date_of_birth"]) for d in drivers}
    assert len(identities) == len(drivers), "two drivers share a name and date of birth: the tests need distinct people"
    return drivers


def licence_without_nino(synth_dir: Path) -> dict:
    """A DVLA record that holds no NINO (the driver gave none), with a name, birth date and postcode."""
    query = f"""
        SELECT * FROM read_parquet('{synth_dir / "dvla-drivers.parquet"}')
        WHERE national_insurance_number IS NULL AND postcode IS NOT NULL AND date_of_birth IS NOT NULL
          AND first_name IS NOT NULL AND surname IS NOT NULL
        ORDER BY record_id LIMIT 1
    """
    with duckdb.connect() as connection:
        result = connection.execute(query)
        names = [d[0] for d in result.description]
        found = result.fetchone()
    assert found is not None, "the synthetic extract has no licence without a NINO"
    return dict(zip(names, found, strict=True))


def prepare(hub: Hub, synth_dir: Path, drivers: list[Driver]) -> Hub:
    """The example register, DVLA's holding, and the drivers offered at development sign-in."""
    with hub.transaction() as session:
        seed_registry(session, hub.framework, utcnow())
    load_holding(hub, sharecodes.DATASET, synth_dir / "dvla-drivers.parquet")
    citizens.write_demo_citizens(hub.settings.data_dir, [d.person for d in drivers])
    return hub


def key(hub: Hub, driver: Driver) -> tuple[str, ...]:
    """Every key the driver's verified identity resolves to (what their sign-in session holds)."""
    return driver.person.keys(hub)


def person_key(hub: Hub, driver: Driver) -> str:
    """The key of the identifier the identity provider verified (the session's main key): the NINO's."""
    found = key(hub, driver)[0]
    assert found == hub.person_key("nino", driver.nino)
    return found


def subject(hub: Hub, driver: Driver) -> str:
    """The subject key of the driver's licence record: DVLA holds the driver's NINO, so the NINO's key."""
    row = driver.row
    found = subject_key(hub, nino=row["national_insurance_number"])
    assert found is not None and found == hub.person_key("nino", driver.nino)
    return found


def make(hub: Hub, driver: Driver, items: list[str], **options) -> sharecodes.CreatedCode:  # noqa: ANN003
    options.setdefault("purpose", "vehicle_hire")
    return sharecodes.create(
        hub, person_key(hub, driver), licence_number=driver.licence, postcode=driver.postcode, items=items, **options
    )


def by_body(body_id: str = HIRE, officer: str = "hire desk 2") -> sharecodes.Redeemer:
    return sharecodes.Redeemer.body(body_id, officer)


def client(hub: Hub) -> TestClient:
    return TestClient(create_app(hub=hub), raise_server_exceptions=False)


_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def form_token(html: str) -> str:
    found = _FORM_TOKEN.search(html)
    assert found, "the page has no form token"
    return found.group(1)


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no anti-forgery token"
    return found.group(1)


def sign_in(web: TestClient, driver: Driver) -> None:
    page = web.get("/citizen/sign-in")
    response = web.post(
        "/citizen/sign-in", data={"person": driver.nino, "form_token": form_token(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
