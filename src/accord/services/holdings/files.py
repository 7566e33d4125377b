"""Where a holding's files live. Private to ``services.holdings``: no path to a body's records leaves it."""

from __future__ import annotations

from pathlib import Path

from accord.errors import NotFound
from accord.runtime import Hub

ROW_KEY = "record_id"  # the body's own row key, kept when its file has one


def directory(hub: Hub) -> Path:
    return hub.settings.data_dir / "holdings"


def paths(hub: Hub, dataset_id: str) -> tuple[Path, Path]:
    """The holding's Parquet file and its metadata file."""
    base = directory(hub)
    return base / f"{dataset_id}.parquet", base / f"{dataset_id}.json"


def current(hub: Hub, dataset_id: str) -> Path:
    """The current holding's Parquet file; ``NotFound`` when the body has not loaded one."""
    path, _meta = paths(hub, dataset_id)
    if not path.is_file():
        raise not_loaded(dataset_id)
    return path


def not_loaded(dataset_id: str) -> NotFound:
    return NotFound(
        f"dataset {dataset_id} has no records loaded (its body loads them with: accord datasets load {dataset_id} FILE)"
    )


def identity(path: Path) -> tuple[int, int, int]:
    """What changes when a load renames a new file over the old one."""
    stat = path.stat()
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
