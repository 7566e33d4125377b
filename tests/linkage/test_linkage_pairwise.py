"""The Python pair scorer gives every pair the match weight Splink gives it, comparison by comparison.

Two models on synthetic bodies: HMRC x DVLA (names, date of birth, address and
postcode compared as one, no common identifier) and DWP x councils' electoral
registration applications (with the NINO). Splink scores every blocked pair
(threshold 0); the scorer must give each the same weight for every comparison,
so its Python conditions are the SQL ones (``accord.linkage.comparisons``).
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from link_support import SYNTH_MAP

from accord.linkage import probabilistic as prob
from accord.linkage.comparisons import comparisons
from accord.linkage.pairwise import PairScorer
from accord.linkage.prepare import prepare_file, prepare_table
from accord.synth import generate

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pairwise") / "synth"
    generate(persons=6000, seed=23, out=out, bodies="hmrc,dvla,dwp,electoral", workers=1, overwrite=True)
    return out


def _applications(synth: Path) -> pa.Table:
    tables = [pq.read_table(path, columns=["record_id", "first_name", "middle_name", "surname", "date_of_birth",
                                           "nino", "postcode"])
              for path in sorted(synth.glob("*-registration-applications.parquet"))]
    return pa.concat_tables(tables)


def _sides(synth: Path, which: str) -> tuple[pa.Table, pa.Table]:
    if which == "hmrc-dvla":
        return (prepare_file(synth / "hmrc-paye.parquet", SYNTH_MAP, source="LEFT").table,
                prepare_file(synth / "dvla-drivers.parquet", SYNTH_MAP, source="RIGHT").table)
    dwp = pq.read_table(synth / "dwp-benefits.parquet",
                        columns=["record_id", "nino", "first_name", "surname", "date_of_birth", "postcode"])
    return (prepare_table(_applications(synth), {"dob": "date_of_birth"}, source="LEFT").table,
            prepare_table(dwp, {"dob": "date_of_birth"}, source="RIGHT").table)


def _term_frequencies(left: pa.Table, right: pa.Table, column: str) -> dict[str, float]:
    """As Splink computes them when linking two tables: each value's share of both, nulls left out."""
    values = pa.concat_arrays([left.column(column).combine_chunks(), right.column(column).combine_chunks()])
    counts = pc.value_counts(values.drop_null()).to_pylist()
    total = sum(item["counts"] for item in counts)
    return {item["values"]: item["counts"] / total for item in counts}


@pytest.mark.parametrize("which", ["hmrc-dvla", "dwp-applications"])
def test_every_blocked_pair_gets_splinks_weight(synth: Path, which: str, tmp_path: Path) -> None:
    left, right = _sides(synth, which)
    model = prob.train(left, right)
    out = tmp_path / "pairs.parquet"
    prob.predict(left, right, model, out, threshold=0.0)
    pairs = pq.read_table(out).to_pylist()
    assert len(pairs) > (1000 if which == "hmrc-dvla" else 200)

    prior = prob.prior_for(model, left.num_rows, right.num_rows)
    frequencies = {"first_name": _term_frequencies(left, right, "first_name")}
    scorer = PairScorer(model, prior=prior, term_frequencies=frequencies)
    rows = {}
    for side, table in (("l", left), ("r", right)):
        linkage = prob.linkage_table(table, model.fields).to_pylist()
        rows[side] = {row["id"]: scorer.row(row) for row in linkage}
    names = [c.name for c in comparisons(model.fields)]
    levels_seen: set[tuple[str, int]] = set()
    for pair in pairs:
        got = scorer.score(rows["l"][pair["left_id"]], rows["r"][pair["right_id"]])
        assert got.match_weight == pytest.approx(pair["match_weight"], abs=TOLERANCE), pair
        assert got.match_probability == pytest.approx(pair["match_probability"], abs=TOLERANCE)
        for name, level in zip(names, got.levels):
            levels_seen.add((name, level))
        # each comparison's part, so two wrong levels cannot cancel out
        for name, part in zip(names, got.parts, strict=True):
            assert part == pytest.approx(pair[f"mw_{name}"], abs=TOLERANCE), (name, pair)
    # the pairs exercised more than the exact levels: every comparison was seen at three levels or more
    for name in names:
        assert len({level for seen, level in levels_seen if seen == name}) >= 3, name


def _model(fields: list[str]) -> prob.LinkageModel:
    comparisons_ = {c.name: [{"label": f"level {i}", "m": 0.9 / (i + 1), "u": 0.01 * (i + 1)}
                             for i in range(len(c.levels) - 1)] for c in comparisons(fields)}
    return prob.LinkageModel(fields, 0.001, comparisons_)


def test_levels_of_hand_made_pairs() -> None:
    fields = ["first_name", "surname", "dob", "postcode", "nino"]
    scorer = PairScorer(_model(fields))
    base = {"first_name": "william", "surname": "smith", "dob": date(1980, 3, 4), "postcode": "LS1 4AB",
            "nino": "AB123456C"}

    def levels(**changes: object) -> tuple[int, ...]:
        return scorer.score(scorer.row(base), scorer.row({**base, **changes})).levels

    # first_name, surname, dob, postcode, nino; 0 = a value missing, 1 = exact
    assert levels() == (1, 1, 1, 1, 1)
    assert levels(first_name="bill")[0] == 2  # same canonical name
    assert levels(first_name=None)[0] == 0
    assert levels(dob=date(1980, 4, 3))[2] == 2  # day and month swapped
    assert levels(dob=date(1980, 3, 5))[2] == 2  # one digit different
    assert levels(dob=date(1980, 11, 20))[2] == 3  # within a year
    assert levels(dob=date(1975, 3, 4))[2] == 4
    assert levels(postcode="LS1 4ZZ")[3] == 2  # same sector
    assert levels(postcode="M1 1AA")[3] == 3
    assert levels(nino="AB123457D")[4] == 2  # two characters out
    assert levels(nino="ZZ999999A")[4] == 3


def test_weight_is_prior_plus_the_levels_weights() -> None:
    fields = ["surname", "dob"]
    model = _model(fields)
    scorer = PairScorer(model)
    pair = {"surname": "smith", "dob": date(1980, 3, 4)}
    got = scorer.score(pair, dict(pair))
    expected = math.log2(0.001 / 0.999) + 2 * math.log2(0.9 / 0.01)
    assert got.match_weight == pytest.approx(expected)
    assert got.match_probability == pytest.approx(2 ** expected / (1 + 2 ** expected))


def test_a_model_from_another_version_is_refused() -> None:
    model = _model(["surname", "dob"])
    model.comparisons["dob"] = model.comparisons["dob"][:2]
    with pytest.raises(ValueError, match="dob"):
        PairScorer(model)
