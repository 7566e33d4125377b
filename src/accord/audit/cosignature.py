"""Witness cosignatures of checkpoints (C2SP tlog-cosignature, cosignature/v1 with Ed25519).

A cosignature is a signed-note signature line by the witness's key over
    "cosignature/v1\\n" "time <unix seconds>\\n" <the checkpoint's note body>
and its bytes are key id (4) || timestamp (8, big-endian) || Ed25519 signature (64).
The witness's key id uses algorithm byte 0x04, so a log key can never pass for a
witness key. By signing, a witness states that, at that time, this is the largest
tree of the log it has seen consistent with all the earlier ones.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accord.audit.note import SIGNATURE_PREFIX, CheckpointError, key_id, parse_verifier_key, signature_lines

COSIGNER = b"\x04"
HEADER = "cosignature/v1\n"


@dataclass(frozen=True)
class Witness:
    """A witness as a log or verifier knows it: its name and public key (and where to reach it)."""

    name: str
    public: Ed25519PublicKey
    url: str = ""

    @classmethod
    def from_key(cls, verifier_key: str, url: str = "") -> Witness:
        name, _, public = parse_verifier_key(verifier_key, COSIGNER)
        return cls(name, public, url)


def message(body: str, timestamp: int) -> bytes:
    return f"{HEADER}time {timestamp}\n{body}".encode()


def cosign(key: Ed25519PrivateKey, name: str, body: str, timestamp: int) -> str:
    """The cosignature line (with its newline) of a checkpoint's note body."""
    signature = key.sign(message(body, timestamp))
    raw = key_id(name, key.public_key(), COSIGNER) + timestamp.to_bytes(8, "big") + signature
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(raw).decode()}\n"


def cosigned_at(note: str, body: str, witness: Witness) -> int | None:
    """The timestamp of ``witness``'s valid cosignature among the note's signature lines (None: there is none).

    Lines by other keys are ignored, as signed-note requires; a line by this witness's
    key that does not verify is an error.
    """
    wanted = key_id(witness.name, witness.public, COSIGNER)
    for signer, raw in signature_lines(note):
        if signer != witness.name or raw[:4] != wanted:
            continue
        if len(raw) != 4 + 8 + 64:
            raise CheckpointError(f"the cosignature by {witness.name} is not a cosignature/v1 signature")
        timestamp = int.from_bytes(raw[4:12], "big")
        try:
            witness.public.verify(raw[12:], message(body, timestamp))
        except InvalidSignature:
            raise CheckpointError(f"the cosignature by {witness.name} does not verify") from None
        return timestamp
    return None
