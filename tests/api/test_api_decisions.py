"""POST /v1/decisions: every request decided, minimised, and recorded once with its request id."""

from __future__ import annotations

from accord_testing import add_agreement, example_spec
from api_support import Api

from accord.storage.models import DecisionRecord

OFFICER = "J Smith, early help team"  # typed in an X-Accord-Officer header: ignored, never recorded
SUPPORTING_FAMILIES = {
    "action": "dataset.read",
    "dataset": "dwp-benefits",
    "purpose": "public_service_delivery:multiple_disadvantages",
    "fields": ["nino", "surname", "postcode", "benefit_type", "disability_indicator"],
    "records": 120,
}
DEBT_PILOT = {  # in public consultation: not yet live
    "action": "records.match",
    "dataset": "hmrc-paye",
    "purpose": "debt",
    "fields": ["nino", "annual_pay"],
}


def _decide(api: Api, payload: dict, who: str = "council", **headers: str):  # noqa: ANN202
    return api.client.post("/v1/decisions", json=payload, headers=api.auth(who, X_Accord_Officer=OFFICER, **headers))


def test_a_typed_officer_header_is_not_identity(api: Api) -> None:
    """The X-Accord-Officer header is neither needed nor recorded: the token says who acted."""
    headers = api.auth("council")
    without = api.client.post("/v1/decisions", json=SUPPORTING_FAMILIES, headers=headers)
    assert without.status_code == 200, without.text
    for typed in ("The Chief Executive", "   ", "tab\there", "x" * 500):
        response = api.client.post("/v1/decisions", json=SUPPORTING_FAMILIES,
                                   headers={**headers, "X-Accord-Officer": typed})
        assert response.status_code == 200, response.text
    assert {row.officer for row in api.rows(DecisionRecord)} == {api.system("council")}


def test_an_allowed_request_is_minimised_and_recorded(api: Api) -> None:
    response = _decide(api, SUPPORTING_FAMILIES, X_Request_Id="req-allow-1")
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["allowed"] is True and decision["decision"] == "allow"
    assert decision["agreement_id"] == "supporting-families-northshire"
    assert decision["permitted_fields"] == ["nino", "surname", "postcode", "benefit_type"]
    assert decision["removed_fields"] == ["disability_indicator"]
    assert decision["request_id"] == "req-allow-1"
    assert response.headers["x-request-id"] == "req-allow-1"

    (row,) = api.rows(DecisionRecord)
    assert row.id == decision["decision_id"]
    assert (row.body_id, row.officer, row.request_id, row.allowed) == (
        "northshire-council",
        api.system("council"),
        "req-allow-1",
        True,
    )
    assert row.client_id == api.secret("council").client_id
    assert row.agreement_id == "supporting-families-northshire"
    assert row.fields_requested == SUPPORTING_FAMILIES["fields"]
    assert row.fields_permitted == decision["permitted_fields"]
    assert row.records == 120


def test_a_denied_request_says_why_and_is_recorded(api: Api) -> None:
    response = _decide(api, DEBT_PILOT, X_Request_Id="req-deny-1")
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["allowed"] is False and decision["decision"] == "deny"
    assert decision["permitted_fields"] == []
    assert decision["reasons"] and any("consultation" in r for r in decision["reasons"]), decision["reasons"]
    (row,) = api.rows(DecisionRecord)
    assert (row.body_id, row.officer, row.request_id, row.allowed) == (
        "northshire-council",
        api.system("council"),
        "req-deny-1",
        False,
    )
    assert row.reasons == decision["reasons"]


def test_unknown_dataset_or_agreement_is_a_recorded_denial(api: Api) -> None:
    """Every decision is evidence, even about things that do not exist: 200 deny, one row each."""
    api.auth("council")
    before = api.counts()
    unknown_dataset = {**SUPPORTING_FAMILIES, "dataset": "no-such-dataset"}
    unknown_agreement = {**SUPPORTING_FAMILIES, "agreement": "no-such-agreement"}
    unknown_action = {**SUPPORTING_FAMILIES, "action": "dataset.delete"}
    for payload, says in (
        (unknown_dataset, "no-such-dataset"),
        (unknown_agreement, "not the agreement named in the request"),
        (unknown_action, "dataset.delete"),
    ):
        decision = _decide(api, payload).json()
        assert decision["allowed"] is False
        assert any(says in reason for reason in decision["reasons"]), decision["reasons"]
    after = api.counts()
    assert after.pop("decisions") == before.pop("decisions") + 3
    assert after.pop("audit_entries") == before.pop("audit_entries") + 3

    def not_audit(counts: dict) -> dict:
        return {table: n for table, n in counts.items() if not table.startswith("audit_")}

    assert not_audit(after) == not_audit(before)


