"""The households found match the answer key, stay inside the council's area, and use only named bodies.

The expected set comes from the synthetic answer key alone: each indicator
record's true household and the factor rule applied to the record's own
values (what perfect linkage would find). Precision and recall are printed
(run with ``-s``) and held to a bar.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from accord_testing import add_agreement
from disadvantages_support import (
    AGREEMENT,
    COUNCIL,
    DWP_ONLY,
    OFFICER,
    Truth,
    demo_spec,
    found_households,
    full_identifiers_spec,
    precision_recall,
    prepare,
)

from sqlalchemy import select

from accord.clock import utcnow
from accord.registry import bodies, datasets
from accord.registry.specs import BodySpec, DatasetSpec
from accord.runtime import Hub
from accord.services import disadvantages, holdings
from accord.services.holdings import files, load_holding, reading
from accord.services.unit_of_work import Actor
from accord.storage.models import DecisionRecord

OWN = {"northshire-council-tax", "northshire-council-early-help"}  # the council's own: its list and its cases


def _identify(hub: Hub, agreement: str = AGREEMENT, **options: object) -> dict:
    """The service's answer (the API's body), asked as the council's officer."""
    reply = disadvantages.identify(hub, Actor(COUNCIL, OFFICER, "test-linkage"), agreement, **options)
    assert reply.status == 200 and reply.body["allowed"], reply.body
    return reply.body


def _uprns(answer: dict) -> set[str]:
    return {h["reference"]["uprn"] for h in answer["households"]}


def test_households_match_the_answer_key(hub: Hub, synth: Path, answer_key: Truth) -> None:
    prepare(hub, synth)
    result = _identify(hub)
    found = found_households(result, answer_key)
    precision, recall = precision_recall(found, answer_key.expected)
    exact = sum(1 for h in set(found) & set(answer_key.expected) if found[h] == answer_key.expected[h])
    print(f"\n{AGREEMENT}: {len(found)} found, {len(answer_key.expected)} expected, "
          f"precision {precision:.3f}, recall {recall:.3f}, factor sets exact {exact / max(1, len(found)):.3f}")
    assert len(answer_key.expected) > 100  # enough households for the figures to mean something
    assert precision >= 0.97
    assert recall >= 0.93
    assert exact / len(found) >= 0.9
    for household, factors in found.items():  # every factor reported is one the household really has
        if household in answer_key.expected:
            assert factors <= answer_key.all_factors[household], household
        assert len(factors) >= 2


