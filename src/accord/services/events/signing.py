"""Signed webhooks: each subscription's secret, the signature every call carries, and how to check one.

Each subscription's key is derived, never stored: HKDF over the hub's secret with
``accord/events/webhook/v1/<subscription id>/<version>`` as the info, shown to the
body once as ``whsec_<base64url>``. Each call carries

    Accord-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

and ``Accord-Event-Id`` (the event's UUID, stable across retries and replays). A
receiver recomputes the HMAC over the raw body, compares in constant time, refuses a
timestamp more than five minutes old, and de-duplicates on the event id
(``verify_signature`` does the first three).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from accord.privacy.labels import webhook_label
from accord.privacy.pseudonymise import derive_key

SIGNATURE_HEADER = "Accord-Signature"
TOLERANCE_SECONDS = 300


def signing_secret(hub_secret: str, subscription_id: str, version: int) -> str:
    """The subscription's webhook secret, recomputed from the hub's secret whenever needed."""
    key = derive_key(hub_secret, webhook_label(subscription_id, version))
    return "whsec_" + base64.urlsafe_b64encode(key).decode().rstrip("=")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, now: float | None = None,
                     tolerance: int = TOLERANCE_SECONDS) -> bool:
    """What a receiver does: parse ``t`` and ``v1``, check freshness, compare in constant time."""
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(name, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))
