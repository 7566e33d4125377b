"""Delivering events by webhook: the dispatcher that empties the outbox, at least once.

A dispatcher claims due ``pending`` rows in one short transaction (``storage.leases``:
a fresh claim token, ``next_attempt_at`` moved to the end of the lease, ``attempts``
counted), sends them concurrently with httpx, signed (``signing``), each connection to an
address checked as it is made (``addresses``), and records each
outcome only for rows still carrying its token. A 2xx marks the row delivered; any
other answer or error schedules the next attempt with exponential back-off and jitter,
or moves it to the dead letters after ``max_attempts``. If the process dies between the
claim and the record, the lease runs out and the row is simply due again. Before
sending, each subscription's agreement is checked: one suspended or not yet started
holds its events; one expired or revoked cancels them. What is sent is ``disclosure.minimise``
of the event: the fields decided for the delivery.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.registry.agreements import effective_status, not_in_force
from accord.runtime import Hub
from accord.services.events.addresses import PinnedTransport
from accord.services.events.disclosure import minimise
from accord.services.events.signing import SIGNATURE_HEADER, signature, signing_secret
from accord.storage.leases import claim_due
from accord.storage.models import Agreement
from accord.storage.tables.events import EventDelivery, EventSubscription, RegistrationEvent

log = logging.getLogger("accord.events")

USER_AGENT = "Accord-Webhooks/1"
_DELIVERIES = EventDelivery.__table__


# ------------------------------------------------------------------ dispatcher


@dataclass(frozen=True)
class Outgoing:
    """One claimed delivery, ready to send."""

    delivery_id: int
    token: str
    url: str
    body: bytes
    event_id: str
    sequence: int
    kind: str
    subscription_id: str
    secret: str
    attempt: int


@dataclass
class Outcome:
    delivery_id: int
    token: str
    attempt: int
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class DispatchStats:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    held: int = 0
    cancelled: int = 0


_COUNTS = ("claimed", "delivered", "failed", "dead", "held", "cancelled")


@dataclass
class DeliveryPolicy:
    max_attempts: int
    retry_base: float
    retry_max: float
    lease: float
    timeout: float
    concurrency: int

    @classmethod
    def from_settings(cls, settings, **overrides) -> DeliveryPolicy:  # noqa: ANN001
        values = {
            "max_attempts": settings.events_max_attempts,
            "retry_base": settings.events_retry_base_seconds,
            "retry_max": settings.events_retry_max_seconds,
            "lease": settings.events_lease_seconds,
            "timeout": settings.events_delivery_timeout_seconds,
            "concurrency": settings.events_delivery_concurrency,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def backoff(self, attempt: int) -> float:
        """Delay after the ``attempt``-th failure: exponential, capped, with 'equal jitter'."""
        ceiling = min(self.retry_max, self.retry_base * 2 ** min(attempt - 1, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass
class Dispatcher:
    """Claims due outbox rows, sends them signed, records what happened."""

    hub: Hub
    policy: DeliveryPolicy
    batch_size: int = 0
    transport: httpx.BaseTransport | None = None
    clock: Callable[[], datetime] = utcnow
    stats: DispatchStats = field(default_factory=DispatchStats)

    @classmethod
    def for_hub(cls, hub: Hub, transport: httpx.BaseTransport | None = None, **overrides) -> Dispatcher:
        return cls(hub, DeliveryPolicy.from_settings(hub.settings, **overrides), transport=transport)

    def __post_init__(self) -> None:
        if not self.batch_size:
            self.batch_size = max(8 * self.policy.concurrency, 64)
        self._secret = self.hub.settings.secret_key.get_secret_value()
        self._counting = threading.Lock()  # lanes run on threads of their own

    def _count(self, **added: int) -> None:
        with self._counting:
            for name, value in added.items():
                setattr(self.stats, name, getattr(self.stats, name) + value)

    # ---------------------------------------------------------- claim

    def claim(self, limit: int | None = None) -> list[Outgoing]:
        """Claim up to ``limit`` due deliveries in one transaction (see the module docstring)."""
        limit = limit or self.batch_size
        now = self.clock()
        # The write lock the group-commit writer holds: on SQLite a claim polled in the
        # middle of a batch would otherwise send that writer into the busy handler's sleeps.
        with self.hub.write_lock, self.hub.transaction() as session:
            token = secrets.token_hex(16)
            claimed = claim_due(
                session, EventDelivery, key=EventDelivery.id,
                due=(EventDelivery.state == "pending", EventDelivery.next_attempt_at <= now,
                     EventSubscription.state == "active"),
                join=(EventSubscription, EventSubscription.id == EventDelivery.subscription_id),
                order_by=(EventDelivery.next_attempt_at, EventDelivery.id), limit=limit,
                values={"claim_token": token, "attempts": EventDelivery.attempts + 1, "last_attempt_at": now,
                        "next_attempt_at": now + timedelta(seconds=self.policy.lease)},
            )
            if not claimed:
                return []
            rows = session.execute(
                select(  # columns, not entities: this runs for every delivery
                    EventDelivery.id.label("delivery_id"), EventDelivery.fields, EventDelivery.attempts,
                    RegistrationEvent.id, RegistrationEvent.sequence, RegistrationEvent.kind,
                    RegistrationEvent.registered_at, RegistrationEvent.recorded_at, RegistrationEvent.recorded_by,
                    RegistrationEvent.payload, EventSubscription.id.label("subscription_id"), EventSubscription.url,
                    EventSubscription.secret_version, EventSubscription.agreement_id,
                )
                .join(RegistrationEvent, RegistrationEvent.sequence == EventDelivery.event_sequence)
                .join(EventSubscription, EventSubscription.id == EventDelivery.subscription_id)
                .where(EventDelivery.claim_token == token)
                .order_by(EventDelivery.id)
            ).all()
            return self._prepare(session, rows, token, now)

    def _prepare(self, session: Session, rows: list, token: str, now: datetime) -> list[Outgoing]:
        today = now.astimezone(UTC).date()
        status = {  # None: in force; else why not, and whether that holds its events or cancels them
            a.id: _hold_or_cancel(a, today)
            for a in session.scalars(select(Agreement).where(Agreement.id.in_({row.agreement_id for row in rows})))
        }
        outgoing, held, cancelled = [], [], []
        secrets_by_subscription: dict[str, str] = {}
        for row in rows:
            agreement_status = status.get(row.agreement_id, "cancel: it no longer exists")
            if agreement_status is None:
                secret = secrets_by_subscription.get(row.subscription_id)
                if secret is None:
                    secret = signing_secret(self._secret, row.subscription_id, row.secret_version)
                    secrets_by_subscription[row.subscription_id] = secret
                view = minimise(row, row.fields)
                view["subscription"] = row.subscription_id
                view["agreement"] = row.agreement_id
                outgoing.append(
                    Outgoing(row.delivery_id, token, row.url, json.dumps(view, separators=(",", ":")).encode(),
                             row.id, row.sequence, row.kind, row.subscription_id, secret, row.attempts)
                )
            elif agreement_status.startswith("hold: "):
                held.append({"b_id": row.delivery_id, "b_error": f"held: {agreement_status[6:]}",
                             "b_at": now + timedelta(seconds=self.policy.retry_max)})
            else:
                cancelled.append({"b_id": row.delivery_id, "b_error": f"cancelled: {agreement_status[8:]}"})
        if held:  # not an attempt: the receiver was never called
            session.execute(
                update(_DELIVERIES).where(_DELIVERIES.c.id == bindparam("b_id"))
                .values(attempts=_DELIVERIES.c.attempts - 1, claim_token=None, last_error=bindparam("b_error"),
                        next_attempt_at=bindparam("b_at")),
                held,
            )
        if cancelled:
            session.execute(
                update(_DELIVERIES).where(_DELIVERIES.c.id == bindparam("b_id"))
                .values(state="cancelled", claim_token=None, last_error=bindparam("b_error")),
                cancelled,
            )
        self._count(held=len(held), cancelled=len(cancelled), claimed=len(outgoing))
        return outgoing

    # ---------------------------------------------------------- send

    def send(self, client: httpx.Client, item: Outgoing) -> Outcome:
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Accord-Event-Id": item.event_id,
            "Accord-Event-Kind": item.kind,
            "Accord-Event-Sequence": str(item.sequence),
            "Accord-Subscription-Id": item.subscription_id,
            "Accord-Delivery-Attempt": str(item.attempt),
            SIGNATURE_HEADER: signature(item.secret, timestamp, item.body),
        }
        try:
            response = client.post(item.url, content=item.body, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(item.delivery_id, item.token, item.attempt, None, _describe(exc))
        if 200 <= response.status_code < 300:
            return Outcome(item.delivery_id, item.token, item.attempt, response.status_code, None)
        return Outcome(item.delivery_id, item.token, item.attempt, response.status_code,
                       f"the receiver answered {response.status_code}")

    # ---------------------------------------------------------- record

    def settle(self, outcomes: list[Outcome]) -> None:
        """Record outcomes, only for rows still held under the claim that sent them."""
        now = self.clock()
        delivered = [{"b_id": o.delivery_id, "b_token": o.token, "b_status": o.status} for o in outcomes if o.ok]
        retry, dead = [], []
        for o in outcomes:
            if o.ok:
                continue
            row = {"b_id": o.delivery_id, "b_token": o.token, "b_status": o.status, "b_error": (o.error or "")[:500]}
            if o.attempt >= self.policy.max_attempts:
                dead.append(row)
            else:
                retry.append({**row, "b_at": now + timedelta(seconds=self.policy.backoff(o.attempt))})
        claimed = (_DELIVERIES.c.id == bindparam("b_id")) & (_DELIVERIES.c.claim_token == bindparam("b_token"))
        with self.hub.transaction() as session:
            if delivered:
                session.execute(
                    update(_DELIVERIES).where(claimed).values(
                        state="delivered", delivered_at=now, last_status=bindparam("b_status"), last_error=None,
                        claim_token=None),
                    delivered,
                )
            if retry:
                session.execute(
                    update(_DELIVERIES).where(claimed).values(
                        next_attempt_at=bindparam("b_at"), last_status=bindparam("b_status"),
                        last_error=bindparam("b_error"), claim_token=None),
                    retry,
                )
            if dead:
                session.execute(
                    update(_DELIVERIES).where(claimed).values(
                        state="dead", last_status=bindparam("b_status"), last_error=bindparam("b_error"),
                        claim_token=None),
                    dead,
                )
        self._count(delivered=len(delivered), failed=len(retry), dead=len(dead))

    # ---------------------------------------------------------- loops

    def client(self) -> httpx.Client:
        """One pooled client whose connections go only to checked addresses (``addresses``), never
        through a proxy named in the environment (it would resolve the name again)."""
        limits = httpx.Limits(max_connections=self.policy.concurrency, max_keepalive_connections=self.policy.concurrency)
        transport = self.transport or PinnedTransport(
            production=self.hub.settings.environment == "production", limits=limits)
        return httpx.Client(timeout=self.policy.timeout, limits=limits, transport=transport,
                            follow_redirects=False, trust_env=False)

    def deliver_batch(self, client: httpx.Client, pool: ThreadPoolExecutor) -> int:
        """Claim, send and record one batch; returns how many were claimed (0: nothing due)."""
        items = self.claim()
        if items:
            self.settle(list(pool.map(lambda item: self.send(client, item), items)))
        return len(items)

    def run(self, stop: threading.Event, *, poll: float = 1.0, until_idle: bool = False, lanes: int = 2) -> None:
        """Deliver until ``stop`` is set (or, with ``until_idle``, until nothing is due).

        Calls go out from a pool of ``concurrency`` threads through one pooled httpx client
        (blocking calls release the GIL; measured here, this costs a quarter of the CPU per
        call of httpx's asyncio client under concurrency). Several lanes each claim, send
        and record their own batches, so the database work of one overlaps the calls of another.
        """
        with self.client() as client, ThreadPoolExecutor(self.policy.concurrency, "accord-webhook") as pool:

            def lane() -> None:
                while not stop.is_set():
                    try:
                        sent = self.deliver_batch(client, pool)
                    except Exception:  # noqa: BLE001 - a database hiccup must not stop delivery
                        log.exception("event delivery batch failed; its claims will be retried after the lease")
                        sent = 0
                    if sent == 0:
                        if until_idle:
                            return
                        stop.wait(poll)

            threads = [threading.Thread(target=lane, name=f"accord-events-lane-{n}", daemon=True)
                       for n in range(max(1, lanes))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    def deliver_due(self) -> DispatchStats:
        """Deliver everything due now (retries scheduled for later stay pending); for the CLI and tests."""
        before = dataclasses.replace(self.stats)
        self.run(threading.Event(), until_idle=True)
        return DispatchStats(**{name: getattr(self.stats, name) - getattr(before, name) for name in _COUNTS})


def _hold_or_cancel(agreement: Agreement, today) -> str | None:  # noqa: ANN001 - a date
    """None while the agreement is in force; "hold: why" while it may come back into force
    (suspended, not yet started); "cancel: why" once it never will (ended, revoked)."""
    why = not_in_force(agreement, today)
    if why is None:
        return None
    status = effective_status(agreement, today)
    return ("hold: " if status == "suspended" or (status == "active" and today < agreement.start_date)
            else "cancel: ") + why


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


class DeliveryWorker:
    """The dispatcher on a thread of its own, beside the audit worker in the server process."""

    def __init__(self, hub: Hub, *, poll: float = 1.0, transport: httpx.BaseTransport | None = None,
                 **overrides) -> None:  # noqa: ANN003
        self.dispatcher = Dispatcher.for_hub(hub, transport=transport, **overrides)
        self.poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="accord-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Finish the batches in flight, then stop; anything unfinished is retried after its lease."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.dispatcher.run(self._stop, poll=self.poll)
        except Exception:  # noqa: BLE001 - logged; the outbox keeps everything for the next start
            log.exception("the event dispatcher stopped")


class ServerDeliveries:
    """The delivery worker a server process runs, unless ACCORD_EVENTS_DELIVER_IN_SERVER is off
    (then ``accord events deliver`` processes do the work)."""

    def __init__(self, hub: Hub) -> None:
        self._worker = DeliveryWorker(hub) if hub.settings.events_deliver_in_server else None

    def start(self) -> None:
        if self._worker is not None:
            self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
