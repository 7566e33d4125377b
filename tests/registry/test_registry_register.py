"""The public register: what is published, filters, JSON and CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from accord.demo.seed import seed_agreements
from accord.errors import InvalidInput
from accord.registry import agreements, lifecycle
from accord.registry.register import CSV_COLUMNS, register_entries, to_csv
from accord_testing import confirm_all
from registry_support import NOW, TODAY, seed, spec

SEEDED = {  # the demo's agreements and the status each reaches at NOW
    "warm-home-discount-2026": "active",
    "supporting-families-northshire": "active",
    "gro-deaths-to-dwp": "active",
    "debt-pilot-northshire": "consultation",
    "spd-fraud-pilot": "active",
    "benefits-research-extract": "active",
    "paye-for-official-statistics": "active",
    "electoral-registration-verification": "active",
    "supporting-families-northshire-partners": "active",
}
TRICKY_PURPOSE = 'Identify households, "quoted"; with a comma\nand a second line'


@pytest.fixture
def registered(hub):  # noqa: ANN001, ANN201
    """The demo register plus a draft, a revoked agreement and one live past its end date."""
    seed(hub)
    framework = hub.framework
    with hub.transaction() as session:
        seed_agreements(session, framework, NOW)
        agreements.create_draft(
            session, framework, spec("supporting-families-northshire", id="draft-hidden"), "officer", NOW
        )
        revoked = agreements.create_draft(
            session, framework, spec("gro-deaths-to-dwp", id="gro-revoked", purpose=TRICKY_PURPOSE), "officer",
            NOW - timedelta(weeks=20),
        )  # fmt: skip
        confirm_all(session, revoked, NOW - timedelta(weeks=20))
        lifecycle.transition(session, framework, revoked, "consultation", actor="a", now=NOW - timedelta(weeks=20))
        lifecycle.transition(session, framework, revoked, "active", actor="a", now=NOW - timedelta(weeks=10))
        lifecycle.transition(session, framework, revoked, "revoked", actor="a", now=NOW, reason="replaced")
        old = agreements.create_draft(
            session, framework,
            spec("gro-deaths-to-dwp", id="gro-old", start_date=date(2024, 1, 1), end_date=date(2025, 12, 31),
                 review_date=date(2025, 1, 1)),
            "officer", datetime(2023, 10, 1, tzinfo=UTC),
        )  # fmt: skip
        confirm_all(session, old, datetime(2023, 10, 1, tzinfo=UTC))
        lifecycle.transition(session, framework, old, "consultation", actor="a", now=datetime(2023, 10, 1, tzinfo=UTC))
        lifecycle.transition(session, framework, old, "active", actor="a", now=datetime(2024, 1, 1, tzinfo=UTC))
    return hub


def _entries(hub, **filters: str | None) -> list[dict]:  # noqa: ANN001
    with hub.transaction() as session:
        return register_entries(session, hub.framework, TODAY, **filters)


def _ids(hub, **filters: str | None) -> list[str]:  # noqa: ANN001
    return [e["id"] for e in _entries(hub, **filters)]


def test_what_is_published(registered) -> None:  # noqa: ANN001
    entries = _entries(registered)
    # every non-draft agreement, at its effective status
    assert {e["id"]: e["status"] for e in entries} == {**SEEDED, "gro-revoked": "revoked", "gro-old": "expired"}
    # drafts never, under any filter
    assert "draft-hidden" not in _ids(registered, body="northshire-council")
    assert "draft-hidden" not in _ids(registered, gateway="public_service_delivery")
    with pytest.raises(InvalidInput, match="status 'draft' is not one of"):
        _entries(registered, status="draft")
    # ordered by gateway, then name
    keys = [(e["legal_power"]["gateway"], e["name"], e["id"]) for e in entries]
    assert keys == sorted(keys)
    # "active" means effectively active: gro-old is stored active but past its end date
    assert set(_ids(registered, status="active")) == {k for k, v in SEEDED.items() if v == "active"}


FILTER_CASES = [
    (
        {"body": "northshire-council"},
        {
            "supporting-families-northshire",
            "supporting-families-northshire-partners",
            "debt-pilot-northshire",
            "spd-fraud-pilot",
        },
    ),
    ({"body": "brightwatt-energy"}, {"warm-home-discount-2026"}),
    ({"body": "gro"}, {"gro-deaths-to-dwp", "gro-revoked", "gro-old"}),
    ({"gateway": "civil_registration"}, {"gro-deaths-to-dwp", "gro-revoked", "gro-old"}),
    ({"gateway": "fraud"}, {"spd-fraud-pilot", "electoral-registration-verification"}),
    ({"status": "consultation"}, {"debt-pilot-northshire"}),
    ({"status": "revoked"}, {"gro-revoked"}),
    ({"status": "expired"}, {"gro-old"}),  # stored as active, past its end date
    ({"status": "suspended"}, set()),
    ({"body": "hmrc", "gateway": "statistics"}, {"paye-for-official-statistics"}),
    ({"body": "dwp", "gateway": "civil_registration", "status": "active"}, {"gro-deaths-to-dwp"}),
    ({"gateway": "civil_registration", "status": "active"}, {"gro-deaths-to-dwp"}),
]

INVALID_FILTERS = [
    ({"body": "no-such-body"}, "no body 'no-such-body' is registered"),
    ({"gateway": "tax"}, "gateway 'tax' is not one of public_service_delivery, civil_registration"),
    ({"status": "live"}, "status 'live' is not one of consultation, active, suspended, expired, revoked"),
    ({"status": "ACTIVE"}, "status 'ACTIVE' is not one of"),
    ({"status": "draft", "body": "dwp"}, "status 'draft' is not one of"),
]


def test_filters(registered) -> None:  # noqa: ANN001
    # One register, many read-only queries: built once rather than once per case.
    for filters, expected in FILTER_CASES:
        ids = _ids(registered, **filters)
        assert set(ids) == expected, filters
        assert len(ids) == len(expected), filters
    for filters, message in INVALID_FILTERS:
        with pytest.raises(InvalidInput, match=message):
            _entries(registered, **filters)


def test_entry_carries_the_published_fields(registered) -> None:  # noqa: ANN001
    [entry] = _entries(registered, gateway="public_service_delivery", body="brightwatt-energy")
    assert entry["legal_power"] == {
        "gateway": "public_service_delivery",
        "title": "Public service delivery",
        "section": "DEA 2017 s.35",
        "objective": "fuel_poverty",
        "dpv_purpose": "https://w3id.org/dpv#PublicBenefit",
    }
    assert entry["controllers"] == ["brightwatt-energy", "dwp"]
    assert entry["disclosers"] == ["dwp"] and entry["recipients"] == ["brightwatt-energy"]
    # The agreement names the identifiers the hub reads to match (issue 12), then the attribute it discloses.
    assert entry["data_disclosed"] == [{"dataset": "dwp-benefits", "fields": [
        "nino", "first_name", "surname", "date_of_birth", "postcode", "address_line_1", "pension_credit_guarantee"]}]
    assert entry["limits"]["on_excess_fields"] == "deny"
    assert entry["pilot"] is None
    assert entry["consultation"]["closes_at"] == (NOW - timedelta(weeks=2)).isoformat()
    assert [h["to"] for h in entry["history"]] == ["draft", "consultation", "active"]

    [pilot] = _entries(registered, gateway="debt")
    assert pilot["pilot"]["success_measures"][0] == "Share of arrears cases on an affordable plan"
    assert pilot["consultation"]["opens_at"] == NOW.isoformat()
    assert pilot["consultation"]["comments"] == 0

    with registered.transaction() as session:
        debt = agreements.get_agreement(session, "debt-pilot-northshire")
        for n in range(3):
            lifecycle.add_comment(session, debt, author=f"P{n}", organisation="", comment="Concerned.", now=NOW)
    [entry] = _entries(registered, gateway="debt")
    assert entry["consultation"]["comments"] == 3


# ---------------------------------------------------------------- export


def test_csv_and_json_export_round_trip(registered) -> None:  # noqa: ANN001
    entries = _entries(registered)
    text = to_csv(entries)
    assert text.splitlines()[0] == (
        "id,name,status,gateway,objective,legal_power,purpose,benefits,controllers,disclosers,recipients,"
        "processors,data_disclosed,sharing_method,retention,start_date,end_date,review_date,contact,areas,notes"
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(entries) == len(SEEDED) + 2
    assert [r["id"] for r in rows] == [e["id"] for e in entries]
    # and each row reads back as the entry it was written from
    for entry, row in zip(entries, rows, strict=True):
        power = entry["legal_power"]
        assert set(row) == set(CSV_COLUMNS)
        for column in ("id", "name", "status", "purpose", "benefits", "sharing_method", "retention",
                       "start_date", "end_date", "contact", "notes"):  # fmt: skip
            assert row[column] == entry[column], column
        assert row["gateway"] == power["gateway"]
        assert row["objective"] == (power["objective"] or "")
        assert row["legal_power"] == f"{power['title']} ({power['section']})"
        assert row["review_date"] == (entry["review_date"] or "")
        for column in ("controllers", "disclosers", "recipients", "processors", "areas"):
            assert (row[column].split("; ") if row[column] else []) == entry[column], column
        parsed = {
            item.split(": ", 1)[0]: item.split(": ", 1)[1].split(", ") for item in row["data_disclosed"].split("; ")
        }
        assert parsed == {d["dataset"]: d["fields"] for d in entry["data_disclosed"]}
    tricky = next(r for r in rows if r["id"] == "gro-revoked")
    assert tricky["purpose"] == TRICKY_PURPOSE
    assert tricky["status"] == "revoked"

    document = json.dumps({"count": len(entries), "agreements": entries})
    assert json.loads(document)["agreements"] == entries


def test_csv_of_an_empty_register_is_just_the_header() -> None:
    assert to_csv([]) == ",".join(CSV_COLUMNS) + "\n"


def test_spec_round_trips_through_storage(registered) -> None:  # noqa: ANN001
    with registered.transaction() as session:
        for agreement_id in SEEDED:
            stored = agreements.get_agreement(session, agreement_id)
            original = spec(agreement_id)
            assert agreements.spec_of(stored) == original.model_copy(
                update={"consultation_weeks": original.consultation_weeks or 8}
            ), agreement_id
