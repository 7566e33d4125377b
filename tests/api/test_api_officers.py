"""Officers are people: the operator registers them; their tokens act for their own body only, within
their roles; the audit log names them; deactivating one stops their token at once.

The tokens here are the ones an officer takes from their page after signing in
(``services.officers.issue_api_token``; the page itself is tested in tests/web/test_web_officers.py).
"""

from __future__ import annotations

import json

from api_support import Api, valid_agreement, valid_dataset, valid_decision

from accord.storage.models import AgreementEvent, AuditEntry, DecisionRecord

OFFICERS = "/v1/bodies/northshire-council/officers"


def _bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **{k.replace("_", "-"): v for k, v in headers.items()}}


def _actors(api: Api) -> set[str]:
    return {json.loads(entry.payload)["actor"] for entry in api.rows(AuditEntry)}


def test_the_operator_adds_lists_and_removes_officers(api: Api) -> None:
    officer = {"subject": "oidc|priya", "name": "Priya Shah", "roles": ["data_sharing_officer", "auditor"]}
    keyed = api.auth("admin", Idempotency_Key="add-priya")
    added = api.client.post(OFFICERS, json=officer, headers=keyed)
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["body_id"], body["subject"], body["name"], body["active"]) == (
        "northshire-council", "oidc|priya", "Priya Shah", True)
    assert body["roles"] == ["data_sharing_officer", "auditor"]
    again = api.client.post(OFFICERS, json=officer, headers=keyed)  # a retry: the first answer, not a second officer
    assert again.headers["idempotent-replayed"] == "true" and again.json() == body

    listed = api.client.get(OFFICERS, headers=api.auth("admin")).json()
    assert [o["id"] for o in listed] == [body["id"]]

    gone = api.client.delete(f"{OFFICERS}/{body['id']}", headers=api.auth("admin", Idempotency_Key="rm-priya"))
    assert gone.status_code == 200, gone.text
    assert gone.json()["active"] is False and gone.json()["deactivated_at"]
    assert api.client.get(OFFICERS, headers=api.auth("admin")).json()[0]["active"] is False


def test_officer_registration_errors_are_clear(api: Api) -> None:
    admin = api.auth("admin")
    good = {"subject": "oidc|sam", "name": "Sam Jones", "roles": ["caseworker"]}
    assert api.client.post(OFFICERS, json=good, headers=admin).status_code == 201
    api.problem(api.client.post("/v1/bodies/no-such-body/officers", json=good, headers=admin), 404, "no-such-body")
    api.problem(api.client.post(OFFICERS, json={**good, "subject": "x", "roles": ["boss"]}, headers=admin),
                422, "unknown role 'boss'")
    api.problem(api.client.post(OFFICERS, json=good, headers=admin), 409, "oidc|sam")
    api.problem(api.client.post(OFFICERS, json={**good, "roles": []}, headers=admin), 422, "roles")
    api.problem(api.client.delete(f"{OFFICERS}/ofc-nobody", headers=admin), 404, "ofc-nobody")
    # Only the hub operator registers officers: not a body's system, nor the body's own officer.
    api.problem(api.client.post(OFFICERS, json={**good, "subject": "y"}, headers=api.auth("council")), 403)
    own = api.officer_token(api.add_officer("council"))
    api.problem(api.client.get(OFFICERS, headers=_bearer(own)), 403)


def test_an_officers_token_acts_for_their_body_and_the_audit_log_names_them(api: Api) -> None:
    officer = api.add_officer("council", "oidc|jo", name="Jo Bloggs")
    token = api.officer_token(officer)
    label = f"officer:{officer['id']} (Jo Bloggs)"

    # A typed header claiming someone else changes nothing: the token says who acted.
    response = api.client.post("/v1/decisions", json=valid_decision(),
                               headers=_bearer(token, X_Accord_Officer="The Chief Executive"))
    assert response.status_code == 200, response.text
    (row,) = api.rows(DecisionRecord)
    assert (row.body_id, row.officer, row.client_id) == ("northshire-council", label, None)
    assert label in _actors(api) and not any("Chief Executive" in a for a in _actors(api))

    drafted = api.client.post("/v1/agreements", json=valid_agreement(), headers=_bearer(token))
    assert drafted.status_code == 201, drafted.text
    (event,) = api.rows(AgreementEvent, agreement_id="supporting-families-extension")
    assert event.actor == label  # registry writes name the person too


def test_an_officer_of_one_body_cannot_act_for_another(api: Api) -> None:
    token = api.officer_token(api.add_officer("council"))
    other_decision = api.client.post("/v1/decisions", json=valid_decision(), headers=api.auth("dwp")).json()
    before = api.counts()

    # Another body's dataset, agreement between other bodies, another body's decision, the operator's work.
    api.problem(api.client.post("/v1/datasets", json={**valid_dataset(), "body_id": "dwp", "id": "dwp-extra"},
                                headers=_bearer(token)), 403, "own datasets")
    between_others = {**valid_agreement("not-ours"), "recipients": ["hmrc"]}
    api.problem(api.client.post("/v1/agreements", json=between_others, headers=_bearer(token)), 403, "party")
    api.problem(api.client.get(f"/v1/decisions/{other_decision['decision_id']}", headers=_bearer(token)), 404)
    api.problem(api.client.put("/v1/datasets/dwp-benefits/records", content=b"nino\n",
                               headers=_bearer(token, Content_Type="text/csv")), 403, "own datasets")
    api.problem(api.client.post("/v1/bodies", json={"id": "x", "name": "X", "body_type": "local_authority"},
                                headers=_bearer(token)), 403, "hub operator")
    assert api.counts() == before


def test_a_role_without_the_right_is_refused(api: Api) -> None:
    auditor = api.officer_token(api.add_officer("council", None, "auditor", name="Avery Auditor"))
    caseworker = api.officer_token(api.add_officer("council", None, "caseworker"))
    allowed = api.client.post("/v1/decisions", json=valid_decision(), headers=api.auth("council")).json()
    before = api.counts()
    for token in (auditor, caseworker):
        for response in (
            api.client.post("/v1/decisions", json=valid_decision(), headers=_bearer(token)),
            api.client.post("/v1/agreements", json=valid_agreement(), headers=_bearer(token)),
        ):
            api.problem(response, 403, "body.act", "data_sharing_officer")
    assert api.counts() == before  # refused before anything was asked or recorded
    # Reading back what the body was recorded doing is an auditor's right; a caseworker's roles lack it.
    assert api.client.get(f"/v1/decisions/{allowed['decision_id']}", headers=_bearer(auditor)).status_code == 200
    api.problem(api.client.get(f"/v1/decisions/{allowed['decision_id']}", headers=_bearer(caseworker)), 403,
                "body.read")


def test_a_deactivated_officers_token_stops_working_at_once(api: Api) -> None:
    officer = api.add_officer("council")
    token = api.officer_token(officer)
    assert api.client.post("/v1/decisions", json=valid_decision(), headers=_bearer(token)).status_code == 200
    removed = api.client.delete(f"{OFFICERS}/{officer['id']}", headers=api.auth("admin"))
    assert removed.status_code == 200, removed.text
    api.problem(api.client.post("/v1/decisions", json=valid_decision(), headers=_bearer(token)), 401)
    api.problem(api.client.get("/v1/agreements", headers=_bearer(token)), 401)
    api.problem(api.client.get("/v1/agreements", headers=_bearer("officer.forged-token")), 401)
