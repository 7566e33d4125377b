"""Event delivery benchmark: 100k events to 5 subscribers, through a receiver that fails 10% of calls.

Run on demand, never as a test:

    .venv/bin/python bench/events.py                 # the issue's run: 100,000 events x 5 subscribers
    .venv/bin/python bench/events.py --quick         # smoke test (2,000 events, < 1 minute)
    .venv/bin/python bench/events.py --events 20000 --concurrency 64 --database postgresql+psycopg://...

Target (issue 6): 100k events delivered to 5 subscribers with a receiver that randomly fails
10% of calls: all delivered, none lost.

What runs: a fresh hub (SQLite by default) with the example register and five bodies, each
subscribed to deaths by webhook under its own civil-registration agreement (different
fields each). The events are recorded in batches of 1,000 (event rows, one decision and
audit entry per subscriber and batch, outbox rows: one transaction per batch). The
receiver is ``accord.demo.events.LoopbackReceiver`` in a separate process on loopback: it
verifies every signature, fails 10% of calls at random (503), and de-duplicates by event
id. The dispatcher then empties the outbox (claim with a lease, send signed with httpx,
record; retries with back-off). Checked at the end: every outbox row delivered, none dead,
and the receiver holds exactly the recorded event ids for every subscriber.

Baseline, in the same run and against the same receiver process, half before and half
after the delivery run (the machine is shared; its load drifts): signed POSTs of the same bodies, sent straight from httpx with the same concurrency and
retried at once on failure, with no database at all (one pooled httpx client
and a pool of threads, as the dispatcher uses): the cost of the HTTP calls alone.

Results go to bench/results/events-<date>-<events>k.json (or -quick); docs/performance.md summarises them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from accord.clock import utcnow  # noqa: E402
from accord.config import load_settings  # noqa: E402
from accord.demo.events import LoopbackReceiver  # noqa: E402
from accord.demo.seed import seed_agreements, seed_registry  # noqa: E402
from accord.registry import agreements, bodies, confirmations, lifecycle  # noqa: E402
from accord.registry.specs import AgreementSpec, BodySpec  # noqa: E402
from accord.runtime import Hub  # noqa: E402
from accord.services import events  # noqa: E402
from accord.services.events import Dispatcher, signature, signing_secret  # noqa: E402
from accord.storage.tables.events import EventDelivery, RegistrationEvent  # noqa: E402
from machine import describe  # noqa: E402 - bench/machine.py, beside this script

RESULTS = ROOT / "bench" / "results"
DEATH_FIELDS = ["registration_id", "first_name", "surname", "date_of_birth", "date_of_death", "postcode"]
# Five subscribers, each under its own agreement disclosing different fields (DWP's is the demo's).
SUBSCRIBERS = {
    "dwp": None,
    "hmrc": ["registration_id", "surname", "date_of_birth", "date_of_death"],
    "ons": ["date_of_birth", "date_of_death", "postcode"],
    "northshire-council": ["surname", "date_of_death", "postcode"],
    "example-nhs-trust": ["registration_id", "first_name", "surname", "date_of_birth", "date_of_death"],
}
FIRST = ["Margaret", "John", "Aisha", "Wei", "Olusegun", "Siobhan", "Tomasz", "Priya", "David", "Fatima"]
SURNAMES = ["Holloway", "Smith", "Khan", "Chen", "Adeyemi", "Murphy", "Nowak", "Patel", "Jones", "Ali"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_receiver(port: int, secrets: dict[str, str], fail_rate: float, seed: int) -> None:
    """The receiver process: one LoopbackReceiver on its own event loop."""
    receiver = LoopbackReceiver(secrets, fail_rate=fail_rate, seed=seed, port=port)
    asyncio.run(receiver.serve())


def receiver_stats(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/stats", timeout=30).json()


def wait_for(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            receiver_stats(port)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver process did not start") from None
            time.sleep(0.1)


# ------------------------------------------------------------------ set-up


def build_hub(data_dir: Path, database: str | None) -> Hub:
    settings = load_settings(data_dir=data_dir, environment="test",
                             database_url=database or f"sqlite:///{(data_dir / 'accord.db').as_posix()}")
    hub = Hub.open(settings)
    now = utcnow()
    with hub.transaction() as session:
        seed_registry(session, hub.framework, now)
        seed_agreements(session, hub.framework, now)
        bodies.add_body(session, hub.framework, BodySpec(id="example-nhs-trust", name="Example NHS Trust (fictional)",
                                                         body_type="nhs_body"), now)
        for body_id, fields in SUBSCRIBERS.items():
            if fields is None:
                continue
            spec = AgreementSpec(
                id=f"gro-deaths-to-{body_id}"[:64], name=f"Deaths to {body_id} (benchmark)", gateway="civil_registration",
                purpose="Stop letters and payments to people who have died.", benefits="Fewer letters to the deceased.",
                disclosers=["gro"], recipients=[body_id], data=[{"dataset": "gro-deaths", "fields": fields}],
                sharing_method="Event notifications through the Accord hub.", retention="P1Y",
                start_date=now.date() - timedelta(days=30), end_date=now.date() + timedelta(days=365),
                contact="bench@example.org", areas=["England"],
            )
            agreement = agreements.create_draft(session, hub.framework, spec, "accord-hub", now - timedelta(weeks=11))
            for party in confirmations.still_to_confirm(agreement):  # every named party confirms the draft
                confirmations.confirm(session, agreement, party, actor=f"{party} (benchmark)",
                                      now=now - timedelta(weeks=10))
            lifecycle.transition(session, hub.framework, agreement, "consultation", actor="accord-hub",
                                 now=now - timedelta(weeks=10))
            lifecycle.transition(session, hub.framework, agreement, "active", actor="accord-hub", now=now)
    return hub


def subscribe_all(hub: Hub, port: int) -> dict[str, str]:
    secrets = {}
    with hub.transaction() as session:
        for body_id in SUBSCRIBERS:
            subscription = events.create_subscription(
                session, hub, body_id, "bench", kinds=["death"], url=f"http://127.0.0.1:{port}/{body_id}",
                agreement_id=None, fields=None, now=utcnow(), request_id="bench",
            )
            secrets[subscription.id] = signing_secret(hub.settings.secret_key.get_secret_value(), subscription.id, 1)
    return secrets


def synthetic_deaths(count: int, seed: int) -> list[events.NewEvent]:
    rng = random.Random(seed)
    now = utcnow()
    made = []
    for n in range(count):
        born = datetime(1925, 1, 1) + timedelta(days=rng.randrange(0, 365 * 70))
        died = now.date() - timedelta(days=rng.randrange(1, 60))
        made.append(events.NewEvent("death", now - timedelta(hours=rng.randrange(1, 48)), {
            "registration_id": f"B{n:08d}", "first_name": rng.choice(FIRST), "surname": rng.choice(SURNAMES),
            "date_of_birth": born.date().isoformat(), "date_of_death": died.isoformat(),
            "postcode": f"NE{rng.randrange(1, 30)} {rng.randrange(1, 9)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRST')}",
        }))
    return made


def record_all(hub: Hub, deaths: list[events.NewEvent], batch: int) -> tuple[float, list[str]]:
    started = time.perf_counter()
    ids: list[str] = []
    for start in range(0, len(deaths), batch):
        with hub.transaction() as session:
            recorded = events.record_events(session, hub, "gro", "bench", deaths[start:start + batch], now=utcnow(),
                                            request_id=f"bench-{start}")
            ids += [e.id for e in recorded.events]
    return time.perf_counter() - started, ids


# ------------------------------------------------------------------ the runs


def outstanding(hub: Hub) -> dict[str, int]:
    with hub.transaction() as session:
        return dict(session.execute(select(EventDelivery.state, func.count()).group_by(EventDelivery.state)).all())


def run_accord(hub: Hub, concurrency: int, lanes: int, timeout: float) -> dict:
    dispatcher = Dispatcher.for_hub(hub, concurrency=concurrency, retry_base=0.05, retry_max=1.0, max_attempts=50,
                                    lease=60, timeout=10)
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), kwargs={"poll": 0.02, "lanes": lanes}, daemon=True)
    total = sum(outstanding(hub).values())
    started = time.perf_counter()
    thread.start()
    deadline = time.monotonic() + timeout
    shown = 0.0
    while True:  # the dispatcher's own counts (cheap), so the finish is seen within 0.1 s
        time.sleep(0.1)
        done = dispatcher.stats.delivered + dispatcher.stats.dead
        if time.perf_counter() - started - shown >= 10:
            shown = time.perf_counter() - started
            print(f"  {shown:6.0f} s  delivered {dispatcher.stats.delivered:,} / {total:,}  dead {dispatcher.stats.dead}",
                  flush=True)
        if done >= total or time.monotonic() > deadline:
            break
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join(60)
    with hub.transaction() as session:
        attempts = session.scalar(select(func.sum(EventDelivery.attempts)))
    return {"seconds": round(elapsed, 1), "states": outstanding(hub), "attempts": int(attempts or 0),
            "deliveries_per_second": round(total / elapsed, 1), "dispatcher": vars(dispatcher.stats)}


def _baseline(port: int, bodies_: list[tuple[str, bytes]], secret: str, concurrency: int) -> dict:
    """The same calls with no hub: one pooled httpx client, ``concurrency`` threads, retry at once."""
    calls = 0
    counting = threading.Lock()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=10, limits=limits) as client, ThreadPoolExecutor(concurrency) as pool:

        def one(item: tuple[str, bytes]) -> None:
            nonlocal calls
            event_id, body = item
            while True:
                with counting:
                    calls += 1
                headers = {"Content-Type": "application/json", "Accord-Event-Id": event_id,
                           "Accord-Subscription-Id": "baseline",
                           "Accord-Signature": signature(secret, int(time.time()), body)}
                response = client.post(f"http://127.0.0.1:{port}/baseline", content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    return

        for _ in pool.map(one, bodies_):
            pass
    return {"calls": calls}


def run_baseline(port: int, hub: Hub, count: int, secret: str, concurrency: int) -> dict:
    with hub.transaction() as session:
        sample = session.execute(select(EventDelivery.event_sequence).limit(1)).scalar()
        event = session.get(RegistrationEvent, sample)
        template = events.minimise(event, DEATH_FIELDS)
    bodies_ = []
    for n in range(count):
        view = {**template, "id": str(uuid.uuid4()), "sequence": n + 1, "subscription": "baseline",
                "agreement": "baseline"}
        bodies_.append((view["id"], json.dumps(view, separators=(",", ":")).encode()))
    started = time.perf_counter()
    result = _baseline(port, bodies_, secret, concurrency)
    elapsed = time.perf_counter() - started
    return {"requests": count, "calls": result["calls"], "seconds": round(elapsed, 1),
            "deliveries_per_second": round(count / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--fail-rate", type=float, default=0.10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lanes", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000, help="events recorded per transaction")
    parser.add_argument("--database", help="SQLAlchemy URL (default: SQLite in a temporary directory)")
    parser.add_argument("--baseline-requests", type=int, help="baseline POSTs (default: the deliveries, at most 100,000)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--quick", action="store_true", help="2,000 events: a smoke test")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database for inspection")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the receiver process is stopped too
    if args.quick:
        args.events = 2000
    machine = describe(**{"httpx": httpx.__version__})
    work = Path(tempfile.mkdtemp(prefix="accord-bench-events-"))
    hub = build_hub(work, args.database)
    port = free_port()
    secrets = subscribe_all(hub, port)
    baseline_secret = "whsec_baseline"
    process = multiprocessing.get_context("spawn").Process(
        target=serve_receiver, args=(port, {**secrets, "baseline": baseline_secret}, args.fail_rate, 2026), daemon=True)
    process.start()
    try:
        wait_for(port)
        print(f"recording {args.events:,} deaths for {len(secrets)} subscribers ...", flush=True)
        deaths = synthetic_deaths(args.events, seed=2026)
        record_seconds, ids = record_all(hub, deaths, args.batch)
        deliveries = args.events * len(secrets)
        print(f"  {record_seconds:.1f} s ({args.events / record_seconds:,.0f} events/s, "
              f"{deliveries / record_seconds:,.0f} outbox rows/s)", flush=True)

        count = args.baseline_requests or min(deliveries, 100_000)
        print(f"baseline before: {count // 2:,} signed POSTs straight from httpx to the same receiver ...", flush=True)
        baseline_before = run_baseline(port, hub, count // 2, baseline_secret, args.concurrency)
        print(f"  {baseline_before['seconds']} s: {baseline_before['deliveries_per_second']:,} deliveries/s", flush=True)

        print(f"delivering {deliveries:,} webhooks (receiver fails {args.fail_rate:.0%} of calls) ...", flush=True)
        before = receiver_stats(port)
        accord = run_accord(hub, args.concurrency, args.lanes, args.timeout)
        after = receiver_stats(port)
        with hub.transaction() as session:
            subscriptions = [s.id for s in events.list_subscriptions(session, None)]
        complete = accord["states"].get("delivered", 0) == deliveries and not accord["states"].get("dead")
        print(f"  {accord['seconds']} s: {accord['deliveries_per_second']:,} deliveries/s; states {accord['states']}",
              flush=True)

        print(f"baseline after: {count - count // 2:,} signed POSTs ...", flush=True)
        baseline_after = run_baseline(port, hub, count - count // 2, baseline_secret, args.concurrency)
        print(f"  {baseline_after['seconds']} s: {baseline_after['deliveries_per_second']:,} deliveries/s", flush=True)
        final = receiver_stats(port)
    finally:
        process.terminate()
        process.join(10)
        hub.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    received_distinct = after["distinct"] - before["distinct"]
    # Both halves together: the machine is shared and its load drifts during a long run.
    baseline_rate = round((baseline_before["requests"] + baseline_after["requests"])
                          / (baseline_before["seconds"] + baseline_after["seconds"]), 1)
    result = {
        "benchmark": "events",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "database": "sqlite" if not args.database else args.database.split(":", 1)[0].split("+", 1)[0],
        "parameters": {"events": args.events, "subscribers": len(secrets), "fail_rate": args.fail_rate,
                       "concurrency": args.concurrency, "lanes": args.lanes, "record_batch": args.batch,
                       "retry_base_seconds": 0.05, "retry_max_seconds": 1.0, "max_attempts": 50},
        "recording": {"seconds": round(record_seconds, 1), "events_per_second": round(args.events / record_seconds, 1),
                      "outbox_rows_per_second": round(deliveries / record_seconds, 1)},
        "accord": {**accord, "deliveries": deliveries},
        "receiver": {"calls": after["calls"] - before["calls"], "failed": after["failed"] - before["failed"],
                     "bad_signatures": after["bad_signatures"], "duplicates": after["duplicates"] - before["duplicates"],
                     "distinct_received": received_distinct},
        "baseline": {"before": baseline_before, "after": baseline_after,
                     "deliveries_per_second": baseline_rate,
                     "receiver_failed": final["failed"] - after["failed"] + before["failed"]},
        "all_delivered_none_lost": bool(complete and received_distinct == deliveries and len(ids) == args.events),
        "ratio_to_baseline": round(accord["deliveries_per_second"] / baseline_rate, 3),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mb_bench_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "subscriptions": subscriptions,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    size = ("quick" if args.quick else f"{args.events // 1000}k") + ("-" + result["database"] if args.database else "")
    name = f"events-{datetime.now(UTC).date().isoformat()}-{size}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("all_delivered_none_lost", "ratio_to_baseline")}, indent=2))
    print(f"written to bench/results/{name}")


if __name__ == "__main__":
    main()
