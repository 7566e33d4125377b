"""`accord events`: record civil-registration events, manage subscriptions, run the webhook dispatcher."""

from __future__ import annotations

import csv
import json
import re
import signal
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from accord.cli.common import OFFICER_HELP, acting, console, open_hub, operator, print_json
from accord.clock import utcnow
from accord.errors import InvalidInput
from accord.services import events

app = typer.Typer(help="Civil-registration events: record, subscribe, deliver, read the feed.", no_args_is_help=True)

Officer = Annotated[str | None, typer.Option(help=OFFICER_HELP)]


# ------------------------------------------------------------------ reading an events file


def _parse_time(value: Any, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{where}: '{value}' is not a date and time (e.g. 2026-11-22T10:00:00Z)") from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{where}: '{value}' needs a time zone (e.g. 2026-11-22T10:00:00Z)")
    return parsed


def _from_item(item: Any, where: str) -> events.NewEvent:
    if not isinstance(item, dict):
        raise InvalidInput(f"{where}: expected an object with kind, registered_at and data")
    unknown = set(item) - {"kind", "registered_at", "data", "subject"}
    if unknown:
        raise InvalidInput(f"{where}: unexpected key(s) {', '.join(sorted(unknown))}")
    data, subject = item.get("data"), item.get("subject") or {}
    if not isinstance(data, dict) or not isinstance(subject, dict):
        raise InvalidInput(f"{where}: data (and subject, if given) must be objects")
    if "registered_at" not in item:
        raise InvalidInput(f"{where}: registered_at is missing")
    return events.NewEvent(str(item.get("kind", "")), _parse_time(item["registered_at"], f"{where}, registered_at"),
                           data, subject.get("nino"))


def read_events(path: Path) -> tuple[list[events.NewEvent], list[str]]:
    """Events from CSV (columns kind, registered_at, optional subject_nino, then data fields),
    JSON (a list of API bodies) or JSON Lines; with the name of each event's place in the file."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text") from None
    found: list[events.NewEvent] = []
    places: list[str] = []
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        for column in ("kind", "registered_at"):
            if column not in (reader.fieldnames or []):
                raise InvalidInput(f"{path}: no '{column}' column (columns: {', '.join(reader.fieldnames or [])})")
        for number, row in enumerate(reader, start=2):
            where = f"{path}: row {number}"
            if None in row:
                raise InvalidInput(f"{where}: more values than columns")
            data = {k: v for k, v in row.items() if k not in ("kind", "registered_at", "subject_nino") and v}
            found.append(events.NewEvent(row["kind"], _parse_time(row["registered_at"], f"{where}, column registered_at"),
                                         data, row.get("subject_nino") or None))
            places.append(where)
    elif suffix in (".json", ".jsonl"):
        try:
            items = (json.loads(text) if suffix == ".json"
                     else [json.loads(line) for line in text.splitlines() if line.strip()])
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        if isinstance(items, dict) and "events" in items:
            items = items["events"]
        if not isinstance(items, list):
            raise InvalidInput(f"{path}: expected a list of events")
        for index, item in enumerate(items):
            where = f"{path}: {'line' if suffix == '.jsonl' else 'item'} {index + 1}"
            found.append(_from_item(item, where))
            places.append(where)
    else:
        raise InvalidInput(f"{path}: expected a .csv, .json or .jsonl file")
    if not found:
        raise InvalidInput(f"{path}: the file has no events")
    return found, places


# ------------------------------------------------------------------ commands


@app.command("record")
def record(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="CSV, JSON or JSON Lines file of events")],
    body: Annotated[str, typer.Option(help="The registration service recording them, e.g. gro")],
    officer: Officer = None,
) -> None:
    """Record a file of events in one transaction: all of them, or none if any is invalid."""
    found, places = read_events(path)
    hub = open_hub()
    try:
        recorded = events.record(hub, acting(hub, body, officer), found).body
        first, last = recorded["events"][0]["sequence"], recorded["events"][-1]["sequence"]
    except InvalidInput as refused:  # name the row or item at fault, not the service's list index
        located = re.match(r"^(?:events\[(\d+)\]|event)(?=:)", refused.detail)
        if located:
            detail = places[int(located.group(1) or 0)] + refused.detail[located.end():]
        else:
            detail = f"{path}: {refused.detail}"
        raise InvalidInput(detail, refused.problems) from None
    finally:
        hub.close()
    console.print(f"recorded {len(found)} event(s), sequence {first} to {last}; "
                  f"{recorded['subscriptions_notified']} subscription decision(s) allowed, "
                  f"{recorded['subscriptions_refused']} refused")


@app.command("subscribe")
def subscribe(
    body: Annotated[str, typer.Argument(help="The body subscribing, e.g. dwp")],
    kind: Annotated[list[str], typer.Option(help="Event kind: birth, death or marriage (repeat for several)")],
    url: Annotated[str | None, typer.Option(help="Webhook URL; leave out for the pull feed only")] = None,
    agreement: Annotated[str | None, typer.Option(help="The civil-registration agreement (found if left out)")] = None,
    field: Annotated[list[str] | None, typer.Option(help="Receive only these fields (repeat for several)")] = None,
    officer: Officer = None,
) -> None:
    """Subscribe a body to event kinds under its agreement; a webhook's signing secret is shown once."""
    hub = open_hub()
    try:
        spec = events.SubscriptionSpec(tuple(kind), url, agreement, tuple(field) if field else None)
        view = events.subscribe(hub, acting(hub, body, officer), spec).body
    finally:
        hub.close()
    console.print(f"subscription {view['id']}: {body} receives {', '.join(view['kinds'])} under {view['agreement']}")
    if url:
        console.print(f"signing secret: {view['signing_secret']}")
        console.print("Give it to the receiver to verify Accord-Signature; it is shown once.")


