"""Retention deletes stored replies past 24 hours, never audit entries, and logs each deletion."""

from __future__ import annotations

import json
from datetime import timedelta

from audit_support import NOW, append_entries, count, integrate_all
from sqlalchemy import select

from accord.runtime import Hub
from accord.services import audit, retention
from accord.storage.models import AuditEntry, IdempotencyKey

# Every kind of thing retention deletes, none of it due.
NOTHING = {
    "idempotency replies": 0,
    "citizen sessions": 0,
    "officer sessions": 0,
    "expired API tokens": 0,
    "job results past their agreement's retention": 0,
    "audit subject rows past their retention": 0,
}


def add_replies(hub: Hub, ages: dict[str, timedelta]) -> None:
    with hub.transaction() as session:
        for key, age in ages.items():
            session.add(
                IdempotencyKey(
                    client_id="client-1",
                    key=key,
                    request_fingerprint="f" * 64,
                    status_code=200,
                    response_body={"allowed": True},
                    created_at=NOW - age,
                )
            )


def run(hub: Hub, now=NOW) -> dict[str, int]:  # noqa: ANN001
    with hub.transaction() as session:
        return retention.run(session, now)


def remaining_keys(hub: Hub) -> list[str]:
    with hub.transaction() as session:
        return sorted(session.scalars(select(IdempotencyKey.key)))


def deletion_entries(hub: Hub) -> list[dict]:
    with hub.transaction() as session:
        rows = session.scalars(select(AuditEntry.payload).where(AuditEntry.kind == "retention.deletion"))
        return [json.loads(p) for p in rows]


def test_replies_older_than_a_day_are_deleted_and_the_deletion_is_logged_once(hub: Hub) -> None:
    add_replies(
        hub,
        {
            "old-1": timedelta(hours=25),
            "old-2": timedelta(days=30),
            "fresh": timedelta(hours=23, minutes=59),
            "new": timedelta(0),
        },
    )
    assert run(hub) == {**NOTHING, "idempotency replies": 2}
    assert remaining_keys(hub) == ["fresh", "new"]
    [logged] = deletion_entries(hub)
    assert logged["kind"] == "retention.deletion"
    assert logged["outcome"] == "done"
    assert logged["records"] == 2
    assert logged["details"] == {"payload": "idempotency replies"}
    assert logged["occurred_at"] == NOW.isoformat()
    assert logged["subjects"] == []


def test_a_run_that_deletes_nothing_logs_nothing(hub: Hub) -> None:
    add_replies(hub, {"fresh": timedelta(hours=1)})
    nothing = dict(NOTHING)
    assert run(hub) == nothing
    assert run(hub) == nothing
    assert deletion_entries(hub) == []
    assert remaining_keys(hub) == ["fresh"]


def test_a_second_run_finds_nothing_more_to_delete(hub: Hub) -> None:
    add_replies(hub, {"old": timedelta(days=2), "fresh": timedelta(hours=2)})
    assert run(hub)["idempotency replies"] == 1
    assert run(hub)["idempotency replies"] == 0
    assert len(deletion_entries(hub)) == 1
    # a day later the reply that was fresh has expired too
    assert run(hub, NOW + timedelta(days=1))["idempotency replies"] == 1
    assert len(deletion_entries(hub)) == 2
    assert remaining_keys(hub) == []


def test_audit_entries_are_never_deleted_however_old(hub: Hub) -> None:
    append_entries(hub, 0, 5, when=NOW - timedelta(days=3650))
    integrate_all(hub)
    audit.checkpoint_now(hub)
    add_replies(hub, {"old": timedelta(days=2)})
    with hub.transaction() as session:
        before = list(session.scalars(select(AuditEntry.payload).order_by(AuditEntry.id)))
    for days in (0, 400, 4000):
        run(hub, NOW + timedelta(days=days))
    with hub.transaction() as session:
        after = list(session.scalars(select(AuditEntry.payload).order_by(AuditEntry.id)))
        assert count(session, AuditEntry, AuditEntry.kind == "test.entry") == 5
    assert after[:5] == before
    assert len(after) == 6  # the five, and the one deletion entry
    report = audit.verify_log(hub)
    assert report.ok and report.tree_size == 6


def test_the_deletion_and_its_audit_entry_roll_back_together(hub: Hub) -> None:
    add_replies(hub, {"old": timedelta(days=2)})
    try:
        with hub.transaction() as session:
            assert retention.run(session, NOW)["idempotency replies"] == 1
            raise RuntimeError("interrupted")
    except RuntimeError:
        pass
    assert remaining_keys(hub) == ["old"]
    assert deletion_entries(hub) == []


def test_ended_citizen_sessions_and_expired_tokens_are_deleted(hub: Hub) -> None:
    from accord.demo.seed import seed_registry
    from accord.registry.credentials import create_client, issue_token
    from accord.storage.models import CitizenSession, Token

    with hub.transaction() as session:
        seed_registry(session, hub.framework, NOW)
        issued = create_client(session, "dwp", NOW)
        issue_token(session, issued.client_id, issued.client_secret, NOW - timedelta(hours=2), 900)  # expired
        issue_token(session, issued.client_id, issued.client_secret, NOW, 900)  # live
        for name, ended, expires in (("ended", NOW, NOW + timedelta(hours=1)), ("live", None, NOW + timedelta(hours=1)),
                                     ("expired", None, NOW - timedelta(minutes=1))):
            session.add(CitizenSession(id_hash=name, person_key="pk_x", created_at=NOW, expires_at=expires, ended_at=ended))
    assert run(hub) == {**NOTHING, "citizen sessions": 2, "expired API tokens": 1}
    with hub.transaction() as session:
        assert session.scalars(select(CitizenSession.id_hash)).all() == ["live"]
        assert len(session.scalars(select(Token.token_hash)).all()) == 1
    assert sorted(e["details"]["payload"] for e in deletion_entries(hub)) == ["citizen sessions", "expired API tokens"]
