"""Probabilistic linkage (Splink, Fellegi-Sunter) between two bodies' views of a synthetic population."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from link_support import SYNTH_MAP, LEFT, RIGHT, make_bodies, pair_set, read_pairs, report, score, view

from accord.errors import InvalidInput
from accord.linkage import probabilistic as prob
from accord.linkage.prepare import prepare_file


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bodies(tmp_path_factory.mktemp("prob") / "synth", persons=4000, seed=11)


@pytest.fixture(scope="module")
def sides(synth: Path) -> tuple[pa.Table, pa.Table]:
    left = prepare_file(view(synth, LEFT), SYNTH_MAP, source="LEFT")
    right = prepare_file(view(synth, RIGHT), SYNTH_MAP, source="RIGHT")
    return left.table, right.table


@pytest.fixture(scope="module")
def model(sides: tuple[pa.Table, pa.Table]) -> prob.LinkageModel:
    return prob.train(*sides)


@pytest.fixture(scope="module")
def linked(sides: tuple[pa.Table, pa.Table], model: prob.LinkageModel,
           tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    out = tmp_path_factory.mktemp("prob-out") / "pairs.parquet"
    result = prob.predict(*sides, model, out)
    table = read_pairs(out)
    assert result.pairs == table.num_rows
    assert result.columns == table.column_names
    return table


def test_f1_between_two_bodies_views(synth: Path, linked: pa.Table) -> None:
    got = score(linked, synth)
    report(f"\nprobabilistic {LEFT} x {RIGHT}: {got}")
    assert got.true_pairs >= 1000  # enough pairs for the figure to mean something
    assert got.f1 >= 0.98
    assert got.precision >= 0.97 and got.recall >= 0.97


def test_every_pair_is_at_or_above_the_threshold_and_listed_once(linked: pa.Table) -> None:
    assert pc.min(linked.column("match_probability")).as_py() >= prob.DEFAULT_THRESHOLD
    assert len(pair_set(linked)) == linked.num_rows
    assert linked.column_names[:3] == ["left_id", "right_id", "match_probability"]


def test_field_contributions_add_up_to_the_match_weight(linked: pa.Table, model: prob.LinkageModel) -> None:
    contributions = [name for name in linked.column_names if name.startswith("mw_") and name != "mw_prior"]
    assert set(contributions) == {f"mw_{name}" for name in model.comparisons}
    assert "mw_address_postcode" in contributions and "mw_dob" in contributions
    rows = linked.to_pylist()
    for row in rows:
        total = row["mw_prior"] + sum(row[name] for name in contributions)
        assert total == pytest.approx(row["match_weight"], abs=1e-6)
        assert row["match_probability"] == pytest.approx(1 / (1 + 2 ** -row["match_weight"]), rel=1e-9)
    prior = model.probability_two_random_records_match
    assert rows[0]["mw_prior"] == pytest.approx(math.log2(prior / (1 - prior)))
    # the explanation tells pairs apart: some linked pairs disagree on a field (negative contribution)
    assert any(row[name] < 0 for row in rows for name in contributions)


def test_model_file_round_trip_predicts_the_same(sides: tuple[pa.Table, pa.Table], model: prob.LinkageModel,
                                                 linked: pa.Table, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    model.save(path)
    loaded = prob.LinkageModel.load(path)
    assert loaded.to_dict() == model.to_dict()
    data = json.loads(path.read_text())
    assert data["format"] == prob.MODEL_FORMAT and data["fields"] == model.fields
    assert data["splink_settings"]["comparisons"]  # Splink's own settings travel with it
    result = prob.predict(*sides, loaded, tmp_path / "again.parquet")
    again = read_pairs(result.out)
    assert again.equals(linked)  # same rows in the same order: the output is reproducible


def test_model_compiles_for_spark_with_the_same_parameters(model: prob.LinkageModel) -> None:
    duck = prob.compile_settings(model, model.fields, "duckdb")
    spark = prob.compile_settings(model, model.fields, "spark")
    for a, b in zip(duck["comparisons"], spark["comparisons"]):
        assert a["output_column_name"] == b["output_column_name"]
        assert [lv.get("m_probability") for lv in a["comparison_levels"]] == \
            [lv.get("m_probability") for lv in b["comparison_levels"]]
    assert spark["probability_two_random_records_match"] == model.probability_two_random_records_match


def test_no_level_is_impossible_for_a_match(model: prob.LinkageModel) -> None:
    for name, levels in model.comparisons.items():
        ms = [level["m"] for level in levels if level["m"] is not None]
        assert ms and min(ms) >= prob.M_FLOOR * 0.9, name
        assert sum(ms) == pytest.approx(1.0)


def test_chunked_prediction_finds_the_same_pairs(sides: tuple[pa.Table, pa.Table], model: prob.LinkageModel,
                                                 linked: pa.Table, tmp_path: Path) -> None:
    result = prob.predict(*sides, model, tmp_path / "chunked.parquet", chunks=3)
    assert result.chunks == 3
    assert pair_set(read_pairs(result.out)) == pair_set(linked)


def test_training_summary_describes_the_data_not_the_records(model: prob.LinkageModel,
                                                             sides: tuple[pa.Table, pa.Table]) -> None:
    summary = model.training
    assert summary["left_rows"] == sides[0].num_rows and summary["right_rows"] == sides[1].num_rows
    assert [s["blocked_on"] for s in summary["em_sessions"]] == [["dob"], ["postcode", "first_name_canon"]]
    text = json.dumps(model.to_dict())
    some_surname = sides[0].column("surname")[0].as_py()
    assert f'"{some_surname}"' not in text  # no record value in the model


def test_a_model_that_does_not_fit_is_refused(model: prob.LinkageModel) -> None:
    data = model.to_dict()
    data["comparisons"]["dob"] = data["comparisons"]["dob"][:2]
    with pytest.raises(InvalidInput, match="does not fit"):
        prob.compile_settings(prob.LinkageModel.from_dict(data), model.fields, "duckdb")
    with pytest.raises(InvalidInput, match="not an Accord linkage model"):
        prob.LinkageModel.from_json('{"comparisons": []}')
    with pytest.raises(InvalidInput, match="invalid JSON"):
        prob.LinkageModel.from_json("{")


def test_the_prior_follows_the_size_of_the_inputs(model: prob.LinkageModel, sides: tuple[pa.Table, pa.Table],
                                                 linked: pa.Table, tmp_path: Path) -> None:
    rows = model.training["left_rows"], model.training["right_rows"]
    assert prob.prior_for(model, *rows) == model.probability_two_random_records_match
    ten_times = prob.prior_for(model, rows[0] * 10, rows[1] * 10)
    assert ten_times == pytest.approx(model.probability_two_random_records_match / 10)
    # the smaller half of the right side: the larger side (left) is unchanged, so is the prior
    half = sides[1].slice(0, sides[1].num_rows // 2)
    if rows[0] >= rows[1]:
        assert prob.prior_for(model, rows[0], half.num_rows) == model.probability_two_random_records_match
    result = prob.predict(sides[0], half, model, tmp_path / "half.parquet")
    got = read_pairs(result.out)
    expected_prior = prob.prior_for(model, sides[0].num_rows, half.num_rows)
    assert got.column("mw_prior")[0].as_py() == pytest.approx(math.log2(expected_prior / (1 - expected_prior)))
    assert pair_set(got) <= pair_set(linked) | pair_set(got)  # the same kind of pairs, fewer of them
    assert 0 < got.num_rows < linked.num_rows


def test_inputs_sharing_too_little_cannot_be_linked() -> None:
    with pytest.raises(InvalidInput, match="share too few fields"):
        prob.compile_settings(None, ["sex"], "duckdb")
    assert prob.blocking_rules(["first_name", "surname"]) == [("first_name_canon", "surname")]
