"""`accord events`: record a file, subscribe, deliver, feed, dead letters, replay, unsubscribe."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from events_support import EventsApi, FlakyReceiver, counts, death
from sqlalchemy import select

from accord.cli import common, main
from accord.storage.tables.events import EventDelivery, EventSubscription, RegistrationEvent

CSV_HEADER = "kind,registered_at,subject_nino," + ",".join(death()["data"])


@pytest.fixture
def accord(api: EventsApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):  # noqa: ANN201
    settings = api.hub.settings
    monkeypatch.setenv("ACCORD_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("ACCORD_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ACCORD_ENVIRONMENT", "test")
    monkeypatch.setattr(common.console, "_width", 250)

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["accord", *args])
        with pytest.raises(SystemExit) as exit_:
            main.run()
        out = capsys.readouterr()
        return exit_.value.code or 0, out.out, out.err

    return invoke


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
