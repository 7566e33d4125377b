"""`accord agreements`: draft from YAML or JSON, refuse with every reason, advance, list, show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from accord_testing import count_rows as counts
from cli_support import agreement_spec, write

from accord.runtime import Hub
from accord.storage.models import Agreement


def _status(hub: Hub, agreement_id: str) -> str | None:
    with hub.transaction() as session:
        agreement = session.get(Agreement, agreement_id)
        return agreement.status if agreement else None


@pytest.mark.parametrize("name", ["agreement.yaml", "agreement.json"])
def test_create_a_valid_agreement_from_a_file(accord, seeded: Hub, tmp_path: Path, name: str) -> None:  # noqa: ANN001
    result = accord("agreements", "create", write(tmp_path, name, agreement_spec()), "--actor", "dwp officer")
    assert result.code == 0, result.err
    assert "drafted agreement supporting-families-extension" in result.out
    assert _status(seeded, "supporting-families-extension") == "draft"
    with seeded.transaction() as session:
        assert session.get(Agreement, "supporting-families-extension").created_by == "dwp officer"


def test_an_invalid_agreement_is_refused_on_one_line_and_nothing_is_stored(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    spec = agreement_spec(
        gateway="research", objective="fuel_poverty", recipients=["brightwatt-energy"], end_date="2026-12-31"
    )
    before = counts(seeded)
    line = accord("agreements", "create", write(tmp_path, "bad.yaml", spec)).assert_bad_input(
        "is refused", "objective:", "recipients:", "end_date:"
    )
    assert line.count(";") >= 2  # every reason, on the one line
    assert counts(seeded) == before


def test_a_file_of_the_wrong_shape_names_the_file_and_fields(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    spec = agreement_spec(start_date="soon", surprise=1)
    del spec["gateway"]
    before = counts(seeded)
    accord("agreements", "create", write(tmp_path, "shape.json", spec)).assert_bad_input(
        "shape.json is not valid", "gateway", "start_date", "surprise"
    )
    assert counts(seeded) == before


def test_every_named_party_confirms_a_draft_before_consultation(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    accord("agreements", "create", write(tmp_path, "a.yaml", agreement_spec()))
    assert accord("officers", "add", "dwp", "--subject", "oidc|jsmith", "--name", "J Smith",
                  "--role", "data_sharing_officer").code == 0
    before = counts(seeded)
    accord("agreements", "advance", "supporting-families-extension", "--to", "consultation").assert_bad_input(
        "still to confirm: dwp, northshire-council"
    )
    accord("agreements", "confirm", "supporting-families-extension", "--body", "dwp", "--officer",
           "J Smith").assert_bad_input("no active officer with subject 'J Smith'")  # a typed name is no officer
    accord("agreements", "confirm", "supporting-families-extension", "--body", "hmrc").assert_bad_input(
        "only a body named", "hmrc"
    )
    accord("agreements", "confirm", "supporting-families-extension", "--body", "no-such-body").assert_bad_input(
        "no body 'no-such-body'"
    )
    accord("agreements", "confirm", "no-such-agreement", "--body", "dwp").assert_bad_input("no-such-agreement")
    assert counts(seeded) == before
    first = accord("agreements", "confirm", "supporting-families-extension", "--body", "dwp", "--officer", "oidc|jsmith")
    assert first.code == 0, first.err
    assert "dwp confirms the draft" in first.out and "still to confirm: northshire-council" in first.out
    accord("agreements", "advance", "supporting-families-extension", "--to", "consultation").assert_bad_input(
        "still to confirm: northshire-council"
    )
    second = accord("agreements", "confirm", "supporting-families-extension", "--body", "northshire-council")
    assert second.code == 0 and "every party has confirmed" in second.out
    shown = json.loads(accord("agreements", "show", "supporting-families-extension").out)
    assert [c["body_id"] for c in shown["confirmations"]["confirmed"]] == ["dwp", "northshire-council"]
    assert accord("agreements", "advance", "supporting-families-extension", "--to", "consultation").code == 0
    assert _status(seeded, "supporting-families-extension") == "consultation"


def test_advance_through_the_lifecycle(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    accord("agreements", "create", write(tmp_path, "a.yaml", agreement_spec()))
    for party in ("dwp", "northshire-council"):
        assert accord("agreements", "confirm", "supporting-families-extension", "--body", party).code == 0
    result = accord("agreements", "advance", "supporting-families-extension", "--to", "consultation")
    assert result.code == 0, result.err
    assert "draft -> consultation" in result.out and "consultation open until" in result.out
    assert _status(seeded, "supporting-families-extension") == "consultation"

    before = counts(seeded)
    accord("agreements", "advance", "supporting-families-extension", "--to", "active").assert_bad_input(
        "in public consultation until"
    )
    accord("agreements", "advance", "supporting-families-extension", "--to", "paused").assert_bad_input("paused")
    accord("agreements", "advance", "warm-home-discount-2026", "--to", "suspended").assert_bad_input("reason")
    accord("agreements", "advance", "no-such-agreement", "--to", "active").assert_bad_input("no-such-agreement")
    assert counts(seeded) == before

    suspended = accord(
        "agreements", "advance", "warm-home-discount-2026", "--to", "suspended", "--reason", "breach under review"
    )
    assert suspended.code == 0 and "active -> suspended" in suspended.out
    assert _status(seeded, "warm-home-discount-2026") == "suspended"


def test_list_and_show(accord, seeded: Hub) -> None:  # noqa: ANN001
    listed = accord("agreements", "list")
    assert listed.code == 0
    for agreement_id in ("warm-home-discount-2026", "debt-pilot-northshire", "paye-for-official-statistics"):
        assert agreement_id in listed.out
    only = accord("agreements", "list", "--status", "consultation")
    assert "debt-pilot-northshire" in only.out and "warm-home-discount-2026" not in only.out
    mine = accord("agreements", "list", "--body", "brightwatt-energy")
    assert "warm-home-discount-2026" in mine.out and "gro-deaths-to-dwp" not in mine.out

    shown = accord("agreements", "show", "debt-pilot-northshire")
    assert shown.code == 0, shown.err
    entry = json.loads(shown.out)
    assert entry["id"] == "debt-pilot-northshire"
    assert entry["status"] == "consultation"
    assert entry["recipients"] == ["northshire-council"]
    accord("agreements", "show", "no-such-agreement").assert_bad_input("no agreement 'no-such-agreement'")
