"""The verification API: minimal answers, refusals recorded, idempotent retries, batches, and what citizens see."""

from __future__ import annotations

import csv
import io
import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
from accord_testing import assert_problem
from accord_testing import count_rows as counts
from verification_support import AGREEMENT, ERO, Client, Person

from accord.services.citizens import CITIZENS_FILE

SINGLE_KEYS = {"reference", "grade", "agreed", "decision", "decision_id", "request_id", "agreement_id", "decided_at"}
BATCH_KEYS = {"decision", "decision_id", "request_id", "agreement_id", "decided_at", "count", "results"}


def _no_record_value_in(text: str, person: Person) -> None:
    lowered = text.lower()
    for value in person.values():
        assert value.lower() not in lowered, f"{value!r} appears in the response"


def test_a_check_answers_only_the_grade_agreed_fields_and_decision_metadata(api: Client, people: list[Person]) -> None:
    person = people[0]
    response = api.verify(person.details(), reference="APP-0001")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == SINGLE_KEYS
    assert (body["reference"], body["grade"], body["agreed"]) == (
        "APP-0001", "match", ["nino", "first_name", "surname", "dob", "postcode"])
    assert (body["decision"], body["agreement_id"]) == ("allow", AGREEMENT)
    assert body["request_id"] == response.headers["x-request-id"] and isinstance(body["decision_id"], int)
    _no_record_value_in(response.text, person)


def test_a_partial_or_no_match_says_nothing_more(api: Client, people: list[Person]) -> None:
    person = people[1]
    for details in (person.details(nino=None, surname="Quillfeather", postcode=people[2].postcode),
                    {"first_name": "Zebedee", "surname": "Quillfeather", "dob": "1950-01-01", "postcode": person.postcode}):
        response = api.verify(details)
        assert response.status_code == 200 and set(response.json()) == SINGLE_KEYS
        assert response.json()["grade"] in ("partial", "no match")
        _no_record_value_in(response.text, person)


def test_the_applicant_sees_the_check_through_the_citizen_page(api: Client, people: list[Person]) -> None:
    person = people[3]
    assert api.verify(person.details()).json()["grade"] == "match"
    # The development identity provider signs in the people listed in the data directory.
    data_dir = api.hub.settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / CITIZENS_FILE).write_text(json.dumps([{"name": "Test Person", "nino": person.nino}]))
    page = api.http.get("/citizen/sign-in")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)[1]
    signed = api.http.post("/citizen/sign-in", data={"person": person.nino, "form_token": token})
    assert signed.status_code in (200, 303)
    accesses = api.http.get("/citizen/accesses.json").json()["accesses"]
    assert [(a["body_id"], a["agreement_id"], a["outcome"], a["actor"]) for a in accesses] == [
        (ERO, AGREEMENT, "allow", api.system(ERO))]


def test_a_refusal_is_a_problem_that_was_recorded(api: Client, people: list[Person]) -> None:
    api.token("brightwatt-energy")
    before = counts(api.hub)
    response = api.verify(people[4].details(), body_id="brightwatt-energy")
    body = assert_problem(response, 403, "refused", "not the agreement named")
    assert body["decision"] == "deny" and isinstance(body["decision_id"], int)
    after = counts(api.hub)
    assert after["decisions"] == before["decisions"] + 1 and after["audit_entries"] == before["audit_entries"] + 1
    unknown = assert_problem(api.verify(people[4].details(), agreement="no-such-agreement"), 403, "no-such-agreement")
    assert unknown["decision"] == "deny"
    _no_record_value_in(response.text + json.dumps(unknown), people[4])


