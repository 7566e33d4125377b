"""Each body's view: the fields it holds, complete ground truth, and nothing that gives the truth away."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from accord.synth.geography import COUNCIL_IDS, is_valid_postcode
from accord.synth.population import PERIOD_END
from accord.synth.views import DATASETS


def test_manifest_lists_every_file_with_its_hash(small) -> None:  # noqa: ANN001
    manifest = json.loads((small.out / "manifest.json").read_text())
    assert manifest["seed"] == 11 and manifest["persons"] == 30_000
    expected = {name for d in DATASETS for name in d.files()}
    assert set(manifest["datasets"]) == expected
    for name, info in manifest["datasets"].items():
        assert (small.out / info["file"]["path"]).is_file()
        assert info["file"]["path"] == f"{name}.parquet" and info["truth"]["path"] == f"truth/{name}.parquet"
        assert pq.read_metadata(small.out / info["file"]["path"]).num_rows == info["rows"]
        assert len(info["file"]["sha256"]) == 64
    assert set(manifest["population"]) == {"persons", "households", "addresses", "events"}
    assert manifest["noise"]["dwp"]["deceased_retained"] == 0.03


def test_demo_datasets_have_the_registry_fields(small) -> None:  # noqa: ANN001
    """Names and fields line up with the demo register (src/accord/demo/registry.yaml)."""
    import yaml

    from accord.demo import __file__ as demo_init
    from pathlib import Path

    registry = yaml.safe_load((Path(demo_init).parent / "registry.yaml").read_text())
    for dataset in registry["datasets"]:
        path = small.out / f"{dataset['id']}.parquet"
        fields = {f["name"] for f in dataset["fields"]}
        columns = set(pq.read_schema(path).names)
        missing = fields - columns
        assert not missing, f"{dataset['id']} lacks {missing}"


def test_every_record_has_exactly_one_truth_row(small) -> None:  # noqa: ANN001
    for d in DATASETS:
        for name in d.files():
            view = small.view(name)
            truth = small.truth(name)
            assert len(set(view["record_id"])) == len(view["record_id"]), f"{name}: record ids repeat"
            assert view["record_id"] == truth["record_id"], f"{name}: truth rows do not match records"
            genuine = [p for p in truth["person_id"] if p is not None]
            if name.endswith("registration-applications"):
                assert len(genuine) == len(truth["person_id"]) - sum(truth["fictitious"])
            else:
                assert len(genuine) == len(truth["person_id"]), f"{name}: records without a person"


def test_no_view_reveals_the_person_id(small) -> None:  # noqa: ANN001
    for d in DATASETS:
        for name in d.files():
            view = small.view(name)
            assert not {"person_id", "household_id"} & set(view), f"{name} has an id column"
            truth = small.truth(name)
            for column, values in view.items():
                present = [v for v in values if v is not None]
                if not present:
                    continue
                same = sum(1 for v, p in zip(values, truth["person_id"]) if v is not None and v == p)
                assert same < 0.01 * len(present), f"{name}.{column} equals the person id"
                same = sum(1 for v, h in zip(values, truth["household_id"]) if v is not None and v == h)
                assert same < 0.01 * len(present), f"{name}.{column} equals the household id"


def test_bodies_hold_only_their_fields(small) -> None:  # noqa: ANN001
    energy = set(pq.read_schema(small.out / "brightwatt-customers.parquet").names)
    assert not energy & {"nino", "date_of_birth"}
    register = set(pq.read_schema(small.out / f"{COUNCIL_IDS[0]}-electoral-register.parquet").names)
    assert not register & {"nino", "date_of_birth"}
    assert {"driver_number", "penalty_points"} <= set(pq.read_schema(small.out / "dvla-drivers.parquet").names)
    assert {"employer_ref", "annual_pay"} <= set(pq.read_schema(small.out / "hmrc-paye.parquet").names)
    assert {"single_person_discount", "liable_name"} <= set(pq.read_schema(small.out / "northshire-council-tax.parquet").names)
    for name in ("hmrc-debts", "dwp-debts", "northshire-council-debts"):
        assert {"amount_owed", "status"} <= set(pq.read_schema(small.out / f"{name}.parquet").names)


def test_council_files_hold_only_their_council(small) -> None:  # noqa: ANN001
    for council in COUNCIL_IDS:
        view = small.view(f"{council}-tax")
        assert view["council_id"] and set(view["council_id"]) == {council}


def test_dwp_pays_some_people_after_death(small) -> None:  # noqa: ANN001
    view, truth = small.view("dwp-benefits"), small.truth("dwp-benefits")
    people = small.persons_by_id()
    after_death = [
        (paid, people[pid]["date_of_death"])
        for paid, pid, dead in zip(view["last_payment_date"], truth["person_id"], truth["deceased"]) if dead
    ]
    assert after_death
    assert all(dod is not None and paid > dod for paid, dod in after_death)
    assert set(view["benefit_type"]) >= {"state_pension", "pension_credit", "universal_credit", "pip"}
    pcg = [g for g, b in zip(view["pension_credit_guarantee"], view["benefit_type"]) if b == "pension_credit"]
    assert 0.7 < sum(pcg) / len(pcg) < 0.95


def test_records_about_the_living_are_live(small) -> None:  # noqa: ANN001
    """Only records flagged 'deceased' (a deliberate anomaly) are about people who died before the views' date."""
    people = small.persons_by_id()
    for name in ("dwp-benefits", "dvla-drivers", "brightwatt-customers", "northshire-council-electoral-register"):
        truth = small.truth(name)
        for pid, dead in zip(truth["person_id"], truth["deceased"]):
            assert (people[pid]["date_of_death"] is not None) == dead


def test_gro_registers_events_of_the_period(small) -> None:  # noqa: ANN001
    people = small.persons_by_id()
    deaths, truth = small.view("gro-deaths"), small.truth("gro-deaths")
    for dod, pid, dup in zip(deaths["date_of_death"], truth["person_id"], truth["duplicate"]):
        assert people[pid]["date_of_death"] == dod
    dead = {p for p, v in people.items() if v["date_of_death"] is not None}
    assert len(set(truth["person_id"])) > 0.9 * len(dead)  # the rest are registered after the period
    births, btruth = small.view("gro-births"), small.truth("gro-births")
    for dob, pid, swapped in zip(births["date_of_birth"], btruth["person_id"], btruth["date_swap"]):
        assert (people[pid]["date_of_birth"] == dob) != swapped
    marriages = small.view("gro-marriages")
    assert sorted(marriages["party"]).count(1) == sorted(marriages["party"]).count(2) or small.truth("gro-marriages")["duplicate"]


def test_views_postcodes_are_valid_unless_noised(small) -> None:  # noqa: ANN001
    for name in ("dwp-benefits", "hmrc-paye", "dvla-drivers"):
        view, truth = small.view(name), small.truth(name)
        for postcode, variant in zip(view["postcode"], truth["postcode_format"]):
            if postcode is not None:
                assert is_valid_postcode(postcode) != variant, postcode


def test_view_date_is_the_period_end(small) -> None:  # noqa: ANN001
    view = small.view("dwp-benefits")
    assert max(view["last_payment_date"]).isoformat() <= str(PERIOD_END)
