"""Streaming writers: Parquet (and CSV) files written in fixed-size row groups.

Rows arrive block by block; each writer buffers them and writes row groups of
exactly ``ROW_GROUP`` rows (the last one shorter), so a file's bytes do not
depend on how many blocks were generated per chunk.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROW_GROUP = 131_072
COMPRESSION = "zstd"


class TableWriter:
    """One output file (Parquet, optionally also CSV) fed table by table."""

    def __init__(self, path: Path, csv_path: Path | None = None) -> None:
        self.path = path
        self.csv_path = csv_path
        self.rows = 0
        self._schema: pa.Schema | None = None
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._schema is None:
            self._schema = table.schema
        elif table.schema != self._schema:
            table = table.cast(self._schema)
        if table.num_rows:
            self._buffer.append(table)
            self._buffered += table.num_rows
            self.rows += table.num_rows
        if self._buffered >= ROW_GROUP:
            self._flush(final=False)

    def _open(self) -> None:
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(
                self.path, self._schema, compression=COMPRESSION, write_statistics=True, store_schema=True
            )
            if self.csv_path is not None:
                self._csv = pacsv.CSVWriter(self.csv_path, self._schema)

    def _flush(self, final: bool) -> None:
        self._open()
        if not self._buffer:
            return
        table = pa.concat_tables(self._buffer)
        whole = (table.num_rows // ROW_GROUP) * ROW_GROUP
        cut = table.num_rows if final else whole
        for offset in range(0, cut, ROW_GROUP):
            piece = table.slice(offset, min(ROW_GROUP, cut - offset))
            self._parquet.write_table(piece, row_group_size=ROW_GROUP)
            if self._csv is not None:
                self._csv.write_table(piece)
        rest = table.slice(cut)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = rest.num_rows

    def close(self, schema: pa.Schema | None = None) -> None:
        if self._schema is None:
            self._schema = schema
        self._flush(final=True)
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
