"""Accuracy of the cascade on synthetic data: registration applications checked against DWP benefit records."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from accord.linkage import standardise_table, verify_all
from accord.linkage.standardise import standardise_postcodes
from accord.synth import generate

MAPPING = {"dob": "date_of_birth", "address": "address_line_1"}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("linkage") / "synth"
    generate(persons=5000, seed=3, out=out, bodies="dwp,electoral", workers=1)
    return out


def _read(paths: list[Path]) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted(paths)])


def test_applications_against_dwp(synth: Path) -> None:
    applications = _read(list(synth.glob("*-registration-applications.parquet")))
    app_truth = _read(list((synth / "truth").glob("*-registration-applications.parquet")))
    dwp = pq.read_table(synth / "dwp-benefits.parquet")
    dwp_truth = pq.read_table(synth / "truth" / "dwp-benefits.parquet")

    left = standardise_table(applications, MAPPING, source="registration applications")
    right = standardise_table(dwp, MAPPING, source="dwp-benefits")
    results = verify_all(left.table, right.table).to_pylist()
    assert len(results) == applications.num_rows

    person_of_app = dict(zip(app_truth["record_id"].to_pylist(), app_truth["person_id"].to_pylist()))
    person_of_dwp = dict(zip(dwp_truth["record_id"].to_pylist(), dwp_truth["person_id"].to_pylist()))
    on_dwp = set(person_of_dwp.values())
    matches = [r for r in results if r["grade"] == "match"]
    correct = [r for r in matches if person_of_app[r["applicant_id"]] == person_of_dwp[r["candidate_id"]]]
    findable = [r for r in results if person_of_app[r["applicant_id"]] in on_dwp]
    precision = len(correct) / len(matches)
    recall = len(correct) / len(findable)
    print(f"\nmatches {len(matches)}, correct {len(correct)}, applicants on DWP {len(findable)}: "
          f"precision {precision:.4f}, recall {recall:.4f}; grades {Counter(r['grade'] for r in results)}; "
          f"rules {Counter(r['rule'] for r in matches)}")
    assert len(findable) >= 100  # enough to mean something
    assert precision >= 0.99
    assert recall >= 0.95
    # fictitious applicants (no person) are never matched
    assert not [r for r in matches if person_of_app[r["applicant_id"]] is None]
    # blocking compares each applicant with a handful of rows, not the whole source
    assert max(r["candidates"] for r in results) < dwp.num_rows / 10


def test_every_synthetic_postcode_is_valid(synth: Path) -> None:
    for path in synth.glob("*.parquet"):
        raw = pq.read_table(path, columns=["postcode"]).column("postcode")
        std = standardise_postcodes(raw)
        assert std.null_count == raw.null_count, path.name
