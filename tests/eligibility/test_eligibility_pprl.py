"""Encoded customer lists (privacy-preserving linkage): both bodies encode with the secret they share,
the hub links the encodings, and the answer is the same two-column flag, checked against the truth."""

from __future__ import annotations

import csv
import secrets
from pathlib import Path

import pytest
from eligibility_support import (
    AGREEMENT, CLAIMANTS, CUSTOMERS, SUPPLIER, Api, decisions, job_dirs, qualifying_subjects, read_results,
    submit_job, submit_reply, subjects_of_decision, truly_eligible,
)

from accord.errors import Conflict, Forbidden, InvalidInput
from accord.linkage import pprl
from accord.linkage.prepare import prepare_file
from accord.runtime import Hub
from accord.services import eligibility, jobs


def encode(source: Path, target: Path, secret: bytes, mapping: str, id_column: str,
           agreement: str = AGREEMENT) -> Path:
    """What `accord encode` does on the body's own machine."""
    prepared = prepare_file(source, mapping, id_column)
    pprl.write_encoded(pprl.encode_table(prepared.table, pprl.derive_agreement_key(secret, agreement)), target)
    return target


@pytest.fixture(scope="module")
def secret() -> bytes:
    return secrets.token_bytes(48)  # shared by Brightwatt and DWP, never by the hub


@pytest.fixture(scope="module")
def encodings(synth: Path, secret: bytes, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("encodings")
    return {
        "customers": encode(synth / CUSTOMERS, out / "customers.parquet", secret,
                            "postcode=supply_postcode,address=supply_address_line_1", "account_ref"),
        "claimants": encode(synth / CLAIMANTS, out / "claimants.parquet", secret,
                            "dob=date_of_birth,address=address_line_1", "record_id"),
        "other_secret": encode(synth / CUSTOMERS, out / "other-secret.parquet", secrets.token_bytes(48),
                               "postcode=supply_postcode,address=supply_address_line_1", "account_ref"),
        "other_agreement": encode(synth / CUSTOMERS, out / "other-agreement.parquet", secret,
                                  "postcode=supply_postcode,address=supply_address_line_1", "account_ref",
                                  agreement="supporting-families-northshire"),
    }


def test_an_encoded_list_is_linked_and_answered_like_a_plain_one(
    seeded: Hub, synth: Path, encodings: dict[str, Path]
) -> None:
    info = eligibility.load_encoded_claimants(seeded, AGREEMENT, "dwp", encodings["claimants"])
    assert info["rows"] > 5000 and info["dataset_id"] == "dwp-benefits"
    view = submit_job(seeded, encodings["customers"], chunk_rows=1000)
    assert view["progress"]["total"] == 2416
    assert jobs.run_pending(seeded) == [(view["id"], "succeeded")], jobs.view(
        jobs.visible_job(seeded.sessions(), view["id"], SUPPLIER))["error"]
    path = jobs.result_file(seeded, view["id"], SUPPLIER)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(list(row) == ["account_reference", "result"] for row in rows) and len(rows) == 2416
    truth = truly_eligible(synth)
    eligible = {r["account_reference"] for r in rows if r["result"] == "eligible"}
    really = {ref for ref, yes in truth.items() if yes}
    # Bloom-filter linkage is probabilistic and the secret is fresh each run: now and then
    # one stranger's encodings agree closely enough to match. At most one of the 2,416
    # accounts may be told eligible wrongly; the plaintext tests allow none.
    assert len(eligible - really) <= 1, sorted(eligible - really)
    assert len(eligible & really) / len(really) >= 0.85
    job = jobs.view(jobs.visible_job(seeded.sessions(), view["id"], SUPPLIER))
    assert job["summary"]["eligible"] == len(eligible)
    # the hub read DWP's holding for the condition only: the identifiers were linked encoded
    [decision] = [d for d in decisions(seeded) if d.action == "eligibility.check"]
    assert decision.allowed and decision.fields_requested == ["pension_credit_guarantee"]
    assert job["summary"]["decision_id"] == decision.id
    subjects = subjects_of_decision(seeded, view_request_id(seeded, view["id"]))
    assert subjects and subjects <= qualifying_subjects(seeded, synth)
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.csv"]  # the encodings' copies are gone


def view_request_id(hub: Hub, job_id: str) -> str:
    from eligibility_support import job_row

    return job_row(hub, job_id).request_id


def test_encodings_that_cannot_be_linked_are_refused_before_anything_is_stored(
    sqlite_seeded: Hub, encodings: dict[str, Path]
) -> None:
    hub = sqlite_seeded
    submit = lambda path: submit_reply(hub, path)  # noqa: E731
    with pytest.raises(Conflict, match="has not provided an encoding"):
        submit(encodings["customers"])
    with pytest.raises(Forbidden, match="only dwp"):
        eligibility.load_encoded_claimants(hub, AGREEMENT, SUPPLIER, encodings["claimants"])
    with pytest.raises(InvalidInput, match="not 'warm-home-discount-2026'"):
        eligibility.load_encoded_claimants(hub, AGREEMENT, "dwp", encodings["other_agreement"])
    eligibility.load_encoded_claimants(hub, AGREEMENT, "dwp", encodings["claimants"])
    with pytest.raises(InvalidInput, match="different secrets"):
        submit(encodings["other_secret"])
    with pytest.raises(InvalidInput, match="encoded for agreement 'supporting-families-northshire'"):
        submit(encodings["other_agreement"])
    assert job_dirs(hub) == [] and decisions(hub) == []


def test_encoded_lists_over_http(sqlite_seeded: Hub, encodings: dict[str, Path]) -> None:
    api = Api.for_hub(sqlite_seeded)
    parquet = {"content_type": "application/vnd.apache.parquet"}
    url = f"/v1/eligibility/agreements/{AGREEMENT}/claimants"
    refused = api.client.put(url, content=encodings["claimants"].read_bytes(),
                             headers=api.headers(SUPPLIER, **parquet))
    api.problem(refused, 403, "only dwp")
    api.problem(api.client.put(url, content=b"id,bf_surname\n", headers=api.headers("dwp", content_type="text/csv")),
                422, "application/vnd.apache.parquet")
    loaded = api.client.put(url, content=encodings["claimants"].read_bytes(), headers=api.headers("dwp", **parquet))
    assert loaded.status_code == 200 and loaded.json()["rows"] > 5000
    response = api.submit(encodings["customers"].read_bytes(), content_type="application/vnd.apache.parquet")
    assert response.status_code == 202, response.text
    jobs.run_pending(api.hub)
    got = api.client.get(response.json()["links"]["results"], headers=api.headers())
    rows = read_results(got.text)
    assert len(rows) == 2416 and {r["result"] for r in rows} == {"eligible", "not matched"}
