"""Demo: a driver shares their licence status and penalty points with a hire company by share code.

The driver is one of the demo people who holds a licence in DVLA's synthetic extract (the answer
key stands in for what they know: their own licence number and postcode). The code is made as
the "Share your driving licence information" page makes it; the hire company redeems it over
HTTP, first with a mistyped licence, then correctly, then once more; the audit entries the
driver sees on /citizen are printed at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx

from accord.clock import utcnow
from accord.errors import NotFound
from accord.services import citizens, sharecodes
from accord.services.holdings import holding_info, load_holding

HIRE = "swiftwheels-hire"
ITEMS = ["licence_status", "penalty_points"]


@dataclass(frozen=True)
class DemoDriver:
    person: citizens.DemoCitizen  # as an identity provider would verify them
    licence: str
    postcode: str

    @property
    def name(self) -> str:
        return self.person.name


def run(ctx) -> None:  # noqa: ANN001 - the demo context (url, hub, console, synth_dir, token, people)
    console, hub = ctx.console, ctx.hub
    console.rule("Share codes: a driver shows a hire company their licence, with consent")
    try:
        holding_info(hub, sharecodes.DATASET)
    except NotFound:
        load_holding(hub, sharecodes.DATASET, Path(ctx.synth_dir) / f"{sharecodes.DATASET}.parquet")
    driver = _a_driver(ctx)
    person_keys = driver.person.keys(hub)  # as the sign-in session holds them: the NINO's key first
    made = sharecodes.create(
        hub, person_keys[0], licence_number=driver.licence, postcode=driver.postcode, purpose="vehicle_hire",
        items=ITEMS,
    )
    console.print(
        f"{driver.name} created share code [bold]{made.display}[/bold] for licence status and penalty points, "
        f"single use, valid until {made.expires_at:%d %B %Y}.",
        highlight=False,
    )
    headers = {"Authorization": f"Bearer {ctx.officer_token('demo|swiftwheels-leeds')}"}  # Lee, at the Leeds desk
    wrong = driver.licence[-8:-1] + ("A" if driver.licence[-1] != "A" else "C")
    with httpx.Client(base_url=ctx.url, timeout=10) as http:
        for label, suffix in (("mistyped licence", wrong), ("correct licence", driver.licence[-8:]),
                              ("the same code again", driver.licence[-8:])):
            response = http.post("/v1/share-codes/redeem", json={"code": made.display, "licence_suffix": suffix},
                                 headers=headers)
            body = response.json()
            shown = json.dumps(body["driving_licence"]) if response.status_code == 200 else body["detail"]
            console.print(f"  POST /v1/share-codes/redeem ({label}) -> {response.status_code}: {shown}", highlight=False)
    console.print(f"What {driver.name} sees on /citizen (who used my data):", highlight=False)
    for entry in citizens.accesses(hub, person_keys, utcnow()):
        if entry["kind"] != "sharecode.redemption":
            continue
        outcome = "shared" if entry["shared"] else "refused, nothing shared"
        console.print(
            f"  {entry['body']} ({entry['actor']}): {entry['purpose_title']} - {', '.join(entry['field_labels'])} - "
            f"{outcome}",
            highlight=False,
        )


def _a_driver(ctx) -> DemoDriver:  # noqa: ANN001
    """The first demo person with a licence; else the first licence holder with a NINO, who is then
    offered at development sign-in too, so the redemptions can be seen on /citizen. Only a licence whose
    record holds its driver's NINO is chosen: a driver can share only a licence that is theirs, and the
    NINO their identity provider verified is what ties the licence to them."""
    synth = Path(ctx.synth_dir)
    query = f"""
        SELECT p.first_name, p.surname, p.nino, p.date_of_birth, d.driver_number, d.postcode
        FROM read_parquet('{synth / sharecodes.DATASET}.parquet') d
        JOIN read_parquet('{synth / "truth" / sharecodes.DATASET}.parquet') t USING (record_id)
        JOIN read_parquet('{synth / "truth" / "population" / "persons.parquet"}') p USING (person_id)
        WHERE p.nino IS NOT NULL AND d.national_insurance_number = p.nino AND p.date_of_death IS NULL
          AND d.postcode IS NOT NULL AND d.driver_number IS NOT NULL AND d.date_of_birth IS NOT NULL
          AND NOT t.duplicate
        ORDER BY d.date_of_birth <= current_date - INTERVAL 70 YEAR, d.record_id  -- a licence still in force first
    """
    with duckdb.connect() as connection:
        rows = connection.execute(query).fetchall()
    holders = [DemoDriver(citizens.DemoCitizen(f"{first} {surname}", nino, first, surname, born.isoformat()),
                          licence, postcode)
               for first, surname, nino, born, licence, postcode in rows]
    by_nino = {holder.person.nino: holder for holder in holders}
    for person in ctx.people:
        if person.nino in by_nino:
            return by_nino[person.nino]
    chosen = holders[0]
    if chosen.person.nino not in {p.nino for p in citizens.demo_citizens(ctx.hub.settings.data_dir)}:
        citizens.add_demo_citizen(ctx.hub.settings.data_dir, chosen.person)
        ctx.console.print(f"(None of the demo people holds a licence; {chosen.name} is added to the sign-in list.)",
                          highlight=False)
    return chosen
