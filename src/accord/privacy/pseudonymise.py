"""Pseudonymous person keys: keyed hashes, so the log never holds an identifier.

A person key is HMAC-SHA256 over a namespaced identifier (e.g. "nino:QQ123456C")
with a key derived by HKDF from the hub's secret for one named use. Keys for
different uses (the audit log's subjects, a research project) are different,
so outputs for one cannot be joined with another's.

A person's *subject key* (whom an audit entry is about) is derived one way
only, ``subject_key``: from their National Insurance number when the record
the hub resolved them to has one, otherwise from that record's standardised
given name, surname and date of birth. A person known to one body by NINO and
to another without one has two keys; the citizen's view collects both from
their verified identity (``accord.services.subjects.identity_keys``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import date

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accord.errors import InvalidInput

# Prefix letters as HMRC allocates them; BG, GB, KN, NK, NT, TN and ZZ are never allocated.
_NINO = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$")


def derive_key(secret: str, use: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=use.encode()).derive(secret.encode())


def normalise_nino(value: str) -> str:
    nino = re.sub(r"\s+", "", value).upper()
    if not _NINO.match(nino):
        raise InvalidInput(f"'{value}' is not a National Insurance number in the form AB123456C")
    return nino


NINO_SCHEME, IDENTITY_SCHEME = "nino", "person"


def subject_key(key: bytes, *, nino: str | None = None, given: str | None = None, surname: str | None = None,
                born: date | None = None) -> str | None:
    """The person's subject key (see the module docstring); None when the record names no one.

    ``given`` is the canonical given name and ``surname`` the standardised surname
    (``accord.services.subjects`` standardises them, the same way for every source).
    """
    if nino and _NINO.match(nino):
        return person_key(key, NINO_SCHEME, nino)
    if given and surname and born is not None:
        return person_key(key, IDENTITY_SCHEME, f"{given}|{surname}|{born.isoformat()}")
    return None


def person_key(key: bytes, scheme: str, identifier: str) -> str:
    """A stable pseudonymous key for one person under one derived key."""
    if scheme == "nino":
        identifier = normalise_nino(identifier)
    digest = hmac.new(key, f"{scheme}:{identifier}".encode(), hashlib.sha256).digest()
    return "pk_" + base64.b32encode(digest[:20]).decode().lower().rstrip("=")
