"""Signed notes and checkpoints in the C2SP formats (tlog-checkpoint inside a signed-note).

Checkpoint body:
    <origin>\n<tree size>\n<base64 root hash>\ntimestamp <unix seconds>\n
The timestamp is an extension line. The note is signed with Ed25519; the
signature line is "— <key name> <base64(key id || signature)>", where the key
id is the first four bytes of SHA-256(<key name> "\n" 0x01 <public key>).
The verifier key is published as "<name>+<hex key id>+<base64(0x01 || key)>".

Pure functions on text and keys: no storage, so a witness can use them.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # em dash and space, as signed-note requires


class CheckpointError(ValueError):
    """A checkpoint that cannot be parsed or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    timestamp: int
    note: str

    @property
    def body(self) -> str:
        """The note's text without its signatures, ending in a newline (what is signed and cosigned)."""
        return self.note.partition("\n\n")[0] + "\n"


def load_or_create_key(path: Path, *, create: bool) -> Ed25519PrivateKey:
    """The hub's signing key, from a PEM file; made (mode 0600) if allowed and missing."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError(f"{path} is not an Ed25519 private key")
        return key
    if not create:
        raise CheckpointError(f"the audit signing key {path} does not exist")
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public: Ed25519PublicKey, algorithm: bytes = ED25519) -> bytes:
    """The signed-note key id; ``algorithm`` 0x01 for a note signer, 0x04 for a cosigner (tlog-cosignature)."""
    return hashlib.sha256(name.encode() + b"\n" + algorithm + _raw_public(public)).digest()[:4]


def verifier_key(name: str, public: Ed25519PublicKey, algorithm: bytes = ED25519) -> str:
    raw = base64.b64encode(algorithm + _raw_public(public)).decode()
    return f"{name}+{key_id(name, public, algorithm).hex()}+{raw}"


def parse_verifier_key(text: str, algorithm: bytes = ED25519) -> tuple[str, bytes, Ed25519PublicKey]:
    try:
        name, hex_id, encoded = text.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise CheckpointError("the verifier key is not <name>+<key id>+<base64 key>") from None
    if len(raw) != 33 or raw[:1] != algorithm:
        raise CheckpointError("the verifier key is not an Ed25519 key of the expected kind")
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_id(name, public, algorithm).hex() != hex_id:
        raise CheckpointError("the verifier key's id does not match its name and key")
    return name, bytes.fromhex(hex_id), public


def body_text(origin: str, size: int, root_hash: bytes, timestamp: int) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root_hash).decode()}\ntimestamp {timestamp}\n"


def sign(key: Ed25519PrivateKey, origin: str, size: int, root_hash: bytes, when: datetime) -> Checkpoint:
    timestamp = int(when.timestamp())
    text = body_text(origin, size, root_hash, timestamp)
    signature = key.sign(text.encode())
    stamp = base64.b64encode(key_id(origin, key.public_key()) + signature).decode()
    note = f"{text}\n{SIGNATURE_PREFIX}{origin} {stamp}\n"
    return Checkpoint(origin, size, root_hash, timestamp, note)


def verify_note(note: str, public: Ed25519PublicKey, name: str) -> Checkpoint:
    """Parse a signed checkpoint and check its signature by ``name``'s key."""
    if not note.endswith("\n"):
        raise CheckpointError("the note is truncated: a signed note ends with a newline")
    text, sep, signatures = note.partition("\n\n")
    if not sep:
        raise CheckpointError("the note has no signature block")
    lines = text.split("\n")
    if len(lines) < 3:
        raise CheckpointError("a checkpoint needs an origin, a tree size and a root hash")
    text += "\n"
    wanted_id = key_id(name, public)
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError("malformed signature line")
        signer, _, stamp = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(stamp, validate=True)
        except ValueError:
            raise CheckpointError("signature is not base64") from None
        if signer != name or raw[:4] != wanted_id:
            continue
        try:
            public.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise CheckpointError("the checkpoint signature does not verify") from None
        return _parse_body(lines, note)
    raise CheckpointError(f"the note is not signed by {name}")


def _parse_body(lines: list[str], note: str) -> Checkpoint:
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isdigit():
        raise CheckpointError("the tree size is not a number")
    try:
        root_hash = base64.b64decode(root_text, validate=True)
    except ValueError:
        raise CheckpointError("the root hash is not base64") from None
    if len(root_hash) != 32:
        raise CheckpointError("the root hash is not 32 bytes")
    timestamp = 0
    for extra in lines[3:]:
        if extra.startswith("timestamp ") and extra[10:].isdigit():
            timestamp = int(extra[10:])
    return Checkpoint(origin, int(size_text), root_hash, timestamp, note)


def signature_lines(note: str) -> list[tuple[str, bytes]]:
    """The (key name, raw key id || signature) of each signature line of a note."""
    _, sep, signatures = note.partition("\n\n")
    if not sep:
        raise CheckpointError("the note has no signature block")
    found = []
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError("malformed signature line")
        signer, _, stamp = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            found.append((signer, base64.b64decode(stamp, validate=True)))
        except ValueError:
            raise CheckpointError("signature is not base64") from None
    return found


def origin_of(note: str) -> str:
    """The first line of a note (a checkpoint's origin), unverified."""
    return note.partition("\n")[0]
