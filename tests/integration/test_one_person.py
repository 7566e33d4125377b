"""One person, reached three ways, sees all three on "who used my data"; and one service path behind every face.

The person is in DWP's records with a National Insurance number and in GRO's death
registrations without one. An Electoral Registration Officer checks them with their
NINO and without it; DWP asks whether they are recorded as deceased. Each entry names
the person as the hub resolved them (the record that matched), so the first two carry
their NINO's key and the third their name and date of birth's; signed in, the person
sees all three, because their view collects every key their verified identity resolves to.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from accord_testing import seed_register
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.runtime import Hub
from accord.services import citizens, deceased, holdings, verification
from accord.services.unit_of_work import Actor

PERSON = citizens.DemoCitizen("Margaret Holloway", "JG103759A", "Margaret", "Holloway", "1941-03-17")
OTHER = citizens.DemoCitizen("Peter Okafor", "AB123456C", "Peter", "Okafor", "1980-06-02")


@pytest.fixture
def hub(sqlite_hub: Hub, tmp_path: Path) -> Hub:
    hub = sqlite_hub
    hub.forget_caches()
    seed_register(hub)
    benefits = tmp_path / "dwp-benefits.csv"
    benefits.write_text(
        "record_id,nino,first_name,surname,date_of_birth,postcode,address_line_1,benefit_type,"
        "pension_credit_guarantee,award_start,disability_indicator\n"
        "D1,JG103759A,Margaret,Holloway,1941-03-17,NE1 4ST,4 Grey Street,pension_credit,true,2020-01-06,false\n"
        "D2,AB123456C,Peter,Okafor,1980-06-02,LS6 2AB,9 Otley Road,universal_credit,false,2024-02-01,false\n",
        encoding="utf-8")
    deaths = tmp_path / "gro-deaths.csv"
    deaths.write_text(
        "record_id,registration_id,first_name,surname,date_of_birth,date_of_death,postcode\n"
        "G1,D-0001,Margaret,Holloway,1941-03-17,2026-11-18,NE1 4ST\n", encoding="utf-8")
    holdings.load_holding(hub, "dwp-benefits", benefits)
    holdings.load_holding(hub, "gro-deaths", deaths)
    citizens.write_demo_citizens(hub.settings.data_dir, [PERSON, OTHER])
    return hub


def _check(hub: Hub, *, with_nino: bool) -> dict:
    applicant = {"first_name": "Margaret", "surname": "Holloway", "dob": "17/03/1941", "postcode": "NE1 4ST"}
    if with_nino:
        applicant["nino"] = PERSON.nino
    actor = Actor("northshire-ero", "A clerk", f"req-verify-{with_nino}")
    reply = verification.check(hub, actor, verification.CheckRequest(
        "electoral-registration-verification", ((f"ER-{with_nino}", applicant),), single=True))
    assert reply.ok, reply.body
    return reply.body


def _signed_in(hub: Hub, person: citizens.DemoCitizen) -> TestClient:
    client = TestClient(create_app(hub=hub))
    page = client.get("/citizen/sign-in")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
    done = client.post("/citizen/sign-in", data={"person": person.nino, "form_token": token}, follow_redirects=False)
    assert done.status_code == 303
    return client


def test_one_person_reached_three_ways_sees_all_three(hub: Hub) -> None:
    assert _check(hub, with_nino=True)["grade"] == "match"
    assert _check(hub, with_nino=False)["grade"] == "match"
    answer = deceased.check(hub, Actor("dwp", "DWP bereavement service", "req-deceased"),
                            deceased.PersonDetails("Margaret", "Holloway", date(1941, 3, 17)))
    assert answer.ok and answer.body["deceased"] is True

    nino_key = hub.person_key("nino", PERSON.nino)
    [identity_key] = [k for k in PERSON.keys(hub) if k != nino_key]
    seen = _signed_in(hub, PERSON).get("/citizen/accesses.json").json()["accesses"]
    by_request = {entry["action"]: entry for entry in seen}
    assert sorted(e["action"] for e in seen) == ["deceased.check", "identity.verify", "identity.verify"], seen
    assert {e["body_id"] for e in seen} == {"northshire-ero", "dwp"}
    assert by_request["deceased.check"]["agreement_id"] == "gro-deaths-to-dwp"
    with hub.transaction() as session:
        from sqlalchemy import select

        from accord.storage.models import AuditEntry, AuditSubject

        named = {request_id: set(keys) for request_id, *keys in session.execute(
            select(AuditEntry.request_id, AuditSubject.person_key)
            .join(AuditSubject, AuditSubject.entry_id == AuditEntry.id))}
    assert named["req-verify-True"] == {nino_key}
    assert named["req-verify-False"] == {nino_key}  # the record matched, not what was typed (no NINO given)
    assert named["req-deceased"] == {identity_key}  # GRO holds no NINO: the death record's own key

    # Someone else signed in sees none of it.
    assert _signed_in(hub, OTHER).get("/citizen/accesses.json").json()["accesses"] == []


def test_a_check_that_resolves_to_no_one_names_no_one(hub: Hub) -> None:
    """The details typed are never turned into a key: a check that matches no one names nobody, even when the
    NINO typed is someone's (here Peter's, with another person's name: only partial)."""
    actor = Actor("northshire-ero", "A clerk", "req-nobody")
    reply = verification.check(hub, actor, verification.CheckRequest("electoral-registration-verification", (
        (None, {"first_name": "Zebedee", "surname": "Quillfeather", "dob": "01/04/1971", "postcode": "SW1A 1AA",
                "nino": OTHER.nino}),), single=True))
    assert reply.body["grade"] == "partial"
    assert _signed_in(hub, OTHER).get("/citizen/accesses.json").json()["accesses"] == []