@app.command("subscriptions")
def subscriptions(
    body: Annotated[str | None, typer.Option(help="Only this body's subscriptions")] = None,
    ended: Annotated[bool, typer.Option("--ended", help="Include ended subscriptions")] = False,
) -> None:
    """List subscriptions with their delivery health."""
    hub = open_hub()
    table = Table("id", "body", "kinds", "state", "webhook", "pending", "delivered", "dead", "last failure")
    try:
        found = events.subscription_views(hub, acting(hub, body, None) if body else operator(hub, None), include_ended=ended)
    finally:
        hub.close()
    for view in found:
        health = view["deliveries"]
        failure = health["last_failure"]
        table.add_row(view["id"], view["body"], ", ".join(view["kinds"]), view["state"],
                      view["url"] or "(pull feed)", str(health["pending"]), str(health["delivered"]),
                      str(health["dead"]), (failure or {}).get("error") or "")
    console.print(table)


@app.command("unsubscribe")
def unsubscribe(subscription: Annotated[str, typer.Argument(help="Subscription id")], officer: Officer = None) -> None:
    """End a subscription; events not yet delivered to it are cancelled."""
    hub = open_hub()
    try:
        events.end(hub, operator(hub, officer), subscription)
    finally:
        hub.close()
    console.print(f"ended {subscription}")


