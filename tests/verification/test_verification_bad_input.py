"""Bad input on every verification endpoint: a problem+json 4xx naming the field, and nothing stored.

Run on SQLite only: the subject is the HTTP layer; storage is covered by the other tests on both backends.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from accord_testing import assert_problem
from accord_testing import count_rows as counts
from verification_support import AGREEMENT, Client

from accord.services.verification import MAX_BATCH

GOOD = {"first_name": "Ada", "surname": "Lovelace", "dob": "1985-12-10", "postcode": "SW1A 1AA", "nino": "AB123456C"}


def _single(applicant: dict | None = None, **top: object) -> dict:
    return {"agreement": AGREEMENT, "applicant": {**GOOD, **(applicant or {})}, **top}


SINGLE_CASES = [
    ("missing date of birth", {"applicant": {k: v for k, v in GOOD.items() if k != "dob"}}, 422, "applicant.dob"),
    ("invalid postcode", _single({"postcode": "NOT A POSTCODE"}), 422, "applicant.postcode"),
    ("invalid NINO", _single({"nino": "AB12"}), 422, "applicant.nino"),
    ("impossible date", _single({"dob": "31/02/1990"}), 422, "applicant.dob"),
    ("date in the future", _single({"dob": "2099-01-01"}), 422, "applicant.dob"),
    ("name without letters", _single({"surname": "12345"}), 422, "applicant.surname"),
    ("wrong type", _single({"dob": 19851210}), 422, "applicant.dob"),
    ("unknown field", _single({"shoe_size": "9"}), 422, "applicant.shoe_size"),
    ("unknown top-level field", _single(colour="blue"), 422, "colour"),
    ("bad agreement id", _single(agreement="Not An Id!"), 422, "agreement"),
    ("reference with a control character", _single(reference="A\x01B"), 422, "reference"),
    ("no applicant", {"agreement": AGREEMENT}, 422, "applicant"),
    ("too long a name", _single({"first_name": "A" * 201}), 422, "applicant.first_name"),
]


@pytest.mark.parametrize("payload,status,mention", [c[1:] for c in SINGLE_CASES], ids=[c[0] for c in SINGLE_CASES])
def test_bad_single_checks_are_refused_and_nothing_is_stored(
    sqlite_api: Client, payload: dict, status: int, mention: str
) -> None:
    if "applicant" in payload and "agreement" not in payload:
        payload = {"agreement": AGREEMENT, **payload}
    headers = sqlite_api.headers()
    before = counts(sqlite_api.hub)
    assert_problem(sqlite_api.http.post("/v1/verifications", json=payload, headers=headers), status, mention)
    assert counts(sqlite_api.hub) == before


def test_a_single_check_needs_a_token_and_json(sqlite_api: Client) -> None:
    headers = sqlite_api.headers()
    before = counts(sqlite_api.hub)
    http = sqlite_api.http
    assert_problem(http.post("/v1/verifications", json=_single()), 401, "bearer token")
    assert_problem(http.post("/v1/verifications", content=b"{not json", headers={**headers, "Content-Type": "application/json"}),
                   400, "not valid JSON")
    assert counts(sqlite_api.hub) == before


def _batch(applications: list[dict], **top: object) -> dict:
    return {"agreement": AGREEMENT, "applications": applications, **top}


def _app(reference: str, **changes: object) -> dict:
    return {"reference": reference, **GOOD, **changes}


BATCH_JSON_CASES = [
    ("no applications", _batch([]), 422, "applications"),
    ("a row without a reference", _batch([{**GOOD}]), 422, "applications.0.reference"),
    ("a bad postcode in the second row", _batch([_app("A"), _app("B", postcode="XX")]), 422, "applications[1].postcode"),
    ("a repeated reference", _batch([_app("A"), _app("A")]), 422, "applications[1].reference"),
    ("an unknown field", _batch([_app("A", colour="blue")]), 422, "applications.0.colour"),
    ("no agreement", {"applications": [_app("A")]}, 422, "agreement"),
    ("not an object", [1, 2, 3], 422, "body"),
]


@pytest.mark.parametrize("payload,status,mention", [c[1:] for c in BATCH_JSON_CASES], ids=[c[0] for c in BATCH_JSON_CASES])
def test_bad_json_batches_are_refused_and_nothing_is_stored(
    sqlite_api: Client, payload: object, status: int, mention: str
) -> None:
    headers = sqlite_api.headers()
    before = counts(sqlite_api.hub)
    assert_problem(sqlite_api.http.post("/v1/verifications/batch", json=payload, headers=headers), status, mention)
    assert counts(sqlite_api.hub) == before


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


HEADER = b"reference,first_name,surname,dob,postcode,nino\n"
ROW = b"A1,Ada,Lovelace,10/12/1985,SW1A 1AA,AB123456C\n"
UPLOAD_CASES = [
    ("an empty file", ("a.csv", b""), {}, 422, "a.csv"),
    ("a header and no rows", ("a.csv", HEADER), {}, 422, "a.csv has no rows"),
    ("no date of birth column", ("a.csv", b"reference,first_name,surname,postcode\nA1,Ada,Lovelace,SW1A 1AA\n"), {}, 422,
     "no column for dob"),
    ("a bad postcode on row 2", ("a.csv", HEADER + ROW + b"A2,Bo,Smith,01/02/1990,NOPE,\n"), {}, 422,
     "row 2, column 'postcode'"),
    ("a missing surname on row 2", ("a.csv", HEADER + ROW + b"A2,Bo,,01/02/1990,SW1A 1AA,\n"), {}, 422,
     "row 2, column 'surname'"),
    ("an unreadable date", ("a.csv", HEADER + ROW + b"A2,Bo,Smith,the fifth of May,SW1A 1AA,\n"), {}, 422, "'dob'"),
    ("a repeated reference", ("a.csv", HEADER + ROW + ROW), {}, 422, "row 2, column 'reference'"),
    ("text that is not UTF-8", ("a.csv", HEADER + b"A1,\xff\xfe,Lovelace,10/12/1985,SW1A 1AA,\n"), {}, 422, "UTF-8"),
    ("a file that is not Parquet", ("a.parquet", b"PAR1 but not really"), {}, 422, "a.parquet is not a readable Parquet"),
    ("an unsupported file type", ("a.xlsx", b"PK\x03\x04"), {}, 422, ".csv or .parquet"),
    ("a mapping to a missing column", ("a.csv", HEADER + ROW), {"map": "dob=born"}, 422, "column 'born'"),
    ("a malformed mapping", ("a.csv", HEADER + ROW), {"map": "dob"}, 422, "field=column"),
    ("a missing reference column", ("a.csv", HEADER + ROW), {"reference_column": "app_ref"}, 422, "'app_ref'"),
    ("no agreement", ("a.csv", HEADER + ROW), {"agreement": ""}, 422, "agreement"),
    ("a bad agreement id", ("a.csv", HEADER + ROW), {"agreement": "Bad Id"}, 422, "agreement"),
    ("no file", None, {}, 422, "file"),
    ("too many rows", ("a.csv", HEADER + b"".join(
        f"R{i},Ada,Lovelace,10/12/1985,SW1A 1AA,\n".encode() for i in range(MAX_BATCH + 1))), {}, 422, "at most"),
    ("a Parquet file without a surname", ("a.parquet", _parquet(pa.table({"first_name": ["A"], "dob": ["1990-01-01"],
                                                                         "postcode": ["SW1A 1AA"]}))), {}, 422,
     "no column for surname"),
]


@pytest.mark.parametrize("upload,form,status,mention", [c[1:] for c in UPLOAD_CASES], ids=[c[0] for c in UPLOAD_CASES])
def test_bad_uploads_are_refused_and_nothing_is_stored(
    sqlite_api: Client, upload: tuple | None, form: dict, status: int, mention: str
) -> None:
    headers = sqlite_api.headers()
    before = counts(sqlite_api.hub)
    data = {"agreement": AGREEMENT, **form}
    files = {"file": (upload[0], upload[1], "application/octet-stream")} if upload else {"other": ("x", b"x", "text/plain")}
    response = sqlite_api.http.post("/v1/verifications/batch", data=data, files=files, headers=headers)
    assert_problem(response, status, mention)
    assert counts(sqlite_api.hub) == before


def test_a_batch_in_another_media_type_is_415(sqlite_api: Client) -> None:
    headers = sqlite_api.headers()
    response = sqlite_api.http.post("/v1/verifications/batch", content=b"reference\nA1\n",
                                    headers={**headers, "Content-Type": "text/plain"})
    assert_problem(response, 415, "application/json")


def test_a_batch_body_over_the_limit_is_413(sqlite_api: Client) -> None:
    """The batch route's own limit (ACCORD_MAX_BATCH_BYTES), declared or streamed, whatever the media type."""
    headers = {**sqlite_api.headers(), "Content-Type": "application/json"}
    limit = sqlite_api.hub.settings.max_batch_bytes

    def chunks():  # noqa: ANN202 - no Content-Length: counted while it streams
        yield b'{"agreement": "x", "applications": ['
        for _ in range(limit // (1 << 16) + 1):
            yield b" " * (1 << 16)

    streamed = sqlite_api.http.post("/v1/verifications/batch", content=chunks(), headers=headers)
    assert_problem(streamed, 413, "larger than", str(limit))
    declared = sqlite_api.http.post("/v1/verifications/batch", content=b"{}",
                                    headers={**headers, "Content-Length": str(limit + 1)})
    assert_problem(declared, 413, str(limit))


def test_bad_values_are_never_echoed(sqlite_api: Client) -> None:
    given = "QQ99 9QQZZ"
    response = sqlite_api.http.post("/v1/verifications", json=_single({"postcode": given}),
                                    headers=sqlite_api.headers())
    assert_problem(response, 422, "applicant.postcode")
    assert given not in response.text
