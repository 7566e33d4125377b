"""Idempotency-Key on writes: a retried request replays the first response and does not act twice."""

from __future__ import annotations

import pytest
from api_support import Api, valid_agreement, valid_body

from accord.storage.models import Agreement, AgreementEvent, Body, DecisionRecord

OFFICER = {"X-Accord-Officer": "J Smith"}
DECISION = {
    "action": "dataset.read",
    "dataset": "dwp-benefits",
    "purpose": "public_service_delivery:multiple_disadvantages",
    "fields": ["nino", "postcode"],
}

# (name, who, path, payload, extra headers, model whose rows must not double)
WRITES = [
    pytest.param("council", "/v1/decisions", DECISION, OFFICER, DecisionRecord, id="decisions"),
    pytest.param("council", "/v1/agreements", valid_agreement(), {}, Agreement, id="agreements"),
    pytest.param("admin", "/v1/bodies", valid_body(), {}, Body, id="bodies"),
    pytest.param(
        "admin",  # the operator drafted it, so only the operator withdraws it
        "/v1/agreements/debt-pilot-northshire/transitions",
        {"to": "draft", "reason": "rework"},
        {},
        AgreementEvent,
        id="transitions",
    ),
]


@pytest.mark.parametrize(("who", "path", "payload", "headers", "model"), WRITES)
def test_same_key_same_body_replays_and_acts_once(api: Api, who, path, payload, headers, model) -> None:  # noqa: ANN001
    key = {"Idempotency-Key": "retry-after-timeout-1"}
    rows_before = len(api.rows(model))
    first = api.client.post(path, json=payload, headers=api.auth(who, **headers, **key))
    assert first.status_code in (200, 201), first.text
    assert "idempotent-replayed" not in first.headers
    counts = api.counts()

    second = api.client.post(path, json=payload, headers=api.auth(who, **headers, **key))
    assert second.status_code == first.status_code
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert api.counts() == counts
    assert len(api.rows(model)) == rows_before + 1


def test_without_a_key_a_retry_acts_again(api: Api) -> None:
    """Control for the test above: the decision endpoint does record every un-keyed call."""
    for _ in range(2):
        api.client.post("/v1/decisions", json=DECISION, headers=api.auth("council", **OFFICER))
    assert len(api.rows(DecisionRecord)) == 2


def test_same_key_different_body_is_refused(api: Api) -> None:
    headers = api.auth("council", **OFFICER, Idempotency_Key="k-1")
    assert api.client.post("/v1/decisions", json=DECISION, headers=headers).status_code == 200
    before = api.counts()
    changed = {**DECISION, "fields": ["nino"]}
    api.problem(api.client.post("/v1/decisions", json=changed, headers=headers), 422, "Idempotency-Key 'k-1'")
    # A typed officer header is not identity, so it does not make the request a different one: a replay.
    typed = {**headers, "X-Accord-Officer": "someone else"}
    assert api.client.post("/v1/decisions", json=DECISION, headers=typed).headers["idempotent-replayed"] == "true"
    # So is the endpoint: the same key on another write is a different request.
    api.problem(api.client.post("/v1/agreements", json=valid_agreement(), headers=headers), 422, "different request")
    assert api.counts() == before


def test_different_clients_use_the_same_key_independently(api: Api) -> None:
    key = {"Idempotency-Key": "shared-key"}
    second_council_client = api.new_client("northshire-council")
    other_token = api.issue(second_council_client)
    responses = [
        api.client.post("/v1/decisions", json=DECISION, headers=api.auth("council", **OFFICER, **key)),
        api.client.post("/v1/decisions", json=DECISION, headers=api.auth("dwp", **OFFICER, **key)),
        api.client.post(
            "/v1/decisions",
            json=DECISION,
            headers={"Authorization": f"Bearer {other_token}", **OFFICER, **key},
        ),
    ]
    assert all(r.status_code == 200 for r in responses)
    assert not any("idempotent-replayed" in r.headers for r in responses)
    assert len({r.json()["decision_id"] for r in responses}) == 3
    rows = api.rows(DecisionRecord)
    assert len(rows) == 3
    assert sorted(r.body_id for r in rows) == ["dwp", "northshire-council", "northshire-council"]


