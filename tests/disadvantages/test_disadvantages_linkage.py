"""The households found match the answer key, stay inside the council's area, and use only named bodies.

The expected set comes from the synthetic answer key alone: each indicator
record's true household and the factor rule applied to the record's own
values (what perfect linkage would find). Precision and recall are printed
(run with ``-s``) and held to a bar.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from disadvantages_support import (
    AGREEMENT,
    COUNCIL,
    DWP_ONLY,
    OFFICER,
    Truth,
    add_agreement,
    demo_spec,
    found_households,
    full_identifiers_spec,
    precision_recall,
    prepare,
)

from accord.clock import utcnow
from accord.registry import bodies, datasets
from accord.registry.specs import BodySpec, DatasetSpec
from accord.runtime import Hub
from accord.services import disadvantages, holdings
from accord.services.holdings import load_holding


def _identify(hub: Hub, agreement: str = AGREEMENT, **options: object) -> disadvantages.Identification:
    result = disadvantages.identify(hub, body_id=COUNCIL, officer=OFFICER, agreement_id=agreement,
                                    request_id="test-linkage", **options)
    assert result.allowed, result.reasons
    return result


def test_households_match_the_answer_key(hub: Hub, synth: Path, answer_key: Truth) -> None:
    prepare(hub, synth)
    result = _identify(hub)
    found = found_households(result.public(), answer_key)
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
    found = found_households(_identify(sqlite_hub, "supporting-families-full").public(), answer_key)
    precision, recall = precision_recall(found, answer_key.expected)
    print(f"\nwith DWP's names and date of birth too: precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.98
    assert recall >= 0.95


def test_min_factors_raises_the_bar(sqlite_hub: Hub, synth: Path, answer_key: Truth) -> None:
    prepare(sqlite_hub, synth)
    two = _identify(sqlite_hub).households
    three = _identify(sqlite_hub, min_factors=3).households
    assert three and len(three) < len(two)
    assert all(len(h.factors) >= 3 for h in three)
    assert {h.uprn for h in three} <= {h.uprn for h in two}


def test_only_households_of_the_council_are_returned(sqlite_hub: Hub, synth: Path, answer_key: Truth) -> None:
    prepare(sqlite_hub, synth)
    result = _identify(sqlite_hub)
    elsewhere = [h for h, f in answer_key.all_factors.items() if len(f) >= 2 and answer_key.council_of[h] != COUNCIL]
    assert len(elsewhere) > 100  # people elsewhere with two or more factors exist in the national datasets
    listed = _council_tax(sqlite_hub)
    for household in result.households:
        assert answer_key.council_of[answer_key.household_of_uprn[household.uprn]] == COUNCIL
        assert household.uprn in listed and set(household.account_refs) <= listed[household.uprn]


def _council_tax(hub: Hub) -> dict[str, set[str]]:
    import pyarrow.parquet as pq

    table = pq.read_table(holdings.holding_path(hub, "northshire-council-tax"), columns=["uprn", "account_ref"])
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
    before = _identify(sqlite_hub).public()["households"]
    # Were the file read, this would fail: it is no longer Parquet.
    holdings.holding_path(sqlite_hub, "westmere-police-incidents").write_bytes(b"not a parquet file")
    opened: list[str] = []
    real = disadvantages.holding_path

    def spy(hub: Hub, dataset_id: str) -> Path:
        opened.append(dataset_id)
        return real(hub, dataset_id)

    monkeypatch.setattr(disadvantages, "holding_path", spy)
    result = _identify(sqlite_hub)
    assert result.public()["households"] == before
    assert "westmere-police-incidents" not in opened
    named = {"dwp-benefits", "police-incidents", "schools-pupils", "health-indicators"}
    own = {"northshire-council-tax", "northshire-council-early-help"}
    assert set(opened) == named | own
    assert set(result.sources) == named | own
    assert "hmrc-paye" not in opened and "gro-deaths" not in opened  # loaded, but not in this agreement


def test_only_the_permitted_fields_are_read(sqlite_hub: Hub, synth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DWP holds names, dates of birth and disability flags; the agreement permits none, so none are read."""
    prepare(sqlite_hub, synth)
    read: dict[str, list[str]] = {}
    real = disadvantages._read

    def spy(hub, connection, source):  # noqa: ANN001, ANN202
        table = real(hub, connection, source)
        read[source.dataset_id] = table.column_names
        return table

    monkeypatch.setattr(disadvantages, "_read", spy)
    _identify(sqlite_hub)
    assert read["dwp-benefits"] == ["nino", "postcode", "address_line_1", "benefit_type"]
    assert read["police-incidents"] == ["first_name", "surname", "date_of_birth", "address_line_1", "postcode",
                                        "incident_type"]
    assert "role" not in read["police-incidents"] and "incident_date" not in read["police-incidents"]


def test_a_factor_is_considered_only_when_its_indicator_is_permitted(sqlite_hub: Hub, synth: Path) -> None:
    prepare(sqlite_hub, synth)
    spec = demo_spec("supporting-families-no-health")
    add_agreement(sqlite_hub, demo_spec(
        "supporting-families-no-health",
        data=[item.model_dump() for item in spec.data if item.dataset != "health-indicators"],
        disclosers=[body for body in spec.disclosers if body != "northshire-nhs"],
    ))
    result = _identify(sqlite_hub, "supporting-families-no-health")
    assert "health" not in result.factors_considered and "crime_asb" in result.factors_considered
    assert result.households and all("health" not in h.factors for h in result.households)
    assert "health-indicators" not in result.sources


def test_an_agreement_for_dwp_data_alone_considers_only_what_it_discloses(sqlite_hub: Hub, synth: Path) -> None:
    """The demo's first Supporting Families agreement discloses only DWP's benefit type (and identifiers)."""
    prepare(sqlite_hub, synth)
    result = _identify(sqlite_hub, DWP_ONLY)
    # worklessness from DWP; children in need and housing from the council's own early-help cases
    assert result.factors_considered == ("worklessness", "children_in_need", "housing")
    assert set(result.sources) == {"northshire-council-tax", "dwp-benefits", "northshire-council-early-help"}
    assert result.households and all(set(h.factors) <= set(result.factors_considered) for h in result.households)
    assert len(result.decision_ids) == 1  # one dataset of another body read, one decision
