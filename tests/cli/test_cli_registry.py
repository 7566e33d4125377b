"""`accord bodies` and `accord datasets`: registering, credentials, rotation, revocation."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from accord_testing import count_rows as counts
from cli_support import token_status

from accord.runtime import Hub
from accord.storage.models import Body, Client, Dataset


def _credentials(output: str) -> tuple[str, str]:
    client_id = re.search(r"client_id:\s+(\S+)", output).group(1)
    secret = re.search(r"client_secret:\s+(\S+)", output).group(1)
    return client_id, secret


def test_bodies_add_and_list(accord, cli_hub: Hub) -> None:  # noqa: ANN001
    added = accord("bodies", "add", "accord-hub", "--name", "Accord hub operator", "--type", "hub_operator")
    assert added.code == 0, added.err
    assert "registered accord-hub" in added.out
    assert accord("bodies", "add", "northshire-council", "--name", "Northshire", "--type", "local_authority").code == 0
    listed = accord("bodies", "list")
    assert listed.code == 0
    assert "accord-hub" in listed.out and "northshire-council" in listed.out and "local_authority" in listed.out
    with cli_hub.transaction() as session:
        assert {b.id for b in session.query(Body)} == {"accord-hub", "northshire-council"}


def test_bodies_add_refuses_bad_input_and_stores_nothing(accord, seeded: Hub) -> None:  # noqa: ANN001
    before = counts(seeded)
    accord("bodies", "add", "dwp", "--name", "Again", "--type", "government_department").assert_bad_input(
        "'dwp' is already registered"
    )
    accord("bodies", "add", "new-body", "--name", "New", "--type", "supermarket").assert_bad_input("supermarket")
    line = accord("bodies", "add", "Not A Slug", "--name", "x", "--type", "local_authority").assert_bad_input("id:")
    # The pattern is shown as it is, not eaten as console markup.
    assert "[a-z0-9]" in line
    assert counts(seeded) == before


def test_credentials_rotate_and_revoke(accord, seeded: Hub) -> None:  # noqa: ANN001
    issued = accord("bodies", "credentials", "northshire-council")
    assert issued.code == 0, issued.err
    assert "shown once" in issued.out
    client_id, secret = _credentials(issued.out)
    assert client_id.startswith("northshire-council.")
    assert token_status(seeded, client_id, secret) == 200
    with seeded.transaction() as session:
        stored = session.get(Client, client_id)
        assert stored.body_id == "northshire-council" and secret not in stored.secret_hash

    rotated = accord("bodies", "rotate", client_id)
    assert rotated.code == 0, rotated.err
    same_id, new_secret = _credentials(rotated.out)
    assert same_id == client_id and new_secret != secret
    assert token_status(seeded, client_id, secret) == 401
    assert token_status(seeded, client_id, new_secret) == 200

    revoked = accord("bodies", "revoke", client_id)
    assert revoked.code == 0 and f"revoked {client_id}" in revoked.out
    assert token_status(seeded, client_id, new_secret) == 401
    accord("bodies", "revoke", client_id).assert_bad_input("is revoked")
    accord("bodies", "rotate", client_id).assert_bad_input("is revoked")


def test_credentials_for_unknown_things_are_refused(accord, seeded: Hub) -> None:  # noqa: ANN001
    before = counts(seeded)
    accord("bodies", "credentials", "no-such-body").assert_bad_input("no body 'no-such-body'")
    accord("bodies", "rotate", "no-such-client").assert_bad_input("no client 'no-such-client'")
    accord("bodies", "revoke", "no-such-client").assert_bad_input("no client 'no-such-client'")
    assert counts(seeded) == before


def _dataset(tmp_path: Path, **changes) -> Path:  # noqa: ANN003
    spec = {
        "id": "northshire-housing",
        "body_id": "northshire-council",
        "name": "Housing register",
        "fields": [
            {"name": "applicant_ref", "category": "direct_identifier", "type": "code"},
            {"name": "band", "category": "attribute"},
        ],
        **changes,
    }
    path = tmp_path / "housing.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_datasets_add_from_yaml_and_list(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    result = accord("datasets", "add", _dataset(tmp_path))
    assert result.code == 0, result.err
    assert "registered dataset northshire-housing of northshire-council (2 fields)" in result.out
    with seeded.transaction() as session:
        dataset = session.get(Dataset, "northshire-housing")
        assert [(f.name, f.category, f.type) for f in dataset.fields] == [
            ("applicant_ref", "direct_identifier", "code"),
            ("band", "attribute", "string"),
        ]
    listed = accord("datasets", "list", "--body", "northshire-council")
    assert "northshire-housing" in listed.out and "northshire-council-tax" in listed.out
    assert "dwp-benefits" not in listed.out


def test_datasets_add_refuses_invalid_files_and_stores_nothing(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    before = counts(seeded)
    fields = [
        {"name": "band", "category": "attribute", "type": "colour"},
        {"name": "band", "category": "attribute"},
    ]
    accord("datasets", "add", _dataset(tmp_path, fields=fields)).assert_bad_input(
        "unknown type 'colour'", "'band' appears twice"
    )
    accord("datasets", "add", _dataset(tmp_path, body_id="no-such-body")).assert_bad_input("no body 'no-such-body'")
    accord("datasets", "add", _dataset(tmp_path, fields="band")).assert_bad_input("housing.yaml", "fields")
    accord("datasets", "add", _dataset(tmp_path, id="dwp-benefits", body_id="dwp")).assert_bad_input(
        "already registered"
    )
    assert counts(seeded) == before


def test_datasets_load_keeps_registered_fields_and_refuses_bad_files(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    from accord.services import holdings

    good = tmp_path / "deaths.csv"
    good.write_text(
        "registration_id,first_name,surname,date_of_birth,date_of_death,postcode,notes\n"
        "G1,Ada,Smith,1931-02-03,2026-01-02,SW1A 1AA,private\n",
        encoding="utf-8",
    )
    result = accord("datasets", "load", "gro-deaths", str(good))
    assert result.code == 0, result.err
    assert "loaded 1 records into gro-deaths" in result.out
    bad = tmp_path / "bad.csv"
    bad.write_text("registration_id,first_name\nG2,Bo\n", encoding="utf-8")
    accord("datasets", "load", "gro-deaths", str(bad)).assert_bad_input("bad.csv", "missing column", "surname")
    accord("datasets", "load", "gro-deaths", str(tmp_path / "absent.csv")).assert_bad_input("no such file")
    accord("datasets", "load", "no-such-dataset", str(good)).assert_bad_input("no-such-dataset")
    assert holdings.holding_info(seeded, "gro-deaths").rows == 1
