"""A body's current records for a registered dataset: the holding the purpose services match against.

A source body (DWP, GRO, DVLA, a council) loads an extract of one of its registered datasets; Accord
keeps only the registered fields (plus ``record_id``, the body's own row key, when the file has one)
as one Parquet file per dataset under ``<data_dir>/holdings/``. Loading validates the whole file
before anything is replaced: the new file is written beside the old one and renamed over it, so a
failed load leaves the previous holding intact, and readers never see half a file.

Files are read and written with DuckDB, streaming, so a holding of millions of rows never sits in
Python memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from accord.clock import utcnow
from accord.errors import InvalidInput, NotFound
from accord.registry.datasets import get_dataset
from accord.runtime import Hub

ROW_KEY = "record_id"
READERS = {".parquet": "read_parquet", ".csv": "read_csv"}


@dataclass(frozen=True)
class HoldingInfo:
    dataset_id: str
    rows: int
    columns: list[str]
    sha256: str
    loaded_at: str
    path: str


def holdings_dir(hub: Hub) -> Path:
    return hub.settings.data_dir / "holdings"


def _paths(hub: Hub, dataset_id: str) -> tuple[Path, Path]:
    base = holdings_dir(hub)
    return base / f"{dataset_id}.parquet", base / f"{dataset_id}.json"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _source_columns(connection: duckdb.DuckDBPyConnection, source: Path) -> tuple[str, list[str]]:
    reader = READERS.get(source.suffix.lower())
    if reader is None:
        raise InvalidInput(f"{source}: expected a .csv or .parquet file")
    if not source.is_file():
        raise InvalidInput(f"{source}: no such file")
    relation = f"{reader}(?)"
    try:
        described = connection.execute(f"DESCRIBE SELECT * FROM {relation}", [str(source)]).fetchall()
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"{source}: cannot be read as {source.suffix.lower()[1:].upper()} ({first_line})") from None
    return relation, [row[0] for row in described]


def load_holding(hub: Hub, dataset_id: str, source: Path) -> HoldingInfo:
    """Validate ``source`` against the dataset's registered fields and make it the current holding."""
    with hub.transaction() as session:
        dataset = get_dataset(session, dataset_id)
        fields = [field.name for field in dataset.fields]
    source = Path(source)
    connection = duckdb.connect()
    try:
        relation, columns = _source_columns(connection, source)
        missing = [name for name in fields if name not in columns]
        if missing:
            raise InvalidInput(
                f"{source}: missing column(s) registered for dataset {dataset_id}: {', '.join(missing)}"
            )
        keep = ([ROW_KEY] if ROW_KEY in columns and ROW_KEY not in fields else []) + fields
        select = ", ".join(_quote(name) for name in keep)
        target, meta_path = _paths(hub, dataset_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{dataset_id}.", suffix=".parquet", dir=target.parent)
        os.close(handle)
        temp = Path(temp_name)
        try:
            try:
                connection.execute(
                    f"COPY (SELECT {select} FROM {relation}) TO '{temp.as_posix()}' (FORMAT parquet, COMPRESSION zstd)",
                    [str(source)],
                )
                rows = connection.execute("SELECT count(*) FROM read_parquet(?)", [str(temp)]).fetchone()[0]
            except duckdb.Error as exc:
                first_line = str(exc).strip().splitlines()[0]
                raise InvalidInput(f"{source}: cannot be read ({first_line})") from None
            if rows == 0:
                raise InvalidInput(f"{source}: the file has no records")
            info = HoldingInfo(
                dataset_id=dataset_id,
                rows=int(rows),
                columns=keep,
                sha256=_sha256(temp),
                loaded_at=utcnow().isoformat(),
                path=str(target),
            )
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
    finally:
        connection.close()
    meta_temp = meta_path.with_suffix(".json.tmp")
    meta_temp.write_text(json.dumps(asdict(info), indent=2), encoding="utf-8")
    os.replace(meta_temp, meta_path)
    return info


def holding_path(hub: Hub, dataset_id: str) -> Path:
    """The current holding's Parquet file; ``NotFound`` when the body has not loaded one."""
    path, _meta = _paths(hub, dataset_id)
    if not path.is_file():
        raise NotFound(
            f"dataset {dataset_id} has no records loaded (its body loads them with: accord datasets load {dataset_id} FILE)"
        )
    return path


def holding_info(hub: Hub, dataset_id: str) -> HoldingInfo:
    path = holding_path(hub, dataset_id)
    meta = path.with_suffix(".json")
    try:
        return HoldingInfo(**json.loads(meta.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        raise NotFound(f"dataset {dataset_id}: holding metadata is missing; load the records again") from None
