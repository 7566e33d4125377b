"""The audit API: public checkpoint, key and proofs; admin-only entries, checkpoints and verification."""

from __future__ import annotations

import base64
import json

from dataclasses import dataclass

import pytest
from accord_testing import PROBLEM, ApiClient, seed_register
from sqlalchemy import delete, select

from accord.audit import merkle
from accord.audit.checkpoint import parse_verifier_key, verify_note
from accord.runtime import Hub
from accord.storage.models import AuditEntry, AuditSubject

DECISION = {
    "action": "dataset.read",
    "dataset": "dwp-benefits",
    "purpose": "public_service_delivery:multiple_disadvantages",
    "fields": ["nino", "postcode"],
    "records": 1,
}
NINO = "AB123456C"


@dataclass
class Api(ApiClient):
    """The shared in-process client, acting by default as an officer."""

    officer: str | None = "tester"

    def decide(self, request_id: str, **changes: object) -> dict:
        response = self.client.post(
            "/v1/decisions",
            json={**DECISION, **changes},
            headers={**self.auth("northshire-council"), "X-Request-Id": request_id},
        )
        assert response.status_code == 200, response.text
        return response.json()


def problem(response, status: int | None = None) -> dict:  # noqa: ANN001
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text}"
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == response.status_code and body["detail"]
    return body


@pytest.fixture
def api(hub: Hub) -> Api:
    seed_register(hub)
    return Api.for_hub(hub)


@pytest.fixture
def sqlite_api(sqlite_hub: Hub) -> Api:
    seed_register(sqlite_hub)
    return Api.for_hub(sqlite_hub)


def b64d(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def test_no_checkpoint_is_a_404_problem(api: Api) -> None:
    body = problem(api.client.get("/audit/checkpoint"), 404)
    assert "no checkpoint" in body["detail"]


def test_a_checkpoint_verifies_with_the_published_key_and_proofs_check_out(api: Api) -> None:
    for i in range(6):
        api.decide(f"req-{i}", fields=["nino", "surname"] if i % 2 else ["postcode"])
    made = api.client.post("/v1/audit/checkpoints", headers=api.auth("accord-hub"))
    assert made.status_code == 201, made.text
    assert made.json()["tree_size"] == 6

    published = api.client.get("/audit/checkpoint")
    assert published.status_code == 200
    assert published.json()["note"] == made.json()["note"]
    key = api.client.get("/audit/public-key").json()
    assert key["algorithm"] == "Ed25519" and key["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    name, _, public = parse_verifier_key(key["verifier_key"])
    assert name == key["origin"] == api.hub.settings.audit_origin
    signed = verify_note(published.json()["note"], public, name)
    assert signed.tree_size == 6
    assert b64d(published.json()["root_hash"]) == signed.root_hash

    for leaf in range(6):
        proof = api.client.get("/audit/proofs/inclusion", params={"leaf_index": leaf}).json()
        entry = api.client.get(f"/v1/audit/entries/{leaf}", headers=api.auth("accord-hub")).json()
        assert json.loads(entry["payload"])["request_id"] == f"req-{leaf}"
        # anyone holding the payload can recompute the leaf and check it against the signed root
        assert b64d(proof["leaf_hash"]) == merkle.leaf_hash(entry["payload"].encode())
        assert b64d(proof["root_hash"]) == signed.root_hash
        assert merkle.verify_inclusion(
            b64d(proof["leaf_hash"]), leaf, 6, [b64d(p) for p in proof["proof"]], signed.root_hash
        )

    for i in range(6, 9):
        api.decide(f"req-{i}")
    later = api.client.post("/v1/audit/checkpoints", headers=api.auth("accord-hub")).json()
    assert later["tree_size"] == 9
    consistency = api.client.get("/audit/proofs/consistency", params={"first": 6}).json()
    assert (consistency["first"], consistency["second"]) == (6, 9)
    assert b64d(consistency["first_root"]) == signed.root_hash
    assert merkle.verify_consistency(
        6, 9, signed.root_hash, b64d(later["root_hash"]), [b64d(p) for p in consistency["proof"]]
    )
    old = api.client.get("/audit/proofs/inclusion", params={"leaf_index": 2, "tree_size": 6}).json()
    assert (old["tree_size"], b64d(old["root_hash"])) == (6, signed.root_hash)

    verified = api.client.get("/v1/audit/verify", headers=api.auth("accord-hub"))
    assert verified.status_code == 200
    assert verified.json() == {
        "ok": True,
        "tree_size": 9,
        "checkpoints_checked": 2,
        "cosigned_checkpoints_checked": 0,
        "first_bad_leaf": None,
        "first_bad_entry": None,
        "problems": [],
        "findings": [],
        "forks": [],
        "warnings": [],
    }


def test_verify_over_the_api_names_a_tampered_leaf(api: Api) -> None:
    for i in range(4):
        api.decide(f"req-{i}")
    api.client.post("/v1/audit/checkpoints", headers=api.auth("accord-hub"))
    with api.hub.transaction() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.leaf_index == 2))
        entry.payload = entry.payload.replace('"allow"', '"deny"')
        entry_id = entry.id
    report = api.client.get("/v1/audit/verify", headers=api.auth("accord-hub")).json()
    assert (report["ok"], report["first_bad_leaf"], report["first_bad_entry"]) == (False, 2, entry_id)
    assert report["findings"][0] == {"kind": "edited", "leaf": 2, "entry_id": entry_id,
                                     "message": "leaf 2: the entry was edited after it was logged"}


