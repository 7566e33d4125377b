"""A job's files under ``<data_dir>/jobs/<id>/``: the validated input, one part per chunk, the result."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from accord.runtime import Hub


def jobs_root(hub: Hub) -> Path:
    return hub.settings.data_dir / "jobs"


def job_dir(hub: Hub, job_id: str) -> Path:
    return jobs_root(hub) / job_id


def new_job_id() -> str:
    return f"job-{secrets.token_hex(16)}"


def part_path(directory: Path, index: int) -> Path:
    return directory / "parts" / f"part-{index:06d}.parquet"


def delete_work_files(directory: Path, keep: Path | None = None) -> None:
    """Delete a job's files except ``keep`` (its result, while it may still be read)."""
    if not directory.is_dir():
        return
    for item in directory.iterdir():
        if keep is not None and item == keep:
            continue
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        else:
            item.unlink(missing_ok=True)
    if keep is None:
        shutil.rmtree(directory, ignore_errors=True)
