"""Signed checkpoints (C2SP tlog-checkpoint in a signed note, Ed25519) and the signing key file."""

from __future__ import annotations

import base64
import hashlib
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from audit_support import NOW, append_entries, flip, integrate_all
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.audit import checkpoint as checkpoints
from accord.audit.checkpoint import CheckpointError, parse_verifier_key, sign, verifier_key, verify_note
from accord.audit.store import head
from accord.config import load_settings
from accord.errors import ConfigurationError
from accord.runtime import Hub

ORIGIN = "accord.example/audit"
ROOT = hashlib.sha256(b"some root").digest()
WHEN = datetime(2026, 11, 22, 12, 0, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def note(key: Ed25519PrivateKey) -> str:
    return sign(key, ORIGIN, 37, ROOT, WHEN).note


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# ---------------------------------------------------------------- format


def test_the_note_is_a_c2sp_checkpoint_in_a_signed_note(key: Ed25519PrivateKey, note: str) -> None:
    body, signature_block = note.split("\n\n")
    assert body.split("\n") == [ORIGIN, "37", base64.b64encode(ROOT).decode(), f"timestamp {int(WHEN.timestamp())}"]
    assert note.endswith("\n") and note.count("\n") == 6
    line = signature_block.rstrip("\n")
    assert "\n" not in line
    assert line.startswith("\u2014 " + ORIGIN + " ")  # em dash, space, key name, space
    stamp = base64.b64decode(line.rsplit(" ", 1)[1], validate=True)
    assert len(stamp) == 4 + 64
    # key id = first four bytes of SHA-256(name || "\n" || 0x01 || public key), computed here independently
    assert stamp[:4] == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw_public(key)).digest()[:4]
    # the signature covers the body text including its final newline, and nothing else
    key.public_key().verify(stamp[4:], (body + "\n").encode())
    with pytest.raises(InvalidSignature):
        key.public_key().verify(stamp[4:], body.encode())


def test_verify_note_returns_what_was_signed(key: Ed25519PrivateKey, note: str) -> None:
    signed = verify_note(note, key.public_key(), ORIGIN)
    assert (signed.origin, signed.tree_size, signed.root_hash, signed.timestamp, signed.note) == (
        ORIGIN,
        37,
        ROOT,
        int(WHEN.timestamp()),
        note,
    )
    assert checkpoints.utc_from_timestamp(signed.timestamp) == WHEN.replace(microsecond=0)


def parts(text: str) -> list[str]:
    """<name>+<hex key id>+<base64 key>; the base64 part may itself hold '+'."""
    return text.split("+", 2)


def test_the_verifier_key_round_trips(key: Ed25519PrivateKey) -> None:
    text = verifier_key(ORIGIN, key.public_key())
    name, hex_id, encoded = parts(text)
    assert name == ORIGIN
    assert base64.b64decode(encoded) == b"\x01" + raw_public(key)
    parsed_name, parsed_id, public = parse_verifier_key(text)
    assert parsed_name == ORIGIN and parsed_id.hex() == hex_id
    assert public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw_public(key)
    # a note checked with the key parsed from the published text verifies
    assert verify_note(sign(key, ORIGIN, 1, ROOT, WHEN).note, public, parsed_name).tree_size == 1


def test_every_verifier_key_round_trips_including_those_with_plus_in_their_base64() -> None:
    with_plus = 0
    for _ in range(64):
        key = Ed25519PrivateKey.generate()
        text = verifier_key(ORIGIN, key.public_key())
        with_plus += "+" in parts(text)[2]
        name, _, public = parse_verifier_key(text)
        assert (name, public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)) == (
            ORIGIN,
            raw_public(key),
        ), text
    assert with_plus > 0  # about half of all keys: the case is exercised


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace("+", "-"),
        lambda t: "+".join(parts(t)[:2]),
        lambda t: "other.example+" + "+".join(parts(t)[1:]),
        lambda t: parts(t)[0] + "+00000000+" + parts(t)[2],
        lambda t: parts(t)[0] + "+zz+" + parts(t)[2],
        lambda t: t[:-4],
        lambda t: t + "!!",
        lambda t: "+".join(parts(t)[:2]) + "+" + base64.b64encode(b"\x02" + b"\x00" * 32).decode(),
        lambda t: "+".join(parts(t)[:2]) + "+" + base64.b64encode(b"\x01" + b"\x00" * 31).decode(),
        lambda t: "",
    ],
)
def test_a_malformed_verifier_key_is_refused(key: Ed25519PrivateKey, change) -> None:  # noqa: ANN001
    with pytest.raises(CheckpointError):
        parse_verifier_key(change(verifier_key(ORIGIN, key.public_key())))


# ---------------------------------------------------------------- what must not verify


def test_a_note_checked_with_another_key_or_name_is_refused(note: str) -> None:
    other = Ed25519PrivateKey.generate()
    with pytest.raises(CheckpointError, match="not signed by"):
        verify_note(note, other.public_key(), ORIGIN)
    with pytest.raises(CheckpointError, match="not signed by"):
        verify_note(note, Ed25519PrivateKey.generate().public_key(), "another.example/audit")


def test_a_note_signed_by_another_key_under_the_same_name_is_refused(key: Ed25519PrivateKey) -> None:
    forged = sign(Ed25519PrivateKey.generate(), ORIGIN, 37, ROOT, WHEN).note
    with pytest.raises(CheckpointError):
        verify_note(forged, key.public_key(), ORIGIN)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n37\n", "\n38\n"),
        ("\n37\n", "\n370\n"),
        (ORIGIN, "accord.example/audix"),
        ("timestamp ", "timestamp 1"),
        ("\n\n", "\nextra line\n\n"),
    ],
)
def test_a_modified_body_is_refused(key: Ed25519PrivateKey, note: str, old: str, new: str) -> None:
    tampered = note.replace(old, new, 1)
    assert tampered != note
    with pytest.raises(CheckpointError):
        verify_note(tampered, key.public_key(), ORIGIN)


