"""Every decision is logged in the access's own transaction; subjects are pseudonymous; embargoes hide, then show."""

from __future__ import annotations

from accord.framework import Purpose

import json
from datetime import UTC, datetime, timedelta

import pytest
from audit_support import NOW, count, integrate_all
from sqlalchemy import select

from accord.audit import merkle
from accord.audit.log import entries_about
from accord.demo.seed import example_agreements, seed_registry
from accord.policy import AccessRequest
from accord.registry import agreements, lifecycle
from accord.registry.specs import AgreementSpec
from accord.runtime import Hub
from accord.services import audit
from accord_testing import confirm_all, decide_and_record
from accord.storage.models import AuditEntry, AuditNode, AuditSubject, DecisionRecord

ALLOWED = AccessRequest(
    body_id="northshire-council",
    officer="J Smith, revenues",
    action="dataset.read",
    dataset_id="dwp-benefits",
    purpose=Purpose.parse("public_service_delivery:multiple_disadvantages"),
    fields=("nino", "postcode", "disability_indicator"),
    records=2,
)
DENIED = AccessRequest(
    body_id="northshire-council",
    officer="J Smith, revenues",
    action="dataset.read",
    dataset_id="gro-deaths",
    purpose=Purpose.parse("civil_registration"),
    fields=("surname",),
)
NINO = "AB123456C"


def go_live(session, framework, spec: AgreementSpec) -> None:  # noqa: ANN001
    """Draft, consult for ten weeks and activate an agreement, as at NOW."""
    agreement = agreements.create_draft(session, framework, spec, "tester", NOW - timedelta(weeks=11))
    confirm_all(session, agreement, NOW - timedelta(weeks=10))
    lifecycle.transition(session, framework, agreement, "consultation", actor="tester", now=NOW - timedelta(weeks=10))
    lifecycle.transition(session, framework, agreement, "active", actor="tester", now=NOW)


def demo_spec(agreement_id: str, **changes: object) -> AgreementSpec:
    spec = next(s for _, s in example_agreements() if s.id == agreement_id).model_dump()
    spec.update(changes)
    return AgreementSpec.model_validate(spec)


@pytest.fixture
def seeded(hub: Hub) -> Hub:
    with hub.transaction() as session:
        seed_registry(session, hub.framework, NOW - timedelta(days=400))
        go_live(session, hub.framework, demo_spec("supporting-families-northshire"))
        go_live(session, hub.framework, demo_spec("spd-fraud-pilot", id="spd-fraud-embargoed", embargo="P6M"))
    return hub


def decide(hub: Hub, request: AccessRequest, request_id: str, now: datetime = NOW):  # noqa: ANN201
    with hub.transaction() as session:
        decision, record = decide_and_record(session, request, now=now, request_id=request_id, client_id="client-1"
        )
        return decision, record.decision_id


def entries_for(hub: Hub, request_id: str) -> list[AuditEntry]:
    with hub.transaction() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.request_id == request_id)))


@pytest.mark.parametrize(("request_", "outcome"), [(ALLOWED, "allow"), (DENIED, "deny")], ids=["allowed", "denied"])
def test_each_decision_writes_exactly_one_audit_entry(seeded: Hub, request_: AccessRequest, outcome: str) -> None:
    decision, decision_id = decide(seeded, request_, "req-1")
    assert decision.allowed is (outcome == "allow")
    [entry] = entries_for(seeded, "req-1")
    with seeded.transaction() as session:
        assert count(session, AuditEntry) == 1
        assert count(session, DecisionRecord) == 1
        record = session.get(DecisionRecord, decision_id)
        assert (record.request_id, record.allowed) == ("req-1", decision.allowed)
    payload = json.loads(entry.payload)
    assert payload["kind"] == entry.kind == "access.decision"
    assert payload["outcome"] == outcome
    assert payload["request_id"] == "req-1"
    assert payload["body_id"] == entry.body_id == "northshire-council"
    assert payload["actor"] == "J Smith, revenues"
    assert payload["dataset_id"] == request_.dataset_id
    assert payload["reasons"] == list(decision.reasons)
    assert payload["agreement_id"] == entry.agreement_id == decision.agreement_id
    if decision.allowed:
        # what was actually disclosed is logged: the special-category field was removed
        assert payload["fields"] == ["nino", "postcode"]
        assert payload["details"]["removed_fields"] == ["disability_indicator"]
        assert payload["purpose_iri"]
    assert entry.occurred_at == NOW


def test_a_mix_of_decisions_gives_one_entry_each(seeded: Hub) -> None:
    for i in range(10):
        decide(seeded, ALLOWED if i % 3 else DENIED, f"req-{i}")
    with seeded.transaction() as session:
        assert count(session, AuditEntry) == count(session, DecisionRecord) == 10
        ids = sorted(session.scalars(select(AuditEntry.request_id)))
        assert ids == sorted(f"req-{i}" for i in range(10))
    assert audit.verify_log(seeded).ok


@pytest.mark.parametrize("request_", [ALLOWED, DENIED], ids=["allowed", "denied"])
def test_a_rolled_back_access_leaves_neither_decision_nor_audit_entry(seeded: Hub, request_: AccessRequest) -> None:
    subject = seeded.person_key("nino", NINO)
    with pytest.raises(RuntimeError, match="after the decision"), seeded.transaction() as session:
        decide_and_record(session, AccessRequest(**{**request_.__dict__, "subjects": (subject,)}), now=NOW,
                          request_id="req-lost")
        assert count(session, AuditEntry) == 1  # it was written, in this transaction
        raise RuntimeError("the access failed after the decision")
    with seeded.transaction() as session:
        assert count(session, AuditEntry) == 0
        assert count(session, DecisionRecord) == 0
        assert count(session, AuditSubject) == 0
    assert integrate_all(seeded) == 0


