"""Share codes themselves: the alphabet, the refusals that give nothing away, and the keys codes are kept under.

Guessing is made useless three ways: the same refusal (404, same words) for an
unknown code and a wrong second factor, so codes cannot be enumerated; wrong
guesses counted per code and per caller in the database (``redemption``); and codes
kept only as keyed hashes (``code_hash``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import timedelta
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accord.errors import AccordError, InvalidInput, NotFound
from accord.privacy import labels
from accord.privacy.pseudonymise import derive_key
from accord.runtime import Hub
from accord.storage.tables.sharecodes import Consent

DATASET = "dvla-drivers"
# No 0/O/Q, 1/I/L, 2/Z, 5/S, B (8 stays) or U/V: each character reads one way, aloud or handwritten.
ALPHABET = "ACDEFGHJKMNPRTWXY346789"
CODE_LENGTH = 8
KEY_VERSION = 1
CALLER_WINDOW = timedelta(hours=1)
CODE_WINDOW = timedelta(hours=24)
_LICENCE = re.compile(r"^[A-Z0-9]{16}$")
_SUFFIX = re.compile(r"^[A-Z0-9]{8}$")


# ------------------------------------------------------------------ errors


REFUSED = (
    "no valid share code matches that code and driving licence number; check both with the driver "
    "(codes are 8 characters, and the licence characters are the last 8 of the licence number)"
)


class ShareCodeRefused(NotFound):
    """The one answer for an unknown code and for a wrong second factor, so codes cannot be enumerated."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


class ShareCodeUnusable(AccordError):
    """A real code, with the right second factor, that can no longer be used (shown only to its holder)."""

    status = 410
    title = "Gone"


class TooManyAttempts(AccordError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


# ------------------------------------------------------------------ codes and keys


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str | None:
    """The code as typed, without spaces or dashes and in capitals; None when it cannot be a code."""
    code = re.sub(r"[\s-]+", "", text or "").upper()
    if len(code) != CODE_LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def display_code(code: str) -> str:
    return f"{code[:4]} {code[4:]}"


def normalise_licence(text: str) -> str:
    licence = re.sub(r"\s+", "", text or "").upper()
    if not _LICENCE.match(licence):
        raise InvalidInput("enter the driving licence number: 16 letters and numbers, as on the photocard")
    return licence


def normalise_suffix(text: str) -> str:
    suffix = re.sub(r"\s+", "", text or "").upper()
    if not _SUFFIX.match(suffix):
        raise InvalidInput("enter the last 8 characters of the driving licence number (letters and numbers)")
    return suffix


def postcode_key(text: object) -> str:
    return re.sub(r"\s+", "", str(text or "")).upper()


@lru_cache(maxsize=32)
def _key(secret: str, use: str) -> bytes:
    return derive_key(secret, use)


def _hub_key(hub: Hub, use: str) -> bytes:
    return _key(hub.settings.secret_key.get_secret_value(), use)


def code_hash(hub: Hub, code: str) -> str:
    """HMAC-SHA256 of the code under a key derived from the hub secret (versioned for rotation)."""
    key = _hub_key(hub, labels.share_code_label(KEY_VERSION))
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def address_caller(hub: Hub, address: str) -> str:
    """An anonymous checker's address as a keyed hash: enough to rate-limit, not an IP address kept."""
    key = _hub_key(hub, labels.SHARE_CODE_CALLER)
    return "address:" + hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:40]


def seal(hub: Hub, consent_id: str, locator: dict) -> bytes:
    """The licence record a consent covers, encrypted and bound to that consent (AES-GCM)."""
    nonce = secrets.token_bytes(12)
    aead = AESGCM(_hub_key(hub, labels.SHARE_CODE_LOCATOR))
    return nonce + aead.encrypt(nonce, json.dumps(locator, sort_keys=True).encode(), consent_id.encode())


def unseal(hub: Hub, consent: Consent) -> dict | None:
    blob = bytes(consent.record_locator)
    try:
        plain = AESGCM(_hub_key(hub, labels.SHARE_CODE_LOCATOR)).decrypt(
            blob[:12], blob[12:], consent.id.encode()
        )
    except InvalidTag:  # the hub secret changed since the code was made
        return None
    return json.loads(plain)
