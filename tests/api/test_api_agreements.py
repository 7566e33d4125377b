"""Agreements over the API: drafting (refused with reasons), reading, lifecycle transitions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_support import Api, valid_agreement

from accord.api.routes import agreements as agreement_routes
from accord.clock import utcnow
from accord.storage.models import Agreement, AgreementConfirmation, AgreementEvent


def test_a_party_drafts_a_valid_agreement(api: Api) -> None:
    response = api.client.post("/v1/agreements", json=valid_agreement(), headers=api.auth("council"))
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["id"] == "supporting-families-extension"
    assert entry["status"] == "draft"
    assert entry["disclosers"] == ["dwp"] and entry["recipients"] == ["northshire-council"]
    (stored,) = api.rows(Agreement, id="supporting-families-extension")
    assert stored.status == "draft" and stored.created_by == "northshire-council"
    # Drafts are private: the parties see them, the public register does not.
    assert api.client.get(f"/v1/agreements/{entry['id']}", headers=api.auth("dwp")).status_code == 200
    api.problem(api.client.get(f"/register/agreements/{entry['id']}.json"), 404)
    public = api.client.get("/register/agreements.json").json()
    assert entry["id"] not in {a["id"] for a in public["agreements"]}


def test_an_agreement_without_an_id_gets_one(api: Api) -> None:
    spec = valid_agreement()
    del spec["id"]
    response = api.client.post("/v1/agreements", json=spec, headers=api.auth("admin"))
    assert response.status_code == 201, response.text
    assert response.json()["id"].startswith("agr-")


def test_an_invalid_agreement_is_refused_with_every_reason(api: Api) -> None:
    spec = {
        **valid_agreement(),
        "gateway": "research",
        "objective": "fuel_poverty",
        "recipients": ["brightwatt-energy"],
        "data": [{"dataset": "dwp-benefits", "fields": ["nino", "shoe_size"]}],
        "retention": "P0D",
        "end_date": "2026-12-31",
        "areas": ["Atlantis"],
    }
    headers = api.auth("admin")
    before = api.counts()
    body = api.problem(api.client.post("/v1/agreements", json=spec, headers=headers), 422, "refused")
    problems = body["problems"]
    expected = {
        "objective:": "fuel_poverty",
        "recipients:": "brightwatt-energy",
        "data[0]: field 'nino'": "direct identifier",
        "data[0]: dataset 'dwp-benefits' has no field 'shoe_size'": "",
        "end_date:": "not after start_date",
        "retention:": "longer than zero",
        "areas:": "Atlantis",
    }
    for start, contains in expected.items():
        assert any(p.startswith(start) and contains in p for p in problems), (start, problems)
    assert api.counts() == before


def test_an_unknown_gateway_is_refused(api: Api) -> None:
    headers = api.auth("admin")
    before = api.counts()
    spec = {**valid_agreement(), "gateway": "marketing"}
    body = api.problem(api.client.post("/v1/agreements", json=spec, headers=headers), 422, "marketing")
    assert body["problems"][0].startswith("gateway:")
    assert api.counts() == before


def test_an_agreement_id_is_drafted_once(api: Api) -> None:
    headers = api.auth("council")
    assert api.client.post("/v1/agreements", json=valid_agreement(), headers=headers).status_code == 201
    before = api.counts()
    api.problem(api.client.post("/v1/agreements", json=valid_agreement(), headers=headers), 409, "already exists")
    assert api.counts() == before


def _transition(api: Api, agreement_id: str, who: str, to: str, reason: str = ""):  # noqa: ANN202
    return api.client.post(
        f"/v1/agreements/{agreement_id}/transitions", json={"to": to, "reason": reason}, headers=api.auth(who)
    )


OFFICER = "J Smith"


def _confirm(api: Api, agreement_id: str, who: str, token: str | None = None, **headers: str):  # noqa: ANN202
    """``who`` confirms: as its system, or as the officer whose API ``token`` is given."""
    sent = api.auth(who, **headers)
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return api.client.post(f"/v1/agreements/{agreement_id}/confirmations", headers=sent)


def test_a_party_opens_consultation_and_the_public_may_comment(api: Api) -> None:
    api.client.post("/v1/agreements", json=valid_agreement(), headers=api.auth("council"))
    assert _confirm(api, "supporting-families-extension", "dwp").status_code == 201
    response = _transition(api, "supporting-families-extension", "dwp", "consultation")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "consultation"
    assert response.json()["consultation"]["closes_at"]
    history = sorted(api.rows(AgreementEvent, agreement_id="supporting-families-extension"), key=lambda e: e.id)
    assert [(e.from_status, e.to_status, e.actor) for e in history] == [
        (None, "draft", api.system("council")),  # the system that acted, by its client
        ("draft", "consultation", api.system("dwp")),
    ]
    published = api.client.get("/register/agreements/supporting-families-extension.json")
    assert published.status_code == 200 and published.json()["status"] == "consultation"
    comment = api.client.post(
        "/register/agreements/supporting-families-extension/comments",
        json={"author": "A Resident", "comment": "How long is the data kept?"},
    )
    assert comment.status_code == 201, comment.text
    assert comment.json()["agreement_id"] == "supporting-families-extension"


@pytest.mark.parametrize("to", ["active", "suspended", "revoked"])
def test_only_the_hub_operator_may_make_an_agreement_live_suspended_or_revoked(api: Api, to: str) -> None:
    agreement_id = "debt-pilot-northshire" if to == "active" else "supporting-families-northshire"
    api.auth("council")
    before = api.counts()
    api.problem(_transition(api, agreement_id, "council", to, reason="because"), 403, "hub operator")
    assert api.counts() == before
    (stored,) = api.rows(Agreement, id=agreement_id)
    assert stored.status in ("consultation", "active")


def test_a_non_party_may_not_move_an_agreement(api: Api) -> None:
    api.auth("energy")
    before = api.counts()
    api.problem(_transition(api, "debt-pilot-northshire", "energy", "draft", reason="x"), 403, "party")
    assert api.counts() == before


def test_transition_conflicts_are_409(api: Api) -> None:
    api.auth("admin")
    before = api.counts()
    # In consultation until weeks from now: cannot go live yet.
    api.problem(_transition(api, "debt-pilot-northshire", "admin", "active"), 409, "consultation until")
    # Not a move the lifecycle allows.
    api.problem(_transition(api, "warm-home-discount-2026", "admin", "draft"), 409, "cannot become draft")
    # Not expired before its end date.
    api.problem(_transition(api, "warm-home-discount-2026", "admin", "expired"), 409, "has not expired")
    # Suspending needs a reason (422: the request, not the state, is at fault).
    api.problem(_transition(api, "warm-home-discount-2026", "admin", "suspended"), 422, "reason")
    assert api.counts() == before


def test_the_hub_operator_suspends_reinstates_and_revokes(api: Api) -> None:
    agreement_id = "warm-home-discount-2026"
    suspended = _transition(api, agreement_id, "admin", "suspended", reason="supplier breach under review")
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert _transition(api, agreement_id, "admin", "active").json()["status"] == "active"
    revoked = _transition(api, agreement_id, "admin", "revoked", reason="scheme closed")
    assert revoked.json()["status"] == "revoked"
    api.problem(_transition(api, agreement_id, "admin", "active"), 409, "final")
    events = sorted(api.rows(AgreementEvent, agreement_id=agreement_id), key=lambda e: e.id)  # no ORDER BY in rows
    assert [e.to_status for e in events][-3:] == ["suspended", "active", "revoked"]


def test_the_hub_operator_makes_an_agreement_live_after_consultation(api: Api, monkeypatch) -> None:  # noqa: ANN001
    later = utcnow() + timedelta(weeks=9)
    monkeypatch.setattr(agreement_routes, "utcnow", lambda: later)
    response = _transition(api, "debt-pilot-northshire", "admin", "active")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active"
    (stored,) = api.rows(Agreement, id="debt-pilot-northshire")
    assert stored.status == "active"


def test_the_public_cannot_tell_a_draft_from_an_unknown_agreement(api: Api) -> None:
    api.client.post("/v1/agreements", json=valid_agreement("private-draft"), headers=api.auth("council"))
    before = api.counts()
    comment = {"author": "A Resident", "comment": "Is this happening?"}
    for draft, unknown in (
        (api.client.get("/register/agreements/private-draft.json"), api.client.get("/register/agreements/nope.json")),
        (
            api.client.post("/register/agreements/private-draft/comments", json=comment),
            api.client.post("/register/agreements/nope/comments", json=comment),
        ),
    ):
        draft_detail = api.problem(draft, 404)["detail"]
        unknown_detail = api.problem(unknown, 404)["detail"]
        assert draft_detail.replace("private-draft", "nope") == unknown_detail
    assert api.counts() == before
    # An active agreement is public, and its consultation is over: 409 with the reason.
    closed = api.client.post("/register/agreements/warm-home-discount-2026/comments", json=comment)
    api.problem(closed, 409, "not in public consultation")


def test_another_bodys_draft_is_indistinguishable_from_no_agreement(api: Api) -> None:
    drafted = api.client.post("/v1/agreements", json=valid_agreement("private-draft"), headers=api.auth("council"))
    assert drafted.status_code == 201
    draft = api.problem(api.client.get("/v1/agreements/private-draft", headers=api.auth("energy")), 404)
    unknown = api.problem(api.client.get("/v1/agreements/no-such-draft", headers=api.auth("energy")), 404)
    assert draft["detail"].replace("private-draft", "X") == unknown["detail"].replace("no-such-draft", "X")
    moved = _transition(api, "private-draft", "energy", "consultation")
    api.problem(moved, 404)
    assert api.client.get("/v1/agreements/private-draft", headers=api.auth("council")).status_code == 200


def test_a_draft_goes_to_consultation_only_after_every_other_named_party_confirms(api: Api) -> None:
    """The council proposes a draft naming DWP; it cannot go to consultation until DWP, called as DWP, confirms."""
    agreement_id = "supporting-families-extension"
    drafted = api.client.post("/v1/agreements", json=valid_agreement(), headers=api.auth("council"))
    assert drafted.json()["confirmations"] == {"proposer": "northshire-council", "confirmed": [],
                                              "still_to_confirm": ["dwp"]}
    for who in ("dwp", "energy", "admin"):
        api.auth(who)  # their clients exist before counting
    auditor = api.officer_token(api.add_officer("dwp", None, "auditor", name="Ann Auditor"))
    before = api.counts()
    for who in ("council", "dwp", "admin"):
        api.problem(_transition(api, agreement_id, who, "consultation"), 409, "still to confirm: dwp")
    # the proposer consents by proposing; another body's draft is as absent as none; the operator is no party
    api.problem(_confirm(api, agreement_id, "council"), 409, "proposed")
    api.problem(_confirm(api, agreement_id, "energy"), 404, f"no agreement '{agreement_id}'")
    api.problem(_confirm(api, agreement_id, "admin"), 403, "only a body named")
    api.problem(_confirm(api, "no-such-agreement", "dwp"), 404, "no-such-agreement")
    api.problem(_confirm(api, agreement_id, "dwp", auditor), 403, "body.act")  # a role without the right
    assert api.counts() == before
    person = api.add_officer("dwp", None, name=OFFICER)
    token = api.officer_token(person)
    first = _confirm(api, agreement_id, "dwp", token, Idempotency_Key="dwp-confirms-1")
    assert first.status_code == 201, first.text
    replay = _confirm(api, agreement_id, "dwp", token, Idempotency_Key="dwp-confirms-1")
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    again = _confirm(api, agreement_id, "dwp")  # without a key: already confirmed, nothing changes
    assert again.status_code == 200
    (confirmation,) = api.rows(AgreementConfirmation, agreement_id=agreement_id)
    assert (confirmation.body_id, confirmation.actor) == ("dwp", f"officer:{person['id']} ({OFFICER})")
    shown = api.client.get(f"/v1/agreements/{agreement_id}", headers=api.auth("council")).json()["confirmations"]
    assert [c["body_id"] for c in shown["confirmed"]] == ["dwp"] and shown["still_to_confirm"] == []
    opened = _transition(api, agreement_id, "dwp", "consultation")
    assert opened.status_code == 200, opened.text
    api.problem(_confirm(api, agreement_id, "dwp"), 409, "only a draft is confirmed")
    # published: the register shows who confirmed and when, not the officer who did
    published = api.client.get(f"/register/agreements/{agreement_id}.json")
    assert published.json()["confirmations"]["confirmed"][0]["body_id"] == "dwp"
    assert OFFICER not in published.text


def test_only_the_proposer_or_the_hub_operator_withdraws_a_draft_from_consultation(api: Api) -> None:
    agreement_id = "supporting-families-extension"
    api.client.post("/v1/agreements", json=valid_agreement(), headers=api.auth("council"))
    assert _confirm(api, agreement_id, "dwp").status_code == 201
    assert _transition(api, agreement_id, "dwp", "consultation").status_code == 200
    before = api.counts()
    api.problem(_transition(api, agreement_id, "dwp", "draft"), 403, "only the body that proposed")
    assert api.counts() == before
    withdrawn = _transition(api, agreement_id, "council", "draft")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "draft"
    # a draft the hub operator drafted (the seeded pilot) is withdrawn only by the operator
    api.problem(_transition(api, "debt-pilot-northshire", "council", "draft"), 403, "hub operator")
    assert _transition(api, "debt-pilot-northshire", "admin", "draft").json()["status"] == "draft"
