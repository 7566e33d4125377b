"""Splink on Spark (local PySpark) predicts with the same model file as DuckDB and finds the same pairs.

One small test, run in CI: a local[1] session on a few hundred records a side.
It needs a Java runtime; without one it is skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from link_support import SYNTH_MAP, LEFT, RIGHT, make_bodies, pair_set, read_pairs, report, score, view

from accord.linkage import probabilistic as prob
from accord.linkage.prepare import prepare_file

JAVA = shutil.which("java") or (os.environ.get("JAVA_HOME") and shutil.which("java", path=os.path.join(
    os.environ["JAVA_HOME"], "bin")))

pytestmark = pytest.mark.skipif(not JAVA, reason="Java is not installed: Splink on Spark needs a JVM (install a JRE "
                                                 "17+, e.g. apt install openjdk-17-jre-headless)")


def test_model_trained_on_duckdb_predicts_the_same_on_spark(tmp_path: Path) -> None:
    synth = make_bodies(tmp_path / "synth", persons=400, seed=17)
    left = prepare_file(view(synth, LEFT), SYNTH_MAP, source="LEFT").table
    right = prepare_file(view(synth, RIGHT), SYNTH_MAP, source="RIGHT").table
    model_path = tmp_path / "model.json"
    prob.train(left, right).save(model_path)
    model = prob.LinkageModel.load(model_path)

    on_duckdb = read_pairs(prob.predict(left, right, model, tmp_path / "duckdb.parquet").out)
    spark = prob.predict(left, right, model, tmp_path / "spark.parquet", engine="spark",
                         engine_options={"master": "local[1]", "break_lineage": "persist"})
    on_spark = read_pairs(spark.out)

    report(f"\nspark: {score(on_spark, synth)}; duckdb: {score(on_duckdb, synth)}")
    assert on_spark.num_rows > 100
    assert pair_set(on_spark) == pair_set(on_duckdb)
    duck = {(r["left_id"], r["right_id"]): r for r in on_duckdb.to_pylist()}
    for row in on_spark.to_pylist():
        expected = duck[(row["left_id"], row["right_id"])]
        assert row["match_weight"] == pytest.approx(expected["match_weight"], abs=1e-6)
        assert row["mw_first_name"] == pytest.approx(expected["mw_first_name"], abs=1e-6)
    assert on_spark.column_names == on_duckdb.column_names