def test_subjects_are_logged_only_as_pseudonymous_person_keys(seeded: Hub) -> None:
    key = seeded.person_key("nino", NINO)
    assert key == seeded.person_key("nino", "ab 12 34 56 c")  # normalised before hashing
    other = seeded.person_key("nino", "CE987654A")
    assert NINO not in key and key != other
    decide(seeded, AccessRequest(**{**ALLOWED.__dict__, "subjects": (key, other, key)}), "req-subjects")
    [entry] = entries_for(seeded, "req-subjects")
    payload = json.loads(entry.payload)
    assert payload["subjects"] == sorted({key, other})
    assert NINO not in entry.payload and "123456" not in entry.payload
    with seeded.transaction() as session:
        stored = sorted(session.scalars(select(AuditSubject.person_key).where(AuditSubject.entry_id == entry.id)))
        assert stored == sorted({key, other})
        found = entries_about(session, key, now=NOW)
        assert [f["request_id"] for f in found] == ["req-subjects"]
        assert entries_about(session, seeded.person_key("nino", "JE123456A"), now=NOW) == []


def test_entries_about_a_person_are_newest_first(seeded: Hub) -> None:
    key = seeded.person_key("nino", NINO)
    for i, hours in enumerate([5, 1, 9]):
        decide(seeded, AccessRequest(**{**ALLOWED.__dict__, "subjects": (key,)}), f"r{i}", NOW + timedelta(hours=hours))
    decide(seeded, ALLOWED, "not-about-them")
    integrate_all(seeded)
    with seeded.transaction() as session:
        found = entries_about(session, key, now=NOW + timedelta(days=1))
    assert [f["request_id"] for f in found] == ["r2", "r0", "r1"]
    assert all(f["leaf_index"] is not None for f in found)


# ---------------------------------------------------------------- embargo (fraud gateway)


FRAUD = AccessRequest(
    body_id="northshire-council",
    officer="counter-fraud officer",
    action="records.match",
    dataset_id="dwp-benefits",
    purpose=Purpose.parse("fraud"),
    fields=("surname", "postcode"),
    records=10,
    agreement_id="spd-fraud-embargoed",
)


def test_an_embargoed_access_is_hidden_from_the_person_until_the_embargo_ends(seeded: Hub) -> None:
    key = seeded.person_key("nino", NINO)
    decision, _ = decide(seeded, AccessRequest(**{**FRAUD.__dict__, "subjects": (key,)}), "req-fraud")
    assert decision.allowed, decision.reasons
    assert decision.obligations["embargo"] == "P6M"
    until = datetime(2027, 5, 22, 12, 0, tzinfo=UTC)  # NOW + 6 months
    [entry] = entries_for(seeded, "req-fraud")
    assert entry.embargo_until == until
    # the embargo end is part of the hashed, logged record, so it cannot be quietly extended
    payload = json.loads(entry.payload)
    assert payload["embargo_until"] == until.isoformat()
    integrate_all(seeded)
    with seeded.transaction() as session:
        leaf = session.scalar(select(AuditEntry.leaf_index).where(AuditEntry.request_id == "req-fraud"))
        stored_leaf = session.scalar(select(AuditNode.hash).where(AuditNode.level == 0, AuditNode.idx == leaf))
        assert bytes(stored_leaf) == merkle.leaf_hash(entry.payload.encode())
        assert entries_about(session, key, now=NOW) == []
        assert entries_about(session, key, now=until - timedelta(seconds=1)) == []
        assert [e["request_id"] for e in entries_about(session, key, now=until)] == ["req-fraud"]
        assert [e["request_id"] for e in entries_about(session, key, now=until + timedelta(days=30))] == ["req-fraud"]
        assert [e["request_id"] for e in entries_about(session, key, now=NOW, include_embargoed=True)] == ["req-fraud"]


def test_an_access_without_embargo_is_visible_at_once_beside_an_embargoed_one(seeded: Hub) -> None:
    key = seeded.person_key("nino", NINO)
    decide(seeded, AccessRequest(**{**FRAUD.__dict__, "subjects": (key,)}), "req-fraud")
    decide(seeded, AccessRequest(**{**ALLOWED.__dict__, "subjects": (key,)}), "req-open", NOW + timedelta(minutes=1))
    [open_entry] = entries_for(seeded, "req-open")
    assert open_entry.embargo_until is None and json.loads(open_entry.payload)["embargo_until"] is None
    with seeded.transaction() as session:
        assert [e["request_id"] for e in entries_about(session, key, now=NOW + timedelta(hours=1))] == ["req-open"]
        later = entries_about(session, key, now=NOW + timedelta(days=400))
        assert [e["request_id"] for e in later] == ["req-open", "req-fraud"]


def test_extending_an_embargo_in_the_database_is_caught_by_verification(seeded: Hub) -> None:
    key = seeded.person_key("nino", NINO)
    decide(seeded, AccessRequest(**{**FRAUD.__dict__, "subjects": (key,)}), "req-fraud")
    audit.checkpoint_now(seeded)
    with seeded.transaction() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.request_id == "req-fraud"))
        payload = json.loads(entry.payload)
        payload["embargo_until"] = "2030-01-01T00:00:00+00:00"
        entry.payload = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        entry.embargo_until = datetime(2030, 1, 1, tzinfo=UTC)
        leaf = entry.leaf_index
    report = audit.verify_log(seeded)
    assert not report.ok and report.first_bad_leaf == leaf
