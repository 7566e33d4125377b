"""Helpers for the probabilistic linkage and `accord link` tests: synthetic bodies, scoring against the truth."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from accord.synth import generate

# The synthetic views name two standard fields differently.
SYNTH_MAP = "dob=date_of_birth,address=address_line_1"
LEFT, RIGHT = "hmrc-paye", "dvla-drivers"


def make_bodies(out: Path, persons: int = 3000, seed: int = 11) -> Path:
    """HMRC's PAYE records and DVLA's drivers about one synthetic population (truth under out/truth)."""
    generate(persons=persons, seed=seed, out=out, bodies="hmrc,dvla", workers=1, overwrite=True)
    return out


def view(synth: Path, dataset: str) -> Path:
    return synth / f"{dataset}.parquet"


@dataclass
class Score:
    precision: float
    recall: float
    f1: float
    true_pairs: int
    linked: int

    def __str__(self) -> str:
        return (f"precision {self.precision:.4f} recall {self.recall:.4f} F1 {self.f1:.4f} "
                f"({self.linked} linked, {self.true_pairs} true pairs)")


def score(linked: pa.Table, synth: Path, left: str = LEFT, right: str = RIGHT) -> Score:
    """Pairwise precision, recall and F1 of linked (left_id, right_id) pairs against the synthetic truth."""
    con = duckdb.connect()
    try:
        con.register("linked", linked.select(["left_id", "right_id"]))
        con.register("tl", pq.read_table(synth / "truth" / f"{left}.parquet", columns=["record_id", "person_id"]))
        con.register("tr", pq.read_table(synth / "truth" / f"{right}.parquet", columns=["record_id", "person_id"]))
        true_pairs = con.execute("SELECT count(*) FROM tl JOIN tr USING (person_id)").fetchone()[0]
        correct, total = con.execute("""
            SELECT count(*) FILTER (WHERE tl.person_id = tr.person_id), count(*)
            FROM linked JOIN tl ON tl.record_id = linked.left_id JOIN tr ON tr.record_id = linked.right_id
        """).fetchone()
    finally:
        con.close()
    precision = correct / total if total else 0.0
    recall = correct / true_pairs if true_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1, true_pairs, total)


def read_pairs(path: Path) -> pa.Table:
    if path.suffix == ".csv":
        import pyarrow.csv as pacsv

        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={"left_id": pa.string(), "right_id": pa.string()}))
    return pq.read_table(path)


def pair_set(table: pa.Table) -> set[tuple[str, str]]:
    return set(zip(table.column("left_id").to_pylist(), table.column("right_id").to_pylist()))


def report(text: str) -> None:
    print(text, file=sys.stderr)