@app.command("deliver")
def deliver(
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit")] = False,
    concurrency: Annotated[int | None, typer.Option(help="Webhook calls in flight (default from settings)")] = None,
    max_attempts: Annotated[int | None, typer.Option(help="Attempts before dead-lettering (default from settings)")] = None,
    poll: Annotated[float, typer.Option(help="Seconds between looks for due deliveries when idle")] = 1.0,
) -> None:
    """Run the webhook dispatcher in this process (until Ctrl+C, or once with --once)."""
    if concurrency is not None and not 1 <= concurrency <= 512:
        raise InvalidInput("--concurrency must be between 1 and 512")
    if max_attempts is not None and not 1 <= max_attempts <= 100:
        raise InvalidInput("--max-attempts must be between 1 and 100")
    if not 0.05 <= poll <= 60:
        raise InvalidInput("--poll must be between 0.05 and 60 seconds")
    hub = open_hub()
    dispatcher = events.Dispatcher.for_hub(hub, concurrency=concurrency, max_attempts=max_attempts)
    try:
        if once:
            stats = dispatcher.deliver_due()
        else:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            console.print("delivering civil-registration events; Ctrl+C to stop")
            started = time.monotonic()
            runner = threading.Thread(target=dispatcher.run, args=(stop,), kwargs={"poll": poll}, daemon=True)
            runner.start()
            try:
                while runner.is_alive():
                    runner.join(0.5)
            except KeyboardInterrupt:
                stop.set()
                runner.join(60)  # finish the batches in flight; anything unfinished is retried after its lease
            stats = dispatcher.stats
            console.print(f"ran {time.monotonic() - started:.0f} s")
    finally:
        hub.close()
    console.print(f"delivered {stats.delivered}, retry scheduled {stats.failed}, dead-lettered {stats.dead}, "
                  f"held {stats.held}, cancelled {stats.cancelled}")


@app.command("feed")
def feed(
    body: Annotated[str, typer.Argument(help="The body whose feed to read")],
    after: Annotated[int, typer.Option(help="Cursor: events after this sequence")] = 0,
    limit: Annotated[int, typer.Option(help="Events per page (1 to 1000)")] = 100,
    subscription: Annotated[str | None, typer.Option(help="Only this subscription's events")] = None,
) -> None:
    """Show a body's pull feed as it would read it (without moving its acknowledged cursor)."""
    hub = open_hub()
    try:
        page = events.feed(hub, acting(hub, body, None), after=after, limit=limit, subscription_id=subscription,
                           acknowledge=False)
    finally:
        hub.close()
    print_json(page)


@app.command("dead-letters")
def dead_letters(
    subscription: Annotated[str, typer.Argument(help="Subscription id")],
    limit: Annotated[int, typer.Option(help="At most this many")] = 100,
    requeue: Annotated[bool, typer.Option("--requeue", help="Send them all again")] = False,
    officer: Officer = None,
) -> None:
    """List a subscription's dead letters, or re-queue them with --requeue."""
    hub = open_hub()
    try:
        if requeue:
            count = events.requeue(hub, operator(hub, officer), subscription).body["requeued"]
            console.print(f"re-queued {count} dead letter(s) of {subscription}")
            return
        letters = events.dead_letters(hub, operator(hub, officer), subscription, limit)["dead_letters"]
    finally:
        hub.close()
    table = Table("sequence", "event id", "kind", "attempts", "last status", "last error")
    for letter in letters:
        table.add_row(str(letter["sequence"]), letter["event_id"], letter["kind"], str(letter["attempts"]),
                      str(letter["last_status"] or ""), letter["last_error"] or "")
    console.print(table)


@app.command("replay")
def replay(
    subscription: Annotated[str, typer.Argument(help="Subscription id")],
    from_: Annotated[int, typer.Option("--from", help="Cursor: send again every event after this sequence")] = 0,
    officer: Officer = None,
) -> None:
    """Send a subscription's events again from a cursor (receivers de-duplicate by event id)."""
    hub = open_hub()
    try:
        count = events.replay(hub, operator(hub, officer), subscription, from_).body["requeued"]
    finally:
        hub.close()
    console.print(f"re-queued {count} event(s) of {subscription} after sequence {from_}")


@app.command("purge")
def purge(
    older_than: Annotated[int, typer.Option(help="Delete events recorded more than this many days ago")],
    officer: Officer = None,
) -> None:
    """Delete old events that no webhook still owes (pending and dead-lettered ones are kept)."""
    if not 1 <= older_than <= 36500:
        raise InvalidInput("--older-than must be between 1 and 36500 days")
    hub = open_hub()
    now = utcnow()
    try:
        count = events.purge(hub, operator(hub, officer), now - timedelta(days=older_than)).body["deleted"]
    finally:
        hub.close()
    console.print(f"deleted {count} event(s) recorded before {(now - timedelta(days=older_than)).date().isoformat()}")
