"""Loading a body's current records for a registered dataset: the holding purpose services match against.

A source body (DWP, GRO, DVLA, a council) loads an extract of one of its registered datasets; Accord
keeps only the registered fields (plus ``record_id``, the body's own row key, when the file has one)
as one Parquet file per dataset. Beside them it keeps one column of its own, ``_subject``: each
record's pseudonymous subject key (``services.subjects``), so that whoever a later check resolves to
is named in the audit log the same way by every service, without the hub reading the identifier again.

Loading validates the whole file before anything is replaced: the new file is written beside the old
one and renamed over it, so a failed load leaves the previous holding intact, and readers never see
half a file. Files are read and written with DuckDB and pyarrow in batches, so a holding of millions
of rows never sits whole in Python memory.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from accord.clock import utcnow
from accord.errors import InvalidInput, NotFound
from accord.files import sha256_of
from accord.linkage.standardise import known_columns
from accord.registry.datasets import get_dataset
from accord.runtime import Hub
from accord.services.holdings.files import ROW_KEY, current, paths, quote
from accord.services.subjects import IDENTITY_FIELDS, SUBJECT, subject_column

READERS = {".parquet": "read_parquet", ".csv": "read_csv"}
_BATCH_ROWS = 262_144


@dataclass(frozen=True)
class HoldingInfo:
    """What is known of a holding without reading a record: never its path or its contents."""

    dataset_id: str
    rows: int
    columns: list[str]
    sha256: str
    loaded_at: str


def _reason(exc: duckdb.Error, source: Path, label: str) -> str:
    """DuckDB's first line, with the file's path (which it quotes) replaced by the caller's name for it."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return first_line.replace(str(source), label).replace(source.as_posix(), label)


def _source_columns(connection: duckdb.DuckDBPyConnection, source: Path, label: str) -> tuple[str, list[str]]:
    reader = READERS.get(source.suffix.lower())
    if reader is None:
        raise InvalidInput(f"{label}: expected a .csv or .parquet file")
    if not source.is_file():
        raise InvalidInput(f"{label}: no such file")
    relation = f"{reader}(?)"
    try:
        described = connection.execute(f"DESCRIBE SELECT * FROM {relation}", [str(source)]).fetchall()
    except duckdb.Error as exc:
        kind = source.suffix.lower()[1:].upper()
        raise InvalidInput(f"{label}: cannot be read as {kind} ({_reason(exc, source, label)})") from None
    return relation, [row[0] for row in described]


def load_holding(hub: Hub, dataset_id: str, source: Path, name: str | None = None) -> HoldingInfo:
    """Validate ``source`` against the dataset's registered fields and make it the current holding.

    Errors name the file as ``name`` (default: its path, for the operator's own file on the command
    line); an upload's name is given, since its path is the server's business."""
    with hub.transaction() as session:
        dataset = get_dataset(session, dataset_id)
        fields = [field.name for field in dataset.fields]
    source = Path(source)
    label = name or str(source)
    target, meta_path = paths(hub, dataset_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect()
    temps = []
    try:
        relation, columns = _source_columns(connection, source, label)
        missing = [name for name in fields if name not in columns]
        if missing:
            raise InvalidInput(
                f"{label}: missing column(s) registered for dataset {dataset_id}: {', '.join(missing)}"
            )
        keep = ([ROW_KEY] if ROW_KEY in columns and ROW_KEY not in fields else []) + fields
        select = ", ".join(quote(name) for name in keep)
        extract, keyed = (_temp(target, dataset_id) for _ in range(2))
        temps += [extract, keyed]
        try:
            connection.execute(
                f"COPY (SELECT {select} FROM {relation}) TO '{extract.as_posix()}' (FORMAT parquet, COMPRESSION zstd)",
                [str(source)],
            )
        except duckdb.Error as exc:
            raise InvalidInput(f"{label}: cannot be read ({_reason(exc, source, label)})") from None
        rows = _with_subjects(hub, extract, keyed, known_columns(fields, IDENTITY_FIELDS), label)
        if rows == 0:
            raise InvalidInput(f"{label}: the file has no records")
        info = HoldingInfo(dataset_id=dataset_id, rows=rows, columns=keep, sha256=sha256_of(keyed),
                           loaded_at=utcnow().isoformat())
        os.replace(keyed, target)
    finally:
        connection.close()
        for temp in temps:
            temp.unlink(missing_ok=True)
    meta_temp = meta_path.with_suffix(".json.tmp")
    meta_temp.write_text(json.dumps(asdict(info), indent=2), encoding="utf-8")
    os.replace(meta_temp, meta_path)
    return info


def _temp(target: Path, dataset_id: str) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{dataset_id}.", suffix=".parquet", dir=target.parent)
    os.close(handle)
    return Path(name)


def _with_subjects(hub: Hub, extract: Path, out: Path, identity: dict[str, str], source: str) -> int:
    """Copy ``extract`` to ``out`` batch by batch, adding each record's subject key; returns the rows."""
    reader = pq.ParquetFile(extract)
    schema = reader.schema_arrow.append(pa.field(SUBJECT, pa.string()))
    rows = 0
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for batch in reader.iter_batches(batch_size=_BATCH_ROWS):
            table = pa.Table.from_batches([batch], schema=reader.schema_arrow)
            try:
                keys = subject_column(hub, table, identity, source)
            except InvalidInput as bad:
                raise InvalidInput(f"{source}: {bad.detail}", bad.problems) from None
            writer.write_table(table.append_column(SUBJECT, keys))
            rows += table.num_rows
    return rows


def holding_info(hub: Hub, dataset_id: str) -> HoldingInfo:
    path = current(hub, dataset_id)
    meta = path.with_suffix(".json")
    try:
        stored = json.loads(meta.read_text(encoding="utf-8"))
        stored.pop("path", None)  # written by earlier versions
        return HoldingInfo(**stored)
    except (OSError, ValueError, TypeError):
        raise NotFound(f"dataset {dataset_id}: holding metadata is missing; load the records again") from None