def test_a_richer_agreement_links_more(sqlite_hub: Hub, synth: Path, answer_key: Truth) -> None:
    prepare(sqlite_hub, synth)
    add_agreement(sqlite_hub, full_identifiers_spec())
    found = found_households(_identify(sqlite_hub, "supporting-families-full"), answer_key)
    precision, recall = precision_recall(found, answer_key.expected)
    print(f"\nwith DWP's names and date of birth too: precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.98
    assert recall >= 0.95


def test_min_factors_raises_the_bar(sqlite_hub: Hub, synth: Path, answer_key: Truth) -> None:
    prepare(sqlite_hub, synth)
    two = _identify(sqlite_hub)
    three = _identify(sqlite_hub, min_factors=3)
    assert three["min_factors"] == 3 and three["households"] and len(three["households"]) < len(two["households"])
    assert all(len(h["factors"]) >= 3 for h in three["households"])
    assert _uprns(three) <= _uprns(two)


def test_only_households_of_the_council_are_returned(sqlite_hub: Hub, synth: Path, answer_key: Truth) -> None:
    prepare(sqlite_hub, synth)
    result = _identify(sqlite_hub)
    elsewhere = [h for h, f in answer_key.all_factors.items() if len(f) >= 2 and answer_key.council_of[h] != COUNCIL]
    assert len(elsewhere) > 100  # people elsewhere with two or more factors exist in the national datasets
    listed = _council_tax(sqlite_hub)
    assert result["households"]
    for household in result["households"]:
        uprn, accounts = household["reference"]["uprn"], household["reference"]["account_refs"]
        assert answer_key.council_of[answer_key.household_of_uprn[uprn]] == COUNCIL
        assert uprn in listed and set(accounts) <= listed[uprn]


def _council_tax(hub: Hub) -> dict[str, set[str]]:
    import pyarrow.parquet as pq

    # The test inspects the council's own file directly (a test-only use of holdings' private module).
    table = pq.read_table(files.current(hub, "northshire-council-tax"), columns=["uprn", "account_ref"])
    listed: dict[str, set[str]] = {}
    for uprn, account in zip(table.column("uprn").to_pylist(), table.column("account_ref").to_pylist()):
        listed.setdefault(str(uprn), set()).add(account)
    return listed


def test_bodies_not_named_in_the_agreement_are_never_read(
    sqlite_hub: Hub, synth: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another police force holds incidents too; it is not in the agreement, so its file is never opened."""
    prepare(sqlite_hub, synth)
    with sqlite_hub.transaction() as session:
        now = utcnow()
        bodies.add_body(session, sqlite_hub.framework,
                        BodySpec(id="westmere-police", name="Westmere Police (fictional)", body_type="police"), now)
        police = datasets.get_dataset(session, "police-incidents")
        datasets.add_dataset(session, sqlite_hub.framework, DatasetSpec(
            id="westmere-police-incidents", body_id="westmere-police", name="Police incidents",
            fields=[{"name": f.name, "category": f.category, "type": f.type} for f in police.fields]), now)
    load_holding(sqlite_hub, "westmere-police-incidents", synth / "police-incidents.parquet")
    before = _identify(sqlite_hub)["households"]
    # Were the file read, this would fail: it is no longer Parquet.
    files.current(sqlite_hub, "westmere-police-incidents").write_bytes(b"not a parquet file")
    opened: list[str] = []
    real = reading.current  # where every read under a grant finds the holding's file

    def spy(hub: Hub, dataset_id: str) -> Path:
        opened.append(dataset_id)
        return real(hub, dataset_id)

    monkeypatch.setattr(reading, "current", spy)
    result = _identify(sqlite_hub)
    assert result["households"] == before
    assert "westmere-police-incidents" not in opened
    named = {"dwp-benefits", "police-incidents", "schools-pupils", "health-indicators"}
    assert set(opened) == named | OWN
    assert set(result["sources"]) == named | OWN
    assert "hmrc-paye" not in opened and "gro-deaths" not in opened  # loaded, but not in this agreement


def test_only_the_permitted_fields_are_read(sqlite_hub: Hub, synth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DWP holds names, dates of birth and disability flags; the agreement permits none, so none are read."""
    prepare(sqlite_hub, synth)
    read: dict[str, list[str]] = {}
    real = holdings.read  # the only way a service reads a holding

    def spy(grant, columns, **options):  # noqa: ANN001, ANN003, ANN202
        table = real(grant, columns, **options)
        read[grant.dataset_id] = table.column_names
        return table

    monkeypatch.setattr(holdings, "read", spy)
    _identify(sqlite_hub)
    # The permitted fields, and the hub's own subject key (to name the people whose records were used).
    assert read["dwp-benefits"] == ["nino", "postcode", "address_line_1", "benefit_type", holdings.SUBJECT]
    assert read["police-incidents"] == ["first_name", "surname", "date_of_birth", "address_line_1", "postcode",
                                        "incident_type", holdings.SUBJECT]
    assert "role" not in read["police-incidents"] and "incident_date" not in read["police-incidents"]
    assert "nhs_number" not in read["health-indicators"]  # no longer needed to name anyone: not asked for
    assert holdings.ROW_KEY not in {column for columns in read.values() for column in columns}
    # The council's household list: its references, addresses and liable names; no subject key is needed.
    assert read["northshire-council-tax"] == ["account_ref", "address_line_1", "postcode", "uprn", "liable_name",
                                              "joint_liable_name"]


def test_a_factor_is_considered_only_when_its_indicator_is_permitted(sqlite_hub: Hub, synth: Path) -> None:
    prepare(sqlite_hub, synth)
    spec = demo_spec("supporting-families-no-health")
    add_agreement(sqlite_hub, demo_spec(
        "supporting-families-no-health",
        data=[item.model_dump() for item in spec.data if item.dataset != "health-indicators"],
        disclosers=[body for body in spec.disclosers if body != "northshire-nhs"],
    ))
    result = _identify(sqlite_hub, "supporting-families-no-health")
    assert "health" not in result["factors_considered"] and "crime_asb" in result["factors_considered"]
    assert result["households"] and all("health" not in h["factors"] for h in result["households"])
    assert "health-indicators" not in result["sources"]


def test_an_agreement_for_dwp_data_alone_considers_only_what_it_discloses(sqlite_hub: Hub, synth: Path) -> None:
    """The demo's first Supporting Families agreement discloses only DWP's benefit type (and identifiers)."""
    prepare(sqlite_hub, synth)
    result = _identify(sqlite_hub, DWP_ONLY)
    # worklessness from DWP; children in need and housing from the council's own early-help cases
    assert result["factors_considered"] == ["worklessness", "children_in_need", "housing"]
    assert set(result["sources"]) == {"northshire-council-tax", "dwp-benefits", "northshire-council-early-help"}
    assert result["households"] and all(set(h["factors"]) <= set(result["factors_considered"])
                                        for h in result["households"])
    # One decision per dataset read: DWP's under the agreement, the council's own two under the holder rule.
    with sqlite_hub.transaction() as session:
        rows = list(session.scalars(select(DecisionRecord).where(DecisionRecord.id.in_(result["decision_ids"]))))
    assert len(rows) == len(result["decision_ids"]) == 3 and all(r.allowed for r in rows)
    assert {r.dataset_id: r.agreement_id for r in rows} == {
        "dwp-benefits": DWP_ONLY, "northshire-council-tax": None, "northshire-council-early-help": None}