def test_a_modified_root_is_refused(key: Ed25519PrivateKey, note: str) -> None:
    tampered = note.replace(base64.b64encode(ROOT).decode(), base64.b64encode(flip(ROOT)).decode())
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_note(tampered, key.public_key(), ORIGIN)


def test_every_modified_signature_byte_is_refused(key: Ed25519PrivateKey, note: str) -> None:
    body, _, line = note.rstrip("\n").rpartition("\n")
    prefix, _, stamp = line.rpartition(" ")
    raw = base64.b64decode(stamp)
    accepted = []
    for i in range(len(raw)):
        changed = base64.b64encode(raw[:i] + bytes([raw[i] ^ 0x40]) + raw[i + 1 :]).decode()
        try:
            verify_note(f"{body}\n{prefix} {changed}\n", key.public_key(), ORIGIN)
            accepted.append(i)
        except CheckpointError:
            pass
    assert accepted == []


@pytest.mark.parametrize(
    "signature_line",
    ["\u2014 accord.example/audit !!notbase64!!", "- accord.example/audit AAAA", "\u2014accord.example/audit AAAA"],
)
def test_a_malformed_signature_line_is_refused(key: Ed25519PrivateKey, note: str, signature_line: str) -> None:
    body = note.split("\n\n")[0]
    with pytest.raises(CheckpointError):
        verify_note(f"{body}\n\n{signature_line}\n", key.public_key(), ORIGIN)


def test_every_truncation_of_the_note_is_refused(key: Ed25519PrivateKey, note: str) -> None:
    accepted = []
    for cut in range(len(note)):
        try:
            verify_note(note[:cut], key.public_key(), ORIGIN)
            accepted.append(cut)
        except CheckpointError:
            pass
    assert accepted == [], f"{len(note)}-character note accepted when cut to {accepted}"


def test_a_note_with_a_second_signature_by_another_key_still_verifies(key: Ed25519PrivateKey, note: str) -> None:
    """Signed notes may carry cosignatures; unknown ones are skipped, as the signed-note spec says."""
    witness = sign(Ed25519PrivateKey.generate(), "witness.example", 37, ROOT, WHEN).note.split("\n\n")[1]
    assert verify_note(note + witness, key.public_key(), ORIGIN).tree_size == 37


# ---------------------------------------------------------------- checkpoints of the stored tree


def test_create_signs_the_integrated_tree_as_it_stands(sqlite_hub: Hub, key: Ed25519PrivateKey) -> None:
    append_entries(sqlite_hub, 0, 6)
    integrate_all(sqlite_hub)
    append_entries(sqlite_hub, 6, 2)  # appended, not integrated: not in the checkpoint
    with sqlite_hub.transaction() as session:
        row = checkpoints.create(session, key, ORIGIN, NOW)
        size, root_hash = head(session)
    assert (row.tree_size, bytes(row.root_hash)) == (6, root_hash) and size == 6
    signed = verify_note(row.note, key.public_key(), ORIGIN)
    assert (signed.tree_size, signed.root_hash, signed.timestamp) == (6, root_hash, int(NOW.timestamp()))
    with sqlite_hub.transaction() as session:
        assert checkpoints.latest(session).id == row.id
        assert [c.id for c in checkpoints.all_checkpoints(session)] == [row.id]


# ---------------------------------------------------------------- the signing key file


def hub_at(data_dir: Path, **settings: object) -> Hub:
    return Hub.open(
        load_settings(data_dir=data_dir, database_url=f"sqlite:///{(data_dir / 'accord.db').as_posix()}", **settings)
    )


def test_the_signing_key_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit-ed25519.pem"
    first = hub_at(tmp_path, environment="test")
    try:
        assert not path.exists()  # made on first use, not at start-up
        public = raw_public(first.signing_key)
        assert path.exists()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    finally:
        first.close()
    second = hub_at(tmp_path, environment="development")
    try:
        assert raw_public(second.signing_key) == public
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        second.close()


# Production refuses the development identity provider, so these settings name an OIDC one.
PRODUCTION_SIGN_IN = {
    "identity_provider": "oidc",
    "oidc_issuer": "https://identity.example",
    "oidc_client_id": "accord",
    "officer_identity_provider": "oidc",
    "officer_oidc_issuer": "https://identity.example",
    "officer_oidc_client_id": "accord-officers",
}


def test_production_refuses_to_create_a_missing_key(tmp_path: Path) -> None:
    hub = hub_at(tmp_path, environment="production", secret_key="x" * 40, **PRODUCTION_SIGN_IN)
    try:
        with pytest.raises(ConfigurationError, match="audit-ed25519.pem does not exist"):
            hub.signing_key  # noqa: B018
        assert not (tmp_path / "keys").exists()
    finally:
        hub.close()


def test_production_uses_an_existing_key(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "operator" / "signing.pem"
    path.parent.mkdir()
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    hub = hub_at(tmp_path, environment="production", secret_key="x" * 40, audit_key_file=path, **PRODUCTION_SIGN_IN)
    try:
        assert raw_public(hub.signing_key) == raw_public(key)
    finally:
        hub.close()


def test_a_key_file_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    hub = hub_at(tmp_path, environment="test", audit_key_file=path)
    try:
        with pytest.raises(ConfigurationError, match="not an Ed25519 private key"):
            hub.signing_key  # noqa: B018
    finally:
        hub.close()
