"""`accord audit verify` on the demo database: passes intact, names the leaf after an edit, a deletion, a reorder.

Runs the real commands as subprocesses: `accord demo --no-serve` builds the
database (SQLite, the embedded default) once for the module, and each test
tampers with its own copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from audit_support import rebuild_tree, tamper_delete, tamper_edit, tamper_swap
from sqlalchemy import create_engine, delete, func, select
from sqlalchemy.orm import Session

from accord.storage.models import AuditCheckpoint, AuditEntry

ACCORD = Path(sys.executable).parent / "accord"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.update(COLUMNS="250", NO_COLOR="1", **extra)
    return env



@pytest.fixture(scope="module")
def demo(demo_run, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """The demo's data directory (database, signing key), built by `accord demo` (run once: tests/conftest.py)."""
    root, done = demo_run
    assert done.returncode == 0, done.stdout + done.stderr
    data_dir = root / "demo"
    assert (data_dir / "accord.db").exists()
    saved = root / "saved.note"
    # an auditor signs a checkpoint of the demo log and keeps the note outside the database
    signed = subprocess.run(
        [str(ACCORD), "audit", "checkpoint", "--out", str(saved)],
        env=clean_env(ACCORD_DATA_DIR=str(data_dir), ACCORD_DATABASE_URL=f"sqlite:///{data_dir / 'accord.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert saved.read_text() == signed.stdout
    assert (data_dir / "keys" / "audit-ed25519.pem").exists()
    return data_dir


def copy_of(demo: Path, tmp_path: Path) -> str:
    target = tmp_path / "copy.db"
    shutil.copyfile(demo / "accord.db", target)
    return f"sqlite:///{target.as_posix()}"


def verify(demo: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ACCORD), "audit", "verify", *args],
        env=clean_env(ACCORD_DATA_DIR=str(demo), ACCORD_DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )


def tamper(url: str, change: Callable[[Session], None]) -> None:
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            change(session)
    finally:
        engine.dispose()


def leaves_in(url: str) -> int:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.leaf_index.is_not(None))
            )
    finally:
        engine.dispose()


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_intact_demo_database_verifies(demo: Path, tmp_path: Path) -> None:
    url = copy_of(demo, tmp_path)
    done = verify(demo, url)
    assert done.returncode == 0, done.stdout + done.stderr
    size = leaves_in(url)
    assert size >= 5  # the demo's example requests are all logged
    assert re.search(rf"audit log verified: {size} leaves, [1-9]\d* signed checkpoints match", one_line(done.stdout))


@pytest.mark.parametrize(
    ("change", "leaf", "named"),
    [
        (lambda s: tamper_edit(s, 3, outcome="allow", reasons=["nothing to see"]), 3, "leaf 3: the entry was edited"),
        (lambda s: tamper_delete(s, 2), 2, "leaf 2: the entry was deleted"),
        (lambda s: tamper_swap(s, 1, 4), 1, "leaf 1: entries were reordered (it holds the entry recorded at leaf 4)"),
    ],
    ids=["edit", "delete", "reorder"],
)
def test_verify_names_the_tampered_leaf(
    demo: Path, tmp_path: Path, change: Callable[[Session], None], leaf: int, named: str
) -> None:
    url = copy_of(demo, tmp_path)
    tamper(url, change)
    done = verify(demo, url)
    assert done.returncode == 1, done.stdout + done.stderr
    stderr = one_line(done.stderr)
    assert re.search(rf"audit log FAILED verification \(first bad leaf: {leaf}(, entry \d+)?\)", stderr), stderr
    assert named in stderr
    assert "Traceback" not in done.stderr


def test_verify_names_the_entry_whose_embargo_was_cleared(demo: Path, tmp_path: Path) -> None:
    """The demo's fraud lead is hidden from its person for three months; clearing that shows it at once."""
    url = copy_of(demo, tmp_path)
    found: dict[str, int] = {}

    def clear(session: Session) -> None:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.embargo_until.is_not(None))
                                .order_by(AuditEntry.leaf_index)).first()
        assert entry is not None, "the demo logs an embargoed fraud lead"
        found.update(leaf=entry.leaf_index, entry=entry.id)
        entry.embargo_until = None

    tamper(url, clear)
    done = verify(demo, url)
    assert done.returncode == 1, done.stdout + done.stderr
    stderr = one_line(done.stderr)
    assert f"(first bad leaf: {found['leaf']}, entry {found['entry']})" in stderr
    assert f"leaf {found['leaf']} (entry {found['entry']}): its embargo was changed" in stderr


def test_a_saved_checkpoint_catches_a_forger_who_rewrote_the_tree_and_the_stored_checkpoints(
    demo: Path, tmp_path: Path
) -> None:
    url = copy_of(demo, tmp_path)
    saved = demo.parent / "saved.note"

    def forge(session: Session) -> None:
        tamper_edit(session, 0, outcome="deny")
        rebuild_tree(session)
        session.execute(delete(AuditCheckpoint))

    tamper(url, forge)
    done = verify(demo, url, "--checkpoint", str(saved))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "first bad leaf: 0" in one_line(done.stderr)
    assert "no longer match the checkpoint signed at size" in one_line(done.stderr)