def test_a_retry_with_the_same_idempotency_key_is_answered_once(api: Client, people: list[Person]) -> None:
    payload = {"agreement": AGREEMENT, "reference": "R1", "applicant": people[5].details()}
    headers = api.headers(Idempotency_Key="retry-1")
    before = counts(api.hub)
    first = api.http.post("/v1/verifications", json=payload, headers=headers)
    again = api.http.post("/v1/verifications", json=payload, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert counts(api.hub)["decisions"] == before["decisions"] + 1
    changed = api.http.post("/v1/verifications", json={**payload, "reference": "R2"}, headers=headers)
    assert_problem(changed, 422, "already used")
    # a refusal is replayed as the same recorded problem
    refused_headers = api.headers("brightwatt-energy", Idempotency_Key="retry-2")
    refused = [api.http.post("/v1/verifications", json=payload, headers=refused_headers) for _ in range(2)]
    assert [r.status_code for r in refused] == [403, 403]
    assert refused[1].headers["content-type"].startswith("application/problem+json")
    assert refused[1].json()["decision_id"] == refused[0].json()["decision_id"]


# ------------------------------------------------------------------ batches


def _applications(people: list[Person]) -> list[dict]:
    stranger = {"first_name": "Zebedee", "surname": "Quillfeather", "dob": "1950-01-01", "postcode": people[0].postcode}
    return ([{"reference": f"A{i}", **p.details()} for i, p in enumerate(people[:5])]
            + [{"reference": "A5", **people[5].details(nino=None)}, {"reference": "A6", **stranger}])


def test_a_json_batch_gives_one_result_per_application_in_order(api: Client, people: list[Person]) -> None:
    applications = _applications(people)
    response = api.http.post("/v1/verifications/batch", json={"agreement": AGREEMENT, "applications": applications},
                             headers=api.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == BATCH_KEYS and body["count"] == len(applications)
    assert [r["reference"] for r in body["results"]] == [a["reference"] for a in applications]
    assert all(set(r) == {"reference", "grade", "agreed"} for r in body["results"])
    assert [r["grade"] for r in body["results"]] == ["match"] * 6 + ["no match"]
    assert body["results"][5]["agreed"] == ["first_name", "surname", "dob", "postcode"]
    # the same answers as one check at a time
    single = [api.verify({k: v for k, v in a.items() if k != "reference"}).json() for a in applications]
    assert [(s["grade"], s["agreed"]) for s in single] == [(r["grade"], r["agreed"]) for r in body["results"]]
    for person in people[:6]:
        _no_record_value_in(response.text, person)


def _csv(rows: list[dict], columns: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def test_a_csv_upload_gives_a_csv_results_file(api: Client, people: list[Person]) -> None:
    applications = _applications(people)
    for a, p in zip(applications, people):  # as a council's system exports them: UK dates, other column names
        a["date_of_birth"] = p.dob.strftime("%d/%m/%Y")
    applications[-1]["date_of_birth"] = "01/01/1950"
    content = _csv(applications, ["reference", "first_name", "surname", "date_of_birth", "postcode", "nino"])
    response = api.http.post(
        "/v1/verifications/batch", data={"agreement": AGREEMENT},
        files={"file": ("applications.csv", content, "text/csv")},
        headers=api.headers(Accept="text/csv"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [list(r) for r in rows[:1]] == [["reference", "grade", "agreed"]]
    assert [(r["reference"], r["grade"]) for r in rows] == [(a["reference"], "match") for a in applications[:6]] + [
        ("A6", "no match")]
    assert rows[0]["agreed"] == "nino,first_name,surname,dob,postcode"


def test_a_parquet_upload_with_a_column_map(api: Client, people: list[Person]) -> None:
    table = pa.table({
        "app_ref": ["P1", "P2"],
        "forename": [people[6].first_name, people[7].first_name],
        "surname": [people[6].surname, people[7].surname],
        "born": pa.array([people[6].dob, people[7].dob], type=pa.date32()),
        "postcode": [people[6].postcode, people[7].postcode],
    })
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    response = api.http.post(
        "/v1/verifications/batch",
        data={"agreement": AGREEMENT, "reference_column": "app_ref", "map": "first_name=forename,dob=born"},
        files={"file": ("applications.parquet", buffer.getvalue(), "application/octet-stream")},
        headers=api.headers(),
    )
    assert response.status_code == 200, response.text
    assert [(r["reference"], r["grade"]) for r in response.json()["results"]] == [("P1", "match"), ("P2", "match")]


def test_a_batch_names_every_applicant_in_one_recorded_decision(api: Client, people: list[Person]) -> None:
    from sqlalchemy import select

    from accord.storage.models import AuditEntry

    applications = [{"reference": f"B{i}", **p.details()} for i, p in enumerate(people[8:11])]
    body = api.http.post("/v1/verifications/batch", json={"agreement": AGREEMENT, "applications": applications},
                         headers=api.headers()).json()
    with api.hub.transaction() as session:
        entries = [json.loads(e.payload) for e in session.scalars(select(AuditEntry))]
    mine = [e for e in entries if e["request_id"] == body["request_id"]]
    assert len(mine) == 1 and mine[0]["records"] == 3
    assert set(mine[0]["subjects"]) == {api.hub.person_key("nino", p.nino) for p in people[8:11]}


def test_the_openapi_document_declares_problems_and_both_batch_forms(api: Client) -> None:
    document = api.http.get("/openapi.json").json()
    single = document["paths"]["/v1/verifications"]["post"]
    batch = document["paths"]["/v1/verifications/batch"]["post"]
    for operation in (single, batch):
        for status in ("400", "401", "403", "404", "413", "422"):
            assert "application/problem+json" in operation["responses"][status]["content"]
    assert set(batch["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert set(batch["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert "Idempotency-Key" in {p["name"] for p in single["parameters"]}


def test_a_batch_retry_with_the_same_key_is_answered_once_in_either_format(api: Client, people: list[Person]) -> None:
    payload = {"agreement": AGREEMENT, "applications": _applications(people)[:3]}
    headers = api.headers(Idempotency_Key="batch-retry")
    before = counts(api.hub)["decisions"]
    first = api.http.post("/v1/verifications/batch", json=payload, headers=headers)
    again = api.http.post("/v1/verifications/batch", json=payload, headers={**headers, "Accept": "text/csv"})
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true" and again.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(again.text)))
    assert [(r["reference"], r["grade"]) for r in rows] == [(r["reference"], r["grade"]) for r in first.json()["results"]]
    assert counts(api.hub)["decisions"] == before + 1