def test_verify_over_the_api_names_a_deleted_subject_row(api: Api) -> None:
    api.decide("req-person", subjects=[{"nino": NINO}])
    with api.hub.transaction() as session:
        entry_id = session.scalar(select(AuditEntry.id).where(AuditEntry.request_id == "req-person"))
        session.execute(delete(AuditSubject).where(AuditSubject.entry_id == entry_id))
    report = api.client.get("/v1/audit/verify", headers=api.auth("accord-hub")).json()
    assert (report["ok"], report["first_bad_entry"], report["findings"][0]["kind"]) == (False, entry_id, "subjects")


def test_a_nino_sent_as_a_subject_never_reaches_the_log(api: Api) -> None:
    decided = api.decide("req-person", subjects=[{"nino": "ab 12 34 56 c"}, {"nino": "CE987654A"}])
    assert decided["allowed"]
    with api.hub.transaction() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.request_id == "req-person"))
        keys = sorted(session.scalars(select(AuditSubject.person_key)))
        every_payload = " ".join(session.scalars(select(AuditEntry.payload)))
    assert keys == sorted({api.hub.person_key("nino", NINO), api.hub.person_key("nino", "CE987654A")})
    assert json.loads(entry.payload)["subjects"] == keys
    for text in (NINO, "AB 12 34 56 C", "ab 12 34 56 c", "CE987654A", "123456", "987654"):
        assert text.lower() not in every_payload.lower()
        assert not any(text.lower() in k for k in keys)


# ---------------------------------------------------------------- access control


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/audit/entries/0"), ("POST", "/v1/audit/checkpoints"), ("GET", "/v1/audit/verify")],
)
def test_operator_endpoints_need_the_hub_operator(api: Api, method: str, path: str) -> None:
    api.decide("req-0")
    api.client.post("/v1/audit/checkpoints", headers=api.auth("accord-hub"))
    problem(api.client.request(method, path), 401)
    problem(api.client.request(method, path, headers={"Authorization": "Bearer not-a-token"}), 401)
    for body in ("northshire-council", "dwp"):
        body_problem = problem(api.client.request(method, path, headers=api.auth(body)), 403)
        assert "hub operator" in body_problem["detail"]
    allowed = api.client.request(method, path, headers=api.auth("accord-hub"))
    assert allowed.status_code in (200, 201), allowed.text


