"""Consent records and receipts in the ISO/IEC TS 27560 structure, and the binding of a licence to its holder."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sharecodes_support import Driver, by_body, key, make, subject

from accord.clock import utcnow
from accord.errors import InvalidInput
from accord.registry import datasets
from accord.registry.specs import DatasetSpec
from accord.runtime import Hub
from accord.services import sharecodes
from accord.services.sharecodes import consents
from accord.services.holdings import load_holding


def test_a_receipt_has_the_27560_sections_filled_in(dvla_hub: Hub, drivers: list[Driver]) -> None:
    driver = drivers[0]
    now = utcnow()
    made = make(dvla_hub, driver, ["licence_status", "penalty_points"], purpose="employment", now=now)
    receipt = sharecodes.receipt(dvla_hub, key(dvla_hub, driver), made.share_code_id, now)
    assert list(receipt) == ["receipt_header", "record_header", "pii_processing", "party_identification", "events",
                             "consent_state"]
    header = receipt["receipt_header"]
    assert header["receipt_id"] == made.receipt_id and header["for_record"] == made.consent_id
    assert header["conforms_to"] == consents.RECEIPT_PROFILE and header["schema_version"] == "ISO/IEC TS 27560:2023"
    record = receipt["record_header"]
    assert record["record_id"] == made.consent_id and record["conforms_to"] == consents.RECORD_PROFILE
    # the principal is the licence holder as the hub resolved them: the key of DVLA's record
    assert record["pii_principal_id"] == subject(dvla_hub, driver) and driver.nino not in repr(receipt)
    [purpose] = receipt["pii_processing"]["purposes"]
    assert purpose["purpose"] == "Prove my driving record to an employer"
    assert purpose["purpose_iri"] == "https://w3id.org/dpv#HumanResourceManagement"
    assert purpose["lawful_basis"] == "Consent: UK GDPR Article 6(1)(a)"
    assert purpose["lawful_basis_iri"].endswith("#A6-1-a")
    assert purpose["processing"] == ["https://w3id.org/dpv#Retrieve", "https://w3id.org/dpv#Disclose"]
    assert [(i["item"], i["label"]) for i in purpose["pii_information"]] == [
        ("licence_status", "Licence status"), ("penalty_points", "Penalty points")]
    assert "last 8 characters" in purpose["recipients"][0]
    assert purpose["duration"] == {"from": now.isoformat(), "until": (now + timedelta(days=21)).isoformat()}
    assert receipt["party_identification"]["pii_controllers"] == [{"id": "dvla", "name": "Driver and Vehicle Licensing Agency"}]
    assert receipt["events"] == [{"event": "given", "at": now.isoformat(), "state": "https://w3id.org/dpv#ConsentGiven"}]
    assert receipt["consent_state"] == {"state": "given", "state_iri": "https://w3id.org/dpv#ConsentGiven"}


def test_an_ended_consent_shows_as_expired(dvla_hub: Hub, drivers: list[Driver]) -> None:
    then = utcnow() - timedelta(days=30)
    made = make(dvla_hub, drivers[0], ["penalty_points"], now=then, days=5)
    receipt = sharecodes.receipt(dvla_hub, key(dvla_hub, drivers[0]), made.share_code_id)
    assert [e["event"] for e in receipt["events"]] == ["given", "expired"]
    assert receipt["events"][1]["at"] == (then + timedelta(days=5)).isoformat()
    assert receipt["consent_state"]["state"] == "expired"


def _handmade_holding(hub: Hub, tmp_path: Path, nino: str) -> None:
    """A DVLA extract that also holds NINOs and entitlements (fictional values)."""
    with hub.transaction() as session:
        datasets.add_dataset(session, hub.framework, DatasetSpec.model_validate({
            "id": sharecodes.DATASET, "body_id": "dvla", "name": "Driving licences", "description": "",
            "fields": [{"name": n, "category": "direct_identifier"} for n in
                       ("driver_number", "nino", "first_name", "surname", "postcode", "entitlements")]
            + [{"name": "date_of_birth", "category": "quasi_identifier", "type": "date"},
               {"name": "licence_issue_date", "category": "attribute", "type": "date"}],
        }), utcnow())
    from datetime import date

    table = pa.table({
        "driver_number": ["EXAMP805150AB9CD"], "nino": [nino], "first_name": ["Alex"], "surname": ["Example"],
        "postcode": ["ZZ1 1ZZ"], "entitlements": ["B, BE,AM"], "date_of_birth": [date(1980, 5, 15)],
        "licence_issue_date": [date(2001, 6, 1)],
    })
    path = tmp_path / "dvla.parquet"
    pq.write_table(table, path)
    load_holding(hub, sharecodes.DATASET, path)


def test_where_dvla_holds_a_nino_only_its_owner_can_share_the_licence(sqlite_hub: Hub, tmp_path: Path) -> None:
    from accord.demo.seed import example_bodies
    from accord.registry.bodies import add_body

    with sqlite_hub.transaction() as session:
        for spec in example_bodies():
            add_body(session, sqlite_hub.framework, spec, utcnow())
    _handmade_holding(sqlite_hub, tmp_path, "JE123456A")
    owner, stranger = sqlite_hub.person_key("nino", "JE123456A"), sqlite_hub.person_key("nino", "SS654321B")
    options = {"licence_number": "EXAMP805150AB9CD", "postcode": "ZZ11ZZ", "purpose": "vehicle_hire"}
    with pytest.raises(InvalidInput, match="you can only share your own driving licence"):
        sharecodes.create(sqlite_hub, stranger, items=["entitlements"], **options)
    made = sharecodes.create(sqlite_hub, owner, items=["entitlements", "licence_dates"], **options)
    found = sharecodes.redeem(sqlite_hub, made.code, "150AB9CD", by_body(), request_id="entitlements")
    assert found.shared == {"licence_valid_from": "2001-06-01", "licence_valid_to": "2050-05-14",
                            "entitlements": ["B", "BE", "AM"]}
    offered = {item.name for item in sharecodes.available_items(sqlite_hub)}
    assert offered == {"entitlements", "licence_status", "licence_dates", "name", "date_of_birth"}


@pytest.mark.parametrize(
    "issued, born, ends",
    [
        ("2001-06-01", "1980-05-15", "2050-05-14"),  # ends the day before the 70th birthday
        ("2031-02-01", "1960-02-29", "2034-01-31"),  # issued at 70 or over: 3 years
        ("2001-06-01", None, None),  # no birth date: no end date can be given
    ],
)
def test_licence_end_dates_follow_dvlas_rule(issued: str, born: str | None, ends: str | None) -> None:
    from datetime import date

    got = sharecodes.licence_valid_to(date.fromisoformat(issued), date.fromisoformat(born) if born else None)
    assert (got.isoformat() if got else None) == ends
