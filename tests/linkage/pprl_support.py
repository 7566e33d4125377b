"""Helpers for the PPRL tests: synthetic views, ground truth, F1, and the same pipeline on plaintext.

The plaintext pipeline gives every distinct token of a field its own bit (an
exact set, with no hashing, keys or folding) and then runs exactly what the
hub runs on encodings (``pprl.link_filters``: blocking, Dice, EM, scoring).
The difference in F1 between the two is therefore what the encoding costs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from accord.linkage import bloom, pprl
from accord.linkage.prepare import prepare_table

MAPPING = {"dob": "date_of_birth", "address": "address_line_1"}
SECRET = b"a secret the two bodies share, never the hub: 0123456789"


@dataclass
class View:
    std: pa.Table  # standardised: id + standard fields
    person: dict[str, str | None]  # record id -> person id (the answer key)


def read_view(synth: Path, *datasets: str) -> View:
    """One or more synthetic datasets (e.g. every council's applications) standardised, with their truth."""
    tables, person = [], {}
    for name in datasets:
        raw = pq.read_table(synth / f"{name}.parquet")
        mapping = {k: v for k, v in MAPPING.items() if v in raw.column_names}
        tables.append(prepare_table(raw, mapping, "record_id", name).table)
        truth = pq.read_table(synth / "truth" / f"{name}.parquet")
        person.update(zip(truth["record_id"].to_pylist(), truth["person_id"].to_pylist()))
    return View(pa.concat_tables(tables), person)


def true_pairs(left: View, right: View) -> set[tuple[str, str]]:
    records_of = defaultdict(list)
    for record, person in right.person.items():
        if person is not None:
            records_of[person].append(record)
    return {(lr, rr) for lr, person in left.person.items() if person is not None for rr in records_of[person]}


@dataclass
class Score:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        real = self.true_positives + self.false_negatives
        return self.true_positives / real if real else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __str__(self) -> str:
        return (f"tp {self.true_positives} fp {self.false_positives} fn {self.false_negatives} "
                f"precision {self.precision:.4f} recall {self.recall:.4f} F1 {self.f1:.4f}")


def score(links: pa.Table, truth: set[tuple[str, str]]) -> Score:
    found = set(zip(links["left_id"].to_pylist(), links["right_id"].to_pylist()))
    tp = len(found & truth)
    return Score(tp, len(found) - tp, len(truth) - tp)


def exact_filters(left: pa.Table, right: pa.Table, fields: list[str]) -> tuple[pprl.Filters, pprl.Filters]:
    """Both sides' token sets as collision-free bit vectors: one bit per distinct token of a field."""
    words, valid, counts = ({}, {}), ({}, {}), ({}, {})
    for field in fields:
        spec = next(s for s in bloom.FIELD_SPECS if s.name == field)
        tokenise = bloom.TOKENISERS[spec.tokens]
        sides = []
        for table in (left, right):
            values = table.column(field).combine_chunks() if field in table.column_names else pa.nulls(table.num_rows)
            if spec.tokens != "date":
                values = values.cast(pa.string())
            sides.append(tokenise(values) if values.null_count < len(values) else
                         (np.zeros(0, np.int64), np.zeros(0, np.uint64)))
        vocabulary = np.unique(np.concatenate([codes for _, codes in sides]))
        width = max(1, -(-len(vocabulary) // 64)) * 64
        for side, (table, (rows, codes)) in enumerate(zip((left, right), sides)):
            bits = np.zeros((table.num_rows, width), dtype=np.uint8)
            bits[rows, np.searchsorted(vocabulary, codes)] = 1
            matrix = np.packbits(bits, axis=1, bitorder="little").view("<u8")
            present = matrix.any(axis=1)
            words[side][field] = np.ascontiguousarray(matrix.T)
            valid[side][field] = present
            counts[side][field] = bloom.popcounts(words[side][field])
    return tuple(pprl.Filters(t.column("id").cast(pa.string()).combine_chunks(), words[i], valid[i], counts[i])
                 for i, t in enumerate((left, right)))  # type: ignore[return-value]


def model_fields(left: pa.Table, right: pa.Table) -> list[str]:
    """The fields the hub would compare for these two tables (those both hold; one location field)."""
    def held(table: pa.Table, field: str) -> bool:
        return field in table.column_names and table.column(field).null_count < table.num_rows
    specs = [s for s in bloom.FIELD_SPECS if held(left, s.name) and held(right, s.name)]
    return [s.name for s in pprl.comparison_fields(specs)]


def link_plaintext(left: pa.Table, right: pa.Table, threshold: float | None = None) -> pa.Table:
    """The hub's pipeline on exact token sets of the unencoded fields."""
    fields = model_fields(left, right)
    lf, rf = exact_filters(left, right, fields)
    return pprl.link_filters(lf, rf, fields, pprl.DEFAULT_THRESHOLD if threshold is None else threshold)


def encode_both(left: pa.Table, right: pa.Table, agreement: str = "agr-test", version: int = 1
                ) -> tuple[pa.Table, pa.Table]:
    key = pprl.derive_agreement_key(SECRET, agreement, version)
    return pprl.encode_table(left, key), pprl.encode_table(right, key)