def test_each_call_writes_exactly_one_row(api: Api) -> None:
    for n in range(3):
        _decide(api, SUPPORTING_FAMILIES, X_Request_Id=f"req-{n}")
    _decide(api, DEBT_PILOT, who="energy", X_Request_Id="req-energy")
    rows = api.rows(DecisionRecord)
    assert sorted(r.request_id for r in rows) == ["req-0", "req-1", "req-2", "req-energy"]
    assert {r.request_id: r.body_id for r in rows}["req-energy"] == "brightwatt-energy"


def test_an_invalid_request_id_is_replaced_and_the_generated_one_stored(api: Api) -> None:
    for given in ("has spaces", "x" * 129, "semi;colon", ""):
        response = _decide(api, SUPPORTING_FAMILIES, X_Request_Id=given)
        assert response.status_code == 200
        generated = response.headers["x-request-id"]
        assert generated != given and len(generated) >= 16
        assert response.json()["request_id"] == generated
    stored = [r.request_id for r in api.rows(DecisionRecord)]
    assert len(stored) == 4 and len(set(stored)) == 4
    assert not {"has spaces", "semi;colon", ""} & set(stored)


WARM_HOME_CHECK = {  # an eligibility check reads DWP's fields to answer with a flag: it discloses none of them
    "action": "eligibility.check",
    "dataset": "dwp-benefits",
    "purpose": "public_service_delivery:fuel_poverty",
    "fields": ["nino", "surname", "date_of_birth", "pension_credit_guarantee"],
}


def test_the_answer_says_which_fields_it_may_disclose(api: Api) -> None:
    read = _decide(api, SUPPORTING_FAMILIES).json()
    assert read["allowed"] is True
    assert read["disclosed_fields"] == read["permitted_fields"]  # dataset.read hands the fields over

    check = _decide(api, WARM_HOME_CHECK, who="energy").json()
    assert check["allowed"] is True, check["reasons"]
    assert check["permitted_fields"] == WARM_HOME_CHECK["fields"]  # read to match...
    assert check["disclosed_fields"] == []  # ...but the answer is a flag

    refused = _decide(api, DEBT_PILOT).json()
    assert refused["allowed"] is False and refused["disclosed_fields"] == []


def test_a_body_reads_its_own_recorded_decision_and_no_other(api: Api) -> None:
    allowed = _decide(api, SUPPORTING_FAMILIES, X_Request_Id="req-read-1").json()
    denied = _decide(api, DEBT_PILOT, X_Request_Id="req-read-2").json()
    api.auth("admin"), api.auth("energy")  # their credentials, made before counting
    before = api.counts()

    for answer in (allowed, denied):
        response = api.client.get(f"/v1/decisions/{answer['decision_id']}", headers=api.auth("council"))
        assert response.status_code == 200, response.text
        stored = response.json()
        assert stored["decision_id"] == answer["decision_id"]
        assert (stored["allowed"], stored["decision"]) == (answer["allowed"], answer["decision"])
        assert stored["reasons"] == answer["reasons"] and stored["agreement_id"] == answer["agreement_id"]
        assert stored["fields_permitted"] == answer["permitted_fields"]
        assert stored["request_id"] == answer["request_id"]
        assert (stored["body"], stored["officer"]) == ("northshire-council", api.system("council"))
    assert api.client.get(f"/v1/decisions/{allowed['decision_id']}", headers=api.auth("admin")).status_code == 200

    # Another body's decision looks exactly like no decision at all.
    other = api.client.get(f"/v1/decisions/{allowed['decision_id']}", headers=api.auth("energy"))
    missing = api.client.get(f"/v1/decisions/{denied['decision_id'] + 1000}", headers=api.auth("council"))
    for response in (other, missing):
        api.problem(response, 404, "no decision")
    assert other.json()["detail"].replace(str(allowed["decision_id"]), "N") == \
        missing.json()["detail"].replace(str(denied["decision_id"] + 1000), "N")
    api.problem(api.client.get("/v1/decisions/0", headers=api.auth("council")), 422)
    assert api.client.get(f"/v1/decisions/{allowed['decision_id']}").status_code == 401
    assert api.counts() == before  # reading a decision again records nothing


def test_an_agreement_that_has_not_started_allows_nothing(api: Api) -> None:
    from datetime import timedelta

    from accord.clock import utcnow

    start = utcnow().date() + timedelta(days=60)
    add_agreement(api.hub, example_spec("supporting-families-northshire", id="supporting-families-next-year",
                                        start_date=start, end_date=start + timedelta(days=365), review_date=None))

    decision = _decide(api, {**SUPPORTING_FAMILIES, "agreement": "supporting-families-next-year"}).json()
    assert decision["allowed"] is False
    assert f"agreement 'supporting-families-next-year' starts on {start.isoformat()}" in decision["reasons"]
    (row,) = api.rows(DecisionRecord)
    assert row.allowed is False and row.id == decision["decision_id"]
