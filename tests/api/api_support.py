"""Support for the API tests: the Api helper, valid payloads, and the write endpoints.

The hub holds the example register (8 bodies, 5 datasets, 7 agreements:
6 active, ``debt-pilot-northshire`` in consultation), seeded at the real
current time because the API reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accord_testing import PROBLEM, ApiClient, assert_problem, seed_register
from sqlalchemy import Table, select

from accord.runtime import Hub
from accord.storage.models import Base

# Short names for the bodies the tests act as.
BODIES = {
    "admin": "accord-hub",
    "council": "northshire-council",
    "dwp": "dwp",
    "energy": "brightwatt-energy",
    "hmrc": "hmrc",
    "ons": "ons",
}


@dataclass
class Api(ApiClient):
    """The shared in-process client, with the short body names above, whose problems carry the request id."""

    aliases: dict[str, str] = field(default_factory=lambda: dict(BODIES))

    @staticmethod
    def problem(response, status: int, *mentions: str | None) -> dict:  # noqa: ANN001
        body = assert_problem(response, status, *mentions)
        assert body.get("request_id") == response.headers["x-request-id"]
        return body


_SNAPSHOTS: dict[str, list[tuple[Table, list[dict]]]] = {}


def seed(hub: Hub) -> None:
    """Load the example register into the (empty) hub.

    The first time per database it goes through the registry and lifecycle
    code, exactly as the demo does; its rows are then kept and bulk-inserted
    for later tests, which saves most of the per-test set-up time.
    """
    key = hub.engine.url.render_as_string(hide_password=False)
    snapshot = _SNAPSHOTS.get(key)
    if snapshot is not None:
        with hub.engine.begin() as connection:
            for table, rows in snapshot:
                if rows:
                    connection.execute(table.insert(), rows)
        return
    result = seed_register(hub)
    assert result.created["debt-pilot-northshire"] == "consultation"
    with hub.engine.connect() as connection:
        _SNAPSHOTS[key] = [
            (table, [dict(row) for row in connection.execute(select(table)).mappings()])
            for table in Base.metadata.sorted_tables
        ]


# ------------------------------------------------------------ valid payloads
# One valid request per write endpoint; tests break them one way at a time.


def valid_body() -> dict:
    return {"id": "southshire-council", "name": "Southshire District Council", "body_type": "local_authority"}


def valid_dataset() -> dict:
    return {
        "id": "northshire-housing",
        "body_id": "northshire-council",
        "name": "Housing register",
        "description": "Applicants for social housing.",
        "fields": [
            {"name": "applicant_ref", "category": "direct_identifier", "type": "code"},
            {"name": "band", "category": "attribute"},
        ],
    }


def valid_agreement(agreement_id: str = "supporting-families-extension") -> dict:
    return {
        "id": agreement_id,
        "name": "Supporting Families - extension",
        "gateway": "public_service_delivery",
        "objective": "multiple_disadvantages",
        "purpose": "Identify households facing multiple disadvantages for early help.",
        "benefits": "Families get coordinated support earlier.",
        "disclosers": ["dwp"],
        "recipients": ["northshire-council"],
        "data": [{"dataset": "dwp-benefits", "fields": ["postcode", "benefit_type"]}],
        "sharing_method": "Accord hub API, household-level results only.",
        "retention": "P1Y",
        "start_date": "2027-01-01",
        "end_date": "2027-12-31",
        "review_date": "2027-06-30",
        "contact": "supporting.families@northshire.example",
        "areas": ["England"],
    }


def valid_decision() -> dict:
    return {
        "action": "dataset.read",
        "dataset": "dwp-benefits",
        "purpose": "public_service_delivery:multiple_disadvantages",
        "fields": ["nino", "postcode"],
        "records": 10,
    }


def valid_comment() -> dict:
    return {"author": "A Resident", "organisation": "", "comment": "Please publish the impact assessment."}


@dataclass(frozen=True)
class WriteEndpoint:
    """A JSON write endpoint and how to call it validly."""

    name: str
    path: str
    who: str | None  # None: public
    payload: object  # a function returning a valid JSON body
    headers: tuple[tuple[str, str], ...] = ()
    # A field to break: (field, wrong-typed value)
    wrong_type: tuple[str, object] = ("", None)
    required: str = ""
    # A change that names something unknown, and the status it must get
    unknown: tuple[dict, int, str] = ({}, 404, "")
    # The same endpoint for something that does not exist (a path parameter)
    unknown_path: str = ""


WRITE_ENDPOINTS = [
    WriteEndpoint(
        "bodies",
        "/v1/bodies",
        "admin",
        valid_body,
        wrong_type=("id", 42),
        required="name",
        unknown=({"body_type": "supermarket"}, 422, "unknown body type"),
    ),
    WriteEndpoint(
        "datasets",
        "/v1/datasets",
        "admin",
        valid_dataset,
        wrong_type=("fields", "applicant_ref"),
        required="body_id",
        unknown=({"body_id": "no-such-body"}, 404, "no body 'no-such-body'"),
    ),
    WriteEndpoint(
        "agreements",
        "/v1/agreements",
        "admin",
        valid_agreement,
        wrong_type=("start_date", "next tuesday"),
        required="gateway",
        unknown=({"disclosers": ["no-such-body"]}, 422, "no body 'no-such-body'"),
    ),
    WriteEndpoint(
        "transitions",
        "/v1/agreements/debt-pilot-northshire/transitions",
        "admin",  # withdrawing the operator's draft from consultation is the operator's move
        lambda: {"to": "draft", "reason": "needs more work"},
        wrong_type=("to", 5),
        required="to",
        unknown=({"to": "paused"}, 422, "'paused' is not an agreement status"),
        unknown_path="/v1/agreements/no-such-agreement/transitions",
    ),
    WriteEndpoint(
        "decisions",
        "/v1/decisions",
        "council",
        valid_decision,
        wrong_type=("records", "lots"),
        required="purpose",
        # An unknown dataset is not a 4xx: it is a recorded denial (tested in test_api_decisions).
        unknown=({}, 200, ""),
    ),
    WriteEndpoint(
        "comments",
        "/register/agreements/debt-pilot-northshire/comments",
        None,
        valid_comment,
        wrong_type=("author", ["A", "Resident"]),
        required="comment",
        unknown=({}, 200, ""),
        unknown_path="/register/agreements/no-such-agreement/comments",
    ),
]
