"""Recording events: the event, its outbox rows, the decisions and the audit entries, all or nothing."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta

import pytest
from accord_testing import count_rows as counts
from events_support import EventsApi, death
from sqlalchemy import select

from accord.clock import utcnow
from accord.services import events
from accord.services.events import recording
from accord.services.subjects import subject_key
from accord.storage.models import AuditEntry, AuditSubject, DecisionRecord
from accord.storage.tables.events import EventDelivery, RegistrationEvent

OUTBOX_TABLES = ("registration_events", "event_deliveries", "decisions", "audit_entries", "audit_subjects",
                 "event_feed_head")


def _rows(api: EventsApi, model, **where) -> list:  # noqa: ANN001
    with api.hub.transaction() as session:
        return list(session.scalars(select(model).filter_by(**where)))


def test_recording_writes_event_outbox_decisions_and_audit_together(api: EventsApi) -> None:
    webhook = api.subscribe(url="http://127.0.0.1:9/hook")
    pull = api.subscribe()
    nino = "JG103759A"
    response = api.record(death(1, subject={"nino": nino}))
    assert response.status_code == 201, response.text
    recorded = response.json()
    assert set(recorded) == {"id", "sequence", "kind", "registered_at", "recorded_at", "subscriptions_notified"}
    assert recorded["subscriptions_notified"] == 2 and recorded["sequence"] == 1

    [event] = _rows(api, RegistrationEvent)
    assert event.id == recorded["id"] and event.recorded_by == "gro"
    assert event.payload == death(1)["data"]  # registered fields only; the NINO is not kept
    assert nino not in json.dumps(event.payload)
    key = api.hub.person_key("nino", nino)
    assert event.subject_key == key

    deliveries = {d.subscription_id: d for d in _rows(api, EventDelivery)}
    assert deliveries[webhook["id"]].state == "pending" and deliveries[pull["id"]].state == "feed"
    decisions = {d.id: d for d in _rows(api, DecisionRecord, action="events.receive")}
    assert {d.decision_id for d in deliveries.values()} == set(decisions)
    for decision in decisions.values():
        assert decision.allowed and decision.body_id == "dwp" and decision.agreement_id == "gro-deaths-to-dwp"
        assert decision.fields_permitted == ["registration_id", "first_name", "surname", "date_of_birth",
                                             "date_of_death"]
    for delivery in deliveries.values():
        assert delivery.fields == decisions[delivery.decision_id].fields_permitted

    entries = _rows(api, AuditEntry)
    kinds = sorted(json.loads(e.payload)["kind"] for e in entries)
    assert kinds == ["access.decision", "access.decision", "events.record", "events.subscription",
                     "events.subscription"]
    with api.hub.transaction() as session:
        about = session.scalars(select(AuditSubject.entry_id).where(AuditSubject.person_key == key)).all()
    about_kinds = sorted(json.loads(e.payload)["kind"] for e in entries if e.id in set(about))
    assert about_kinds == ["access.decision", "access.decision", "events.record"]
    assert nino not in " ".join(e.payload for e in entries)


def test_a_failure_part_way_leaves_nothing_behind(api: EventsApi, monkeypatch: pytest.MonkeyPatch) -> None:
    api.subscribe(url="http://127.0.0.1:9/hook")
    api.subscribe()
    before = counts(api.hub)
    real = recording.record
    calls = []

    def second_fails(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        result = real(*args, **kwargs)  # the first decision, its audit entry and the event are written...
        if len(calls) == 2:
            raise RuntimeError("the database went away")  # ...then the second subscription's fails
        return result

    monkeypatch.setattr(recording, "record", second_fails)
    with pytest.raises(RuntimeError), api.hub.transaction() as session:
        events.record_events(session, api.hub, "gro", "registrar", [events.NewEvent("death", utcnow(),
                             death()["data"])], now=utcnow(), request_id="r1")
    assert len(calls) == 2
    after = counts(api.hub)
    assert {t: after[t] for t in OUTBOX_TABLES} == {t: before[t] for t in OUTBOX_TABLES}


def test_only_matching_active_subscriptions_get_outbox_rows(api: EventsApi) -> None:
    paused = api.subscribe()
    api.client.patch(f"/v1/events/subscriptions/{paused['id']}", json={"state": "paused"}, headers=api.auth("dwp"))
    ended = api.subscribe()
    api.client.delete(f"/v1/events/subscriptions/{ended['id']}", headers=api.auth("dwp"))
    live = api.subscribe()
    assert api.recorded()["subscriptions_notified"] == 1
    assert [d.subscription_id for d in _rows(api, EventDelivery)] == [live["id"]]


def test_sequences_are_unique_and_gapless_under_concurrent_recording(api: EventsApi) -> None:
    api.subscribe()
    errors = []

    def record(worker: int) -> None:
        try:
            for n in range(5):
                with api.hub.transaction() as session:
                    events.record_events(session, api.hub, "gro", f"w{worker}",
                                         [events.NewEvent("death", utcnow(), death(worker * 100 + n)["data"])],
                                         now=utcnow(), request_id=f"r{worker}-{n}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    sequences = sorted(e.sequence for e in _rows(api, RegistrationEvent))
    assert sequences == list(range(1, 21))
    assert len(_rows(api, EventDelivery)) == 20


def test_a_file_of_events_is_one_decision_per_subscription(api: EventsApi) -> None:
    api.subscribe()
    # Fifty people (each born on another day); a subject key is per person, not per registration.
    born = [(date(1941, 1, 1) + timedelta(days=n)).isoformat() for n in range(50)]
    batch = [events.NewEvent("death", utcnow(), death(n, data={"date_of_birth": born[n]})["data"]) for n in range(50)]
    with api.hub.transaction() as session:
        recorded = events.record_events(session, api.hub, "gro", "bulk", batch, now=utcnow(), request_id="bulk")
    assert [e.sequence for e in recorded.events] == list(range(1, 51))
    [decision] = _rows(api, DecisionRecord, action="events.receive")
    assert decision.records == 50
    with api.hub.transaction() as session:
        subjects = session.scalars(select(AuditSubject.person_key).where(
            AuditSubject.entry_id == select(AuditEntry.id).where(AuditEntry.kind == "access.decision")
            .scalar_subquery())).all()
    assert len(set(subjects)) == 50


def test_an_events_subject_is_its_nino_else_its_names_and_date_of_birth(api: EventsApi) -> None:
    nino = "JG103759A"
    with_nino = api.recorded(1, subject={"nino": nino})
    by_names = api.recorded(2)  # the same names and date of birth, registered without a NINO
    same_person = api.recorded(3, data={"first_name": "MARGARET ", "surname": "holloway"})
    no_birth_date = api.recorded(4, data={"date_of_birth": None})
    keys = {e.id: e.subject_key for e in _rows(api, RegistrationEvent)}
    assert keys[with_nino["id"]] == api.hub.person_key("nino", nino)
    identity = subject_key(api.hub, first_name="Margaret", surname="Holloway", dob="1941-03-17")
    assert identity is not None and identity != keys[with_nino["id"]]
    assert keys[by_names["id"]] == keys[same_person["id"]] == identity
    assert keys[no_birth_date["id"]] is None  # not enough to name anyone
    with api.hub.transaction() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.kind == "events.record")
                                  .where(AuditEntry.payload.contains('"last_sequence":4'))).all()
        named = session.scalars(select(AuditSubject.person_key).where(AuditSubject.entry_id == entry.id)).all()
    assert named == []


def test_idempotency_key_records_once(api: EventsApi) -> None:
    first = api.record(death(7), Idempotency_Key="gro-7")
    again = api.record(death(7), Idempotency_Key="gro-7")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(_rows(api, RegistrationEvent)) == 1


@pytest.mark.parametrize(
    ("change", "status", "mentions"),
    [
        ({"data": {"nino": "JG103759A"}}, 422, "not a registered field"),
        ({"data": {"date_of_death": None}}, 422, "needs 'date_of_death'"),
        ({"data": {"date_of_death": "yesterday"}}, 422, "not a date"),
        ({"data": {"surname": {"nested": 1}}}, 422, "data.surname"),
        ({"data": {"surname": "x" * 501}}, 422, "data.surname"),
        ({"registered_at": "2026-11-20T10:00:00"}, 422, "registered_at"),
        ({"registered_at": "2999-01-01T00:00:00Z"}, 422, "in the future"),
        ({"registered_at": "0001-01-01T00:00:00+01:00"}, 422, "1837"),
        ({"kind": "divorce"}, 422, "kind"),
        ({"kind": "birth", "data": {"date_of_birth": "2026-11-01"}}, 422, "gro-births"),
        ({"subject": {"nino": "not a nino"}}, 422, "national insurance"),
        ({"extra": 1}, 422, "extra"),
    ],
)
def test_bad_events_are_refused_and_nothing_is_stored(api: EventsApi, change: dict, status: int,
                                                      mentions: str) -> None:
    api.subscribe()
    change = dict(change)  # the parameter is shared by both backends' runs
    body = death()
    body["data"].update(change.pop("data", {}))
    body["data"] = {k: v for k, v in body["data"].items() if v is not None}
    body.update(change)
    api.token("gro")
    before = counts(api.hub)
    api.problem(api.record(body), status, mentions)
    assert counts(api.hub) == before


def test_only_the_registration_service_records(api: EventsApi) -> None:
    for who in ("gro", "dwp", "admin"):
        api.token(who)
    investigator = {"Authorization": f"Bearer {api.officer_token(api.add_officer('gro', None, 'investigator'))}"}
    before = counts(api.hub)
    api.problem(api.record(who="dwp"), 403, "registration service")
    api.problem(api.record(who="admin"), 403, "registration service")
    api.problem(api.client.post("/v1/events", json=death()), 401)
    api.problem(api.client.post("/v1/events", json=death(), headers=investigator), 403, "body.act")
    api.problem(api.client.post("/v1/events", content=b"{not json", headers={**api.auth("gro"),
                "Content-Type": "application/json"}), 400)
    assert counts(api.hub) == before
