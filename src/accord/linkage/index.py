"""A blocking index over standardised records: a record meets only the rows sharing one of its keys.

The per-record form of the blocking that ``deterministic.link_tables`` does with
joins. Each key (NINO, date of birth, postcode, and the canonical given name
with surname) is a dict from value to a slice of a sorted row-number array, so
finding a record's candidates costs a few dict lookups, however large the table.
The standardised columns are kept as Python lists: a check reads a handful of
rows, and list indexing is far cheaper per row than Arrow's ``take``.

Columns other than the standard fields and ``id`` (a subject key, say) are
carried as they are and returned with the candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accord.linkage.standardise import canonical_first_name, canonical_first_names

BLOCKING_KEYS = ("nino", "dob", "postcode")
NAME_KEY = "names"  # canonical given name and surname: finds a person whose date of birth was mistyped
CANONICAL = "first_name_canon"


def name_key(record: Mapping[str, Any]) -> str | None:
    first, surname = canonical_first_name(record.get("first_name")), record.get("surname")
    return f"{first}|{surname}" if first and surname else None


class BlockingIndex:
    """``table`` holds standardised columns (``standardise_table``) and an ``id``.

    ``max_name_block``: a name held by more rows than this (John Smith, nationally)
    finds no candidates by name, only through the other keys.
    """

    def __init__(self, table: pa.Table, keys: Sequence[str] = BLOCKING_KEYS, *,
                 max_name_block: int | None = None) -> None:
        self.table = table
        self.rows = table.num_rows
        self.max_name_block = max_name_block
        self.fields = tuple(name for name in table.column_names if name != "id")
        self._columns = {name: table.column(name).to_pylist() for name in table.column_names}
        self._keys: dict[str, tuple[dict[Any, int], np.ndarray, np.ndarray]] = {}
        for key in keys:
            if key in table.column_names:
                self._keys[key] = self._block(table.column(key))
        if "first_name" in table.column_names:
            canon = pa.array(canonical_first_names(table.column("first_name")), type=pa.string())
            self._columns[CANONICAL] = canon.to_pylist()
            if "surname" in table.column_names:
                self._keys[NAME_KEY] = self._block(pc.binary_join_element_wise(
                    canon, table.column("surname").combine_chunks(), "|"))
        self._frequencies: dict[str, dict[Any, float]] = {}
        self.scorers: dict[tuple, Any] = {}  # models compiled against this table (they depend on its size)

    @staticmethod
    def _block(column: pa.ChunkedArray | pa.Array) -> tuple[dict[Any, int], np.ndarray, np.ndarray]:
        """value -> code, rows sorted by code, and each code's start offset."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks() if column.num_chunks else pa.array([], type=column.type)
        encoded = pc.dictionary_encode(column)
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        values = encoded.dictionary.to_pylist()
        order = np.argsort(codes, kind="stable")
        order = order[int((codes < 0).sum()):]
        counts = np.bincount(codes[codes >= 0], minlength=len(values))
        offsets = np.concatenate([[0], np.cumsum(counts)])
        return {value: i for i, value in enumerate(values)}, order, offsets

    def term_frequencies(self, column: str) -> dict[Any, float]:
        """Each value's share of the column's non-missing values (for term-frequency adjustments)."""
        if column not in self._frequencies:
            found: dict[Any, float] = {}
            if column in self.table.column_names:
                counts = pc.value_counts(self.table.column(column).combine_chunks().drop_null()).to_pylist()
                total = sum(item["counts"] for item in counts)
                found = {item["values"]: item["counts"] / total for item in counts} if total else {}
            self._frequencies[column] = found
        return self._frequencies[column]

    def candidate_rows(self, record: Mapping[str, Any], keys: Sequence[str] = BLOCKING_KEYS) -> list[int]:
        found: set[int] = set()
        for key in keys:
            if key not in self._keys:
                continue
            codes, order, offsets = self._keys[key]
            value = name_key(record) if key == NAME_KEY else record.get(key)
            if value is None:
                continue
            code = codes.get(value)
            if code is None:
                continue
            if key == NAME_KEY and self.max_name_block is not None and \
                    offsets[code + 1] - offsets[code] > self.max_name_block:
                continue
            found.update(order[offsets[code]:offsets[code + 1]].tolist())
        return sorted(found)

    def candidates(self, record: Mapping[str, Any], fields: Sequence[str] | None = None,
                   keys: Sequence[str] = BLOCKING_KEYS, carried: Sequence[str] = ()) -> list[dict]:
        """The rows sharing one of ``keys`` with ``record``, with only ``fields`` (all: None), ``id`` and ``carried``.

        A key is used only if the record has it, so a caller that gives a record only
        the fields it may use finds rows only through those fields.
        """
        rows = self.candidate_rows(record, keys)
        if not rows:
            return []
        fields = self.fields if fields is None else fields
        wanted = ("id", *fields, *carried) + ((CANONICAL,) if "first_name" in fields else ())
        columns = [(name, self._columns[name]) for name in dict.fromkeys(wanted) if name in self._columns]
        return [{name: values[row] for name, values in columns} for row in rows]
