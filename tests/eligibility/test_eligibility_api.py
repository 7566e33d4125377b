"""The eligibility API on SQLite and PostgreSQL: submit, status, cancel, results; only the
submitting body sees its job; bad input is problem+json with nothing stored; idempotent retries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from eligibility_support import (
    CUSTOMERS, SUPPLIER, Api, customers_csv, decisions, job_dirs, job_row, read_results, truly_eligible,
)
from sqlalchemy import update

from accord.clock import utcnow
from accord.runtime import Hub
from accord.services import jobs
from accord.storage.tables.jobs import Job


@pytest.fixture
def api(seeded: Hub) -> Api:
    return Api.for_hub(seeded)


@pytest.fixture
def sqlite_api(sqlite_seeded: Hub) -> Api:
    return Api.for_hub(sqlite_seeded)


@pytest.fixture
def csv_list(synth: Path, tmp_path: Path) -> bytes:
    return customers_csv(synth, tmp_path / "customers.csv").read_bytes()


def test_submit_follow_and_fetch_the_results_over_http(api: Api, csv_list: bytes, synth: Path) -> None:
    response = api.submit(csv_list)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/eligibility/jobs/{job['id']}"
    assert job["state"] == "queued" and job["progress"]["total"] == 2416
    assert job["links"]["results"] == f"/v1/eligibility/jobs/{job['id']}/results"

    early = api.client.get(job["links"]["results"], headers=api.headers())
    api.problem(early, 409, "only once it has succeeded")

    jobs.run_pending(api.hub)
    status = api.client.get(job["links"]["self"], headers=api.headers())
    assert status.status_code == 200
    done = status.json()
    assert done["state"] == "succeeded" and done["progress"]["done"] == 2416 and done["results_available"]

    got = api.client.get(job["links"]["results"], headers=api.headers())
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.headers["cache-control"] == "no-store"
    rows = read_results(got.text)
    assert [list(row) for row in rows[:1]] == [["account_reference", "result"]]
    assert all(set(row) == {"account_reference", "result"} for row in rows)
    assert {row["result"] for row in rows} == {"eligible", "not matched"}
    truth = truly_eligible(synth)
    assert not [r for r in rows if r["result"] == "eligible" and not truth[r["account_reference"]]]
    assert done["summary"]["eligible"] == sum(r["result"] == "eligible" for r in rows)

    listed = api.client.get("/v1/eligibility/jobs", headers=api.headers()).json()
    assert [j["id"] for j in listed] == [job["id"]]


def test_parquet_uploads_are_accepted(api: Api, synth: Path) -> None:
    response = api.submit((synth / CUSTOMERS).read_bytes(), content_type="application/vnd.apache.parquet")
    assert response.status_code == 202, response.text
    assert response.json()["progress"]["total"] == 2416


def test_only_the_submitting_body_sees_its_job(api: Api, csv_list: bytes) -> None:
    job = api.submit(csv_list).json()
    jobs.run_pending(api.hub)
    for other in ("dwp", "northshire-council", "accord-hub"):
        headers = api.headers(other)
        for method, path in (("get", job["links"]["self"]), ("get", job["links"]["results"]),
                             ("post", job["links"]["cancel"])):
            response = getattr(api.client, method)(path, headers=headers)
            api.problem(response, 404, "no job")
        assert api.client.get("/v1/eligibility/jobs", headers=headers).json() == []
    # and nobody without a token
    api.problem(api.client.get(job["links"]["self"]), 401)
    assert job_row(api.hub, job["id"]).state == "succeeded"


def test_cancel_over_http(api: Api, csv_list: bytes) -> None:
    job = api.submit(csv_list).json()
    response = api.client.post(job["links"]["cancel"], headers=api.headers())
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert job_dirs(api.hub) == []
    api.problem(api.client.get(job["links"]["results"], headers=api.headers()), 409, "cancelled")
    finished = api.submit(csv_list).json()
    jobs.run_pending(api.hub)
    api.problem(api.client.post(finished["links"]["cancel"], headers=api.headers()), 409, "already succeeded")


def test_results_past_retention_are_gone(api: Api, csv_list: bytes) -> None:
    job = api.submit(csv_list).json()
    jobs.run_pending(api.hub)
    assert api.client.get(job["links"]["results"], headers=api.headers()).status_code == 200
    with api.hub.transaction() as session:  # the retention period passes before the sweep runs
        session.execute(update(Job).where(Job.id == job["id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
    api.problem(api.client.get(job["links"]["results"], headers=api.headers()), 410, "retention period")
    status = api.client.get(job["links"]["self"], headers=api.headers()).json()
    assert status["results_available"] is False


def test_a_retried_submission_with_the_same_idempotency_key_queues_one_job(api: Api, csv_list: bytes) -> None:
    first = api.submit(csv_list, idempotency_key="upload-2026-11-22")
    again = api.submit(csv_list, idempotency_key="upload-2026-11-22")
    assert first.status_code == again.status_code == 202
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json()["id"] == again.json()["id"]
    with api.hub.transaction() as session:
        assert len(jobs.list_jobs(session)) == 1
    assert job_dirs(api.hub) == [first.json()["id"]]  # the retry's staged copy is deleted
    other = api.submit(csv_list[: len(csv_list) // 2].rsplit(b"\n", 1)[0] + b"\n", idempotency_key="upload-2026-11-22")
    api.problem(other, 422, "already used for a different request")


def test_a_body_without_the_agreement_is_refused_and_the_refusal_recorded(api: Api, csv_list: bytes) -> None:
    response = api.submit(csv_list, body="northshire-council")
    problem = api.problem(response, 403, "refused")
    [refusal] = decisions(api.hub)
    assert not refusal.allowed and refusal.body_id == "northshire-council" and refusal.action == "eligibility.check"
    assert problem["decision_id"] == refusal.id and problem["reasons"] == refusal.reasons
    assert job_dirs(api.hub) == []
    with api.hub.transaction() as session:
        assert jobs.list_jobs(session) == []


BAD_LISTS = [
    ("text/csv", b"", "is empty"),
    ("text/csv", b"first_name,surname,postcode\nAnn,Smith,AB1 2CD\n", "no account reference column"),
    ("text/csv", b"account_ref,first_name\nA1,Ann\n", "not enough identifiers"),
    ("text/csv", b"account_ref,first_name,surname,postcode\nA1,Ann,Smith,AB1 2CD\nA1,Bo,Li,AB1 2CE\n",
     "row 2, column 'account_ref': the account reference repeats row 1"),
    ("text/csv", b"account_ref,first_name,surname,postcode\nA1,Zo\xeb,Smith,AB1 2CD\n", "line 2 is not UTF-8 text"),
    ("application/vnd.apache.parquet", b"PAR1 not really parquet", "is not a readable Parquet file"),
    ("application/json", b'{"customers": []}', "text/csv or application/vnd.apache.parquet"),
    ("text/plain", b"account_ref\nA1\n", "text/csv or application/vnd.apache.parquet"),
]


@pytest.mark.parametrize(("content_type", "content", "message"), BAD_LISTS)
def test_bad_uploads_are_problems_and_store_nothing(
    sqlite_api: Api, content_type: str, content: bytes, message: str
) -> None:
    response = sqlite_api.submit(content, content_type=content_type)
    body = sqlite_api.problem(response, 422, message)
    assert "the customer list" in body["detail"] or "text/csv" in body["detail"]
    assert job_dirs(sqlite_api.hub) == [] and decisions(sqlite_api.hub) == []
    assert not [p for p in sqlite_api.hub.settings.data_dir.iterdir() if p.name.startswith(".upload-")]


def test_bad_parameters_are_problems(sqlite_api: Api, csv_list: bytes) -> None:
    api = sqlite_api
    api.problem(api.submit(csv_list, agreement="no-such-agreement"), 404, "no agreement")
    api.problem(api.submit(csv_list, agreement="spd-fraud-pilot"), 422, "yes/no attribute")
    api.problem(api.submit(csv_list, map="birthday=account_start"), 422, "'birthday' is not a matching field")
    api.problem(api.submit(csv_list, map="first_name"), 422, "should be field=column")
    api.problem(api.submit(csv_list, reference="no_such_column"), 422, "column 'no_such_column' is not in the file")
    missing = api.client.post("/v1/eligibility/jobs", content=csv_list,
                              headers=api.headers(content_type="text/csv"))
    api.problem(missing, 422, "agreement")
    api.problem(api.client.get("/v1/eligibility/jobs/" + "x" * 41, headers=api.headers()), 422)
    api.problem(api.client.get("/v1/eligibility/jobs/job-nope", headers=api.headers()), 404, "no job")
    api.problem(api.client.get("/v1/eligibility/jobs", params={"state": "lost"}, headers=api.headers()), 422)
    assert job_dirs(api.hub) == [] and decisions(api.hub) == []


def test_the_mapping_and_reference_parameters(sqlite_api: Api, synth: Path, tmp_path: Path) -> None:
    table = pq.read_table(synth / CUSTOMERS).rename_columns(
        ["rid", "acct", "title", "forename", "family", "line1", "pcode", "start", "pay", "psr", "supplier"])
    source = tmp_path / "renamed.parquet"
    pq.write_table(table, source)
    response = sqlite_api.submit(source.read_bytes(), content_type="application/vnd.apache.parquet",
                                 reference="acct", map="first_name=forename,surname=family,postcode=pcode,address=line1")
    assert response.status_code == 202, response.text
    jobs.run_pending(sqlite_api.hub)
    rows = read_results(sqlite_api.client.get(response.json()["links"]["results"], headers=sqlite_api.headers()).text)
    assert len(rows) == 2416 and sum(r["result"] == "eligible" for r in rows) >= 30


def test_the_status_page_shows_progress_only_with_its_key(sqlite_api: Api, csv_list: bytes) -> None:
    job = sqlite_api.submit(csv_list).json()
    page = sqlite_api.client.get(job["links"]["status_page"])
    assert page.status_code == 200 and "Waiting to start" in page.text
    assert page.headers["refresh"] == "5" and page.headers["referrer-policy"] == "no-referrer"
    assert "govuk-task-list" in page.text and "govuk-summary-list" in page.text
    jobs.run_pending(sqlite_api.hub)
    page = sqlite_api.client.get(job["links"]["status_page"])
    assert "Completed" in page.text and "Eligible (matched)" in page.text and "refresh" not in page.headers
    references = [line.split(b",")[1].decode() for line in csv_list.splitlines()[1:]]
    assert not [ref for ref in references if ref in page.text]  # counts only, no account on the page
    link = job["links"]["status_page"]
    other_key = link[:-1] + ("1" if link.endswith("0") else "0")  # one character different, never the same
    for wrong in (link.split("?")[0], other_key,
                  "/eligibility/jobs/job-nope?key=abc"):
        assert sqlite_api.client.get(wrong).status_code == 404
