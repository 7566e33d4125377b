"""`accord officers`: the operator adds, lists and removes the people who act for a body."""

from __future__ import annotations

import json

from accord_testing import count_rows as counts

from accord.runtime import Hub
from accord.storage.tables.officers import Officer


def test_officers_add_list_and_remove(accord, seeded: Hub) -> None:  # noqa: ANN001
    added = accord("officers", "add", "northshire-council", "--subject", "oidc|pat", "--name", "Pat Jones",
                   "--role", "data_sharing_officer", "--role", "auditor", "--json")
    assert added.code == 0, added.err
    officer = json.loads(added.out)
    assert (officer["body_id"], officer["subject"], officer["roles"]) == (
        "northshire-council", "oidc|pat", ["data_sharing_officer", "auditor"])
    assert accord("officers", "add", "dwp", "--subject", "oidc|dee", "--name", "Dee", "--role", "investigator").code == 0

    listed = accord("officers", "list", "northshire-council", "--json")
    assert [o["subject"] for o in json.loads(listed.out)] == ["oidc|pat"]
    table = accord("officers", "list")
    assert "Pat Jones" in table.out and "Dee" in table.out

    removed = accord("officers", "remove", officer["id"])
    assert removed.code == 0 and f"deactivated officer {officer['id']}" in removed.out
    with seeded.transaction() as session:
        assert session.get(Officer, officer["id"]).deactivated_at is not None
    # The subject is free again once its holder is deactivated (a person who returns, say).
    assert accord("officers", "add", "northshire-council", "--subject", "oidc|pat", "--name", "Pat Jones",
                  "--role", "checker").code == 0


def test_officers_bad_input_is_one_line_and_stores_nothing(accord, seeded: Hub) -> None:  # noqa: ANN001
    assert accord("officers", "add", "dwp", "--subject", "oidc|dee", "--name", "Dee", "--role", "auditor").code == 0
    before = counts(seeded)
    accord("officers", "add", "no-such-body", "--subject", "s", "--name", "N", "--role", "auditor").assert_bad_input(
        "no-such-body")
    accord("officers", "add", "dwp", "--subject", "s", "--name", "N", "--role", "boss").assert_bad_input(
        "unknown role 'boss'", "data_sharing_officer")
    accord("officers", "add", "hmrc", "--subject", "oidc|dee", "--name", "Dee", "--role", "auditor").assert_bad_input(
        "'oidc|dee' is already registered")
    accord("officers", "add", "dwp", "--subject", " ", "--name", "N", "--role", "auditor").assert_bad_input("subject")
    accord("officers", "remove", "ofc-nobody").assert_bad_input("ofc-nobody")
    assert counts(seeded) == before
