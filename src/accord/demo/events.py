"""Demo of civil-registration events, and the loopback webhook receiver it (and the tests and
the benchmark) sends to.

``run(ctx)``: DWP subscribes to deaths with a webhook on loopback; GRO records the death of
one synthetic person through the API; the dispatcher delivers it, signed; the receiver
verifies the signature; DWP reads the same event from the pull feed (without the postcode,
which its agreement does not disclose); and DWP checks whether a living and the dead
person are recorded as deceased.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from accord.clock import utcnow
from accord.services.events import SIGNATURE_HEADER, Dispatcher, verify_signature

# ------------------------------------------------------------------ the receiver


@dataclass
class ReceiverStats:
    calls: int = 0
    accepted: int = 0
    failed: int = 0  # refused on purpose (the random failures)
    bad_signatures: int = 0
    duplicates: int = 0  # accepted again: the receiver de-duplicates them by event id
    received: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # subscription -> event ids

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "accepted": self.accepted, "failed": self.failed,
            "bad_signatures": self.bad_signatures, "duplicates": self.duplicates,
            "distinct": sum(len(ids) for ids in self.received.values()),
        }


class LoopbackReceiver:
    """A webhook receiver on 127.0.0.1, as a body would write one.

    For every POST it checks ``Accord-Signature`` with the subscription's secret (401 if it
    does not verify), then fails a chosen share of calls at random (503, nothing kept), and
    otherwise keeps the event id, de-duplicating repeats, and answers 204. ``GET /stats``
    returns the counts. A small asyncio HTTP/1.1 server (keep-alive, Content-Length bodies
    only) so that the receiver costs little next to the sender being measured.
    """

    def __init__(self, secrets: dict[str, str] | None = None, *, fail_rate: float = 0.0, seed: int = 0,
                 keep_bodies: bool = False, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secrets = dict(secrets or {})
        self.fail_rate = fail_rate
        self.keep_bodies = keep_bodies
        self.bodies: dict[str, dict] = {}
        self.stats = ReceiverStats()
        self.host, self.port = host, port
        self._random = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # the HTTP side

    def handle(self, method: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if method == "GET":
            return 200, json.dumps(self.stats.as_dict()).encode()
        if method != "POST":
            return 405, b""
        self.stats.calls += 1
        subscription = headers.get("accord-subscription-id", "")
        secret = self.secrets.get(subscription)
        if secret is None or not verify_signature(secret, headers.get(SIGNATURE_HEADER.lower(), ""), body):
            self.stats.bad_signatures += 1
            return 401, b'{"error":"signature"}'
        if self.fail_rate and self._random.random() < self.fail_rate:
            self.stats.failed += 1
            return 503, b'{"error":"try again"}'
        event_id = headers.get("accord-event-id", "")
        seen = self.stats.received[subscription]
        if event_id in seen:
            self.stats.duplicates += 1
        else:
            seen.add(event_id)
            if self.keep_bodies:
                self.bodies[event_id] = json.loads(body)
        self.stats.accepted += 1
        return 204, b""

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ", 1)[0]
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                status, payload = self.handle(method, headers, body)
                writer.write(
                    f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}\r\nContent-Length: {len(payload)}\r\n"
                    f"Content-Type: application/json\r\n\r\n".encode() + payload
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    # lifecycle

    async def serve(self) -> None:
        """Serve on the running loop until ``stop`` (used directly by the benchmark's process)."""
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        await self._stopping.wait()
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await asyncio.sleep(0.05)  # let the connection handlers see their sockets close

    def start(self) -> LoopbackReceiver:
        self._thread = threading.Thread(target=lambda: asyncio.run(self.serve()), name="accord-loopback-receiver",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the loopback receiver did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def __enter__(self) -> LoopbackReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------ the demo


def _person_details(ctx, nino: str) -> dict[str, Any]:  # noqa: ANN001
    """First name, surname, date of birth and postcode of a synthetic person (from the answer key)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    population = ctx.synth_dir / "truth" / "population"
    persons = pq.read_table(population / "persons.parquet",
                            columns=["first_name", "surname", "date_of_birth", "nino", "uprn"])
    row = persons.filter(pc.equal(persons["nino"], nino)).to_pylist()[0]
    addresses = pq.read_table(population / "addresses.parquet", columns=["uprn", "postcode"])
    found = addresses.filter(pc.equal(addresses["uprn"], row["uprn"])).to_pylist()
    return {"first_name": row["first_name"], "surname": row["surname"],
            "date_of_birth": row["date_of_birth"].isoformat(), "postcode": found[0]["postcode"] if found else None}


def run(ctx) -> None:  # noqa: ANN001
    console = ctx.console
    console.rule("Civil-registration events")
    living, dying = ctx.people[0], ctx.people[-1]
    dwp = {"Authorization": f"Bearer {ctx.token('dwp')}"}  # the bereavement service's system
    gro = {"Authorization": f"Bearer {ctx.token('gro')}"}  # the registration system
    with LoopbackReceiver(keep_bodies=True) as receiver, httpx.Client(base_url=ctx.url, timeout=20) as http:
        created = http.post("/v1/events/subscriptions", headers=dwp,
                            json={"kinds": ["death"], "url": receiver.url("/dwp/deaths")})
        created.raise_for_status()
        subscription = created.json()
        receiver.secrets[subscription["id"]] = subscription["signing_secret"]
        console.print(f"DWP subscribed to deaths under {subscription['agreement']} "
                      f"(webhook {receiver.url('/dwp/deaths')}, fields: {', '.join(subscription['fields']['death'])})",
                      highlight=False)

        details = _person_details(ctx, dying.nino)
        death = {"registration_id": "DEMO-D-0001", **details, "date_of_death": utcnow().date().isoformat()}
        recorded = http.post("/v1/events", headers={**gro, "Idempotency-Key": "demo-death-1"},
                             json={"kind": "death", "registered_at": utcnow().isoformat(), "data": death,
                                   "subject": {"nino": dying.nino}})
        recorded.raise_for_status()
        event = recorded.json()
        console.print(f"GRO recorded the death of {dying.name} (synthetic): event {event['id']}, "
                      f"sequence {event['sequence']}, {event['subscriptions_notified']} subscription(s) notified",
                      highlight=False)

        dispatcher = Dispatcher.for_hub(ctx.hub)  # the server's own dispatcher may get there first
        deadline = time.monotonic() + 15
        while event["id"] not in receiver.bodies and time.monotonic() < deadline:
            if dispatcher.deliver_due().claimed == 0:
                time.sleep(0.05)
        got = receiver.bodies.get(event["id"])
        console.print(f"Webhook delivered: {'yes' if got else 'NO'}; signature verified by the receiver: "
                      f"{'yes' if got and receiver.stats.bad_signatures == 0 else 'NO'}; "
                      f"fields sent: {', '.join(got['data']) if got else '-'}", highlight=False)

        page = http.get("/v1/events", headers=dwp, params={"after": event["sequence"] - 1}).json()
        console.print(f"Pull feed for DWP: {len(page['events'])} event(s), next cursor {page['next']}; "
                      f"the postcode GRO recorded is not disclosed: {'postcode' not in page['events'][0]['data']}",
                      highlight=False)

        for person, label in ((living, "living"), (dying, "recorded dead")):
            body = {**_person_details(ctx, person.nino), "nino": person.nino}  # as DWP holds them
            body.pop("postcode")
            answer = http.post("/v1/deceased-checks", headers=dwp, json=body).json()
            console.print(f"Deceased check for {person.name} ({label}): {json.dumps({'deceased': answer['deceased']})}",
                          highlight=False)
