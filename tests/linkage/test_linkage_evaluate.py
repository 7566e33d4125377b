"""Evaluating linked pairs against the truth, the report, and the evaluate and cluster commands."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from accord.cli.link_tools import cluster_command, evaluate_command
from accord.errors import InvalidInput
from accord.linkage import standardise_table
from accord.linkage.deterministic import link_tables
from accord.linkage.evaluate import Truth, evaluate, evaluate_files, read_tabular
from accord.linkage.report import CURVE_PNG, REPORT_HTML, SCORES_PNG, write_report
from accord.synth import generate

PNG = b"\x89PNG\r\n\x1a\n"

# l1, l2 and l3 are persons 1, 2 and 3; l4 is no one (a fictitious applicant).
# On the right, person 2 has two records (r2, r2b) and r5 is person 5.
TRUTH_LEFT = pa.table({"record_id": ["l1", "l2", "l3", "l4"], "person_id": [1, 2, 3, None]})
TRUTH_RIGHT = pa.table({"record_id": ["r1", "r2", "r2b", "r5"], "person_id": [1, 2, 2, 5]})
MATCHES = pa.table({
    "left_id": ["l1", "l2", "l3", "l4", "l2"],
    "right_id": ["r1", "r2", "r5", "r1", "r2b"],
    "match_probability": [0.99, 0.8, 0.95, 0.6, 0.3],
})


def truths() -> tuple[Truth, Truth]:
    return Truth.from_table(TRUTH_LEFT, "left"), Truth.from_table(TRUTH_RIGHT, "right")


# ------------------------------------------------------------------ figures


def test_precision_recall_f1_and_blocking_recall_by_hand() -> None:
    e = evaluate(MATCHES, *truths(), threshold=0.5)
    # true pairs: person 1 (1 x 1) + person 2 (1 x 2) = 3; predicted at 0.5: four pairs, two true
    assert (e.true_pairs, e.predicted, e.true_positives, e.candidate_pairs) == (3, 4, 2, 5)
    assert e.precision == pytest.approx(0.5)
    assert e.recall == pytest.approx(2 / 3)
    assert e.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert e.blocking_recall == pytest.approx(1.0)  # all three true pairs are candidates (l2-r2b at 0.3)
    assert e.curve.to_pydict()["threshold"] == [0.99, 0.95, 0.8, 0.6, 0.3]
    assert e.curve.to_pydict()["true_positives"] == [1, 1, 2, 2, 3]
    assert e.curve.to_pydict()["predicted"] == [1, 2, 3, 4, 5]
    assert e.at(0.9) == pytest.approx({"threshold": 0.9, "predicted": 2, "true_positives": 1, "precision": 0.5,
                                       "recall": 1 / 3, "f1": 0.4})
    assert e.score_name == "match_probability"
    assert sorted(e.scores_true.tolist()) == [0.3, 0.8, 0.99] and sorted(e.scores_false.tolist()) == [0.6, 0.95]


def test_threshold_changes_the_predicted_pairs() -> None:
    e = evaluate(MATCHES, *truths(), threshold=0.9)
    assert (e.predicted, e.true_positives) == (2, 1)
    assert evaluate(MATCHES, *truths(), threshold=1.0).predicted == 0
    assert np.isnan(evaluate(MATCHES, *truths(), threshold=1.0).precision)


def test_blocking_recall_counts_true_pairs_missing_from_matches() -> None:
    e = evaluate(MATCHES.slice(0, 4), *truths(), threshold=0.5)
    assert e.blocking_recall == pytest.approx(2 / 3)


def test_a_pair_listed_twice_counts_once_at_its_highest_probability() -> None:
    twice = pa.concat_tables([MATCHES, pa.table({"left_id": ["l3"], "right_id": ["r5"],
                                                 "match_probability": [0.1]})])
    e = evaluate(twice, *truths(), threshold=0.5)
    assert (e.candidate_pairs, e.predicted) == (5, 4)


def test_match_weight_is_the_histograms_score_when_present() -> None:
    weighted = MATCHES.append_column("match_weight", pa.array([9.0, 4.0, 6.0, 1.0, -2.0]))
    e = evaluate(weighted, *truths())
    assert e.score_name == "match_weight"
    assert sorted(e.scores_true.tolist()) == [-2.0, 4.0, 9.0]


def test_truth_columns_are_detected_by_name() -> None:
    left = pa.table({"id": ["l1", "l2"], "cluster": ["a", "b"]})
    right = pa.table({"id": ["r1", "r2"], "cluster": ["a", "c"]})
    matches = pa.table({"left_id": ["l1", "l2"], "right_id": ["r1", "r2"], "match_probability": [1.0, 1.0]})
    e = evaluate(matches, Truth.from_table(left), Truth.from_table(right))
    assert (e.true_pairs, e.true_positives, e.precision) == (1, 1, 0.5)


@pytest.mark.parametrize(("table", "says"), [
    (pa.table({"record": ["l1"], "person_id": [1]}), "no record id column (expected one of record_id, id"),
    (pa.table({"record_id": ["l1"], "who": [1]}), "no person id column"),
    (pa.table({"record_id": ["l1", "l1"], "person_id": [1, 2]}), "record id 'l1' appears more than once"),
])
def test_bad_truth_is_refused(table: pa.Table, says: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(says)):
        Truth.from_table(table, "truth.csv")


def test_an_id_missing_from_the_truth_names_row_and_file() -> None:
    matches = pa.table({"left_id": ["l1", "lx"], "right_id": ["r1", "r1"], "match_probability": [1.0, 1.0]})
    with pytest.raises(InvalidInput, match=r"row 2, left_id 'lx' is not in left"):
        evaluate(matches, *truths())


@pytest.mark.parametrize(("matches", "says"), [
    (pa.table({"left_id": ["l1"], "right_id": ["r1"]}), "no column 'match_probability'"),
    (pa.table({"left_id": ["l1"], "right_id": ["r1"], "match_probability": [1.2]}),
     "row 1, column match_probability is not a number between 0 and 1"),
    (pa.table({"left_id": ["l1"], "right_id": [None], "match_probability": [1.0]}).cast(
        pa.schema([("left_id", pa.string()), ("right_id", pa.string()), ("match_probability", pa.float64())])),
     "row 1, column right_id is empty"),
])
def test_bad_matches_are_refused(matches: pa.Table, says: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(says)):
        evaluate(matches, *truths())


# ------------------------------------------------------------------ files


def test_csv_ids_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    path.write_text("record_id,person_id\n007,1\n7,2\n")
    truth = Truth.from_table(read_tabular(path))
    assert truth.record_ids.to_pylist() == ["007", "7"]


@pytest.mark.parametrize(("name", "content", "says"), [
    ("missing.csv", None, "no such matches file"),
    ("empty.csv", b"", "the matches file is empty"),
    ("header.csv", b"left_id,right_id,match_probability\n", "has no rows"),
    ("latin1.csv", b"left_id,right_id,match_probability\n\xe9\xff,b,1\n", "not UTF-8"),
    ("broken.parquet", b"not parquet at all", "cannot be read as Parquet"),
    ("pairs.txt", b"x", "should be a .csv or .parquet file"),
])
def test_unreadable_files_are_named(tmp_path: Path, name: str, content: bytes | None, says: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidInput, match=re.escape(says)) as raised:
        read_tabular(path, "matches file")
    assert str(path) in str(raised.value)


# ------------------------------------------------------------------ report


def test_report_is_two_pngs_and_a_self_contained_page(tmp_path: Path) -> None:
    e = evaluate(MATCHES.append_column("match_weight", pa.array([9.0, 4.0, 6.0, 1.0, -2.0])), *truths())
    files = write_report(e, tmp_path / "report", inputs={"MATCHES": "pairs <1>.csv"})
    assert files.scores_png.read_bytes().startswith(PNG) and files.curve_png.read_bytes().startswith(PNG)
    page = files.html.read_text(encoding="utf-8")
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 2 and all(base64.b64decode(i).startswith(PNG) for i in images)
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page) and "<script" not in page and "<link" not in page
    assert "pairs &lt;1&gt;.csv" in page  # names are escaped
    assert "0.5000" in page and "Blocking recall" in page
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted([CURVE_PNG, REPORT_HTML, SCORES_PNG])
    # written again into the same directory: replaced, no staging directories left behind
    write_report(e, tmp_path / "report")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


# ------------------------------------------------------------------ commands


def app() -> typer.Typer:
    """The two commands as `accord link` mounts them (cli/link.py attaches them the same way)."""
    tools = typer.Typer()
    tools.command("evaluate")(evaluate_command)
    tools.command("cluster")(cluster_command)
    return tools


def run(*args: object):  # noqa: ANN201
    return CliRunner().invoke(app(), [str(a) for a in args])


def write_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    matches, left, right = tmp_path / "pairs.csv", tmp_path / "left.parquet", tmp_path / "right.csv"
    pacsv.write_csv(MATCHES, matches)
    pq.write_table(TRUTH_LEFT, left)
    pacsv.write_csv(TRUTH_RIGHT, right)
    return matches, left, right


def assert_bad_input(result, *mentions: str) -> None:  # noqa: ANN001
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in mentions:
        assert text in lines[0], lines[0]


def test_evaluate_command_prints_the_figures_and_writes_the_report(tmp_path: Path) -> None:
    matches, left, right = write_inputs(tmp_path)
    result = run("evaluate", matches, "--truth-left", left, "--truth-right", right)
    assert result.exit_code == 0, result.output
    assert re.search(r"^precision\s+0\.5000$", result.stdout, re.MULTILINE)
    assert re.search(r"^recall\s+0\.6667$", result.stdout, re.MULTILINE)
    assert re.search(r"^F1\s+0\.5714$", result.stdout, re.MULTILINE)
    assert re.search(r"^blocking recall\s+1\.0000$", result.stdout, re.MULTILINE)
    assert (tmp_path / "pairs-report" / REPORT_HTML).is_file()  # beside MATCHES by default
    result = run("evaluate", matches, "--truth-left", left, "--truth-right", right, "--threshold", "0.9",
                 "--report", tmp_path / "elsewhere")
    assert result.exit_code == 0 and re.search(r"^recall\s+0\.3333$", result.stdout, re.MULTILINE)
    assert (tmp_path / "elsewhere" / SCORES_PNG).is_file()


def _rewrite(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(("change", "mentions"), [
    (lambda m, l, r: (m.with_name("nowhere.csv"), l, r), ("nowhere.csv", "no such matches file")),
    (lambda m, l, r: (m, l.with_name("nothing.parquet"), r), ("nothing.parquet", "no such truth-left file")),
    (lambda m, l, r: (_rewrite(m, b""), l, r), ("pairs.csv", "empty")),
    (lambda m, l, r: (_rewrite(m, b"left_id,right_id\nl1,r1\n"), l, r), ("no column 'match_probability'",)),
    (lambda m, l, r: (m, l, _rewrite(r, b"record_id,person_id\nr9,1\n")), ("right_id", "is not in", "right.csv")),
])
def test_evaluate_command_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, change, mentions) -> None:  # noqa: ANN001
    matches, left, right = change(*write_inputs(tmp_path))
    result = run("evaluate", matches, "--truth-left", left, "--truth-right", right)
    assert_bad_input(result, *mentions)
    assert not list(tmp_path.glob("*report*"))


def test_evaluate_command_refuses_a_threshold_outside_0_to_1(tmp_path: Path) -> None:
    matches, left, right = write_inputs(tmp_path)
    assert_bad_input(run("evaluate", matches, "--truth-left", left, "--truth-right", right, "--threshold", "1.5"),
                     "--threshold")


def test_cluster_command_writes_keys_and_keeps_them_on_a_rerun(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pacsv.write_csv(pa.table({"left_id": ["a", "b", "c"], "right_id": ["x", "y", "z"],
                              "match_probability": [0.99, 0.95, 0.2]}), pairs)
    keys = tmp_path / "keys.parquet"
    result = run("cluster", pairs, "--out", keys)
    assert result.exit_code == 0, result.output
    assert "6 records from 1 pairs file(s) (2 of 3 pairs at or above 0.9) are 4 persons" in result.stdout
    first = {r["record_id"]: r["person_key"] for r in pq.read_table(keys).to_pylist()}
    assert first["a"] == first["x"] != first["b"] and first["c"] != first["z"]
    assert (tmp_path / "keys-changes.parquet").is_file()

    more = tmp_path / "more.csv"
    pacsv.write_csv(pa.table({"left_id": ["c", "y"], "right_id": ["w", "x"], "match_probability": [1.0, 0.97]}),
                    more)
    result = run("cluster", pairs, more, "--out", tmp_path / "keys2.csv", "--previous", keys, "--threshold", "0.9",
                 "--changes", tmp_path / "what-changed.csv")
    assert result.exit_code == 0, result.output
    second = {r["record_id"]: r["person_key"] for r in pacsv.read_csv(tmp_path / "keys2.csv").to_pylist()}
    assert second["c"] == first["c"] and second["w"] == first["c"]  # w joins c
    assert len({second[r] for r in "abxy"}) == 1  # y-x merges a/x with b/y: one of the two keys retired
    changed = pacsv.read_csv(tmp_path / "what-changed.csv").to_pylist()
    assert len(changed) == 1 and changed[0]["change"] == "retired"
    assert {changed[0]["person_key"], changed[0]["other_key"]} == {first["a"], first["b"]}
    assert "keys: 3 kept, 0 new, 1 retired by a merge, 0 split off" in result.stdout


def test_cluster_command_bad_input_leaves_existing_outputs_alone(tmp_path: Path) -> None:
    good = tmp_path / "pairs.csv"
    pacsv.write_csv(pa.table({"left_id": ["a"], "right_id": ["x"], "match_probability": [1.0]}), good)
    keys = tmp_path / "keys.csv"
    assert run("cluster", good, "--out", keys).exit_code == 0
    before = keys.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("left_id,right_id,match_probability\na,x,1\nb,,0.5\n")
    assert_bad_input(run("cluster", good, bad, "--out", keys), "bad.csv", "row 2, column right_id is empty")
    assert_bad_input(run("cluster", tmp_path / "none.csv", "--out", keys), "none.csv", "no such pairs file")
    assert_bad_input(run("cluster", good, "--out", tmp_path / "keys.txt"), "--out", ".csv or .parquet")
    assert_bad_input(run("cluster", good, "--out", keys, "--previous", good), str(good), "no column 'record_id'")
    assert keys.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "keys-changes.csv", "keys.csv", "pairs.csv"]


# ------------------------------------------------------------------ synthetic bodies, end to end


def test_deterministic_links_evaluated_against_synthetic_truth(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    generate(persons=3000, seed=5, out=out, bodies="dwp,hmrc", workers=1)
    mapping = {"dob": "date_of_birth", "address": "address_line_1"}
    left = standardise_table(pq.read_table(out / "hmrc-paye.parquet"), mapping).table
    right = standardise_table(pq.read_table(out / "dwp-benefits.parquet"), mapping).table
    links = link_tables(left, right)
    matches = tmp_path / "links.parquet"
    pq.write_table(links.drop_columns(["agreed"]), matches)
    e = evaluate_files(matches, out / "truth" / "hmrc-paye.parquet", out / "truth" / "dwp-benefits.parquet",
                       threshold=0.9)
    assert e.predicted == links.filter(pa.compute.equal(links.column("grade"), "match")).num_rows
    assert e.precision >= 0.98
    assert 0.5 < e.recall <= e.blocking_recall <= 1
    truth_l = dict(zip(*pq.read_table(out / "truth" / "hmrc-paye.parquet", columns=["record_id", "person_id"])
                       .to_pydict().values()))
    truth_r = dict(zip(*pq.read_table(out / "truth" / "dwp-benefits.parquet", columns=["record_id", "person_id"])
                       .to_pydict().values()))
    correct = sum(1 for r in links.to_pylist() if r["grade"] == "match" and truth_l[r["left_id"]] is not None
                  and truth_l[r["left_id"]] == truth_r[r["right_id"]])
    assert e.true_positives == correct


def test_accord_link_mounts_both_commands(tmp_path: Path) -> None:
    """Through the real `accord` app, as cli/link.py attaches them to the `accord link` group."""
    from accord.cli.main import app as accord

    matches, left, right = write_inputs(tmp_path)
    result = CliRunner().invoke(accord, ["link", "evaluate", str(matches), "--truth-left", str(left),
                                         "--truth-right", str(right), "--threshold", "0.9"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^precision\s+0\.5000$", result.stdout, re.MULTILINE)
    result = CliRunner().invoke(accord, ["link", "cluster", str(matches), "--out", str(tmp_path / "keys.csv")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "keys.csv").is_file() and (tmp_path / "keys-changes.csv").is_file()
