"""`accord events`: record a file, subscribe, deliver, feed, dead letters, replay, unsubscribe."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from accord_testing import add_officer
from accord_testing import count_rows as counts
from events_support import EventsApi, FlakyReceiver, death
from sqlalchemy import select

from accord.storage.models import DecisionRecord
from accord.storage.tables.events import EventDelivery, EventSubscription, RegistrationEvent

CSV_HEADER = "kind,registered_at,subject_nino," + ",".join(death()["data"])


@pytest.fixture
def accord(api: EventsApi, accord_on):  # noqa: ANN001, ANN201 - the command line on the test hub
    return accord_on(api.hub)


def _csv(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "deaths.csv"
    path.write_text("\n".join([CSV_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _row(n: int, **changes: str) -> str:
    data = {**death(n)["data"], **changes}
    return ",".join(["death", "2026-11-20T10:00:00Z", ""] + [data[k] for k in death()["data"]])


def test_record_a_csv_file_in_one_transaction(accord, api: EventsApi, tmp_path: Path) -> None:  # noqa: ANN001
    api.subscribe()
    code, out, _ = accord("events", "record", str(_csv(tmp_path, _row(1), _row(2), _row(3))), "--body", "gro")
    assert code == 0, out
    assert "recorded 3 event(s), sequence 1 to 3" in out and "1 subscription decision(s) allowed" in out
    with api.hub.transaction() as session:
        assert len(session.scalars(select(RegistrationEvent)).all()) == 3
        assert len(session.scalars(select(EventDelivery)).all()) == 3


@pytest.mark.parametrize(
    ("rows", "mentions"),
    [
        ((_row(1), _row(2, date_of_death="31/02/2026")), "row 3: 'date_of_death' is not a date"),
        ((_row(1), "death,next tuesday,," + ",".join(death()["data"].values())), "row 3, column registered_at"),
        ((_row(1), _row(2) + ",extra"), "row 3: more values than columns"),
    ],
)
def test_a_bad_row_names_itself_and_nothing_is_recorded(accord, api: EventsApi, tmp_path: Path, rows: tuple,
                                                         mentions: str) -> None:  # noqa: ANN001
    before = counts(api.hub)
    code, out, err = accord("events", "record", str(_csv(tmp_path, *rows)), "--body", "gro")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert mentions in lines[0] and "deaths.csv" in lines[0]
    assert counts(api.hub) == before


def test_record_json_names_the_item_at_fault(accord, api: EventsApi, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "events.json"
    bad = death(2)
    bad["data"]["eye_colour"] = "blue"
    path.write_text(json.dumps([death(1), bad]), encoding="utf-8")
    code, _, err = accord("events", "record", str(path), "--body", "gro")
    assert code == 2 and "events.json: item 2: not a registered field of 'gro-deaths': eye_colour" in err
    code, _, err = accord("events", "record", str(path), "--body", "dwp")
    assert code == 2 and "registration service" in err
    path.write_text("[{", encoding="utf-8")
    code, _, err = accord("events", "record", str(path), "--body", "gro")
    assert code == 2 and "invalid JSON at line 1" in err


def test_subscribe_deliver_dead_letters_replay_feed(accord, api: EventsApi) -> None:  # noqa: ANN001
    with FlakyReceiver(keep_bodies=True, down=True) as receiver:
        code, out, _ = accord("events", "subscribe", "dwp", "--kind", "death", "--url", receiver.url())
        assert code == 0, out
        subscription = re.search(r"subscription (sub-[0-9a-f]+)", out).group(1)
        receiver.secrets[subscription] = re.search(r"signing secret: (whsec_\S+)", out).group(1)
        ids = [api.recorded(n)["id"] for n in range(2)]

        code, out, _ = accord("events", "deliver", "--once", "--max-attempts", "1")
        assert code == 0 and "delivered 0" in out and "dead-lettered 2" in out
        code, out, _ = accord("events", "dead-letters", subscription)
        assert code == 0 and all(event_id in out for event_id in ids)
        code, out, _ = accord("events", "subscriptions", "--body", "dwp")
        assert code == 0 and subscription in out and "503" in out

        receiver.down = False
        code, out, _ = accord("events", "dead-letters", subscription, "--requeue")
        assert code == 0 and "re-queued 2" in out
        code, out, _ = accord("events", "deliver", "--once")
        assert code == 0 and "delivered 2" in out
        assert set(receiver.bodies) == set(ids) and receiver.stats.bad_signatures == 0

        code, out, _ = accord("events", "replay", subscription, "--from", "1")
        assert code == 0 and "re-queued 1" in out
        accord("events", "deliver", "--once")
        assert receiver.stats.duplicates == 1

    code, out, _ = accord("events", "feed", "dwp", "--after", "1")
    page = json.loads(out)
    assert [e["id"] for e in page["events"]] == ids[1:] and "postcode" not in page["events"][0]["data"]
    code, out, _ = accord("events", "unsubscribe", subscription)
    assert code == 0
    with api.hub.transaction() as session:
        assert session.get(EventSubscription, subscription).state == "ended"


def test_bad_options_are_one_line(accord) -> None:  # noqa: ANN001
    code, _, err = accord("events", "deliver", "--once", "--concurrency", "0")
    assert code == 2 and "--concurrency" in err
    code, _, err = accord("events", "replay", "sub-nope")
    assert code == 2 and "no subscription 'sub-nope'" in err
    code, _, err = accord("events", "subscribe", "hmrc", "--kind", "death")
    assert code == 2 and "hmrc may not receive death events" in err
    code, _, err = accord("events", "record", "missing.csv", "--body", "gro")
    assert code == 2 and "no such file" in err


def test_purge_deletes_old_events_but_keeps_what_is_owed(accord, api: EventsApi) -> None:  # noqa: ANN001
    from datetime import timedelta

    from sqlalchemy import update

    from accord.clock import utcnow

    api.subscribe(url="http://127.0.0.1:9/hook")
    api.subscribe()
    for n in range(3):
        api.recorded(n)
    with api.hub.transaction() as session:
        session.execute(update(RegistrationEvent).values(recorded_at=utcnow() - timedelta(days=40)))
        owed = session.scalar(select(EventDelivery).where(EventDelivery.event_sequence == 3,
                                                          EventDelivery.state == "pending"))
        session.execute(update(EventDelivery).where(EventDelivery.state == "pending",
                                                    EventDelivery.id != owed.id).values(state="delivered"))
    code, out, _ = accord("events", "purge", "--older-than", "30")
    assert code == 0 and "deleted 2 event(s)" in out
    with api.hub.transaction() as session:
        assert [e.sequence for e in session.scalars(select(RegistrationEvent))] == [3]
        assert {d.event_sequence for d in session.scalars(select(EventDelivery))} == {3}
    code, _, err = accord("events", "purge", "--older-than", "0")
    assert code == 2 and "--older-than" in err


# ------------------------------------------------------------------ accord deceased check

DEAD_OPTIONS = ("--first-name", "Margaret", "--surname", "Holloway", "--dob", "1941-03-17")


def _decisions(api: EventsApi) -> list[DecisionRecord]:
    with api.hub.transaction() as session:
        return list(session.scalars(select(DecisionRecord).where(DecisionRecord.action == "deceased.check")
                                    .order_by(DecisionRecord.id)))


def test_deceased_check_answers_true_or_false_and_records_the_decision(  # noqa: ANN001
    accord, api: EventsApi
) -> None:
    api.recorded(1)
    officer = add_officer(api.hub, "dwp", "oidc|bereavement", name="Bea Reavement")
    code, out, err = accord("deceased", "check", "--body", "dwp", *DEAD_OPTIONS, "--officer", "oidc|bereavement")
    assert code == 0, err
    assert out.startswith("recorded as deceased; decision ") and "under gro-deaths-to-dwp" in out
    for value in ("2026-11-18", "NE1 4ST", "D000001"):  # nothing about the record
        assert value not in out
    [decision] = _decisions(api)
    assert decision.allowed and decision.body_id == "dwp" and decision.officer == f"officer:{officer['id']} (Bea Reavement)"
    assert f"decision {decision.id} " in out
    assert decision.fields_permitted == ["first_name", "surname", "date_of_birth", "date_of_death"]

    code, out, err = accord("deceased", "check", "--body", "dwp", "--first-name", "Peter", "--surname", "Okafor",
                            "--dob", "1980-06-02", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["deceased"] is False and set(answer) == {"deceased", "decision_id", "agreement_id", "decided_at",
                                                           "request_id"}
    assert answer["decision_id"] == _decisions(api)[-1].id


def test_deceased_check_refused_exits_1_with_the_recorded_reasons(  # noqa: ANN001
    accord, api: EventsApi
) -> None:
    api.recorded(1)
    # gro-deaths-to-dwp (on_excess_fields: deny) does not name the postcode a check given one would read.
    code, out, err = accord("deceased", "check", "--body", "dwp", *DEAD_OPTIONS, "--postcode", "NE1 4ST")
    assert code == 1 and out == "", out
    [refusal] = _decisions(api)
    assert not refusal.allowed and refusal.agreement_id == "gro-deaths-to-dwp"
    assert err.startswith(f"refused (decision {refusal.id}, recorded in the audit log):")
    assert "postcode" in err and "deceased" not in out
    code, _, err = accord("deceased", "check", "--body", "hmrc", *DEAD_OPTIONS)
    assert code == 1 and "refused" in err and "no agreement" in err
    assert [d.allowed for d in _decisions(api)] == [False, False] and _decisions(api)[-1].body_id == "hmrc"


@pytest.mark.parametrize(
    ("changes", "mentions"),
    [
        (("--dob", "17/03/1941"), "--dob must be a date as YYYY-MM-DD"),
        (("--dob", "2999-01-01"), "--dob must be a past date"),
        (("--first-name", " "), "--first-name and --surname must not be empty"),
        (("--nino", "not-a-nino"), "National Insurance"),
    ],
)
def test_deceased_check_bad_input_exits_2_and_records_nothing(accord, api: EventsApi, changes: tuple,
                                                              mentions: str) -> None:  # noqa: ANN001
    api.recorded(1)
    options = dict(zip(DEAD_OPTIONS[::2], DEAD_OPTIONS[1::2], strict=True))
    options.update(dict(zip(changes[::2], changes[1::2], strict=True)))
    before = counts(api.hub)
    code, out, err = accord("deceased", "check", "--body", "dwp", *[x for pair in options.items() for x in pair])
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert mentions in lines[0] and out == ""
    assert counts(api.hub) == before


def test_deceased_check_needs_its_options(accord) -> None:  # noqa: ANN001
    code, _, err = accord("deceased", "check", "--body", "dwp", "--first-name", "Margaret", "--surname", "Holloway")
    assert code == 2 and "--dob" in err


def test_deceased_check_for_an_unknown_body_is_bad_input_and_records_nothing(accord, api: EventsApi) -> None:  # noqa: ANN001
    before = counts(api.hub)
    run = accord("deceased", "check", "--body", "no-such-body", *DEAD_OPTIONS)
    run.assert_bad_input("no-such-body")
    assert counts(api.hub) == before
