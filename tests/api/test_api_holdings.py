"""A body loads its records for a dataset (the holding); bad files are refused and change nothing."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from api_support import PROBLEM, Api

from accord.errors import InvalidInput, NotFound
from accord.services import holdings
from accord.services.holdings import files as holding_files  # test-only: to inspect the stored file

CSV = (
    "record_id,registration_id,first_name,surname,date_of_birth,date_of_death,postcode,cause\n"
    "r1,G1,Ada,Smith,1931-02-03,2026-01-02,SW1A 1AA,secret\n"
    "r2,G2,Bob,Jones,1940-05-06,2026-02-03,M1 1AE,secret\n"
)


def _put(api: Api, who: str, body: bytes, kind: str = "text/csv", dataset: str = "gro-deaths"):  # noqa: ANN202
    return api.client.put(
        f"/v1/datasets/{dataset}/records", content=body, headers={**api.auth(who), "Content-Type": kind}
    )


def test_body_loads_csv_and_only_registered_fields_are_kept(api: Api) -> None:
    response = _put(api, "gro", CSV.encode())
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == 2
    table = pq.read_table(holding_files.current(api.hub, "gro-deaths"))
    assert table.num_rows == 2
    assert "cause" not in table.column_names  # not a registered field: never kept
    assert table.column_names[0] == "record_id"
    status = api.client.get("/v1/datasets/gro-deaths/records", headers=api.auth("gro"))
    assert status.status_code == 200
    assert status.json()["sha256"] == response.json()["sha256"]
    assert "Ada" not in status.text
    info = holdings.holding_info(api.hub, "gro-deaths")
    assert info.rows == 2 and not hasattr(info, "path")  # no path to the records leaves holdings
    assert "path" not in status.json() and str(holding_files.directory(api.hub)) not in status.text


def test_parquet_upload(api: Api) -> None:
    table = pa.table(
        {
            "registration_id": ["G9"],
            "first_name": ["Cy"],
            "surname": ["Ng"],
            "date_of_birth": ["1950-01-01"],
            "date_of_death": ["2026-03-01"],
            "postcode": ["LS1 1UR"],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    response = _put(api, "gro", buffer.getvalue(), "application/vnd.apache.parquet")
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == 1


def test_another_body_cannot_load_or_see_the_holding(api: Api) -> None:
    assert _put(api, "dwp", CSV.encode()).status_code == 403
    _put(api, "gro", CSV.encode())
    assert api.client.get("/v1/datasets/gro-deaths/records", headers=api.auth("dwp")).status_code == 403


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"registration_id,first_name\nG1,Ada\n", "missing column"),
        (CSV.splitlines()[0].encode() + b"\n", "no records"),
        (b"registration_id,first_name,surname,date_of_birth,date_of_death,postcode\n\xff\xfe,\xff,x,y,z,w\n", "cannot be read"),
    ],
)
def test_bad_files_are_refused_and_the_previous_holding_survives(api: Api, body: bytes, expected: str) -> None:
    assert _put(api, "gro", CSV.encode()).status_code == 200
    before = holdings.holding_info(api.hub, "gro-deaths")
    response = _put(api, "gro", body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert expected in response.json()["detail"]
    after = holdings.holding_info(api.hub, "gro-deaths")
    assert after == before
    assert pq.read_table(holding_files.current(api.hub, "gro-deaths")).num_rows == 2
    leftovers = [p.name for p in holding_files.directory(api.hub).iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_wrong_content_type_and_unknown_dataset(api: Api) -> None:
    response = _put(api, "gro", b"{}", "application/json")
    assert response.status_code == 422
    assert "text/csv" in response.json()["detail"]
    assert _put(api, "gro", CSV.encode(), dataset="no-such-dataset").status_code == 404


def test_holding_info_names_the_command_when_nothing_is_loaded(api: Api) -> None:
    with pytest.raises(NotFound, match="accord datasets load gro-deaths"):
        holdings.holding_info(api.hub, "gro-deaths")
    status = api.client.get("/v1/datasets/gro-deaths/records", headers=api.auth("gro"))
    assert status.status_code == 404
    assert "accord datasets load gro-deaths" in status.json()["detail"]


def test_service_refuses_unknown_suffix(api: Api, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "records.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(InvalidInput, match=r"\.csv or \.parquet"):
        holdings.load_holding(api.hub, "gro-deaths", path)
