"""Agreement validation: each rule in registry/validation.py, triggered on its own.

Each case changes one thing in a valid demo agreement and expects exactly one
problem, naming the input at fault.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, update

from accord.demo.seed import seed_agreements
from accord.errors import Conflict, InvalidInput, NotFound
from accord.registry import agreements
from accord.registry.validation import agreement_problems
from accord.storage.models import Agreement, AgreementEvent, AgreementField, AgreementParty, DatasetField
from registry_support import EXAMPLES, FRAMEWORK, NOW, seed, spec

SF = "supporting-families-northshire"  # public_service_delivery:multiple_disadvantages, dwp -> northshire-council
WHD = "warm-home-discount-2026"  # public_service_delivery:fuel_poverty, dwp -> brightwatt-energy
GRO = "gro-deaths-to-dwp"  # civil_registration, gro -> dwp
DEBT = "debt-pilot-northshire"  # debt pilot, hmrc -> northshire-council
FRAUD = "spd-fraud-pilot"  # fraud pilot, dwp -> northshire-council
RESEARCH = "benefits-research-extract"  # research, dwp -> example-tre
PILOT = {"business_case": "Test the approach.", "success_measures": ["Something measured"]}

# (case, example, changes, the one expected problem)
CASES = [
    ("unknown gateway", SF, {"gateway": "tax_collection"},
     "gateway: 'tax_collection' is not a gateway of uk-dea-2017-part5 (one of public_service_delivery, "
     "civil_registration, debt, fraud, research, statistics)"),
    ("missing objective", SF, {"objective": None},
     "objective: the public_service_delivery gateway needs one of: multiple_disadvantages, fuel_poverty, "
     "water_poverty, tv_retuning"),
    ("unknown objective", SF, {"objective": "tax_credits"},
     "objective: 'tax_credits' is not in the closed list for public_service_delivery (multiple_disadvantages, "
     "fuel_poverty, water_poverty, tv_retuning)"),
    ("objective on a gateway without objectives", GRO, {"objective": "fuel_poverty"},
     "objective: the civil_registration gateway has no objectives; remove 'fuel_poverty'"),
    ("recipient type not allowed on gateway", GRO, {"recipients": ["brightwatt-energy"]},
     "recipients: 'brightwatt-energy' is an energy_supplier, which may not be a recipient under gateway "
     "'civil_registration'"),
    ("recipient type not allowed on objective", SF, {"recipients": ["brightwatt-energy"]},
     "recipients: 'brightwatt-energy' is an energy_supplier, which may not be a recipient under gateway "
     "'public_service_delivery', objective 'multiple_disadvantages'"),
    ("energy supplier under water poverty", WHD, {"objective": "water_poverty"},
     "recipients: 'brightwatt-energy' is an energy_supplier, which may not be a recipient under gateway "
     "'public_service_delivery', objective 'water_poverty'"),
    ("energy supplier as discloser under fuel poverty", WHD,
     {"disclosers": ["brightwatt-energy"], "recipients": ["dwp"],
      "data": [{"dataset": "brightwatt-customers", "fields": ["account_ref"]}]},
     "disclosers: 'brightwatt-energy' is an energy_supplier, which may not be a discloser under gateway "
     "'public_service_delivery', objective 'fuel_poverty'"),
    ("discloser type not allowed on gateway", GRO,
     {"disclosers": ["dwp"], "recipients": ["ons"], "data": [{"dataset": "dwp-benefits", "fields": ["surname"]}]},
     "disclosers: 'dwp' is a government_department, which may not be a discloser under gateway "
     "'civil_registration'"),
    ("statistics office as research recipient", RESEARCH, {"recipients": ["ons"]},
     "recipients: 'ons' is a statistics_office, which may not be a recipient under gateway 'research'"),
    ("unknown discloser", SF, {"disclosers": ["dwp", "no-such-body"]},
     "disclosers: no body 'no-such-body' is registered"),
    ("unknown recipient", SF, {"recipients": ["no-such-council"]},
     "recipients: no body 'no-such-council' is registered"),
    ("body listed twice", SF, {"recipients": ["northshire-council", "northshire-council"]},
     "recipients: a body is listed twice"),
    ("same body discloser and recipient", SF, {"recipients": ["northshire-council", "dwp"]},
     "'dwp' cannot be both a discloser and a recipient"),
    ("unknown dataset", SF, {"data": [{"dataset": "dwp-nothing", "fields": ["nino"]}]},
     "data[0]: no dataset 'dwp-nothing' is registered"),
    ("dataset listed twice", SF,
     {"data": [{"dataset": "dwp-benefits", "fields": ["nino"]}, {"dataset": "dwp-benefits", "fields": ["surname"]}]},
     "data[1]: dataset 'dwp-benefits' is listed twice"),
    ("dataset held by a non-discloser", SF, {"data": [{"dataset": "hmrc-paye", "fields": ["nino"]}]},
     "data[0]: dataset 'hmrc-paye' is held by 'hmrc', which is not a discloser in this agreement"),
    ("unknown field", SF, {"data": [{"dataset": "dwp-benefits", "fields": ["nino", "shoe_size"]}]},
     "data[0]: dataset 'dwp-benefits' has no field 'shoe_size'"),
    ("field listed twice", SF, {"data": [{"dataset": "dwp-benefits", "fields": ["nino", "nino"]}]},
     "data[0]: a field is listed twice"),
    ("direct identifier under research", RESEARCH,
     {"data": [{"dataset": "dwp-benefits", "fields": ["postcode", "nino"]}]},
     "data[0]: field 'nino' is direct identifier data, which the research gateway does not allow "
     "(allowed: quasi_identifier, attribute, special_category)"),
    ("special category under fraud", FRAUD,
     {"data": [{"dataset": "dwp-benefits", "fields": ["surname", "disability_indicator"]}]},
     "data[0]: field 'disability_indicator' is special category data, which the fraud gateway does not allow "
     "(allowed: direct_identifier, quasi_identifier, attribute)"),
    ("end before start", SF, {"start_date": date(2027, 1, 1), "end_date": date(2026, 12, 31), "review_date": None},
     "end_date: 2026-12-31 is not after start_date 2027-01-01"),
    ("end on the start date", SF, {"start_date": date(2027, 1, 1), "end_date": date(2027, 1, 1), "review_date": None},
     "end_date: 2027-01-01 is not after start_date 2027-01-01"),
    ("review before the term", SF, {"review_date": date(2025, 12, 31)},
     "review_date: 2025-12-31 is not between start_date and end_date"),
    ("review after the term", SF, {"review_date": date(2028, 1, 1)},
     "review_date: 2028-01-01 is not between start_date and end_date"),
    ("debt pilot without pilot section", DEBT, {"pilot": None},
     "pilot: debt agreements run as pilots and need a business case and success measures"),
    ("fraud pilot without pilot section", FRAUD, {"pilot": None},
     "pilot: fraud agreements run as pilots and need a business case and success measures"),
    ("pilot without review date", DEBT, {"review_date": None},
     "review_date: pilots must have a review date"),
    ("debt pilot longer than P2Y", DEBT, {"start_date": date(2027, 2, 1), "end_date": date(2029, 2, 2)},
     "end_date: a pilot may run for at most P2Y (731 days); this one runs 732 days"),
    ("fraud pilot longer than P2Y", FRAUD, {"start_date": date(2026, 6, 1), "end_date": date(2028, 6, 2)},
     "end_date: a pilot may run for at most P2Y (731 days); this one runs 732 days"),
    ("non-pilot with pilot section", SF, {"pilot": PILOT},
     "pilot: public_service_delivery agreements are not pilots; remove the pilot section"),
    ("unparseable retention", SF, {"retention": "P1Y2"},
     "retention: 'P1Y2' is not an ISO 8601 duration of at most 100 years, such as P1Y or P6M"),
    ("retention too long to compute", SF, {"retention": "P99999999999999999999Y"},
     "retention: 'P99999999999999999999Y' is not an ISO 8601 duration of at most 100 years, such as P1Y or P6M"),
    ("retention over 100 years", SF, {"retention": "P101Y"}, "retention: 'P101Y' is longer than 100 years"),
    ("zero retention", SF, {"retention": "P0D"}, "retention: 'P0D' must be longer than zero"),
    ("embargo on a gateway that does not allow it", SF, {"embargo": "P3M"},
     "embargo: the public_service_delivery gateway does not allow hiding accesses from citizens"),
    ("unparseable embargo", FRAUD, {"embargo": "P1Y2"},
     "embargo: 'P1Y2' is not an ISO 8601 duration of at most 100 years, such as P1Y or P6M"),
    ("embargo too long", FRAUD, {"embargo": "P7990Y"}, "embargo: 'P7990Y' is longer than 100 years"),
    ("zero embargo", FRAUD, {"embargo": "PT0S"}, "embargo: 'PT0S' must be longer than zero"),
    ("unknown area", SF, {"areas": ["England", "Narnia"]},
     "areas: 'Narnia' is not one of England, Wales, Scotland, Northern Ireland"),
]  # fmt: skip


@pytest.mark.parametrize("example", sorted(set(EXAMPLES) - {"supplier-research-request"}))
def test_demo_agreements_are_valid(session, example: str) -> None:  # noqa: ANN001
    assert agreement_problems(session, FRAMEWORK, spec(example)) == []


@pytest.mark.parametrize(("example", "changes", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_on_its_own(session, example: str, changes: dict, problem: str) -> None:  # noqa: ANN001
    assert agreement_problems(session, FRAMEWORK, spec(example, **changes)) == [problem]


def test_every_problem_is_reported_at_once(session) -> None:  # noqa: ANN001
    problems = agreement_problems(session, FRAMEWORK, EXAMPLES["supplier-research-request"])
    assert problems == [
        "recipients: 'brightwatt-energy' is an energy_supplier, which may not be a recipient under gateway 'research'",
        "data[0]: field 'nino' is direct identifier data, which the research gateway does not allow "
        "(allowed: quasi_identifier, attribute, special_category)",
        "data[0]: field 'surname' is direct identifier data, which the research gateway does not allow "
        "(allowed: quasi_identifier, attribute, special_category)",
        "end_date: 2026-06-30 is not after start_date 2027-01-01",
    ]


@pytest.mark.parametrize(("example", "end"), [(DEBT, date(2029, 2, 1)), (FRAUD, date(2028, 6, 1))])
def test_a_pilot_may_run_exactly_p2y(session, example: str, end: date) -> None:  # noqa: ANN001
    start = EXAMPLES[example].start_date
    assert (end - start).days == 731
    assert agreement_problems(session, FRAMEWORK, spec(example, end_date=end)) == []


def test_an_embargo_is_lawful_on_fraud_agreements(session) -> None:  # noqa: ANN001
    assert agreement_problems(session, FRAMEWORK, spec(FRAUD, embargo="P3M")) == []


def test_energy_supplier_is_a_lawful_recipient_only_under_fuel_poverty(session) -> None:  # noqa: ANN001
    framework = FRAMEWORK
    lawful = [
        objective
        for objective in framework.gateways["public_service_delivery"].objectives
        if not agreement_problems(session, framework, spec(WHD, objective=objective))
    ]
    assert lawful == ["fuel_poverty"]
    for gateway in framework.gateways:
        assert "energy_supplier" not in framework.gateways[gateway].recipients
        assert "energy_supplier" not in framework.gateways[gateway].disclosers


def test_validation_reads_the_registry_as_it_is_now(session) -> None:  # noqa: ANN001
    session.execute(
        update(DatasetField)
        .where(DatasetField.dataset_id == "dwp-benefits", DatasetField.name == "postcode")
        .values(category="direct_identifier")
    )
    assert agreement_problems(session, FRAMEWORK, spec(RESEARCH)) == [
        "data[0]: field 'postcode' is direct identifier data, which the research gateway does not allow "
        "(allowed: quasi_identifier, attribute, special_category)"
    ]


# ---------------------------------------------------------------- create_draft


def _stored_counts(session) -> dict[str, int]:  # noqa: ANN001
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model))
        for model in (Agreement, AgreementParty, AgreementField, AgreementEvent)
    }


def test_a_refused_draft_stores_nothing(hub) -> None:  # noqa: ANN001
    seed(hub)
    bad = spec(SF, id="bad-one", recipients=["brightwatt-energy"], areas=["Narnia"])
    with pytest.raises(InvalidInput) as refused, hub.transaction() as session:
        agreements.create_draft(session, hub.framework, bad, "officer", NOW)
    assert refused.value.detail == f"agreement '{bad.name}' is refused"
    assert len(refused.value.problems) == 2
    assert any("brightwatt-energy" in p for p in refused.value.problems)
    assert any("Narnia" in p for p in refused.value.problems)
    with hub.transaction() as session:
        assert _stored_counts(session) == {
            "agreements": 0, "agreement_parties": 0, "agreement_fields": 0, "agreement_events": 0,
        }  # fmt: skip


def test_a_refused_draft_beside_a_good_one_leaves_the_good_one_alone(hub) -> None:  # noqa: ANN001
    seed(hub)
    with hub.transaction() as session:
        agreements.create_draft(session, hub.framework, spec(SF, id="good-one"), "officer", NOW)
        with pytest.raises(InvalidInput):
            agreements.create_draft(session, hub.framework, spec(SF, id="bad-one", objective=None), "officer", NOW)
    with hub.transaction() as session:
        assert _stored_counts(session) == {
            "agreements": 1, "agreement_parties": 2, "agreement_fields": 5, "agreement_events": 1,
        }  # fmt: skip
        assert session.get(Agreement, "bad-one") is None


def test_create_draft_stores_the_spec(hub) -> None:  # noqa: ANN001
    seed(hub)
    with hub.transaction() as session:
        created = agreements.create_draft(session, hub.framework, spec(FRAUD), "officer@northshire", NOW)
    with hub.transaction() as session:
        agreement = agreements.get_agreement(session, created.id)
        assert agreement.status == "draft"
        assert agreements.parties(agreement, "discloser") == ["dwp"]
        assert agreements.parties(agreement, "recipient") == ["northshire-council"]
        assert agreements.disclosed_fields(agreement) == {
            "dwp-benefits": ["surname", "date_of_birth", "postcode", "address_line_1"]
        }
        assert agreement.is_pilot and agreement.success_measures == EXAMPLES[FRAUD].pilot.success_measures
        assert (agreement.max_records_per_request, agreement.max_requests_per_day) == (1000, 50)
        assert agreement.consultation_weeks == 8
        assert agreement.created_at == NOW and agreement.created_by == "officer@northshire"
        [event] = agreement.history
        assert (event.from_status, event.to_status, event.actor) == (None, "draft", "officer@northshire")
        assert agreements.spec_of(agreement) == spec(FRAUD, consultation_weeks=8)


def test_create_draft_generates_an_id_when_none_is_given(hub) -> None:  # noqa: ANN001
    seed(hub)
    with hub.transaction() as session:
        agreement = agreements.create_draft(session, hub.framework, spec(SF, id=None), "officer", NOW)
        assert agreement.id.startswith("agr-") and len(agreement.id) == len("agr-") + 8


def test_create_draft_refuses_an_id_already_taken(hub) -> None:  # noqa: ANN001
    seed(hub)
    with hub.transaction() as session:
        agreements.create_draft(session, hub.framework, spec(SF, id="taken"), "officer", NOW)
    with pytest.raises(Conflict, match="'taken' already exists"), hub.transaction() as session:
        agreements.create_draft(session, hub.framework, spec(GRO, id="taken"), "officer", NOW)
    with hub.transaction() as session:
        assert agreements.get_agreement(session, "taken").gateway == "public_service_delivery"


def test_get_agreement_not_found(session) -> None:  # noqa: ANN001
    with pytest.raises(NotFound, match="no agreement 'missing'"):
        agreements.get_agreement(session, "missing")


def test_seeding_refuses_the_example_meant_to_be_refused(session) -> None:  # noqa: ANN001
    result = seed_agreements(session, FRAMEWORK, NOW)
    assert set(result.refused) == {"supplier-research-request"}
    assert result.created["debt-pilot-northshire"] == "consultation"
    assert sorted(result.created.values()) == ["active"] * 8 + ["consultation"]
