"""Support for the multiple-disadvantage tests: a seeded hub with synthetic holdings, and the answer key.

The synthetic population (``accord synth``, 20,000 people) is generated once per
test session. Each test gets an empty hub (the ``hub`` / ``sqlite_hub``
fixtures), so ``prepare`` seeds the example register and loads every
registered dataset's records as its body would (``accord datasets load``).

``expected_households`` computes, from the answer key only, which households
perfect linkage would find: each indicator record's true household, each
factor's rule applied to the record's own values, restricted to households of
the council. ``found_households`` maps the service's answer back to true
household ids through the properties' UPRNs.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from accord_testing import ApiClient, example_spec, seed_register
from sqlalchemy import select

from accord.clock import utcnow
from accord.registry import datasets
from accord.registry.specs import AgreementSpec
from accord.runtime import Hub
from accord.services import holdings
from accord.storage.models import Agreement

COUNCIL = "northshire-council"
AGREEMENT = "supporting-families-northshire-partners"
DWP_ONLY = "supporting-families-northshire"  # the demo's first Supporting Families agreement: DWP data only
OFFICER = "Early help team, Northshire"
URL = "/v1/households/multiple-disadvantages"
PERSONS, SEED = 20_000, 11

# Each factor as the framework reads it, written out again independently: (dataset, condition, factor).
FACTOR_RULES = [
    ("dwp-benefits", "benefit_type = 'universal_credit'", "worklessness"),
    ("police-incidents", "incident_type IN ('anti_social_behaviour', 'offence')", "crime_asb"),
    ("police-incidents", "incident_type = 'domestic_abuse'", "domestic_abuse"),
    ("schools-pupils", "persistent_absence OR excluded", "education"),
    ("health-indicators", "mental_health OR substance_misuse", "health"),
    ("{council}-early-help", "children_in_need", "children_in_need"),
    ("{council}-early-help", "homelessness_risk", "housing"),
]
NINO = re.compile(r"\b[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]\b")
POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")


def seed(hub: Hub) -> None:
    seed_register(hub, registered=utcnow() - timedelta(days=30))


def load_holdings(hub: Hub, synth: Path) -> list[str]:
    """Every registered dataset with a synthetic file, loaded as its body would."""
    with hub.transaction() as session:
        ids = [dataset.id for dataset in datasets.list_datasets(session)]
    loaded = []
    for dataset_id in ids:
        path = synth / f"{dataset_id}.parquet"
        if path.is_file():
            holdings.load_holding(hub, dataset_id, path)
            loaded.append(dataset_id)
    return loaded


def prepare(hub: Hub, synth: Path) -> Hub:
    seed(hub)
    load_holdings(hub, synth)
    return hub


def demo_spec(agreement_id: str, **changes: object) -> AgreementSpec:
    return example_spec(AGREEMENT, id=agreement_id, **changes)


def full_identifiers_spec(agreement_id: str = "supporting-families-full") -> AgreementSpec:
    """The demo agreement, with DWP's names and date of birth too (a richer agreement)."""
    spec = demo_spec(agreement_id)
    data = [item.model_dump() for item in spec.data]
    for item in data:
        if item["dataset"] == "dwp-benefits":
            item["fields"] = item["fields"] + [f for f in ("first_name", "surname", "date_of_birth")
                                               if f not in item["fields"]]
    return demo_spec(agreement_id, data=data)


# ------------------------------------------------------------------ the answer key


@dataclass(frozen=True)
class Truth:
    expected: dict[int, set[str]]  # household id -> factors, households of the council with >= 2
    all_factors: dict[int, set[str]]  # every household with any factor, any council
    council_of: dict[int, str]
    household_of_uprn: dict[str, int]


def truth(synth: Path, council: str = COUNCIL, minimum: int = 2) -> Truth:
    db = duckdb.connect()
    parts = []
    for dataset, condition, factor in FACTOR_RULES:
        name = dataset.format(council=council)
        parts.append(
            f"SELECT t.household_id, '{factor}' AS factor FROM read_parquet('{synth / (name + '.parquet')}') v "
            f"JOIN read_parquet('{synth / 'truth' / (name + '.parquet')}') t USING (record_id) WHERE {condition}"
        )
    households = synth / "truth" / "population" / "households.parquet"
    rows = db.execute(f"SELECT household_id, factor FROM ({' UNION ALL '.join(parts)})").fetchall()
    council_of = dict(db.execute(f"SELECT household_id, council_id FROM read_parquet('{households}')").fetchall())
    by_uprn = dict(db.execute(f"SELECT CAST(uprn AS VARCHAR), household_id FROM read_parquet('{households}')").fetchall())
    factors: dict[int, set[str]] = defaultdict(set)
    for household, factor in rows:
        factors[household].add(factor)
    expected = {h: f for h, f in factors.items() if council_of.get(h) == council and len(f) >= minimum}
    return Truth(expected, dict(factors), council_of, by_uprn)


def found_households(answer: dict, key: Truth) -> dict[int, set[str]]:
    found = {}
    for household in answer["households"]:
        true_id = key.household_of_uprn[household["reference"]["uprn"]]
        found[true_id] = set(household["factors"])
    return found


def precision_recall(found: dict[int, set[str]], expected: dict[int, set[str]]) -> tuple[float, float]:
    hits = len(set(found) & set(expected))
    return hits / max(1, len(found)), hits / max(1, len(expected))


# ------------------------------------------------------------------ API


@dataclass
class Client(ApiClient):
    """The shared in-process client, acting by default as the council's early-help officer."""

    officer: str | None = OFFICER

    def headers(self, body_id: str = COUNCIL, officer: str | None = OFFICER) -> dict[str, str]:
        return self.auth(body_id, officer=officer)

    def identify(self, body_id: str = COUNCIL, **payload: object):  # noqa: ANN201
        payload.setdefault("agreement", AGREEMENT)
        return self.http.post(URL, json=payload, headers=self.headers(body_id))


def api(hub: Hub) -> Client:
    return Client.for_hub(hub)


def agreement_ids(hub: Hub) -> list[str]:
    with hub.transaction() as session:
        return list(session.scalars(select(Agreement.id)))


def utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)