def test_the_public_endpoints_need_no_token(api: Api) -> None:
    api.decide("req-0")
    api.client.post("/v1/audit/checkpoints", headers=api.auth("accord-hub"))
    for path in ("/audit/checkpoint", "/audit/public-key", "/audit/proofs/inclusion?leaf_index=0"):
        assert api.client.get(path).status_code == 200, path
    assert api.client.get("/audit/proofs/consistency?first=1").status_code == 200


# ---------------------------------------------------------------- bad input is a 4xx problem, never a 500


BAD_INCLUSION = [
    {},
    {"leaf_index": "-1"},
    {"leaf_index": "abc"},
    {"leaf_index": "1.5"},
    {"leaf_index": "1e3"},
    {"leaf_index": ""},
    {"leaf_index": str(2**63)},
    {"leaf_index": str(10**40)},
    {"leaf_index": "3"},  # == tree size
    {"leaf_index": "99"},
    {"leaf_index": "0", "tree_size": "0"},
    {"leaf_index": "0", "tree_size": "-2"},
    {"leaf_index": "0", "tree_size": "4"},
    {"leaf_index": "2", "tree_size": "2"},
    {"leaf_index": "0", "tree_size": str(2**62)},
    {"leaf_index": "0", "tree_size": str(2**70)},
    {"leaf_index": "0", "tree_size": "x"},
]
BAD_CONSISTENCY = [
    {},
    {"first": "0"},
    {"first": "-1"},
    {"first": "4"},  # beyond the tree
    {"first": "2", "second": "1"},
    {"first": "1", "second": "0"},
    {"first": "1", "second": "4"},
    {"first": "1", "second": str(2**70)},
    {"first": str(2**63)},
    {"first": "one"},
    {"first": "1", "second": ""},
]


def not_problems(api: Api, path: str, cases: list[dict]) -> list[str]:
    wrong = []
    for params in cases:
        response = api.client.get(path, params=params, headers=api.auth("accord-hub") if path.startswith("/v1") else {})
        try:
            problem(response)
        except AssertionError as exc:
            wrong.append(f"{path} {params}: {str(exc).splitlines()[0]}")
    return wrong


def test_bad_proof_parameters_are_a_problem_not_a_crash(sqlite_api: Api) -> None:
    for i in range(3):
        sqlite_api.decide(f"req-{i}")
    sqlite_api.client.post("/v1/audit/checkpoints", headers=sqlite_api.auth("accord-hub"))
    wrong = not_problems(sqlite_api, "/audit/proofs/inclusion", BAD_INCLUSION)
    wrong += not_problems(sqlite_api, "/audit/proofs/consistency", BAD_CONSISTENCY)
    assert wrong == []


def test_proofs_of_an_empty_log_are_a_problem_not_a_crash(api: Api) -> None:
    problem(api.client.get("/audit/proofs/inclusion", params={"leaf_index": 0}))
    problem(api.client.get("/audit/proofs/consistency", params={"first": 1}))
    problem(api.client.get("/v1/audit/entries/0", headers=api.auth("accord-hub")), 404)


def test_bad_entry_numbers_are_a_problem_not_a_crash(api: Api) -> None:
    api.decide("req-0")
    integrated = api.client.post("/v1/audit/checkpoints", headers=api.auth("accord-hub"))
    assert integrated.json()["tree_size"] == 1
    wrong = []
    for leaf in ["abc", "-1", "1", "2147483648", str(2**63), "99999999999999999999999", "1.5", "%00"]:
        response = api.client.get(f"/v1/audit/entries/{leaf}", headers=api.auth("accord-hub"))
        try:
            problem(response)
        except AssertionError as exc:
            wrong.append(f"{leaf}: {str(exc).splitlines()[0]}")
    assert wrong == []


def test_a_checkpoint_of_an_empty_log_is_signed_and_public(api: Api) -> None:
    made = api.client.post("/v1/audit/checkpoints", headers=api.auth("accord-hub"))
    assert made.status_code == 201
    assert made.json()["tree_size"] == 0
    assert b64d(made.json()["root_hash"]) == merkle.EMPTY_ROOT
    assert api.client.get("/audit/checkpoint").json()["tree_size"] == 0