def test_a_refused_write_does_not_use_up_its_key(api: Api) -> None:
    headers = api.auth("council", Idempotency_Key="k-2")
    invalid = {**valid_agreement(), "areas": ["Atlantis"]}
    api.problem(api.client.post("/v1/agreements", json=invalid, headers=headers), 422, "Atlantis")
    # The key was not stored with the failure: the corrected request acts.
    fixed = api.client.post("/v1/agreements", json=valid_agreement(), headers=headers)
    assert fixed.status_code == 201, fixed.text
    assert "idempotent-replayed" not in fixed.headers


def test_a_client_secret_is_never_stored_for_replay(api: Api) -> None:
    from accord.storage.models import IdempotencyKey

    response = api.client.post("/v1/bodies/dwp/clients", headers=api.auth("admin", Idempotency_Key="new-client-1"))
    assert response.status_code == 201
    secret = response.json()["client_secret"]
    stored = [str(row.response_body) for row in api.rows(IdempotencyKey)]
    assert stored and not any(secret in body for body in stored)
    replay = api.client.post("/v1/bodies/dwp/clients", headers=api.auth("admin", Idempotency_Key="new-client-1"))
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["client_secret"] is None
    assert replay.json()["client_id"] == response.json()["client_id"]


def test_a_retried_upload_of_the_same_records_replays_the_first_load(api: Api) -> None:
    records = (
        "record_id,registration_id,first_name,surname,date_of_birth,date_of_death,postcode\n"
        "r1,G1,Ada,Smith,1931-02-03,2026-01-02,SW1A 1AA\n"
    ).encode()

    def put(body: bytes):  # noqa: ANN202
        return api.client.put("/v1/datasets/gro-deaths/records", content=body,
                              headers=api.auth("gro", Idempotency_Key="load-1", Content_Type="text/csv"))

    first = put(records)
    assert first.status_code == 200, first.text
    second = put(records)
    assert second.status_code == 200 and second.headers.get("Idempotent-Replayed") == "true"
    assert second.json() == first.json()  # the same load time: the file was not loaded again
    changed = put(records + b"r2,G2,Bob,Jones,1940-05-06,2026-02-03,M1 1AE\n")
    api.problem(changed, 422, "Idempotency-Key 'load-1'")


def test_a_retried_consultation_comment_is_stored_once(api: Api) -> None:
    from accord.storage.models import ConsultationComment

    api.client.post("/v1/agreements", json=valid_agreement(), headers=api.auth("council"))
    confirmed = api.client.post("/v1/agreements/supporting-families-extension/confirmations",
                                headers=api.auth("dwp", officer="J Smith, DWP"))
    assert confirmed.status_code == 201, confirmed.text
    opened = api.client.post("/v1/agreements/supporting-families-extension/transitions",
                             json={"to": "consultation", "reason": ""}, headers=api.auth("dwp"))
    assert opened.status_code == 200, opened.text
    path = "/register/agreements/supporting-families-extension/comments"
    comment = {"author": "A Resident", "comment": "How long is the data kept?"}
    key = {"Idempotency-Key": "3f1e7c2a-comment"}
    first = api.client.post(path, json=comment, headers=key)
    second = api.client.post(path, json=comment, headers=key)
    assert first.status_code == second.status_code == 201, first.text
    assert second.headers.get("Idempotent-Replayed") == "true" and second.json() == first.json()
    assert len(api.rows(ConsultationComment)) == 1
    third = api.client.post(path, json=comment)  # without a key, the same words are another comment
    assert third.status_code == 201 and len(api.rows(ConsultationComment)) == 2


def test_every_write_endpoint_accepts_an_idempotency_key(api: Api) -> None:
    """Except the OAuth token endpoint, whose form is fixed by RFC 6749 and which changes nothing a retry harms."""
    missing = [
        f"{method.upper()} {path}"
        for path, item in api.client.app.openapi()["paths"].items()
        for method, operation in item.items()
        if method in ("post", "put", "patch", "delete")
        and "idempotency-key" not in {p["name"].lower() for p in operation.get("parameters", [])}
    ]
    assert missing == ["POST /oauth/token"]
