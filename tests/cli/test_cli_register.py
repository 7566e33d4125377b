"""`accord register export`: the published register as JSON or CSV, never a partial file."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
from cli_support import agreement_spec, write

from accord.demo.seed import example_agreements
from accord.runtime import Hub

# Active agreements and the one in consultation; drafts and refusals are never published.
PUBLISHED = sum(status in ("active", "consultation") for status, _spec in example_agreements())


def test_export_json_to_a_file(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "register.json"
    result = accord("register", "export", "--format", "json", "--out", out)
    assert result.code == 0, result.err
    assert f"wrote {PUBLISHED} agreements to {out}" in result.out
    document = json.loads(out.read_text())
    assert document["count"] == PUBLISHED == len(document["agreements"])
    assert "debt-pilot-northshire" in {a["id"] for a in document["agreements"]}


def test_export_csv_to_a_file(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "register.csv"
    result = accord("register", "export", "--format", "csv", "--out", out)
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == PUBLISHED
    assert "warm-home-discount-2026" in {row["id"] for row in rows}


def test_export_filters_and_standard_output(accord, seeded: Hub) -> None:  # noqa: ANN001
    result = accord("register", "export", "--gateway", "debt")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert [a["id"] for a in document["agreements"]] == ["debt-pilot-northshire"]


def test_a_draft_is_not_exported(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    accord("agreements", "create", write(tmp_path, "draft.yaml", agreement_spec()))
    document = json.loads(accord("register", "export").out)
    assert document["count"] == PUBLISHED
    assert "supporting-families-extension" not in {a["id"] for a in document["agreements"]}


def test_a_bad_format_is_refused(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "register.xml"
    accord("register", "export", "--format", "xml", "--out", out).assert_bad_input("--format", "xml")
    assert not out.exists()


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".register"))


def test_a_missing_directory_is_refused(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "no" / "such" / "register.json"
    accord("register", "export", "--out", out).assert_bad_input("no such directory")
    assert not out.parent.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc as a directory nobody can write in")
def test_an_unwritable_directory_is_refused_without_a_partial_file(accord, seeded: Hub) -> None:  # noqa: ANN001
    """(/proc refuses new files even to root, so this holds however the tests are run.)"""
    accord("register", "export", "--out", "/proc/register.json").assert_bad_input("/proc/register.json")
    assert not Path("/proc/register.json").exists()


def test_a_read_only_directory_is_refused_without_a_partial_file(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    import os

    if os.geteuid() == 0:
        pytest.skip("root may write in a read-only directory")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        accord("register", "export", "--out", locked / "register.json").assert_bad_input("cannot write")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_a_directory_as_the_output_file_is_refused_and_cleaned_up(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    target = tmp_path / "register"
    target.mkdir()
    accord("register", "export", "--out", target).assert_bad_input("is a directory")
    assert list(target.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".register")] == []


def test_an_existing_file_is_replaced_whole(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "register.json"
    out.write_text("old contents that are longer than nothing " * 1000)
    assert accord("register", "export", "--out", out, "--status", "consultation").code == 0
    assert json.loads(out.read_text())["count"] == 1
    assert _leftovers(tmp_path) == []
